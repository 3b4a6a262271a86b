// sio-bad-input.test.js - malformed Socket.IO input from raw clients, with the
// cases and expected bytes of the reference captures
// (tests/vectors/sio-bad-input-polling.json, sio-bad-input-websocket.txt),
// every case there that reaches the Socket.IO layer (the engine-level ones,
// `9`, `2`, an empty body and a trailing separator, belong to the Engine.IO
// tests). Over polling: a fresh session (CONNECT to / first unless the case
// says not), one POST with the bad body answered `ok`, then the next GET
// gets exactly `6\x1e1` and the session is gone (code 1). Over WebSocket the
// same packets as frames (attachments as binary frames): the server sends a
// close frame without status (`88 00`) and, once the client answers the
// close, closes the TCP connection.
// Inputs the reference accepts (an "error" event, a numeric event name, an
// ACK with an unknown id) keep the session: a join afterwards is answered.
// After every case two well-behaved official clients (polling and
// WebSocket) in one room still relay to each other. The reference's
// ordering trap (CONNECT and EVENT in one POST closes the connection because
// its CONNECT is asynchronous) is tested as such and named "reference
// ordering trap" so a difference shows up by name. Ends with
// roomcast_sessions_current 0 and SIGTERM.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const RAW = h.openNamespaces('/', '/admin');

// [name, packets, connect to / first?]; packets: strings are text engine
// messages (over polling joined with \x1e), Buffers are binary ones.
const PH0 = '{"_placeholder":true,"num":0}';
const CLOSING = [
  ['unknown socket.io packet type 47', ['47'], true],
  ['invalid JSON in event', ['42["a"'], true],
  ['event payload not an array', ['42{"a":1}'], true],
  ['event name reserved (connect)', ['42["connect"]'], true],
  ['event name reserved (disconnecting)', ['42["disconnecting",1]'], true],
  ['event name reserved (connect_error)', ['42["connect_error"]'], true],
  ['event name reserved (newListener)', ['42["newListener"]'], true],
  ['event name reserved (removeListener)', ['42["removeListener","x"]'], true],
  ['event name reserved (disconnect)', ['42["disconnect"]'], true],
  ['event name not string/number (object)', ['42[{"a":1}]'], true],
  ['empty event array', ['42[]'], true],
  ['event before CONNECT', ['42["hello"]'], false],
  ['second CONNECT to an already connected namespace', ['40'], true],
  ['CONNECT with non-object auth (array)', ['40[1]'], false],
  ['CONNECT with string auth', ['40"abc"'], false],
  ['CONNECT namespace without leading slash', ['40admin,'], false],
  ['DISCONNECT with payload', ['41{"a":1}'], true],
  ['ACK without array', ['431{}'], true],
  ['BINARY_EVENT with attachments 0', ['450-["x"]'], true],
  ['BINARY_EVENT with 11 attachments', ['4511-["x"]'], true],
  ['BINARY_EVENT missing dash', ['451["x"]'], true],
  ['text packet while a binary attachment is expected', [`451-["x",${PH0}]`, '42["y"]'], true],
  ['binary attachment with no pending BINARY_EVENT', [Buffer.from([1, 2, 3])], true],
  ['placeholder num out of range', ['451-["x",{"_placeholder":true,"num":5}]', Buffer.from([1, 2, 3])], true],
  ['CONNECT_ERROR sent by client', ['44{"message":"x"}'], true],
  ['engine message with empty data', ['4'], true],
  ['event on a declared namespace the client has not connected', ['42/admin,["hello"]'], true],
];
const KEPT = [
  ['event name "error" (not reserved in the parser)', ['42["error","x"]']],
  ['event with a numeric name', ['42[7,"x"]']],
  ['ACK for an unknown id', ['4399["x"]']],
];

let d;
let good; // two well-behaved clients in room "good"
before(async () => {
  d = await h.startDaemon({ sio: true, raw: RAW });
  good = await Promise.all(['polling', 'websocket'].map(async (t) => {
    const s = await h.sioConnect(d.port, '/', { transports: [t] });
    s.got = h.sioRecord(s);
    assert.deepEqual(await h.sioAck(s, 'join', 'good'), ['ok']);
    return s;
  }));
});
after(() => {
  if (good) for (const s of good) s.disconnect();
  if (d) d.kill();
});

