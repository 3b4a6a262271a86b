// cluster-emitter.test.js - backends reaching the clients of two roomcastd
// instances A and B (reference-sio.js in reference mode) through one
// redis-server: @socket.io/redis-emitter 5.1.0 running in a separate Node
// process (node-cluster-server.js --emitter), and the plain JSON emit
// channel (roomcast-emit). Official socket.io-client clients, plus raw
// WebSocket and polling sessions where the exact bytes or the transport
// state matter. Covered, every API of doc/protocol.md, "Redis emitter" with
// exact per-client expectations: emit to everyone, to(room), to([rooms]) (once per
// client), except(room), to(room).except(room), to(socket id) on either
// instance, volatile (WebSocket clients get it, a polling session with no
// GET pending does not, a later normal event it does), compress(false),
// of('/admin') and of('admin'); values as a Node server delivers them (Date
// as its ISO string, undefined as null in arrays and left out of objects,
// integers past 2^32 and 2^53, floats, unicode; raw recipients get the exact
// `42[...]` text and, for binary, the `45N-` header and the attachments as
// binary frames); socketsJoin (all, in(room), except(room)), socketsLeave,
// after which relays between A and B use the new rooms; disconnectSockets
// (false): exactly `41` to the matching sockets, the engine session and its
// /admin socket kept; disconnectSockets(true): `41`, `41/admin,` then the
// WebSocket is closed; serverSideEmit reaches no client and (roomcastd only)
// counts one request per instance. JSON emit channel: the full form with
// rooms/except, the minimal form (only data; nsp "/"), /admin, volatile,
// exact bytes for a raw recipient; malformed JSON, JSON that is no emit
// (no data, data not a non-empty array, undeclared namespace, reserved
// event name) reach nobody and break nothing, and (roomcastd only) a
// malformed text counts in roomcast_cluster_bad_messages_total while valid
// ones count in roomcast_cluster_json_emits_total; (roomcastd only) join,
// leave and disconnect on the JSON channel, as the emitter's socketsJoin,
// socketsLeave and disconnectSockets, applied on both instances and
// counted in roomcast_cluster_json_ops_total, and malformed ones refused. Fences: an emit to
// everyone from the same emitter, which every client must see before "did
// not receive" is asserted. Ends with roomcast_sessions_current 0 and
// SIGTERM exits 0.
'use strict';

