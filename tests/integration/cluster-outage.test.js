// cluster-outage.test.js - roomcastd instances A and B (reference-sio.js in
// reference mode) when their redis-server dies and comes back on the same
// port. The phases share the clients and run in order: relays between A and
// B work; redis-server is SIGKILLed in the middle of a burst of relays: every
// local delivery and every ack still happens, B gets what Redis handed on
// before it died in order and nothing twice; while it is down /healthz says
// `ok\nredis down\n` (and roomcast_redis_up 0), relays between two clients of
// one instance and new connections keep working, nothing crosses to the other
// instance, and (roomcastd only) each relay counts one
// roomcast_redis_publish_failed_total; restarted on the same port, both
// instances say `redis up` again within 7 s (reconnect backoff capped at
// 5 s), relays cross again both ways, the emitter reaches everyone, nothing
// sent during the outage is delivered late, and (roomcastd only)
// roomcast_redis_reconnects_total grew; SIGTERM while Redis is down still
// exits 0, and the other instance recovers again afterwards.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const RAW = `
namespace / {
    client_join           chat:*
    relay                 yes
}
`;

let r;
let A;
let B;
before(async () => {
  r = await h.startRedis();
  [A, B] = await h.startAll([0, 1].map(() => h.startClusterDaemon(r, { raw: RAW })));
});
after(async () => {
  for (const x of [A, B]) if (x) x.kill();
  if (r) await r.close();
});

const clients = new Set(); // shared by the phases, closed by the last test
async function client(d, rooms) {
  const s = h.sioClient(d.port, '/', { transports: ['websocket'] });
  s.server = d;
  clients.add(s);
  await h.sioConnected(s);
  s.got = h.sioRecord(s);
  h.sioWatchDisconnect(s);
  await h.sioJoinAll(s, rooms);
  return s;
}

const seqOf = (s) => s.got.filter((e) => e[0] === 'seq').map((e) => e[1]);
const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);

let a1;
let a2;
let b1;
let failedBefore;

test('before the outage: relays cross between A and B, /healthz says redis up', async () => {
  a1 = await client(A, ['chat:1']);
  a2 = await client(A, ['chat:1']);
  b1 = await client(B, ['chat:1']);
  for (const d of [A, B]) assert.deepEqual(await h.healthz(d.port), { status: 200, text: 'ok\nredis up\n' });
  if (!h.REFERENCE) for (const d of [A, B]) assert.equal((await d.metrics()).roomcast_redis_up, 1);
  assert.deepEqual(await h.sioAck(b1, 'msg', 'hello from B'), []);
  await h.sioWaitGot(a1, ['msg', 'hello from B']);
  await h.sioWaitGot(a2, ['msg', 'hello from B']);
});

test('redis-server SIGKILLed during a burst of relays: local deliveries and acks go on, B got an in-order prefix, /healthz says redis down', async () => {
  for (const i of range(0, 20)) assert.deepEqual(await h.sioAck(a1, 'seq', i), [], `ack ${i}`);
  await h.sioWaitGot(b1, ['seq', 19]);
  // 20 more in flight while redis-server dies
  const burst = Promise.all(range(20, 40).map((i) => h.sioAck(a1, 'seq', i)));
  await r.kill();
  assert.deepEqual(await burst, range(20, 40).map(() => []), 'every ack of the burst');
  await Promise.all([h.waitRedis(A, 'down'), h.waitRedis(B, 'down')]);
  if (!h.REFERENCE) for (const d of [A, B]) assert.equal((await d.metrics()).roomcast_redis_up, 0);

  await h.sioWaitGot(a2, ['seq', 39]);
  assert.deepEqual(seqOf(a2), range(0, 40), 'the local member got every relay in order');
  const atB = seqOf(b1);
  assert.deepEqual(atB.slice(0, 20), range(0, 20), 'B got everything Redis handed on before the kill');
  assert.deepEqual(atB, range(0, atB.length), `B: an in-order prefix, nothing twice (${atB})`);
  assert.ok(A.exit === null && B.exit === null, 'both instances still run');
});

test('while Redis is down: relays within one instance and new connections work, nothing crosses, each relay is a failed publish', async () => {
  const m0 = h.REFERENCE ? null : await A.metrics();
  for (const i of range(40, 60)) assert.deepEqual(await h.sioAck(a1, 'seq', i), [], `ack ${i}`);
  await h.sioWaitGot(a2, ['seq', 59]);
  assert.deepEqual(seqOf(a2), range(0, 60));
  if (!h.REFERENCE) {
    const m1 = await A.metrics();
    assert.equal(m1.roomcast_redis_publish_failed_total - m0.roomcast_redis_publish_failed_total, 20, 'one failed publish per relay');
  }
  // a client connecting now is served, its relays reach A's members
  const a3 = await client(A, ['chat:1']);
  assert.deepEqual(await h.sioAck(a3, 'msg', 'from a3 during the outage'), []);
  await h.sioWaitGot(a1, ['msg', 'from a3 during the outage']);
  await h.sioWaitGot(a2, ['msg', 'from a3 during the outage']);
  assert.deepEqual(await h.sioAck(b1, 'msg', 'from b1 during the outage'), []);
  await h.sioFence(b1);
  for (const d of [A, B]) assert.deepEqual(await h.healthz(d.port), { status: 200, text: 'ok\nredis down\n' });
  failedBefore = h.REFERENCE ? null : [await A.metrics(), await B.metrics()];
});

test('redis-server restarted on the same port: redis up within 7 s, relays cross both ways again, nothing from the outage arrives late', async () => {
  const t0 = Date.now();
  await r.start();
  await Promise.all([h.waitRedis(A, 'up', { timeout: 15000 }), h.waitRedis(B, 'up', { timeout: 15000 })]);
  const took = Date.now() - t0;
  assert.ok(took < 7000, `redis up again ${took} ms after the restart (backoff capped at 5 s)`);
  if (!h.REFERENCE) {
    for (const [i, d] of [A, B].entries()) {
      const m = await d.metrics();
      assert.equal(m.roomcast_redis_up, 1);
      assert.ok(m.roomcast_redis_reconnects_total > failedBefore[i].roomcast_redis_reconnects_total,
        `${'AB'[i]} roomcast_redis_reconnects_total ${failedBefore[i].roomcast_redis_reconnects_total} during the outage, ${m.roomcast_redis_reconnects_total} after`);
    }
  }

  assert.deepEqual(await h.sioAck(a1, 'msg', 'A after the restart'), []);
  await h.sioWaitGot(b1, ['msg', 'A after the restart']);
  assert.deepEqual(await h.sioAck(b1, 'msg', 'B after the restart'), []);
  await h.sioWaitGot(a1, ['msg', 'B after the restart']);
  const em = await h.redisEmitter(r);
  const all = [...clients].filter((s) => s.connected);
  await h.clusterFence(async (nsp, n) => {
    em.emitter.of(nsp).emit('fence', n);
    await em.sync();
  }, all);

  const atB = seqOf(b1);
  assert.deepEqual(atB, range(0, atB.length), `B: still an in-order prefix (${atB})`);
  assert.ok(atB.length <= 40, 'none of the relays sent while Redis was down reached B');
  assert.deepEqual(b1.got.filter((e) => e[0] !== 'seq'), [['msg', 'A after the restart']], 'B\'s other events');
  assert.deepEqual(a1.got.filter((e) => e[0] !== 'seq'),
    [['msg', 'hello from B'], ['msg', 'from a3 during the outage'], ['msg', 'B after the restart']], 'A\'s other events (not b1\'s outage relay)');
  for (const s of clients) assert.deepEqual(s.disconnects, [], 'no client was disconnected');
});

test('SIGTERM while Redis is down exits 0; the other instance recovers again', async () => {
  await r.kill();
  await Promise.all([h.waitRedis(A, 'down'), h.waitRedis(B, 'down')]);
  for (const s of clients) if (s.server === A) s.disconnect();
  await A.stop('SIGTERM');
  await r.start();
  await h.waitRedis(B, 'up', { timeout: 15000 });
  const em = await h.redisEmitter(r);
  em.emitter.to('chat:1').emit('news', 'after the second outage');
  await em.sync();
  await h.sioWaitGot(b1, ['news', 'after the second outage']);
});

test('after every client closed, roomcast_sessions_current returns to 0 on B; SIGTERM exits 0', async () => {
  for (const s of clients) s.disconnect();
  clients.clear();
  assert.equal((await B.waitIdle()).roomcast_sessions_current, 0);
  await B.stop('SIGTERM');
});
