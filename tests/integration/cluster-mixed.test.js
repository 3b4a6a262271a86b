// cluster-mixed.test.js - a mixed cluster on one redis-server: two roomcastd
// instances A and B (or reference-sio.js in reference mode) and one Node
// socket.io 4.8.1 server N with @socket.io/redis-adapter 8.3.0
// (node-cluster-server.js, driven over IPC), official socket.io-client 4.8.1
// clients on all three, and an @socket.io/redis-emitter 5.1.0 in this process.
// Covered: a client relay on any server reaches the members of the sender's
// rooms on every server once each (also sharing several rooms), never the
// sender, members of other rooms or sockets in no room; binary relays
// (nested, empty) cross every pair intact; N's io.to()/except/to([..])/
// to(socket id)/of('/admin')/binary broadcasts and the emitter's reach
// exactly the right clients of A and B; N.fetchSockets() lists the sockets of
// all three servers (id, rooms with the id room, handshake with Node's
// fields, data {}), with rooms and except filters; N.serverSideEmit with ack
// gets one null answer per roomcastd (per namespace) and no timeout; the
// emitter's serverSideEmit reaches N; N.socketsJoin/socketsLeave (in,
// except) act on roomcastd's sockets, whose relays then use the new rooms;
// N.disconnectSockets(false) gives 'io server disconnect' and keeps the
// engine session (the /admin socket of the same manager stays connected),
// the emitter's disconnectSockets(true) disconnects every namespace of the
// session (the /admin socket too, also 'io server disconnect'); N's broadcast with acks
// gets the answer of every client cluster-wide (text, object, binary) and
// never waits for its timeout, also when a server has no member or nobody
// has; N.allRooms() includes roomcastd's rooms and socket ids; the JSON emit
// channel reaches roomcastd's clients and never N's; /healthz says redis up;
// (roomcastd only) the cluster counters move by exactly what was sent. Fences
// are emits to everyone that every client must see, ordered after what is
// checked (same Redis connection, or published after Redis handed it on).
// Ends with roomcast_sessions_current 0 on A and B and SIGTERM exits 0.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const RAW = h.CLUSTER_RAW;
const CONFIG = { redis_request_timeout: '3s' };

let r;
let A;
let B;
let N;
let em;
before(async () => {
  r = await h.startRedis();
  [A, B, N] = await h.startAll([
    h.startClusterDaemon(r, { raw: RAW, config: { ...CONFIG, backend_headers: 'x-app' } }),
    h.startClusterDaemon(r, { raw: RAW, config: CONFIG }),
    h.startNodeCluster(r, { raw: RAW, config: CONFIG }),
  ]);
  em = await h.redisEmitter(r);
});
after(async () => {
  for (const x of [A, B, N]) if (x) x.kill();
  if (r) await r.close();
});

const open = h.trackedClients();

/** An official client of server srv (A, B or N), recorded, in `rooms`. */
async function client(srv, { rooms = [], nsp = '/', transport = 'websocket', auth, headers } = {}) {
  const s = await h.sioRecorded(open, srv.port, transport, nsp, { ...(auth ? { auth } : {}), ...(headers ? { extraHeaders: headers } : {}) });
  await h.sioJoinAll(s, rooms);
  return h.sioWatchDisconnect(s);
}

/** Everything the emitter (or anyone) published before has reached these clients. */
const fence = (...clients) => h.clusterFence(async (nsp, n) => {
  em.emitter.of(nsp).emit('fence', n);
  await em.sync();
}, clients);

/** s.got without the ack callbacks recorded for events sent with an ack id. */
const events = (s) => s.got.map((e) => e.filter((x) => typeof x !== 'function'));

const waitAll = (clients, entry) => Promise.all(clients.map((s) => h.sioWaitGot(s, entry)));