const { test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const RAW = h.CLUSTER_RAW;

let r;
let A;
let B;
let E;
before(async () => {
  r = await h.startRedis();
  [A, B, E] = await h.startAll([
    h.startClusterDaemon(r, { raw: RAW }),
    h.startClusterDaemon(r, { raw: RAW }),
    h.startEmitterProcess(r),
  ]);
});
after(async () => {
  for (const x of [A, B, E]) if (x) x.kill();
  if (r) await r.close();
});

const open = h.trackedClients();
const rawOpen = new Set();
afterEach(async () => {
  for (const f of rawOpen) await f();
  rawOpen.clear();
});

async function client(srv, { rooms = [], nsp = '/', transport = 'websocket' } = {}) {
  const s = await h.sioRecorded(open, srv.port, transport, nsp);
  await h.sioJoinAll(s, rooms);
  return h.sioWatchDisconnect(s);
}

/** A raw WebSocket session on d with a socket on / in `rooms` (and one on /admin when admin). */
async function rawWs(d, rooms = [], { admin = false } = {}) {
  const w = await h.sioWs(d.port);
  rawOpen.add(() => w.ws.destroy());
  let id = 0;
  for (const room of rooms) {
    w.ws.sendText(`42${id}["join","${room}"]`);
    assert.equal(await w.ws.text(), `43${id}["ok"]`, `raw join ${room}`);
    id++;
  }
  if (admin) {
    w.ws.sendText('40/admin,');
    assert.match(await w.ws.text(), /^40\/admin,\{"sid":"[A-Za-z0-9_-]{20}"\}$/);
  }
  return w;
}

/** A raw polling session on d with a socket on / and no GET pending: {sid, socketId}. */
async function rawPolling(d) {
  const p = await h.sioPolling(d.port);
  rawOpen.add(() => h.post(d.port, p.sid, '1').catch(() => {}));
  return p;
}

/** The emitter process's call. */
const emit = (fields) => E.call('emit', fields);

let fences = 1000;
/**
 * Emits ["fence", n] to everyone of each namespace of `clients` (and of "/"
 * for `raws`); waits for it at every official client (then drops it from
 * s.got) and resolves with, for each raw WebSocket of `raws`, what it got
 * before the fence: text frames as strings (pings skipped), binary frames
 * as {bin: hex}, anything else as {opcode}.
 */
async function fence(clients, raws = []) {
  const n = ++fences;
  const nsps = new Set(clients.map((s) => s.nsp));
  if (raws.length) nsps.add('/');
  for (const nsp of nsps) await emit({ nsp, args: ['fence', n] });
  for (const s of clients) await h.sioWaitGot(s, ['fence', n]);
  for (const s of clients) h.sioDropGot(s, 'fence');
  return Promise.all(raws.map(async (w) => {
    const out = [];
    for (;;) {
      const f = await w.ws.frame();
      if (f.opcode === 1 && f.text === '2') continue;
      if (f.opcode === 1 && f.text === `42["fence",${n}]`) return out;
      if (f.opcode === 1) out.push(f.text);
      else if (f.opcode === 2) out.push({ bin: f.payload.toString('hex') });
      else out.push({ opcode: f.opcode });
    }
  }));
}

test('emit, to(room), to([rooms]), except, to(room).except, to(socket id) on either instance: exactly the matching clients, once each', async () => {
  const a1 = await client(A, { rooms: ['chat:1'] });
  const a2 = await client(A, { rooms: ['chat:2'], transport: 'polling' });
  const a3 = await client(A);
  const b1 = await client(B, { rooms: ['chat:1', 'chat:2'] });
  const b2 = await client(B, { transport: 'polling' });
  const aa = await client(A, { nsp: '/admin' });

  await emit({ args: ['ev', 1, 'two', { three: 3 }] });
  await emit({ rooms: ['chat:1'], args: ['ev', 'room chat:1'] });
  await emit({ rooms: ['chat:1', 'chat:2'], args: ['ev', 'rooms chat:1 chat:2'] });
  await emit({ except: ['chat:2'], args: ['ev', 'all but chat:2'] });
  await emit({ rooms: ['chat:1'], except: ['chat:2'], args: ['ev', 'chat:1 minus chat:2'] });
  await emit({ rooms: [b2.id], args: ['ev', 'to b2'] });
  await emit({ rooms: [a3.id], args: ['ev', 'to a3'] });
  await emit({ rooms: ['chat:nobody'], args: ['ev', 'to nobody'] });
  await fence([a1, a2, a3, b1, b2, aa]);

  const all = ['ev', 1, 'two', { three: 3 }];
  assert.deepEqual(a1.got, [all, ['ev', 'room chat:1'], ['ev', 'rooms chat:1 chat:2'], ['ev', 'all but chat:2'], ['ev', 'chat:1 minus chat:2']], 'a1 (A, chat:1)');
  assert.deepEqual(a2.got, [all, ['ev', 'rooms chat:1 chat:2']], 'a2 (A, chat:2)');
  assert.deepEqual(a3.got, [all, ['ev', 'all but chat:2'], ['ev', 'to a3']], 'a3 (A, no room)');
  assert.deepEqual(b1.got, [all, ['ev', 'room chat:1'], ['ev', 'rooms chat:1 chat:2']], 'b1 (B, chat:1 chat:2)');
  assert.deepEqual(b2.got, [all, ['ev', 'all but chat:2'], ['ev', 'to b2']], 'b2 (B, no room)');
  assert.deepEqual(aa.got, [], 'aa (A, /admin)');
});

test('of("/admin") and of("admin") reach only /admin sockets, with their own rooms', async () => {
  const a1 = await client(A, { rooms: ['chat:1'] });
  const aa = await client(A, { nsp: '/admin', rooms: ['chat:1'] });
  const ba = await client(B, { nsp: '/admin', rooms: ['ops'] });
  await emit({ nsp: '/admin', args: ['adm', 'admin nsp'] });
  await emit({ nsp: 'admin', args: ['adm', 'slash added'] });
  await emit({ nsp: '/admin', rooms: ['chat:1'], args: ['adm', 'admin chat:1'] });
  await emit({ nsp: '/admin', except: ['chat:1'], args: ['adm', 'admin but chat:1'] });
  await fence([a1, aa, ba]);
  assert.deepEqual(a1.got, []);
  assert.deepEqual(aa.got, [['adm', 'admin nsp'], ['adm', 'slash added'], ['adm', 'admin chat:1']]);
  assert.deepEqual(ba.got, [['adm', 'admin nsp'], ['adm', 'slash added'], ['adm', 'admin but chat:1']]);
});

test('values arrive as a Node server delivers them: Date, undefined, large integers, floats, unicode, binary; exact bytes for raw recipients', async () => {
  const a1 = await client(A, { rooms: ['chat:v'] });
  const b1 = await client(B, { rooms: ['chat:v'], transport: 'polling' });
  const wa = await rawWs(A, ['chat:v']);
  const wb = await rawWs(B, ['chat:v']);

  await emit({
    rooms: ['chat:v'],
    // (not 1e21 or other integers past 2^64: notepack.io writes them as a
    // wrong uint64, Node servers deliver 3875820019684212700 for 1e21)
    args: ['types', new Date(0), undefined, null, 1.5, -1, 2 ** 40, -(2 ** 40), 2 ** 53 + 2, 2 ** 60, 0.1, 1.5e-7, -0,
      'é✓😀\u2028"\\', { k: undefined, j: 1, nested: [undefined, true, false] }],
  });
  await emit({ rooms: ['chat:v'], args: ['bin', Buffer.from([1, 2, 3]), { nested: Buffer.from([255]), list: [Buffer.alloc(0)] }] });
  const [ra, rb] = await fence([a1, b1], [wa, wb]);

  const types = ['types', '1970-01-01T00:00:00.000Z', null, null, 1.5, -1, 1099511627776, -1099511627776, 9007199254740994,
    1152921504606846976, 0.1, 1.5e-7, 0, 'é✓😀\u2028"\\', { j: 1, nested: [null, true, false] }];
  const bin = ['bin', { $bin: '010203' }, { nested: { $bin: 'ff' }, list: [{ $bin: '' }] }];
  assert.deepEqual(a1.got, [types, bin]);
  assert.deepEqual(b1.got, [types, bin]);
  const text = `42${JSON.stringify(types)}`;
  const expected = [
    text,
    '453-["bin",{"_placeholder":true,"num":0},{"nested":{"_placeholder":true,"num":1},"list":[{"_placeholder":true,"num":2}]}]',
    { bin: '010203' }, { bin: 'ff' }, { bin: '' },
  ];
  assert.deepEqual(ra, expected, 'raw WebSocket on A');
  assert.deepEqual(rb, expected, 'raw WebSocket on B');
});

test('volatile: WebSocket clients get it, a polling session with no GET pending does not (a later normal event it does); compress(false) is delivered', async () => {
  const a1 = await client(A);
  const b1 = await client(B);
  const pa = await rawPolling(A);
  const pb = await rawPolling(B);
  await emit({ volatile: true, args: ['v', 'volatile'] });
  await emit({ compress: false, args: ['c', 'uncompressed'] });
  await emit({ args: ['nv', 'normal'] });
  // the WebSocket clients' servers handled all three before the GETs below
  await h.sioWaitGot(a1, ['nv', 'normal']);
  await h.sioWaitGot(b1, ['nv', 'normal']);
  h.assertPollBody(await h.poll(A.port, pa.sid), '42["c","uncompressed"]\x1e42["nv","normal"]', 'polling session on A');
  h.assertPollBody(await h.poll(B.port, pb.sid), '42["c","uncompressed"]\x1e42["nv","normal"]', 'polling session on B');
  await fence([a1, b1]);
  for (const s of [a1, b1]) assert.deepEqual(s.got, [['v', 'volatile'], ['c', 'uncompressed'], ['nv', 'normal']]);
});

test('socketsJoin (all, in(room), except(room)) and socketsLeave act on both instances; relays then use the new rooms', async () => {
  const a1 = await client(A, { rooms: ['chat:1'] });
  const a2 = await client(A);
  const b1 = await client(B, { rooms: ['chat:1'], transport: 'polling' });
  const b2 = await client(B);
  const aa = await client(A, { nsp: '/admin' });
  const all = [a1, a2, b1, b2];

  await E.call('socketsJoin', { rooms: 'chat:all' });
  await E.call('socketsJoin', { in: ['chat:1'], rooms: ['chat:j', 'chat:k'] });
  await E.call('socketsJoin', { except: ['chat:1'], rooms: ['chat:x'] });
  await E.call('socketsJoin', { nsp: '/admin', rooms: ['chat:adm'] });
  await emit({ rooms: ['chat:all'], args: ['ev', 'chat:all'] });
  await emit({ rooms: ['chat:j'], args: ['ev', 'chat:j'] });
  await emit({ rooms: ['chat:x'], args: ['ev', 'chat:x'] });
  await emit({ nsp: '/admin', rooms: ['chat:adm'], args: ['ev', 'admin chat:adm'] });
  await E.call('socketsLeave', { rooms: ['chat:all'] });
  await E.call('socketsLeave', { in: ['chat:1'], rooms: 'chat:k' });
  await emit({ rooms: ['chat:all'], args: ['ev', 'chat:all after leave'] });
  await emit({ rooms: ['chat:k'], args: ['ev', 'chat:k after leave'] });
  await fence([...all, aa]);
  assert.deepEqual(a1.got, [['ev', 'chat:all'], ['ev', 'chat:j']], 'a1 (chat:1)');
  assert.deepEqual(b1.got, [['ev', 'chat:all'], ['ev', 'chat:j']], 'b1 (chat:1)');
  assert.deepEqual(a2.got, [['ev', 'chat:all'], ['ev', 'chat:x']], 'a2');
  assert.deepEqual(b2.got, [['ev', 'chat:all'], ['ev', 'chat:x']], 'b2');
  assert.deepEqual(aa.got, [['ev', 'admin chat:adm']], 'aa (/admin)');

  // relays: a2 reaches b2 through chat:x; a1 reaches b1 through chat:1 and chat:j, once
  assert.deepEqual(await h.sioAck(a2, 'msg', 'from a2'), []);
  await h.sioWaitGot(b2, ['msg', 'from a2']);
  assert.deepEqual(await h.sioAck(a1, 'msg', 'from a1'), []);
  await h.sioWaitGot(b1, ['msg', 'from a1']);
  await fence(all);
  assert.deepEqual(a1.got, [['ev', 'chat:all'], ['ev', 'chat:j']]);
  assert.deepEqual(a2.got, [['ev', 'chat:all'], ['ev', 'chat:x']]);
  assert.deepEqual(b1.got, [['ev', 'chat:all'], ['ev', 'chat:j'], ['msg', 'from a1']]);
  assert.deepEqual(b2.got, [['ev', 'chat:all'], ['ev', 'chat:x'], ['msg', 'from a2']]);
});

test('disconnectSockets(false): exactly `41` to the matching sockets, the engine session and its /admin socket kept', async () => {
  const wa = await rawWs(A, ['chat:d'], { admin: true });
  const b1 = await client(B, { rooms: ['chat:d'] });
  const b2 = await client(B, { rooms: ['chat:stay'] });
  await E.call('disconnectSockets', { in: ['chat:d'], close: false });
  assert.equal(await h.sioWaitDisconnect(b1), 'io server disconnect');
  assert.equal(await wa.ws.text(), '41', 'raw session on A');
  // the session and its /admin socket live on
  wa.ws.sendText('42/admin,7["join","x"]');
  assert.equal(await wa.ws.text(), '43/admin,7["ok"]');
  await emit({ nsp: '/admin', rooms: ['x'], args: ['still', 'here'] });
  assert.equal(await wa.ws.text(), '42/admin,["still","here"]');
  await fence([b2]);
  assert.deepEqual(b2.disconnects, []);
  assert.deepEqual(b2.got, []);
});

test('disconnectSockets(true): `41` and `41/admin,`, then the WebSocket is closed', async () => {
  const wb = await rawWs(B, ['chat:e'], { admin: true });
  const a1 = await client(A, { rooms: ['chat:e'] });
  const a2 = await client(A);
  await E.call('disconnectSockets', { in: ['chat:e'], close: true });
  assert.equal(await h.sioWaitDisconnect(a1), 'io server disconnect');
  assert.equal(await wb.ws.text(), '41');
  assert.equal(await wb.ws.text(), '41/admin,');
  const f = await wb.ws.frame();
  assert.equal(f.opcode, 8, `a close frame, got "${h.show(f.raw)}"`);
  wb.ws.sendClose(1000); // the closing handshake's answer
  await wb.ws.closed();
  await fence([a2]);
  assert.deepEqual(a2.disconnects, []);
});

test('serverSideEmit reaches no client and breaks nothing', async () => {
  const a1 = await client(A);
  const b1 = await client(B);
  const before = h.REFERENCE ? null : [await A.metrics(), await B.metrics()];
  await E.call('serverSideEmit', { args: ['hello-servers', 'from emitter'] });
  await fence([a1, b1]);
  assert.deepEqual(a1.got, []);
  assert.deepEqual(b1.got, []);
  if (!h.REFERENCE) {
    const after = [await A.metrics(), await B.metrics()];
    for (const i of [0, 1]) {
      assert.equal(after[i].roomcast_cluster_requests_total - before[i].roomcast_cluster_requests_total, 1, `requests on ${'AB'[i]}`);
      assert.equal(after[i].roomcast_cluster_bad_messages_total, before[i].roomcast_cluster_bad_messages_total, `bad messages on ${'AB'[i]}`);
    }
  }
});

const publishJson = (m) => E.call('publish', { channel: 'roomcast-emit', payload: typeof m === 'string' ? m : JSON.stringify(m) });

test('JSON emit channel: full form with rooms/except, minimal form, /admin, exact bytes', async () => {
  const a1 = await client(A, { rooms: ['chat:1'] });
  const a2 = await client(A, { rooms: ['chat:1', 'chat:2'] });
  const b1 = await client(B, { rooms: ['chat:1'], transport: 'polling' });
  const b2 = await client(B);
  const ba = await client(B, { nsp: '/admin', rooms: ['ops'] });
  const aa = await client(A, { nsp: '/admin' });
  const wb = await rawWs(B, ['chat:1']);
  const before = h.REFERENCE ? null : [await A.metrics(), await B.metrics()];

  await publishJson({ nsp: '/', rooms: ['chat:1'], except: ['chat:2'], data: ['news', { a: 1 }], volatile: false });
  await publishJson({ data: ['all', 'é✓😀', 1.5e-7, 1e21, [null, true]] });
  await publishJson({ nsp: '/admin', rooms: ['ops'], data: ['adm', 'ops only'] });
  await publishJson('{"rooms":["chat:2"],"data":["keys",{"z":1,"a":{"y":[],"b":{}}}]}');
  const [raw] = await fence([a1, a2, b1, b2, ba, aa], [wb]);

  const all = ['all', 'é✓😀', 1.5e-7, 1e21, [null, true]];
  const keys = ['keys', { z: 1, a: { y: [], b: {} } }];
  assert.deepEqual(a1.got, [['news', { a: 1 }], all]);
  assert.deepEqual(a2.got, [all, keys]);
  assert.deepEqual(b1.got, [['news', { a: 1 }], all]);
  assert.deepEqual(b2.got, [all]);
  assert.deepEqual(ba.got, [['adm', 'ops only']]);
  assert.deepEqual(aa.got, []);
  assert.deepEqual(raw, ['42["news",{"a":1}]', `42${JSON.stringify(all)}`], 'raw WebSocket on B');
  if (!h.REFERENCE) {
    const after = [await A.metrics(), await B.metrics()];
    for (const i of [0, 1]) {
      assert.equal(after[i].roomcast_cluster_json_emits_total - before[i].roomcast_cluster_json_emits_total, 4, `JSON emits on ${'AB'[i]}`);
    }
  }
});

test('JSON emit channel: volatile skips a polling session with no GET pending', async () => {
  const a1 = await client(A);
  const pa = await rawPolling(A);
  await publishJson({ data: ['v', 1], volatile: true });
  await publishJson({ data: ['nv', 2] });
  await h.sioWaitGot(a1, ['nv', 2]);
  h.assertPollBody(await h.poll(A.port, pa.sid), '42["nv",2]');
  await fence([a1]);
  assert.deepEqual(a1.got, [['v', 1], ['nv', 2]]);
});

test('JSON emit channel: malformed JSON and JSON that is no emit reach nobody and break nothing; malformed text is counted', async () => {
  const a1 = await client(A, { rooms: ['chat:1'] });
  const b1 = await client(B, { rooms: ['chat:1'] });
  const aa = await client(A, { nsp: '/admin' });
  const before = h.REFERENCE ? null : [await A.metrics(), await B.metrics()];
  const malformed = ['{"data":["x"]', 'not json', '', '{"data":["x"]}}'];
  for (const m of malformed) await publishJson(m);
  // handled by both instances once the next valid emit arrived
  await publishJson({ data: ['mark'] });
  await Promise.all([a1, b1].map((s) => h.sioWaitGot(s, ['mark'])));
  h.sioDropGot(a1, 'mark');
  h.sioDropGot(b1, 'mark');
  const afterMalformed = h.REFERENCE ? null : [await A.metrics(), await B.metrics()];
  const noEmit = [
    '[1,2]', '"news"', '42', 'null', '{}', '{"nsp":"/"}', '{"data":"news"}', '{"data":[]}', '{"data":{"0":"x"}}',
    '{"nsp":"/nope","data":["x"]}', '{"nsp":"/admin","rooms":"ops","data":["x"],"except":5}',
    '{"data":["connect"]}', '{"data":["disconnect","x"]}',
  ];
  for (const m of noEmit) await publishJson(m);
  await publishJson({ data: ['after', 'bad input'] });
  await h.sioWaitGot(a1, ['after', 'bad input']);
  await fence([a1, b1, aa]);
  assert.deepEqual(a1.got, [['after', 'bad input']]);
  assert.deepEqual(b1.got, [['after', 'bad input']]);
  for (const s of [a1, b1, aa]) assert.deepEqual(s.disconnects, []);
  for (const d of [A, B]) assert.deepEqual(await h.healthz(d.port), { status: 200, text: 'ok\nredis up\n' });
  if (!h.REFERENCE) {
    for (const i of [0, 1]) {
      const m0 = before[i];
      const m1 = afterMalformed[i];
      assert.equal(m1.roomcast_cluster_bad_messages_total - m0.roomcast_cluster_bad_messages_total, malformed.length, `bad messages on ${'AB'[i]}`);
      assert.equal(m1.roomcast_cluster_json_emits_total - m0.roomcast_cluster_json_emits_total, 1, `JSON emits on ${'AB'[i]} (the mark)`);
    }
  }
});

test('JSON channel: join, leave and disconnect do what socketsJoin, socketsLeave and disconnectSockets do', { skip: h.REFERENCE && 'roomcastd\'s JSON channel only' }, async () => {
  const a1 = await client(A, { rooms: ['chat:1'] });
  const b1 = await client(B, { rooms: ['chat:1'] });
  const b2 = await client(B);
  const before = [await A.metrics(), await B.metrics()];
  await publishJson({ rooms: ['chat:1'], join: ['team:x', 'team:y'] });
  await publishJson({ rooms: ['team:x'], data: ['t', 1] });
  await publishJson({ rooms: [a1.id], leave: ['team:x'] });
  await publishJson({ rooms: ['team:x'], except: ['team:z'], data: ['t', 2] });
  await publishJson({ rooms: ['team:y'], data: ['t', 3] });
  // refused: two operations, wrong types; nothing changes
  for (const m of [{ join: ['team:x'], data: ['x'] }, { join: 'team:x' }, { leave: [1] }, { disconnect: 'yes' }]) {
    await publishJson(m);
  }
  await publishJson({ rooms: [b1.id], disconnect: false });
  await fence([a1, b2]);
  await h.sioWaitDisconnect(b1);
  assert.deepEqual(a1.got, [['t', 1], ['t', 3]]);
  assert.deepEqual(b1.got, [['t', 1], ['t', 2], ['t', 3]]);
  assert.deepEqual(b1.disconnects, ['io server disconnect']);
  assert.deepEqual(b2.got, []);
  assert.deepEqual(a1.disconnects, []);
  const after = [await A.metrics(), await B.metrics()];
  for (const i of [0, 1]) {
    assert.equal(after[i].roomcast_cluster_json_ops_total - (before[i].roomcast_cluster_json_ops_total || 0), 3, `ops on ${'AB'[i]}`);
    assert.equal(after[i].roomcast_cluster_bad_messages_total - before[i].roomcast_cluster_bad_messages_total, 4, `refused on ${'AB'[i]}`);
  }
});

test('/healthz with redis: 200 "ok\\nredis up\\n"', async () => {
  for (const d of [A, B]) assert.deepEqual(await h.healthz(d.port), { status: 200, text: 'ok\nredis up\n' });
});

test('after every client closed, roomcast_sessions_current returns to 0 on both instances', async () => {
  for (const s of open) s.disconnect();
  open.clear();
  for (const d of [A, B]) assert.equal((await d.waitIdle()).roomcast_sessions_current, 0);
});

test('SIGTERM: both instances exit 0', async () => {
  await Promise.all([A.stop('SIGTERM'), B.stop('SIGTERM'), E.stop()]);
});
