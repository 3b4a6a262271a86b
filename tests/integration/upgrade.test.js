// upgrade.test.js - the polling -> WebSocket upgrade driven by hand and its
// error paths (doc/protocol.md, "WebSocket transport", "WebSocket-only
// sessions", "Upgrade" and "Error answers"; in tests/vectors/ eio-upgrade.txt,
// eio-upgrade-errors.txt, eio-websocket-only.txt): 101 with the right
// Sec-WebSocket-Accept, 2probe/3probe, the pending GET released with `6`,
// packets buffered before `5` flushed on the WebSocket (never as invalid
// UTF-8 in a text frame), polling requests after
// the upgrade get code 3, a second WebSocket on an upgraded sid gets 101 then
// 88 00, a probe other than 2probe closes that WebSocket while polling goes
// on, no `5` within upgrade_timeout closes the WebSocket while polling goes on,
// Upgrade requests with an unknown sid or transport get 400 text/html and a
// closed connection, EIO=3 on a WebSocket handshake is refused before any 101
// (roomcastd only: the reference answers 101 first), and WebSocket-only
// sessions (`upgrades:[]`, the client's `1` ignored); a second WebSocket
// while upgrading, a message before `5`, and Firefox's
// `Connection: keep-alive, Upgrade`. Also the `transports`
// and `allow_upgrades` keys. After every test on the main daemon a
// WebSocket bystander must still echo.
'use strict';