test('a client relay on any server reaches the members of its rooms on every server once each, never the sender nor non-members', async () => {
  const a1 = await client(A, { rooms: ['chat:1', 'chat:2'] });
  const a2 = await client(A, { rooms: ['chat:1'], transport: 'polling' });
  const b1 = await client(B, { rooms: ['chat:1'] });
  const b2 = await client(B, { rooms: ['chat:1', 'chat:2'], transport: 'polling' });
  const b3 = await client(B);
  const n1 = await client(N, { rooms: ['chat:2'] });
  const n2 = await client(N, { rooms: ['chat:3'] });

  // a1 is in chat:1 and chat:2: b2 shares both and gets it once
  assert.deepEqual(await h.sioAck(a1, 'msg', 'from a1', { n: 1 }), []);
  await waitAll([a2, b1, b2, n1], ['msg', 'from a1', { n: 1 }]);
  assert.deepEqual(await h.sioAck(b1, 'msg', 'from b1'), []);
  await waitAll([a1, a2, b2], ['msg', 'from b1']);
  assert.deepEqual(await h.sioAck(n1, 'msg', 'from n1'), []);
  await waitAll([a1, b2], ['msg', 'from n1']);
  await fence(a1, a2, b1, b2, b3, n1, n2);

  assert.deepEqual(a1.got, [['msg', 'from b1'], ['msg', 'from n1']], 'a1 (A, chat:1 chat:2, the first sender)');
  assert.deepEqual(a2.got, [['msg', 'from a1', { n: 1 }], ['msg', 'from b1']], 'a2 (A, chat:1)');
  assert.deepEqual(b1.got, [['msg', 'from a1', { n: 1 }]], 'b1 (B, chat:1)');
  assert.deepEqual(b2.got, [['msg', 'from a1', { n: 1 }], ['msg', 'from b1'], ['msg', 'from n1']], 'b2 (B, chat:1 chat:2)');
  assert.deepEqual(b3.got, [], 'b3 (B, in no room)');
  assert.deepEqual(n1.got, [['msg', 'from a1', { n: 1 }]], 'n1 (N, chat:2)');
  assert.deepEqual(n2.got, [], 'n2 (N, chat:3)');
});

const BIN_ARGS = () => [
  Buffer.from([1, 2, 3]),
  { nested: { deep: [Buffer.from('ff00', 'hex'), 'text', { b: Buffer.alloc(0) }] }, n: 1 },
  [Buffer.from('hello')],
];

test('binary relays (nested, empty buffer) cross roomcastd -> roomcastd/Node and Node -> roomcastd intact', async () => {
  const a1 = await client(A, { rooms: ['chat:bin'] });
  const b1 = await client(B, { rooms: ['chat:bin'], transport: 'polling' });
  const n1 = await client(N, { rooms: ['chat:bin'] });

  assert.deepEqual(await h.sioAck(a1, 'bin', ...BIN_ARGS()), []);
  await waitAll([b1, n1], ['bin', ...BIN_ARGS()]);
  assert.deepEqual(await h.sioAck(n1, 'bin-n', Buffer.from([9]), 'after'), []);
  await waitAll([a1, b1], ['bin-n', Buffer.from([9]), 'after']);
  assert.deepEqual(await h.sioAck(b1, 'bin-b', { x: Buffer.from('aa', 'hex') }, [Buffer.alloc(0)]), []);
  await waitAll([a1, n1], ['bin-b', { x: Buffer.from('aa', 'hex') }, [Buffer.alloc(0)]]);
  await fence(a1, b1, n1);

  const bin = h.sioNormalize(['bin', ...BIN_ARGS()]);
  const binN = ['bin-n', { $bin: '09' }, 'after'];
  const binB = ['bin-b', { x: { $bin: 'aa' } }, [{ $bin: '' }]];
  assert.deepEqual(a1.got, [binN, binB]);
  assert.deepEqual(b1.got, [bin, binN]);
  assert.deepEqual(n1.got, [bin, binB]);
});

