// hostile-redis.test.js - single Redis messages that would make roomcastd
// allocate far more than their size (#11, item 5), played at small scale
// against one roomcastd on its own redis-server, with a Node socket.io
// server (redis adapter) beside it to see the cluster's view
// (fetchSockets). Covered:
//  - a 64 MB broadcast with redis_max_message 1M (Redis's own pubsub output
//    limit lifted, so that Redis passes it on): refused while it arrives,
//    counted once in roomcast_cluster_oversized_total, peak RSS within
//    4 x redis_max_message of the start, the subscriber reconnects (a
//    reconnection counted, /healthz "redis up" again) and the next emitter
//    broadcast reaches a client;
//  - server-side joins naming 50k rooms (@socket.io/redis-emitter
//    socketsJoin, a raw msgpack REMOTE_JOIN, a Node server's socketsJoin,
//    and the legacy {sid, room} form) to a namespace with
//    max_rooms_per_socket 64: each socket ends with at most 64 rooms
//    besides its own, names longer than max_room_name are skipped,
//    roomcast_cluster_joins_refused_total counts every (socket, room) join
//    refused, and RSS comes back within 2 MB; a server-side leave naming 50k
//    rooms nobody is in and one every socket has takes that one only
//    (the names nobody is in are dropped once, not per socket).
// A raw client that never answers owes at most max_acks_per_socket answers
// to a Node server's broadcasts with acks: the oldest are given up (counted
// in roomcast_sio_acks_overflow_total, the sender times out on them), the
// newest are still heard.
// Throughout, a well-behaved client in a room receives every emitter
// broadcast sent before and after each attack (clusterFence). Before, peak
// and after RSS (VmRSS, sampled every 2 ms during the attack; after, once
// the periodic trim has run) and descriptor counts are printed with
// t.diagnostic() for each attack; RSS bounds are not asserted on an ASan
// build (its quarantine keeps freed
// memory). Not covered: what a Node server does with the same messages
// (it joins every room named). Ends with SIGTERM exiting 0.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const h = require('./harness');
const { sampler } = require('./hostile-common');

const mp = require(path.join(__dirname, '..', 'node_modules', 'notepack.io'));

const MAX_ROOMS = 64;
const MAX_ACKS = 4;
const RAW = `
namespace / {
    client_join           chat:*
    relay                 yes
    max_rooms_per_socket  ${MAX_ROOMS}
}
`;
const REQ = 'socket.io-request#/#';
const NODE_SKIP = h.REFERENCE && 'roomcastd only: a Node server does not cap server-side joins';

let r;
let A;
let node;
let em;
before(async () => {
  r = await h.startRedis();
  [A, node] = await h.startAll([
    h.startClusterDaemon(r, { raw: RAW, config: { redis_max_message: '1M', max_acks_per_socket: MAX_ACKS } }),
    h.startNodeCluster(r, { raw: RAW }),
  ]);
  em = await h.redisEmitter(r);
  // Redis's default pubsub output limit (32 MB hard) would cut roomcastd
  // off before it got far into a 64 MB message; this is about a Redis
  // that passes it on.
  await em.client.configSet('client-output-buffer-limit', 'pubsub 0 0 0');
});
after(async () => {
  for (const x of [A, node]) if (x) x.kill();
  if (r) await r.close();
});

const open = h.trackedClients();

const fence = (list) => h.clusterFence(async (nsp, n) => {
  em.emitter.of(nsp).emit('fence', n);
  await em.sync();
}, list);

const refused = async () => (await A.metrics()).roomcast_cluster_joins_refused_total || 0;

/**
 * Runs `attack` while sampling A's RSS every 2 ms, then waits for RSS and
 * descriptors to come back (hostile-common.js sampler); prints and checks
 * them. Returns {before, peak, after} RSS in KiB.
 */
async function measured(t, name, attack) {
  const s = sampler(A, { intervalMs: 2 });
  await attack();
  s.take();
  await s.finish(t, name);
  return { before: s.before.rss, peak: s.peak.rss, after: s.after.rss };
}

/** The rooms of each of A's sockets, as the Node server's fetchSockets sees them, by socket id. */
async function roomsById() {
  const list = await node.call('fetchSockets', { nsp: '/' });
  return new Map(list.map((s) => [s.id, s.rooms]));
}