let round = 0;
async function goodStillRelay() {
  const [a, b] = good;
  round++;
  assert.equal(a.connected && b.connected, true, 'the well-behaved clients are still connected');
  assert.deepEqual(await h.sioAck(a, 'still', round), []);
  assert.deepEqual(await h.sioAck(b, 'still', -round), []);
  await h.sioFence(a);
  await h.sioFence(b);
  assert.deepEqual(b.got.pop(), ['still', round]);
  assert.deepEqual(a.got.pop(), ['still', -round]);
  assert.deepEqual([a.got, b.got], [[], []]);
}

/** Polling payload of the packets: binary as b<base64>, joined with \x1e. */
const pollingBody = (packets) => packets.map((p) => (Buffer.isBuffer(p) ? `b${p.toString('base64')}` : p)).join('\x1e');

async function pollingSession(connectFirst) {
  if (connectFirst) return h.sioPolling(d.port);
  return h.handshake(d.port);
}

for (const [name, packets, connectFirst] of CLOSING) {
  test(`polling, ${name}: POST ok, next GET exactly 6\\x1e1, session gone; others unaffected`, async () => {
    const { sid } = await pollingSession(connectFirst);
    h.assertPostOk(await h.post(d.port, sid, pollingBody(packets)));
    h.assertPollBody(await h.poll(d.port, sid), '6\x1e1');
    await h.waitSessionGone(d.port, sid);
    await goodStillRelay();
  });
}

// The reference server refuses an EVENT that arrives in the same POST as its
// namespace's CONNECT, only because its CONNECT completes asynchronously
// (doc/protocol.md, "Namespaces and CONNECT", on ordering); real clients
// wait for the reply.
// roomcastd handles the CONNECT first and then the EVENT, deliberately: the
// session stays and the event is taken as any other.
test('polling, ordering trap: CONNECT and EVENT in one POST (reference closes, roomcastd takes both)', async () => {
  const { sid } = await h.handshake(d.port);
  try {
    h.assertPostOk(await h.post(d.port, sid, '40\x1e42["hello"]'));
    if (h.REFERENCE) {
      h.assertPollBody(await h.poll(d.port, sid), '6\x1e1');
      await h.waitSessionGone(d.port, sid);
    } else {
      const res = await h.poll(d.port, sid);
      assert.match(res.text, /^40\{"sid":"[A-Za-z0-9_-]{20}"\}$/, 'the CONNECT reply, and no close');
      await h.postPoll(d.port, sid, '4290["join",""]', '4390["invalid room name"]');
    }
  } finally {
    await h.post(d.port, sid, '1'); // a session left open by a failure would fail the idle check
  }
  await goodStillRelay();
});

for (const [name, packets] of KEPT) {
  test(`polling, ${name}: ignored or relayed, the session stays and answers a join`, async () => {
    const { sid } = await h.sioPolling(d.port);
    h.assertPostOk(await h.post(d.port, sid, pollingBody(packets)));
    await h.postPoll(d.port, sid, '4290["join",""]', '4390["invalid room name"]');
    h.assertPostOk(await h.post(d.port, sid, '1'));
    await goodStillRelay();
  });
}

async function wsSession(connectFirst) {
  if (connectFirst) return h.sioWs(d.port);
  return h.wsSession(d.port);
}

function sendPackets(ws, packets) {
  for (const p of packets) {
    if (Buffer.isBuffer(p)) ws.sendBinary(p);
    else ws.sendText(p);
  }
}

for (const [name, packets, connectFirst] of CLOSING) {
  test(`websocket, ${name}: close frame without status (88 00), TCP closed; others unaffected`, async () => {
    const { ws } = await wsSession(connectFirst);
    sendPackets(ws, packets);
    const f = await ws.frame();
    assert.equal(f.raw.toString('hex'), '8800', `expected a close frame without status, got "${h.show(f.raw)}"`);
    ws.sendClose(); // the closing handshake: the server may wait for it before closing TCP
    await ws.closed();
    await goodStillRelay();
  });
}

for (const [name, packets] of KEPT) {
  test(`websocket, ${name}: ignored or relayed, the session stays and answers a join`, async () => {
    const { ws } = await h.sioWs(d.port);
    sendPackets(ws, packets);
    ws.sendText('4290["join",""]');
    assert.equal(await ws.text(), '4390["invalid room name"]');
    ws.sendClose(1000);
    await ws.closed();
    await goodStillRelay();
  });
}

h.endTests(() => d, { clients: () => good });