test('N broadcasts: to(room), to([rooms]).except(room), everyone, to(socket id), of(/admin), binary reach exactly the right clients of A and B', async () => {
  const a1 = await client(A, { rooms: ['chat:1'] });
  const a2 = await client(A, { rooms: ['chat:2'], transport: 'polling' });
  const b1 = await client(B, { rooms: ['chat:1', 'chat:2'] });
  const b2 = await client(B);
  const n1 = await client(N, { rooms: ['chat:1'] });
  const aa = await client(A, { nsp: '/admin', rooms: ['chat:1'] });
  const ba = await client(B, { nsp: '/admin' });

  await N.call('emit', { rooms: ['chat:1'], args: ['news', 'to chat:1'] });
  await N.call('emit', { rooms: ['chat:1', 'chat:2'], except: ['chat:2'], args: ['news', 'chat:1 chat:2 minus chat:2'] });
  await N.call('emit', { args: ['news', 'everyone', { a: [1, null, true] }] });
  await N.call('emit', { rooms: [b2.id], args: ['news', 'to b2 by id'] });
  await N.call('emit', { nsp: '/admin', args: ['adm', 'admin nsp'] });
  await N.call('emit', { nsp: '/admin', rooms: ['chat:1'], args: ['adm', 'admin chat:1'] });
  await N.call('emit', { rooms: ['chat:2'], args: ['bin', Buffer.from([1, 2]), { x: Buffer.from([255]) }] });
  // volatile to WebSocket clients only: a polling client between two GETs
  // would rightly drop it
  await N.call('emit', { volatile: true, rooms: ['chat:1'], args: ['vol', 1] });
  await N.call('emit', { compress: false, rooms: ['chat:2'], args: ['nocompress', 1] });
  await fence(a1, a2, b1, b2, n1, aa, ba);

  const everyone = ['news', 'everyone', { a: [1, null, true] }];
  const bin = ['bin', { $bin: '0102' }, { x: { $bin: 'ff' } }];
  assert.deepEqual(a1.got, [['news', 'to chat:1'], ['news', 'chat:1 chat:2 minus chat:2'], everyone, ['vol', 1]], 'a1 (A, chat:1)');
  assert.deepEqual(a2.got, [everyone, bin, ['nocompress', 1]], 'a2 (A, chat:2, polling)');
  assert.deepEqual(b1.got, [['news', 'to chat:1'], everyone, bin, ['vol', 1], ['nocompress', 1]], 'b1 (B, chat:1 chat:2)');
  assert.deepEqual(b2.got, [everyone, ['news', 'to b2 by id']], 'b2 (B, no room)');
  assert.deepEqual(n1.got, [['news', 'to chat:1'], ['news', 'chat:1 chat:2 minus chat:2'], everyone, ['vol', 1]], 'n1 (N, chat:1)');
  assert.deepEqual(aa.got, [['adm', 'admin nsp'], ['adm', 'admin chat:1']], 'aa (A, /admin, chat:1)');
  assert.deepEqual(ba.got, [['adm', 'admin nsp']], 'ba (B, /admin)');
});