test('a 64 MB message past redis_max_message (1M) is refused while it arrives; the link comes back and the cluster works', { skip: NODE_SKIP }, async (t) => {
  const w = await h.sioRecorded(open, A.port);
  await h.sioJoinAll(w, ['chat:1']);
  em.emitter.to('chat:1').emit('before', 3);
  await em.sync();
  await h.sioWaitGot(w, ['before', 3]);
  await fence([w]);

  const m0 = await A.metrics();
  // a valid broadcast (the Node server decodes it too, and would die on
  // anything else on this channel: doc/protocol.md, "Poison on broadcast channels")
  const big = mp.encode(['hand', { type: 2, data: ['big', 'x'.repeat(64 << 20)], nsp: '/' }, { rooms: ['chat:1'], except: [], flags: {} }]);
  const rss = await measured(t, '64 MB PUBLISH, redis_max_message 1M', async () => {
    await em.client.publish('socket.io#/#', big);
    await h.waitFor(async () => (await A.metrics()).roomcast_cluster_oversized_total > (m0.roomcast_cluster_oversized_total || 0),
      { what: 'roomcast_cluster_oversized_total to tick' });
  });
  await h.waitFor(async () => (await A.metrics()).roomcast_redis_reconnects_total > (m0.roomcast_redis_reconnects_total || 0),
    { what: 'a reconnection' });
  await h.waitRedis(A, 'up');
  const m1 = await A.metrics();
  assert.equal(m1.roomcast_cluster_oversized_total - (m0.roomcast_cluster_oversized_total || 0), 1, 'roomcast_cluster_oversized_total');
  // about redis_max_message held in the reader, one 16 KiB read, and the
  // reader buffer's growth step (1 MiB past 1 MiB): well under 4 MiB
  if (!A.sanitized) assert.ok(rss.peak - rss.before < 4 * 1024, `peak RSS ${rss.peak - rss.before} KiB over the start, under 4 MiB (4 x redis_max_message)`);

  em.emitter.to('chat:1').emit('after', 4);
  await em.sync();
  await h.sioWaitGot(w, ['after', 4]);
  await fence([w]);
  assert.deepEqual(w.got, [['before', 3], ['after', 4]], 'the client in chat:1 got the broadcasts before and after');
  assert.equal(A.exit, null);
});

