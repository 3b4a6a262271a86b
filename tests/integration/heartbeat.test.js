// heartbeat.test.js - server pings with ping_interval 300ms / ping_timeout
// 200ms (doc/protocol.md, "Heartbeat"; tests/vectors/eio-heartbeat-polling.txt,
// eio-heartbeat-websocket.txt): the open packet advertises the values; a raw
// polling client that answers one ping and then stays silent has its held GET
// answered with `1`; a raw WebSocket client that does the same receives a close
// frame without status code (88 00); in both cases the sid then answers code 1.
// The official engine.io-client (polling and WebSocket) stays connected across
// several pings (on a second daemon with a 5 s pong window, see below). Timing is only what the protocol itself needs (a request
// sent right after a ping arrives well within the 200 ms pong window); no
// durations are asserted.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

let d;

before(async () => {
  d = await h.startDaemon({ echo: true, config: { ping_interval: '300ms', ping_timeout: '200ms' } });
});
after(() => { if (d) d.kill(); if (relaxed) relaxed.kill(); });

test('open packet carries pingInterval 300 and pingTimeout 200', async () => {
  const { open } = await h.handshake(d.port);
  assert.deepEqual(Object.keys(open), ['sid', 'upgrades', 'pingInterval', 'pingTimeout', 'maxPayload']);
  assert.deepEqual(open.upgrades, ['websocket']);
  assert.equal(open.pingInterval, 300);
  assert.equal(open.pingTimeout, 200);
  assert.equal(open.maxPayload, 1000000);
});

test('polling: one ping answered, the next one not: held GET gets "1", then code 1', async () => {
  const { sid } = await h.handshake(d.port);
  h.assertPollBody(await h.poll(d.port, sid), '2', 'first ping');
  h.assertPostOk(await h.post(d.port, sid, '3'), 'pong');
  h.assertPollBody(await h.poll(d.port, sid), '2', 'second ping');
  // no pong: the held GET is released with a close packet
  h.assertPollBody(await h.poll(d.port, sid), '1', 'held GET after ping timeout');
  h.assertEioError(await h.poll(d.port, sid), 1, 'GET after close');
  h.assertEioError(await h.post(d.port, sid, '3'), 1, 'POST after close');
});

test('websocket: one ping answered, the next one not: close frame 88 00, then code 1', async () => {
  const { ws, sid, open } = await h.wsSession(d.port);
  assert.deepEqual(open.upgrades, []);
  assert.equal(open.pingInterval, 300);
  assert.equal(await ws.text(), '2');
  ws.sendText('3');
  assert.equal(await ws.text(), '2');
  const f = await ws.frame();
  assert.equal(f.raw.toString('hex'), '8800', `expected a bare close frame, got "${h.show(f.raw)}"`);
  ws.sendClose();
  await ws.closed();
  h.assertEioError(await h.poll(d.port, sid), 1, 'polling GET with the closed sid');
  const ws2 = await h.WsConn.connect(d.port, `${h.EIO_PATH}?EIO=4&transport=websocket&sid=${sid}`);
  assert.equal(ws2.handshake.status, 400, `upgrade with the closed sid: "${h.show(ws2.handshake.raw)}"`);
  assert.equal(ws2.handshake.text, 'Session ID unknown');
  ws2.destroy();
});

test('websocket: pongs also arrive while messages flow', async () => {
  const { ws } = await h.wsSession(d.port);
  let pings = 0;
  let echoes = 0;
  ws.sendText('4m0');
  while (pings < 3 || echoes < 4) {
    assert.ok(pings < 10, `only ${echoes} of 4 echoes after ${pings} pings`);
    const t = await ws.text();
    if (t === '2') {
      pings++;
      ws.sendText('3');
      if (pings <= 3) ws.sendText(`4m${pings}`);
    } else {
      assert.equal(t, `4m${echoes}`);
      echoes++;
    }
  }
  ws.sendClose(1000);
  let f = await ws.frame();
  while (f.opcode === 1 && f.text === '2') f = await ws.frame(); // a ping may cross the close
  assert.equal(f.opcode, 8, `expected the close echo, got "${h.show(f.raw)}"`);
  assert.equal(f.code, 1000, 'client close 1000 is echoed with 1000');
  await ws.closed();
});

// The client drops a session that sees no ping for pingInterval+pingTimeout:
// with 300ms/200ms a busy test machine could miss that window by itself, so
// these run on a daemon with a longer pong window and the same ping rate.
let relaxed;

for (const transports of [['polling'], ['websocket']]) {
  test(`engine.io-client (${transports}) stays connected across 4 pings`, async () => {
    relaxed = relaxed || await h.startDaemon({ echo: true, config: { ping_interval: '300ms', ping_timeout: '5s' } });
    const s = h.eioClient(relaxed.port, { transports });
    s.on('error', () => {});
    let closeReason = null;
    s.on('close', (r) => { closeReason = r; });
    await h.once(s, 'open', { failOn: ['error', 'close'] });
    for (let i = 0; i < 4; i++) await h.once(s, 'ping', { failOn: ['close'] });
    assert.equal(closeReason, null);
    assert.equal(s.readyState, 'open');
    // and the session still carries messages
    s.send('still here');
    assert.equal(await h.once(s, 'message', { failOn: ['close'] }), 'still here');
    const closed = h.once(s, 'close');
    s.close();
    await closed;
  });
}

test('SIGTERM: daemon exits 0', async () => {
  await d.stop('SIGTERM');
  if (relaxed) await relaxed.stop('SIGTERM');
});