test('emitter: to(room), to([rooms]), except, to(room).except, of(/admin), everyone, binary reach exactly the right clients of A, B and N', async () => {
  const a1 = await client(A, { rooms: ['chat:1'] });
  const a2 = await client(A, { rooms: ['chat:2'] });
  const b1 = await client(B, { rooms: ['chat:1', 'chat:2'], transport: 'polling' });
  const b2 = await client(B);
  const n1 = await client(N, { rooms: ['chat:2'] });
  const n2 = await client(N);
  const aa = await client(A, { nsp: '/admin' });
  const na = await client(N, { nsp: '/admin', rooms: ['x'] });

  const e = em.emitter;
  e.to('chat:1').emit('ev', 'to chat:1');
  e.to(['chat:1', 'chat:2']).emit('ev', 'to chat:1 chat:2');
  e.except('chat:2').emit('ev', 'except chat:2');
  e.to('chat:2').except('chat:1').emit('ev', 'chat:2 minus chat:1');
  e.of('/admin').emit('adm', 'admin');
  e.of('/admin').to('x').emit('adm', 'admin x');
  e.emit('ev', 'everyone', 1.5, -1, null);
  e.to('chat:2').emit('bin', Buffer.from([1, 2, 3]), { nested: Buffer.from([255]) });
  await em.sync();
  await fence(a1, a2, b1, b2, n1, n2, aa, na);

  const all = ['ev', 'everyone', 1.5, -1, null];
  const bin = ['bin', { $bin: '010203' }, { nested: { $bin: 'ff' } }];
  assert.deepEqual(a1.got, [['ev', 'to chat:1'], ['ev', 'to chat:1 chat:2'], ['ev', 'except chat:2'], all], 'a1 (A, chat:1)');
  assert.deepEqual(a2.got, [['ev', 'to chat:1 chat:2'], ['ev', 'chat:2 minus chat:1'], all, bin], 'a2 (A, chat:2)');
  assert.deepEqual(b1.got, [['ev', 'to chat:1'], ['ev', 'to chat:1 chat:2'], all, bin], 'b1 (B, chat:1 chat:2)');
  assert.deepEqual(b2.got, [['ev', 'except chat:2'], all], 'b2 (B, no room)');
  assert.deepEqual(n1.got, [['ev', 'to chat:1 chat:2'], ['ev', 'chat:2 minus chat:1'], all, bin], 'n1 (N, chat:2)');
  assert.deepEqual(n2.got, [['ev', 'except chat:2'], all], 'n2 (N, no room)');
  assert.deepEqual(aa.got, [['adm', 'admin']], 'aa (A, /admin)');
  assert.deepEqual(na.got, [['adm', 'admin'], ['adm', 'admin x']], 'na (N, /admin, x)');
});

test('N.fetchSockets() lists the sockets of all three servers: id, rooms with the id room, handshake as Node has it, data {}; rooms and except filters', async () => {
  const a1 = await client(A, { rooms: ['chat:f'], auth: { token: 'a1' }, headers: { 'X-App': 'mixed' } });
  const b1 = await client(B, { rooms: ['chat:f', 'chat:g'], auth: { token: 'b1', n: 2 }, transport: 'polling', headers: { 'X-App': 'not kept' } });
  const b2 = await client(B, { rooms: ['chat:g'] });
  const n1 = await client(N, { rooms: ['chat:f'], auth: { token: 'n1' } });
  const port = new Map([[a1.id, A.port], [b1.id, B.port], [b2.id, B.port], [n1.id, N.port]]);
  const byId = (list) => [...list].sort((x, y) => (x.id < y.id ? -1 : 1));

  const list = byId(await N.call('fetchSockets', { rooms: ['chat:f'] }));
  assert.deepEqual(list.map((s) => s.id), [a1.id, b1.id, n1.id].sort(), 'ids of chat:f');
  const nodeKeys = Object.keys(list.find((s) => s.id === n1.id).handshake).sort();
  const expected = {
    [a1.id]: { rooms: [a1.id, 'chat:f'], auth: { token: 'a1' }, transport: 'websocket' },
    [b1.id]: { rooms: [b1.id, 'chat:f', 'chat:g'], auth: { token: 'b1', n: 2 }, transport: 'polling' },
    [n1.id]: { rooms: [n1.id, 'chat:f'], auth: { token: 'n1' }, transport: 'websocket' },
  };
  for (const s of list) {
    const want = expected[s.id];
    const hs = s.handshake;
    assert.deepEqual([...s.rooms].sort(), want.rooms.sort(), `rooms of ${s.id}`);
    assert.deepEqual(s.data, {}, `data of ${s.id}`);
    assert.ok(hs && typeof hs === 'object', `handshake of ${s.id}: ${JSON.stringify(s)}`);
    assert.deepEqual(Object.keys(hs).sort(), nodeKeys, `handshake keys of ${s.id} (Node's: ${nodeKeys})`);
    assert.deepEqual(hs.auth, want.auth, `handshake.auth of ${s.id}`);
    assert.equal(hs.query.EIO, '4', `handshake.query of ${s.id}: ${JSON.stringify(hs.query)}`);
    assert.equal(hs.query.transport, want.transport, `handshake.query.transport of ${s.id}`);
    assert.equal(hs.headers.host, `127.0.0.1:${port.get(s.id)}`, `handshake.headers.host of ${s.id}`);
    if (!h.REFERENCE && s.id !== n1.id) {
      // roomcastd keeps Host and what backend_headers names (A: x-app), no more
      const kept = s.id === a1.id ? { host: hs.headers.host, 'x-app': 'mixed' } : { host: hs.headers.host };
      assert.deepEqual(hs.headers, kept, `handshake.headers of ${s.id}`);
    }
    assert.equal(hs.address, '127.0.0.1', `handshake.address of ${s.id}`);
    assert.equal(hs.secure, false, `handshake.secure of ${s.id}`);
    assert.equal(hs.xdomain, false, `handshake.xdomain of ${s.id}`);
    assert.match(hs.url, /^\/socket\.io\/\?/, `handshake.url of ${s.id}`);
    assert.equal(typeof hs.time, 'string', `handshake.time of ${s.id}`);
    assert.ok(Number.isInteger(hs.issued) && Math.abs(hs.issued - Date.now()) < 60000, `handshake.issued of ${s.id}: ${hs.issued}`);
  }

  const except = byId(await N.call('fetchSockets', { rooms: ['chat:f'], except: ['chat:g'] }));
  assert.deepEqual(except.map((s) => s.id), [a1.id, n1.id].sort(), 'chat:f except chat:g');
  const byIdRoom = await N.call('fetchSockets', { rooms: [b2.id] });
  assert.deepEqual(byIdRoom.map((s) => s.id), [b2.id], 'to(socket id)');
  const none = await N.call('fetchSockets', { rooms: ['chat:nobody'] });
  assert.deepEqual(none, [], 'a room nobody is in');
  const every = (await N.call('fetchSockets', {})).map((s) => s.id);
  assert.equal(new Set(every).size, every.length, `no socket listed twice: ${every}`);
  for (const s of [a1, b1, b2, n1]) assert.ok(every.includes(s.id), `${s.id} in the unfiltered list`);
});