const { test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

let d;
let port;
let bystander;
let round = 0;

before(async () => {
  d = await h.startDaemon({ echo: true, config: { upgrade_timeout: '300ms' } });
  port = d.port;
  bystander = await h.wsSession(port);
});
after(() => d && d.kill());

afterEach(async () => {
  if (d.exit) return;
  round++;
  bystander.ws.sendText(`4bystander ${round}`);
  assert.equal(await bystander.ws.text(), `4bystander ${round}`, 'bystander websocket echo');
});

const wsPath = (sid, eio = 4, transport = 'websocket') =>
  `${h.EIO_PATH}?EIO=${eio}&transport=${transport}${sid ? `&sid=${sid}` : ''}`;

function assertUpgradeRefused(ws, message) {
  const r = ws.handshake;
  assert.equal(r.status, 400, `"${h.show(r.raw)}"`);
  assert.equal((r.headers['content-type'] || '').toLowerCase(), 'text/html', `"${h.show(r.raw)}"`);
  assert.equal(r.text, message);
  assert.ok(!r.raw.toString('latin1').includes('101 Switching'), 'no 101 before the refusal');
}

/**
 * A polling session with its probe WebSocket: 2probe answered 3probe, no "5"
 * sent yet (status101: the 101 is asserted first). Returns {sid, ws}.
 */
async function probing({ status101 = false } = {}) {
  const { sid } = await h.handshake(port);
  const ws = await h.WsConn.connect(port, wsPath(sid));
  if (status101) assert.equal(ws.handshake.status, 101);
  ws.sendText('2probe');
  assert.equal(await ws.text(), '3probe');
  return { sid, ws };
}

test('upgrade by hand: probe, noop to the pending GET, 5, then WebSocket only', async () => {
  const { sid } = await h.handshake(port);
  const g = await h.pendingGet(port, sid);
  await h.barrier(port);
  const ws = await h.WsConn.connect(port, wsPath(sid));
  assert.equal(ws.handshake.status, 101, `"${h.show(ws.handshake.raw)}"`);
  assert.equal(ws.handshake.headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  assert.equal(ws.handshake.headers.upgrade.toLowerCase(), 'websocket');
  assert.equal(ws.handshake.headers['sec-websocket-extensions'], undefined, 'no permessage-deflate');
  ws.sendText('2probe');
  const probe = await ws.frame();
  assert.equal(probe.raw.toString('hex'), '81063370726f6265', `3probe frame, got "${h.show(probe.raw)}"`);
  h.assertPollBody(await g.response, '6', 'pending GET during the upgrade');
  // polling still works until "5"; what is buffered now goes out on the WebSocket
  h.assertPostOk(await h.post(port, sid, '4before five'));
  ws.sendText('5');
  assert.equal(await ws.text(), '4before five');
  ws.sendText('4after upgrade');
  assert.equal(await ws.text(), '4after upgrade');
  ws.sendBinary(Buffer.from([1, 2, 3]));
  const bin = await ws.frame();
  assert.equal(bin.raw.toString('hex'), '8203010203');
  h.assertEioError(await h.poll(port, sid), 3, 'polling GET after the upgrade');
  h.assertEioError(await h.post(port, sid, '4x'), 3, 'polling POST after the upgrade');
  // a second WebSocket for the upgraded sid: 101, then a bare close frame
  const ws2 = await h.WsConn.connect(port, wsPath(sid));
  assert.equal(ws2.handshake.status, 101, `"${h.show(ws2.handshake.raw)}"`);
  const f = await ws2.frame();
  assert.equal(f.raw.toString('hex'), '8800', `second WebSocket: "${h.show(f.raw)}"`);
  ws2.destroy();
  // the upgraded session is untouched
  ws.sendText('4still upgraded');
  assert.equal(await ws.text(), '4still upgraded');
  ws.sendClose(1000);
  assert.equal((await ws.frame()).code, 1000);
  await ws.closed();
  await h.waitSessionGone(port, sid, { websocket: true });
});

test('invalid UTF-8 POSTed during the upgrade is not flushed as an invalid WebSocket text frame', async () => {
  const { sid, ws } = await probing({ status101: true });
  h.assertPostOk(await h.post(port, sid, Buffer.from([0x34, 0xff, 0x41])));
  ws.sendText('5');
  const f = await ws.frame();
  // the reference decodes the POST as UTF-8 with replacement: "4\uFFFDA"
  assert.equal(f.raw.toString('hex'), '810534efbfbd41', `flushed frame "${h.show(f.raw)}"`);
  ws.destroy();
});

test('a second WebSocket while the first is still upgrading: 101 then 88 00; the first completes', async () => {
  const { sid, ws } = await probing();
  const ws2 = await h.WsConn.connect(port, wsPath(sid));
  assert.equal(ws2.handshake.status, 101, `"${h.show(ws2.handshake.raw)}"`);
  assert.equal((await ws2.frame()).raw.toString('hex'), '8800');
  ws2.destroy();
  ws.sendText('5');
  ws.sendText('4upgraded');
  assert.equal(await ws.text(), '4upgraded');
  ws.destroy();
});

test('a message on the probe WebSocket before "5" closes it (88 00); polling continues', async () => {
  const { sid, ws } = await probing();
  ws.sendText('4too early');
  assert.equal((await ws.frame()).raw.toString('hex'), '8800');
  ws.destroy();
  await h.postPoll(port, sid, '4still polling', '4still polling');
});

test('Firefox-style "Connection: keep-alive, Upgrade" and lower-case header names are accepted', async () => {
  for (const headers of [
    { Connection: 'keep-alive, Upgrade' },
    { upgrade: 'WebSocket', connection: 'upgrade' },
  ]) {
    const c = await h.RawConn.connect(port);
    const hdr = { Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' };
    for (const k of Object.keys(headers)) {
      for (const o of Object.keys(hdr)) if (o.toLowerCase() === k.toLowerCase()) delete hdr[o];
      hdr[k] = headers[k];
    }
    c.write(h.buildRequest({ port, path: wsPath(null), headers: hdr }));
    const r = await c.response();
    assert.equal(r.status, 101, `${JSON.stringify(headers)}: "${h.show(r.raw)}"`);
    const ws = new h.WsConn(c, r);
    const open = await ws.text();
    assert.equal(open[0], '0');
    c.destroy();
  }
});

test('a probe other than 2probe closes that WebSocket (88 00); polling continues', async () => {
  const { sid } = await h.handshake(port);
  const ws = await h.WsConn.connect(port, wsPath(sid));
  assert.equal(ws.handshake.status, 101);
  ws.sendText('2foo');
  const f = await ws.frame();
  assert.equal(f.raw.toString('hex'), '8800', `"${h.show(f.raw)}"`);
  ws.destroy();
  await h.postPoll(port, sid, '4polling goes on', '4polling goes on');
});

test('no "5" within upgrade_timeout: the WebSocket is closed (88 00); polling continues', async () => {
  const { sid, ws } = await probing({ status101: true });
  const f = await ws.frame();
  assert.equal(f.raw.toString('hex'), '8800', `"${h.show(f.raw)}"`);
  ws.destroy();
  await h.postPoll(port, sid, '4after timeout', '4after timeout');
});

test('Upgrade with an unknown sid: 400 text/html "Session ID unknown", connection closed', async () => {
  const ws = await h.WsConn.connect(port, wsPath('nope'));
  assertUpgradeRefused(ws, 'Session ID unknown');
  await ws.closed();
});

test('Upgrade with an unknown transport: 400 text/html "Transport unknown", connection closed', async () => {
  const ws = await h.WsConn.connect(port, wsPath(null, 4, 'foo'));
  assertUpgradeRefused(ws, 'Transport unknown');
  await ws.closed();
});

test('EIO=3 WebSocket handshake: 400 "Unsupported protocol version" before any 101', { skip: h.REFERENCE && 'the reference answers 101 first (a quirk roomcastd does not copy)' }, async () => {
  const ws = await h.WsConn.connect(port, wsPath(null, 3));
  assertUpgradeRefused(ws, 'Unsupported protocol version');
  const rest = await ws.closed();
  assert.equal(rest.length, 0, `nothing after the 400, got "${h.show(rest)}"`);
});

test('WebSocket-only session: upgrades [], messages both ways, the client\'s "1" is ignored', async () => {
  const { ws, sid, open } = await h.wsSession(port);
  assert.deepEqual(Object.keys(open), ['sid', 'upgrades', 'pingInterval', 'pingTimeout', 'maxPayload']);
  assert.deepEqual(open.upgrades, []);
  ws.sendText('4é€😀');
  assert.equal(await ws.text(), '4é€😀');
  ws.sendText('1');
  ws.sendText('4after one');
  assert.equal(await ws.text(), '4after one');
  h.assertEioError(await h.poll(port, sid), 3, 'polling GET on a WebSocket session');
  ws.sendClose(1000);
  const f = await ws.frame();
  assert.equal(f.raw.toString('hex'), '880203e8', 'close 1000 echoed');
  await ws.closed();
});

test('SIGTERM: daemon exits 0 and closes the WebSocket bystander with a close frame', async () => {
  const stopped = d.stop('SIGTERM');
  const f = await bystander.ws.frame();
  assert.equal(f.opcode, 8, `"${h.show(f.raw)}"`);
  await stopped;
});

test('transports websocket: polling handshake is code 0, WebSocket works', async () => {
  const d2 = await h.startDaemon({ echo: true, config: { transports: 'websocket' } });
  try {
    h.assertEioError(await h.request(d2.port, { path: h.q('&t=x') }), 0);
    const { ws } = await h.wsSession(d2.port);
    ws.sendText('4ws');
    assert.equal(await ws.text(), '4ws');
    ws.destroy();
    await d2.stop();
  } finally {
    d2.kill();
  }
});

test('allow_upgrades no: the open packet offers no upgrade', async () => {
  const d3 = await h.startDaemon({ echo: true, config: { allow_upgrades: 'no' } });
  try {
    const { open } = await h.handshake(d3.port);
    assert.deepEqual(open.upgrades, []);
    await d3.stop();
  } finally {
    d3.kill();
  }
});