test(`server-side joins naming 50k rooms stop at max_rooms_per_socket (${MAX_ROOMS}) and skip names past max_room_name`, { skip: NODE_SKIP }, async (t) => {
  const w = await h.sioRecorded(open, A.port);
  await h.sioJoinAll(w, ['chat:1']);
  const others = [];
  for (let i = 0; i < 3; i++) others.push(await h.sioRecorded(open, A.port));
  const all = [w, ...others];
  em.emitter.to('chat:1').emit('before', 1);
  await em.sync();
  await h.sioWaitGot(w, ['before', 1]);
  await fence(all);

  const N = 50000;
  const long = Array.from({ length: 10 }, (_, i) => `${i}`.padEnd(300, 'x')); // past max_room_name 256
  const names = (p) => Array.from({ length: N }, (_, i) => `${p}:${i}`);
  const r0 = await refused();
  await measured(t, '50k-room joins (emitter JSON, msgpack, Node server)', async () => {
    // @socket.io/redis-emitter: JSON on the request channel, every socket
    em.emitter.socketsJoin([...long, ...names('e')]);
    // the same request as msgpack, which the adapter also accepts
    await em.client.publish(REQ, mp.encode({ type: 2, opts: { rooms: [], except: [] }, rooms: names('m') }));
    await em.sync();
    // a Node server's io.in('e:0').socketsJoin(...): every socket is in e:0 by now
    await node.call('socketsJoin', { nsp: '/', in: ['e:0'], rooms: names('n') });
  });
  // w had chat:1 and takes 63 of the emitter's names; the others take 64;
  // everything else is refused, then every socket is full for the other two.
  const want = (10 + N) * all.length - (MAX_ROOMS - 1 + MAX_ROOMS * others.length) + 2 * N * all.length;
  // The Node server's socketsJoin is a PUBLISH with no answer: wait for the
  // count rather than read it once (an ASan daemon was still at the third
  // request when it was read).
  let counted = 0;
  await h.waitFor(async () => (counted = await refused() - r0) >= want, { what: 'the three requests handled' }).catch(() => {});
  assert.equal(counted, want, 'roomcast_cluster_joins_refused_total');
  const rooms = await roomsById();
  for (const s of all) {
    const got = rooms.get(s.id);
    assert.ok(got, `fetchSockets lists ${s.id}`);
    assert.equal(got.length, MAX_ROOMS + 1, `${s.id}: ${MAX_ROOMS} rooms and its own`);
    assert.ok(got.includes(s.id), 'its own room');
    assert.ok(got.every((x) => x.length <= 256), 'no name past max_room_name');
    assert.ok(got.every((x) => x === s.id || x === 'chat:1' || /^e:\d+$/.test(x)), `${s.id}: only the first names of the first join`);
  }

  // legacy form {sid, room}: a name too long, then a room on a full socket
  const s1 = others[0];
  const legacy = (type, room) => em.client.publish(REQ, JSON.stringify({ type, sid: s1.id, room }));
  const r1 = await refused();
  await legacy(2, long[0]);
  await legacy(2, 'legacy:full');
  await legacy(3, 'e:0'); // leave one: room for exactly one more
  await legacy(2, 'legacy:fits');
  await em.sync();
  assert.equal(await refused() - r1, 2, 'legacy joins refused');
  const s1Rooms = (await roomsById()).get(s1.id);
  assert.equal(s1Rooms.length, MAX_ROOMS + 1);
  assert.ok(s1Rooms.includes('legacy:fits') && !s1Rooms.includes('legacy:full') && !s1Rooms.includes('e:0'));

  // a server-side leave naming 50k rooms nobody is in, and e:1, which every
  // socket has: each leaves e:1 and nothing else
  em.emitter.socketsLeave([...names('x'), 'e:1']);
  await em.sync();
  const left = await roomsById();
  for (const s of all) {
    const got = left.get(s.id);
    assert.equal(got.length, MAX_ROOMS, `${s.id}: one room fewer after the leave`);
    assert.ok(!got.includes('e:1') && got.includes('e:2'), `${s.id}: left e:1 only`);
  }

  em.emitter.to('chat:1').emit('after', 2);
  await em.sync();
  await h.sioWaitGot(w, ['after', 2]);
  await fence(all);
  assert.deepEqual(w.got, [['before', 1], ['after', 2]], 'the client in chat:1 got every broadcast');
  for (const s of others) assert.deepEqual(s.got, [], 'the others got nothing but fences');
  assert.equal(A.exit, null);
});

test(`a client that never answers owes at most max_acks_per_socket (${MAX_ACKS}) answers; the oldest are given up`, { skip: NODE_SKIP }, async (t) => {
  const c = await h.sioWs(A.port);
  c.ws.sendText('421["join","chat:ack"]');
  assert.equal(await c.ws.text(), '431["ok"]');
  const m0 = await A.metrics();
  const N = 10;
  // the Node server's broadcasts with acks; only the last MAX_ACKS can be answered
  const calls = Array.from({ length: N }, (_, i) => node.call('emitWithAck', { rooms: ['chat:ack'], timeout: 3000, args: ['q', i] }));
  const ids = [];
  for (let i = 0; i < N; i++) {
    const m = /^42(\d+)\["q",(\d+)\]$/.exec(await c.ws.text());
    assert.ok(m, 'an event with an ack id');
    ids[Number(m[2])] = m[1];
  }
  const m1 = await A.metrics();
  assert.equal(m1.roomcast_sio_acks_overflow_total - (m0.roomcast_sio_acks_overflow_total || 0), N - MAX_ACKS);
  // every answer is sent; only those still owed are heard
  for (let i = 0; i < N; i++) c.ws.sendText(`43${ids[i]}["a${i}"]`);
  const res = await Promise.all(calls);
  for (let i = 0; i < N; i++) {
    if (i < N - MAX_ACKS) assert.ok(res[i].err, `answer ${i} was given up: the sender times out`);
    else assert.deepEqual(res[i].responses, [`a${i}`], `answer ${i} heard`);
  }
  const m2 = await A.metrics();
  assert.equal(m2.roomcast_sio_acks_received_total - (m0.roomcast_sio_acks_received_total || 0), MAX_ACKS);
  c.ws.destroy();
});

test('SIGTERM: roomcastd and the Node server exit 0', async () => {
  for (const s of open) s.disconnect();
  open.clear();
  await Promise.all([A.stop('SIGTERM'), node.stop()]);
});