test('N.serverSideEmit with ack gets one null answer from each roomcastd (/ and /admin), without a timeout; the emitter\'s serverSideEmit reaches N', async () => {
  assert.deepEqual(await N.call('serverSideEmit', { args: ['hello-servers', 1, { a: 2 }], ack: true }), { err: null, responses: [null, null] });
  assert.equal(await N.call('serverSideEmit', { args: ['no-ack', 'x'] }), true);
  assert.deepEqual(await N.call('serverSideEmit', { nsp: '/admin', args: ['hello-admin'], ack: true }), { err: null, responses: [null, null] });
  assert.deepEqual(await N.call('serverSideEmit', { args: ['again'], ack: true }), { err: null, responses: [null, null] },
    'a server-side emit without ack got no answer that could be mistaken for one');

  em.emitter.serverSideEmit('from-emitter', 'x', { y: 1 });
  await em.sync();
  const seen = await h.waitFor(async () => {
    const list = await N.call('serverSideEvents');
    return list.some((e) => e.args[0] === 'from-emitter') && list;
  }, { what: 'the emitter\'s server-side emit at N' });
  assert.deepEqual(seen.filter((e) => e.args[0] === 'from-emitter'), [{ nsp: '/', args: ['from-emitter', 'x', { y: 1 }] }]);
  assert.deepEqual(seen.filter((e) => e.args[0] !== 'from-emitter'), [], 'N receives no server-side emit from roomcastd');
});

