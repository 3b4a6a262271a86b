// sio-connect-timeout.test.js - connect_timeout 500ms
// (tests/vectors/sio-connect-timeout.txt): an engine session with no
// namespace connected is closed. Over polling the held GET is answered
// exactly `1` (close) and the next GET gets code 1; over WebSocket a close
// frame without status. A CONNECT refused as "Invalid namespace" does not
// count as connected (the session is still closed). Sessions that connected
// a namespace, opened before the one that is closed (so their own timer ran
// out first), stay usable. No duration is asserted: each test waits for the
// server to close the session (the guard is the harness's 10 s).
// Ends with roomcast_sessions_current 0 and SIGTERM.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const RAW = `
namespace / {
    client_join           *
}
`;

let d;
before(async () => {
  d = await h.startDaemon({ sio: true, config: { connect_timeout: '500ms' }, raw: RAW });
});
after(() => d && d.kill());

test('polling session without CONNECT: the held GET gets exactly 1, then code 1; a connected session opened earlier stays', async () => {
  const early = await h.sioConnect(d.port, '/', { transports: ['polling'] });
  const earlyRaw = await h.sioPolling(d.port);
  const { sid } = await h.handshake(d.port);
  h.assertPollBody(await h.poll(d.port, sid), '1');
  h.assertEioError(await h.poll(d.port, sid), 1);
  // the two connected sessions' timers ran out before this one's
  assert.equal(early.connected, true);
  assert.deepEqual(await h.sioAck(early, 'join', 'r'), ['ok']);
  await h.postPoll(d.port, earlyRaw.sid, '421["join","r"]', '431["ok"]');
  h.assertPostOk(await h.post(d.port, earlyRaw.sid, '1'));
  early.disconnect();
});

test('a CONNECT refused as "Invalid namespace" does not stop the timer', async () => {
  const { sid } = await h.handshake(d.port);
  await h.postPoll(d.port, sid, '40/nope,', '44/nope,{"message":"Invalid namespace"}');
  h.assertPollBody(await h.poll(d.port, sid), '1');
  h.assertEioError(await h.poll(d.port, sid), 1);
});

test('WebSocket session without CONNECT: close frame without status; a connected WebSocket session opened earlier stays', async () => {
  const early = await h.sioWs(d.port);
  const { ws } = await h.wsSession(d.port);
  const f = await ws.frame();
  assert.equal(f.raw.toString('hex'), '8800', `expected a close frame without status, got "${h.show(f.raw)}"`);
  ws.sendClose();
  await ws.closed();
  early.ws.sendText('421["join","r"]');
  assert.equal(await early.ws.text(), '431["ok"]');
  early.ws.sendClose(1000);
  await early.ws.closed();
});

test('socket.io-client that never connects a namespace: its manager sees the engine close', async () => {
  const m = h.sioManager(d.port, { transports: ['websocket'], autoConnect: false });
  m.open();
  await h.once(m, 'open');
  const reason = await h.once(m.engine, 'close');
  assert.equal(reason, 'transport close');
});

h.endTests(() => d);
