// sio-relay.test.js - relay of client events to the other members of the
// sender's rooms (relay yes), with the official socket.io-client and raw
// polling/WebSocket clients for exact bytes. Covered: a relay reaches
// exactly the members of the sender's rooms, once each even when they share
// several rooms with the sender, never the sender, not members of other
// rooms or of the same room name in another namespace; the sender's own id
// room is not a relay target; the ack comes back with no arguments
// (callback args [], emitWithAck with timeout resolves, raw `43<id>[]`),
// also when nobody else is in the rooms; events arrive unchanged (name,
// args, key order, unicode, numbers, null; raw recipients see the exact
// `42[...]` bytes; numeric and "error" event names as the reference
// parser accepts them); binary arguments (a Buffer, several, an empty one,
// nested in objects and arrays) relayed between every pair of transports
// (polling/WebSocket) both ways, and the exact BINARY_EVENT bytes for raw
// recipients (WebSocket text header + binary frames; polling `b<base64>`);
// large text and binary packets shared by several recipients arrive intact;
// relay no: the event is dropped and no ack ever comes (proved with a fence,
// not a timer); per sender, relays arrive in the order sent. Ends with
// roomcast_sessions_current 0 and SIGTERM.
'use strict';

const { test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const RAW = `
namespace / {
    client_join           *
    relay                 yes
}
namespace /other {
    client_join           *
    relay                 yes
}
namespace /quiet {
    client_join           *
}
`;

let d;
before(async () => {
  d = await h.startDaemon({ sio: true, raw: RAW });
});
after(() => d && d.kill());

const open = h.trackedClients();
const rawOpen = new Set(); // cleanup functions of raw sessions a failed test left open
afterEach(async () => {
  for (const f of rawOpen) await f();
  rawOpen.clear();
});

async function rawPolling(opts) {
  const p = await h.sioPolling(d.port, opts);
  rawOpen.add(() => h.post(d.port, p.sid, '1').catch(() => {}));
  return p;
}

async function rawWs(opts) {
  const w = await h.sioWs(d.port, opts);
  rawOpen.add(() => w.ws.destroy());
  return w;
}

const client = (...args) => h.sioRecorded(open, d.port, ...args);
const joinAll = (s, ...rooms) => h.sioJoinAll(s, rooms);

/** A raw polling and a raw WebSocket member of `room` (joins acked "ok"): {p, w}. */
async function rawMembers(room) {
  const p = await rawPolling();
  await h.postPoll(d.port, p.sid, `421["join","${room}"]`, '431["ok"]');
  const w = await rawWs();
  w.ws.sendText(`422["join","${room}"]`);
  assert.equal(await w.ws.text(), '432["ok"]');
  return { p, w };
}

const fenceAll = (...ss) => Promise.all(ss.map((s) => h.sioFence(s)));

test('a relay reaches exactly the other members of the room, once, not the sender nor other rooms nor other namespaces', async () => {
  const [a, b, c, dd, e] = await Promise.all(['websocket', 'polling', 'websocket', 'polling', 'websocket'].map((t) => client(t)));
  const f = await client('websocket', '/other');
  await joinAll(a, 'r1');
  await joinAll(b, 'r1');
  await joinAll(c, 'r1', 'r2');
  await joinAll(dd, 'r2');
  await joinAll(f, 'r1');
  assert.deepEqual(await h.sioAck(a, 'msg', 'to r1'), []);
  await fenceAll(a, b, c, dd, e, f);
  assert.deepEqual(a.got, [], 'sender');
  assert.deepEqual(b.got, [['msg', 'to r1']]);
  assert.deepEqual(c.got, [['msg', 'to r1']]);
  assert.deepEqual(dd.got, [], 'member of another room only');
  assert.deepEqual(e.got, [], 'in no room');
  assert.deepEqual(f.got, [], 'same room name, other namespace');
});

test('a recipient sharing several rooms with the sender gets the event once; a sender in several rooms reaches each member once', async () => {
  const [a, b, c, dd] = await Promise.all(['websocket', 'polling', 'websocket', 'polling'].map((t) => client(t)));
  await joinAll(a, 'm1', 'm2', 'm3');
  await joinAll(b, 'm1', 'm2', 'm3');
  await joinAll(c, 'm2');
  await joinAll(dd, 'm3', 'm4');
  assert.deepEqual(await h.sioAck(a, 'msg', 1), []);
  assert.deepEqual(await h.sioAck(dd, 'msg', 2), []);
  await fenceAll(a, b, c, dd);
  assert.deepEqual(a.got, [['msg', 2]]);
  assert.deepEqual(b.got, [['msg', 1], ['msg', 2]]);
  assert.deepEqual(c.got, [['msg', 1]]);
  assert.deepEqual(dd.got, [['msg', 1]]);
});

test('the sender\'s own id room is no relay target: a sender in no room reaches nobody and still gets its ack', async () => {
  const a = await client();
  const b = await client('polling');
  await joinAll(b, a.id); // client_join * allows any name, the other socket's id included
  assert.deepEqual(await h.sioAck(a, 'msg', 'alone'), []);
  await fenceAll(a, b);
  assert.deepEqual(a.got, []);
  assert.deepEqual(b.got, [], 'a member of the sender\'s id room is not reached through it');
});

test('acks: callback gets no arguments, emitWithAck with timeout resolves undefined, raw polling gets exactly 43<id>[]', async () => {
  const a = await client();
  const b = await client();
  await joinAll(a, 'ack');
  await joinAll(b, 'ack');
  assert.deepEqual(await h.sioAck(a, 'msg', 'x'), []);
  assert.equal(await a.timeout(10000).emitWithAck('msg', 'y'), undefined);
  assert.equal(await a.emitWithAck('msg', 'z'), undefined);
  const results = await Promise.all([1, 2, 3, 4, 5].map((i) => h.sioAck(a, 'burst', i)));
  assert.deepEqual(results, [[], [], [], [], []]);
  await fenceAll(b);
  assert.deepEqual(b.got, [['msg', 'x'], ['msg', 'y'], ['msg', 'z'], ['burst', 1], ['burst', 2], ['burst', 3], ['burst', 4], ['burst', 5]],
    'in the order sent');

  const { sid } = await rawPolling();
  await h.postPoll(d.port, sid, '420["join","ack"]', '430["ok"]');
  await h.postPoll(d.port, sid, '4257["msg","raw"]', '4357[]');
  h.assertPostOk(await h.post(d.port, sid, '42["msg","raw no ack"]'));
  await fenceAll(a, b);
  assert.deepEqual(a.got, [['msg', 'raw'], ['msg', 'raw no ack']]);
  h.assertPostOk(await h.post(d.port, sid, '1'));
});

test('events arrive unchanged: raw polling and WebSocket recipients get the exact 42[...] bytes', async () => {
  const a = await client();
  await joinAll(a, 'bytes');
  const { p, w } = await rawMembers('bytes');

  const args = ['s', { z: 1, a: [true, false, null], 'ké y': 'é✓😀', n: -1.5e-7 }, 0, '', [[]], {}];
  assert.deepEqual(await h.sioAck(a, 'ev name', ...args), []);
  const expected = `42${JSON.stringify(['ev name', ...args])}`;
  h.assertPollBody(await h.poll(d.port, p.sid), expected, 'polling recipient');
  assert.equal(await w.ws.text(), expected, 'WebSocket recipient');

  // from a raw sender: a numeric event name, and "error" (neither is
  // reserved in the reference parser)
  w.ws.sendText('42[7,"x"]');
  w.ws.sendText('423["error","e"]');
  assert.equal(await w.ws.text(), '433[]');
  h.assertPollBody(await h.poll(d.port, p.sid), '42[7,"x"]\x1e42["error","e"]');
  await fenceAll(a);
  assert.deepEqual(a.got, [[7, 'x'], ['error', 'e']]);
  h.assertPostOk(await h.post(d.port, p.sid, '1'));
  w.ws.sendClose(1000);
  await w.ws.closed();
});

const BIN_ARGS = () => [
  Buffer.from([1, 2, 3]),
  { nested: { deep: [Buffer.from('ff00', 'hex'), 'text', { b: Buffer.alloc(0) }] }, n: 1 },
  [Buffer.from('hello')],
];

for (const [ta, tb] of [['polling', 'polling'], ['polling', 'websocket'], ['websocket', 'polling'], ['websocket', 'websocket']]) {
  test(`binary (Buffer, nested in objects and arrays, empty) relayed both ways, ${ta} <-> ${tb}`, async () => {
    const a = await client(ta);
    const b = await client(tb);
    await joinAll(a, 'bin');
    await joinAll(b, 'bin');
    assert.deepEqual(await h.sioAck(a, 'bin', ...BIN_ARGS()), []);
    assert.deepEqual(await h.sioAck(b, 'bin-back', Buffer.from([9]), 'after'), []);
    assert.deepEqual(await h.sioAck(a, 'mixed', 'text', 2), []);
    await fenceAll(a, b);
    assert.deepEqual(b.got, [h.sioNormalize(['bin', ...BIN_ARGS()]), ['mixed', 'text', 2]]);
    assert.deepEqual(a.got, [[ 'bin-back', { $bin: '09' }, 'after']]);
  });
}

// Large packets are shared between recipients (one frame referenced by
// every WebSocket output, one queued message per polling session) instead
// of being copied per recipient: several recipients on both transports
// must each get every byte, also after the sender's buffers are gone.
test('large text and binary packets reach several recipients on both transports intact', async () => {
  const a = await client('websocket');
  const recipients = await Promise.all(['websocket', 'polling', 'websocket', 'polling'].map((t) => client(t)));
  await joinAll(a, 'big');
  for (const r of recipients) await joinAll(r, 'big');
  const text = 'é€😀'.repeat(20000) + 'end';
  const blob = Buffer.alloc(300000);
  for (let i = 0; i < blob.length; i++) blob[i] = (i * 7 + 3) & 0xff;
  assert.deepEqual(await h.sioAck(a, 'big-text', text), []);
  assert.deepEqual(await h.sioAck(a, 'big-bin', blob, { again: blob.subarray(0, 1000) }), []);
  await fenceAll(...recipients);
  for (const r of recipients) {
    assert.deepEqual(r.got, [
      ['big-text', text],
      h.sioNormalize(['big-bin', blob, { again: blob.subarray(0, 1000) }]),
    ]);
  }
});

test('binary to raw recipients: exact BINARY_EVENT header and attachments (WebSocket frames, polling b<base64>)', async () => {
  const a = await client();
  await joinAll(a, 'rawbin');
  const { p, w } = await rawMembers('rawbin');

  assert.deepEqual(await h.sioAck(a, 'bin', Buffer.from([1, 2, 3]), { d: [Buffer.from([4])] }), []);
  const header = '452-["bin",{"_placeholder":true,"num":0},{"d":[{"_placeholder":true,"num":1}]}]';
  h.assertPollBody(await h.poll(d.port, p.sid), `${header}\x1ebAQID\x1ebBA==`, 'polling recipient');
  assert.equal(await w.ws.text(), header);
  let f = await w.ws.frame();
  assert.equal(f.opcode, 2);
  assert.equal(f.payload.toString('hex'), '010203');
  f = await w.ws.frame();
  assert.equal(f.opcode, 2);
  assert.equal(f.payload.toString('hex'), '04');

  // a raw sender's BINARY_EVENT with an ack id, over WebSocket and polling
  w.ws.sendText('451-9["wsbin",{"_placeholder":true,"num":0}]');
  w.ws.sendBinary(Buffer.from([0xaa, 0xbb]));
  assert.equal(await w.ws.text(), '439[]');
  h.assertPollBody(await h.poll(d.port, p.sid), '451-["wsbin",{"_placeholder":true,"num":0}]\x1ebqrs=');
  await h.postPoll(d.port, p.sid, '451-8["pbin",{"x":{"_placeholder":true,"num":0}}]\x1ebAA==', '438[]');
  assert.equal(await w.ws.text(), '451-["pbin",{"x":{"_placeholder":true,"num":0}}]');
  f = await w.ws.frame();
  assert.equal(f.opcode, 2);
  assert.equal(f.payload.toString('hex'), '00');
  await fenceAll(a);
  assert.deepEqual(a.got, [['wsbin', { $bin: 'aabb' }], ['pbin', { x: { $bin: '00' } }]]);
  h.assertPostOk(await h.post(d.port, p.sid, '1'));
  w.ws.sendClose(1000);
  await w.ws.closed();
});

test('relay no: the event is dropped and the ack never comes (fenced), joins still answer', async () => {
  const a = await client('websocket', '/quiet');
  const b = await client('polling', '/quiet');
  await joinAll(a, 'q');
  await joinAll(b, 'q');
  let acked = 0;
  a.emit('msg', 'dropped', () => { acked++; });
  a.emit('msg', Buffer.from([1]), () => { acked++; });
  a.emit('msg', 'no ack asked');
  await h.sioFence(a); // handled after the three events, answered after any ack of theirs
  await h.sioFence(b);
  assert.equal(acked, 0, 'no ack for a dropped event');
  assert.deepEqual(b.got, []);
  assert.deepEqual(a.got, []);

  const { sid } = await rawPolling({ nsp: '/quiet' });
  await h.postPoll(d.port, sid, '42/quiet,5["msg","x"]\x1e42/quiet,6["join","q"]', '43/quiet,6["ok"]', 'only the join is answered');
  h.assertPostOk(await h.post(d.port, sid, '1'));
});

h.endTests(() => d, { clients: open });