test('N.socketsJoin/socketsLeave (all, in, except) act on roomcastd\'s sockets, whose relays then use the new rooms', async () => {
  const a1 = await client(A, { rooms: ['chat:1'] });
  const a2 = await client(A);
  const b1 = await client(B, { rooms: ['chat:1'], transport: 'polling' });
  const b2 = await client(B);
  const n1 = await client(N);
  const all = [a1, a2, b1, b2, n1];

  await N.call('socketsJoin', { rooms: ['chat:2'] });
  em.emitter.to('chat:2').emit('ev', 'chat:2 after socketsJoin');
  await em.sync();
  await waitAll(all, ['ev', 'chat:2 after socketsJoin']);

  await N.call('socketsJoin', { in: ['chat:1'], rooms: ['chat:j', 'chat:k'] });
  await N.call('socketsJoin', { except: ['chat:1'], rooms: ['chat:x'] });
  await N.call('socketsLeave', { rooms: ['chat:2'] });
  await N.call('socketsLeave', { in: ['chat:1'], rooms: ['chat:k'] });
  const e = em.emitter;
  e.to('chat:j').emit('ev', 'chat:j');
  e.to('chat:k').emit('ev', 'chat:k');
  e.to('chat:x').emit('ev', 'chat:x');
  e.to('chat:2').emit('ev', 'chat:2 after socketsLeave');
  await em.sync();
  await fence(...all);
  for (const s of all) sioDropFirst(s, ['ev', 'chat:2 after socketsJoin']);
  assert.deepEqual(a1.got, [['ev', 'chat:j']], 'a1 (chat:1)');
  assert.deepEqual(b1.got, [['ev', 'chat:j']], 'b1 (chat:1)');
  for (const [s, name] of [[a2, 'a2'], [b2, 'b2'], [n1, 'n1']]) assert.deepEqual(s.got, [['ev', 'chat:x']], name);

  // a relay from a2 goes to the room it was put in: chat:x (b2, n1)
  assert.deepEqual(await h.sioAck(a2, 'msg', 'from a2'), []);
  await waitAll([b2, n1], ['msg', 'from a2']);
  assert.deepEqual(await h.sioAck(b1, 'msg', 'from b1'), []);
  await waitAll([a1], ['msg', 'from b1']);
  await fence(...all);
  assert.deepEqual(a1.got, [['ev', 'chat:j'], ['msg', 'from b1']]);
  assert.deepEqual(a2.got, [['ev', 'chat:x']]);
  assert.deepEqual(b1.got, [['ev', 'chat:j']]);
  assert.deepEqual(b2.got, [['ev', 'chat:x'], ['msg', 'from a2']]);
  assert.deepEqual(n1.got, [['ev', 'chat:x'], ['msg', 'from a2']]);
});

/** Removes the first entry of s.got deep-equal to entry (asserting there is one). */
function sioDropFirst(s, entry) {
  const i = s.got.findIndex((e) => JSON.stringify(e) === JSON.stringify(entry));
  assert.ok(i >= 0, `${JSON.stringify(entry)} in ${JSON.stringify(s.got)}`);
  s.got.splice(i, 1);
}

/** A manager (one engine session) on srv with sockets on / (in `rooms`) and /admin. */
async function managed(srv, rooms) {
  const m = h.sioManager(srv.port, { transports: ['websocket'] });
  const main = m.socket('/');
  const adm = m.socket('/admin');
  for (const s of [main, adm]) {
    open.add(s);
    h.sioWatchDisconnect(s);
    await h.sioConnected(s);
    s.got = h.sioRecord(s);
  }
  await h.sioJoinAll(main, rooms);
  return { main, adm };
}

