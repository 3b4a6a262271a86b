// cluster-config.test.js - the redis_* keys against a redis-server with a
// password and a unix socket: roomcastd A on `redis unix:/path`, B on
// `redis 127.0.0.1:PORT`, both with redis_password, a redis_db (SELECT must
// succeed; Redis pub/sub is not per database, so they still meet), redis_key
// app and redis_emit_channel app-emit, plus a Node server N
// (node-cluster-server.js) with key app. Covered: both come up (`redis up`)
// and relays cross A <-> B <-> N on the app#... channels; an emitter with key
// app reaches them, one with the default key socket.io reaches nobody; the
// JSON emit channel is app-emit, roomcast-emit is not listened to; N's
// fetchSockets and serverSideEmit with ack get A's and B's answers on
// app-request#/# / app-response#/#; instances with a wrong password or a
// redis_db Redis refuses say `redis down`, keep serving their own clients
// (relays between them) and get nothing from the cluster; SIGTERM exits 0.
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
const PASSWORD = 's3cret-pass';
const KEYS = { redis_password: PASSWORD, redis_key: 'app', redis_emit_channel: 'app-emit' };

let r;
let A;
let B;
let N;
let E;
let Edefault;
before(async () => {
  r = await h.startRedis({ password: PASSWORD, unixsocket: true });
  [A, B, N, E, Edefault] = await h.startAll([
    h.startClusterDaemon(r, { raw: RAW, config: { ...KEYS, redis: `unix:${r.unixPath}`, redis_db: 5 } }),
    h.startClusterDaemon(r, { raw: RAW, config: { ...KEYS, redis_db: 3 } }),
    h.startNodeCluster(r, { raw: RAW, config: { ...KEYS, redis_request_timeout: '3s' } }),
    h.startEmitterProcess(r, { key: 'app' }),
    h.startEmitterProcess(r),
  ]);
});
after(async () => {
  for (const x of [A, B, N, E, Edefault]) if (x) x.kill();
  if (r) await r.close();
});

const open = h.trackedClients();

async function client(srv, rooms = []) {
  const s = await h.sioRecorded(open, srv.port, 'websocket');
  await h.sioJoinAll(s, rooms);
  return h.sioWatchDisconnect(s);
}

const fence = (...clients) => h.clusterFence((nsp, n) => E.call('emit', { nsp, args: ['fence', n] }), clients);

test('unix socket, password, redis_db and redis_key app: up, relays cross between A, B and N', async () => {
  for (const d of [A, B]) assert.deepEqual(await h.healthz(d.port), { status: 200, text: 'ok\nredis up\n' });
  const a1 = await client(A, ['chat:1']);
  const b1 = await client(B, ['chat:1']);
  const n1 = await client(N, ['chat:1']);
  assert.deepEqual(await h.sioAck(a1, 'msg', 'from A'), []);
  await h.sioWaitGot(b1, ['msg', 'from A']);
  await h.sioWaitGot(n1, ['msg', 'from A']);
  assert.deepEqual(await h.sioAck(b1, 'msg', 'from B'), []);
  await h.sioWaitGot(a1, ['msg', 'from B']);
  await h.sioWaitGot(n1, ['msg', 'from B']);
  assert.deepEqual(await h.sioAck(n1, 'msg', 'from N'), []);
  await h.sioWaitGot(a1, ['msg', 'from N']);
  await h.sioWaitGot(b1, ['msg', 'from N']);
  await fence(a1, b1, n1);
  assert.deepEqual(a1.got, [['msg', 'from B'], ['msg', 'from N']]);
  assert.deepEqual(b1.got, [['msg', 'from A'], ['msg', 'from N']]);
  assert.deepEqual(n1.got, [['msg', 'from A'], ['msg', 'from B']]);
});

test('an emitter with key app reaches them, one with the default key nobody; the JSON emit channel is redis_emit_channel', async () => {
  const a1 = await client(A, ['chat:1']);
  const b1 = await client(B);
  await Edefault.call('emit', { args: ['ev', 'key socket.io'] });
  await Edefault.call('socketsJoin', { rooms: ['chat:joined-by-default-key'] });
  await Edefault.call('publish', { channel: 'roomcast-emit', payload: JSON.stringify({ data: ['ev', 'roomcast-emit'] }) });
  await E.call('publish', { channel: 'app-emit', payload: JSON.stringify({ data: ['ev', 'app-emit'] }) });
  await E.call('emit', { rooms: ['chat:1'], args: ['ev', 'key app, chat:1'] });
  await E.call('emit', { rooms: ['chat:joined-by-default-key'], args: ['ev', 'nobody joined'] });
  await fence(a1, b1);
  assert.deepEqual(a1.got, [['ev', 'app-emit'], ['ev', 'key app, chat:1']]);
  assert.deepEqual(b1.got, [['ev', 'app-emit']]);
});

test('N.fetchSockets() and serverSideEmit with ack get the answers of A and B under key app', async () => {
  const a1 = await client(A, ['chat:f']);
  const b1 = await client(B, ['chat:f']);
  const n1 = await client(N, ['chat:f']);
  const ids = (await N.call('fetchSockets', { rooms: ['chat:f'] })).map((s) => s.id).sort();
  assert.deepEqual(ids, [a1.id, b1.id, n1.id].sort());
  assert.deepEqual(await N.call('serverSideEmit', { args: ['ping'], ack: true }), { err: null, responses: [null, null] });
});

test('a wrong password or a redis_db Redis refuses: redis down, own clients served, nothing from the cluster', async () => {
  let C;
  let D;
  try {
    C = await h.startDaemon({ sio: true, raw: RAW, config: { ...KEYS, redis: r.addr, redis_password: 'wrong' } });
    D = await h.startDaemon({ sio: true, raw: RAW, config: { ...KEYS, redis: r.addr, redis_db: 99 } });
    for (const d of [C, D]) {
      const c1 = await client(d, ['chat:1']);
      const c2 = await client(d, ['chat:1']);
      const a1 = await client(A, ['chat:1']);
      assert.deepEqual(await h.sioAck(c1, 'msg', 'local'), []);
      await h.sioWaitGot(c2, ['msg', 'local']);
      await E.call('emit', { rooms: ['chat:1'], args: ['ev', 'from the cluster'] });
      await fence(a1);
      await h.sioFence(c2);
      assert.deepEqual(a1.got, [['ev', 'from the cluster']], 'a1 on A');
      assert.deepEqual(c2.got, [['msg', 'local']], 'c2 on the misconfigured instance');
      assert.deepEqual(await h.healthz(d.port), { status: 200, text: 'ok\nredis down\n' });
      if (!h.REFERENCE) assert.equal((await d.metrics()).roomcast_redis_up, 0);
    }
    for (const s of open) s.disconnect();
    open.clear();
    await Promise.all([C.stop('SIGTERM'), D.stop('SIGTERM')]);
  } finally {
    for (const x of [C, D]) if (x) x.kill();
  }
});

test('SIGTERM: A, B and N exit 0', async () => {
  for (const s of open) s.disconnect();
  open.clear();
  await Promise.all([A.stop('SIGTERM'), B.stop('SIGTERM'), N.stop(), E.stop(), Edefault.stop()]);
});