test('N.disconnectSockets(false): roomcastd clients get "io server disconnect", the engine session stays; the emitter\'s disconnectSockets(true) closes it', async () => {
  const ma = await managed(A, ['chat:d']);
  const mb = await managed(B, ['chat:d']);
  const n1 = await client(N, { rooms: ['chat:d'] });
  const b2 = await client(B, { rooms: ['chat:other'] });

  await N.call('disconnectSockets', { in: ['chat:d'], close: false });
  for (const [s, name] of [[ma.main, 'A /'], [mb.main, 'B /'], [n1, 'N /']]) {
    assert.equal(await h.sioWaitDisconnect(s), 'io server disconnect', name);
  }
  // the /admin sockets of the same engine sessions and the bystander live on
  await fence(ma.adm, mb.adm, b2);
  for (const s of [ma.adm, mb.adm, b2]) {
    assert.ok(s.connected, 'still connected');
    assert.deepEqual(s.disconnects, []);
  }
  assert.deepEqual(await h.sioAck(ma.adm, 'join', 'room'), ['ok']);

  const mc = await managed(A, ['chat:e']);
  const md = await managed(B, ['chat:e']);
  em.emitter.in('chat:e').disconnectSockets(true);
  await em.sync();
  // close: the server disconnects every namespace of the engine session
  // (`41` and `41/admin,`), then closes it (exact bytes in cluster-emitter)
  for (const [s, name] of [[mc.main, 'A /'], [md.main, 'B /'], [mc.adm, 'A /admin'], [md.adm, 'B /admin']]) {
    assert.equal(await h.sioWaitDisconnect(s), 'io server disconnect', name);
  }
  await fence(ma.adm, mb.adm, b2);
  assert.deepEqual(b2.disconnects, []);
});

test('N\'s broadcast with acks gets the answer of every member cluster-wide and never waits for its timeout', async () => {
  const answer = (s, fn) => s.on('q', (x, cb) => cb(fn(x)));
  const a1 = await client(A, { rooms: ['chat:ack'] });
  const a2 = await client(A, { rooms: ['chat:ack'], transport: 'polling' });
  const b1 = await client(B, { rooms: ['chat:ack'] });
  const b2 = await client(B, { rooms: ['chat:other'] });
  const n1 = await client(N, { rooms: ['chat:ack', 'chat:nonly'] });
  answer(a1, (x) => `a1:${x}`);
  answer(a2, () => Buffer.from([1, 2]));
  answer(b1, (x) => ({ from: 'b1', x }));
  answer(b2, () => 'b2 must not be asked');
  answer(n1, (x) => `n1:${x}`);

  const sorted = (list) => list.map(h.sioNormalize).map((v) => JSON.stringify(v)).sort();
  const t0 = Date.now();
  const res = await N.call('emitWithAck', { rooms: ['chat:ack'], timeout: 2000, args: ['q', 'x'] });
  assert.equal(res.err, null, `answers so far: ${JSON.stringify(h.sioNormalize(res.responses))}`);
  assert.deepEqual(sorted(res.responses), sorted(['a1:x', Buffer.from([1, 2]), { from: 'b1', x: 'x' }, 'n1:x']));

  const onlyN = await N.call('emitWithAck', { rooms: ['chat:nonly'], timeout: 2000, args: ['q', 'y'] });
  assert.deepEqual(onlyN, { err: null, responses: ['n1:y'] }, 'A and B answer with client count 0');
  const nobody = await N.call('emitWithAck', { rooms: ['chat:nobody'], timeout: 2000, args: ['q', 'z'] });
  assert.deepEqual(nobody, { err: null, responses: [] });
  assert.ok(Date.now() - t0 < 2000, `the three broadcasts took ${Date.now() - t0} ms: one waited for its timeout`);

  await fence(a1, a2, b1, b2, n1);
  assert.deepEqual(events(a1), [['q', 'x']]);
  assert.deepEqual(events(a2), [['q', 'x']]);
  assert.deepEqual(events(b1), [['q', 'x']]);
  assert.deepEqual(events(b2), []);
  assert.deepEqual(events(n1), [['q', 'x'], ['q', 'y']]);
});

test('N.allRooms() includes the rooms and socket id rooms of roomcastd\'s sockets', async () => {
  const a1 = await client(A, { rooms: ['chat:ra'] });
  const b1 = await client(B, { rooms: ['chat:rb', 'chat:rb2'] });
  const n1 = await client(N, { rooms: ['chat:rn'] });
  const rooms = await N.call('allRooms');
  for (const room of ['chat:ra', 'chat:rb', 'chat:rb2', 'chat:rn', a1.id, b1.id, n1.id]) {
    assert.ok(rooms.includes(room), `${room} in ${JSON.stringify(rooms)}`);
  }
  const adminRooms = await N.call('allRooms', { nsp: '/admin' });
  for (const room of ['chat:ra', a1.id]) assert.ok(!adminRooms.includes(room), `${room} is no /admin room`);
});

test('the JSON emit channel reaches the matching clients of both roomcastd instances, never the Node server\'s', async () => {
  const a1 = await client(A, { rooms: ['chat:1'] });
  const b1 = await client(B, { rooms: ['chat:1'] });
  const b2 = await client(B);
  const n1 = await client(N, { rooms: ['chat:1'] });
  const n2 = await client(N);
  const pub = (m) => em.client.publish('roomcast-emit', JSON.stringify(m));
  await pub({ nsp: '/', rooms: ['chat:1'], except: [], data: ['news', { a: 1 }], volatile: false });
  await pub({ data: ['all', 1] });
  await fence(a1, b1, b2, n1, n2);
  assert.deepEqual(a1.got, [['news', { a: 1 }], ['all', 1]]);
  assert.deepEqual(b1.got, [['news', { a: 1 }], ['all', 1]]);
  assert.deepEqual(b2.got, [['all', 1]]);
  assert.deepEqual(n1.got, []);
  assert.deepEqual(n2.got, []);
});

test('/healthz with redis: 200 "ok\\nredis up\\n" on both instances', async () => {
  for (const d of [A, B]) assert.deepEqual(await h.healthz(d.port), { status: 200, text: 'ok\nredis up\n' });
});

test('counters: a relay is published once and received once by the other instance; N\'s request and the emitter\'s broadcast are counted', { skip: h.REFERENCE && 'roomcastd counters' }, async () => {
  const a1 = await client(A, { rooms: ['chat:m'] });
  const b1 = await client(B, { rooms: ['chat:m'] });
  const before = [await A.metrics(), await B.metrics()];
  assert.equal(before[0].roomcast_redis_up, 1);
  assert.equal(before[1].roomcast_redis_up, 1);
  assert.deepEqual(await h.sioAck(a1, 'msg', 'counted'), []);
  await h.sioWaitGot(b1, ['msg', 'counted']);
  await N.call('fetchSockets', { rooms: ['chat:m'] });
  em.emitter.to('chat:m').emit('ev', 'counted');
  await em.sync();
  await waitAll([a1, b1], ['ev', 'counted']);
  const [ma, mb] = [await A.metrics(), await B.metrics()];
  const delta = (m0, m1, k) => (m1[k] || 0) - (m0[k] || 0);
  assert.equal(delta(before[0], ma, 'roomcast_cluster_broadcasts_published_total'), 1, 'A published the relay');
  assert.equal(delta(before[1], mb, 'roomcast_cluster_broadcasts_published_total'), 0, 'B published nothing');
  assert.equal(delta(before[1], mb, 'roomcast_cluster_broadcasts_received_total'), 2, 'B received the relay and the emitter broadcast');
  assert.equal(delta(before[0], ma, 'roomcast_cluster_requests_total'), 1, 'A: the fetchSockets request');
  assert.equal(delta(before[1], mb, 'roomcast_cluster_requests_total'), 1, 'B: the fetchSockets request');
  for (const m of [ma, mb]) {
    assert.equal(m.roomcast_cluster_bad_messages_total, 0);
    assert.equal(m.roomcast_cluster_oversized_total, 0);
    assert.equal(m.roomcast_redis_publish_failed_total, 0);
  }
});

test('after every client closed, roomcast_sessions_current returns to 0 on both instances', async () => {
  for (const s of open) s.disconnect();
  open.clear();
  for (const d of [A, B]) assert.equal((await d.waitIdle()).roomcast_sessions_current, 0);
});

test('SIGTERM: both instances and the Node server exit 0', async () => {
  await Promise.all([A.stop('SIGTERM'), B.stop('SIGTERM'), N.stop()]);
});
