// auth-backend.test.js - `auth backend` (issue #12): a backend decides who
// connects, on one roomcastd with a real redis-server and the official
// client. Covers: the held CONNECT's connect record (ack, reply, auth
// as the client sent it, token included (#19), empty claims, address, headers from backend_headers);
// accept with user (user room, the user field of later records), rooms and
// data (shown by fetchSockets); refuse with the backend's message (that
// decision in msgpack, as a backend replying in msgpack sends it); timeout,
// also with no worker reading at all; max_pending_connects 2 reached;
// a session that closes while its CONNECT waits gets a disconnect record
// after its connect record, and a decision for it, a forged ack id and a
// duplicate are each counted dropped; a client on another namespace of the same
// session keeps working while one CONNECT waits, and a packet for the
// waiting namespace is a protocol error. "backend unavailable" (the outage
// buffer full) is not provoked here: backend-outage.test.js fills that
// buffer, and the path is the acked event's.
// roomcastd only: the reference server has no backend stream.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const h = require('./harness');
const mp = require(path.join(__dirname, '..', 'node_modules', 'notepack.io'));

const skip = h.REFERENCE && 'roomcastd\'s auth backend';
const STREAM = 'rc:authb';

const RAW = `
namespace / {
    client_join           chat:*
}
namespace /app {
    auth                  backend
    auth_backend_timeout  400ms
    max_rooms_per_socket  2
}
namespace /slow {
    auth                  backend
}
`;

let r;
let d;
let redis;
before(async () => {
  if (skip) return;
  r = await h.startRedis();
  d = await h.startClusterDaemon(r, {
    raw: RAW,
    config: { backend_stream: STREAM, backend_headers: 'cookie x-test', auth_backend_timeout: '1h', max_pending_connects: '2' },
  });
  redis = await r.client();
});
after(async () => {
  if (d) d.kill();
  if (r) await r.close();
});

/** Every record of namespace <nsp> (fields as strings) after entry <from>. */
async function records(nsp, n, from = '-') {
  let got;
  await h.waitFor(async () => {
    got = h.streamEntries(await redis.sendCommand(['XRANGE', STREAM, from, '+'])).filter((f) => f.nsp === nsp);
    return got.length >= n;
  }, { what: `${n} records of ${nsp}` });
  return got;
}

/**
 * The connect record of a CONNECT to <nsp> waiting, once it is there; with
 * <who>, the one whose auth payload says {who} (clients that connect at
 * once may reach the stream in either order).
 */
async function waiting(nsp, seen, who) {
  let rec;
  const mine = (f) => who === undefined || JSON.parse(f.auth).who === who;
  await h.waitFor(async () => {
    rec = (await records(nsp, 0)).find((f) => f.type === 'connect' && f.ack && !seen.has(f.sid) && mine(f));
    return rec;
  }, { what: `a connect record of ${nsp}${who === undefined ? '' : ` from ${who}`}` });
  seen.add(rec.sid);
  return rec;
}

const decide = (rec, decision, ack = Number(rec.ack), encode = JSON.stringify) =>
  redis.publish(rec.reply, encode({ sid: rec.sid, ack, args: [decision] }));

const seen = new Set();
const refused = async (label) => (await d.metrics())[`roomcast_auth_refused_total{reason="${label}"}`] || 0;

test('accept: the record has ack, reply, auth, headers; user, rooms and data are applied', { skip }, async () => {
  const s = h.sioClient(d.port, '/app', {
    transports: ['polling'], extraHeaders: { cookie: 'session=alice', 'x-test': 'yes' },
    auth: { token: 'hidden', hello: 1 },
  });
  const rec = await waiting('/app', seen);
  assert.equal(rec.auth, '{"token":"hidden","hello":1}', 'the payload as sent: the backend checks its own tokens (#19)');
  assert.equal(rec.claims, '');
  assert.equal(rec.address, '127.0.0.1');
  assert.deepEqual(JSON.parse(rec.headers), { cookie: 'session=alice', 'x-test': 'yes' });
  assert.match(rec.ack, /^[0-9]+$/);
  assert.equal(rec.reply, `${STREAM}:reply:${rec.instance}`);
  assert.equal(rec.user, '');
  assert.equal((await d.metrics()).roomcast_connects_pending, 1);
  await decide(rec, { accept: true, user: 'alice', rooms: ['r1', 'r2', 'r3'], data: { plan: 'pro' } });
  await h.sioConnected(s);
  assert.equal(s.id, rec.sid, 'the socket has the id the record named');
  const N = await h.startNodeCluster(r, { raw: 'namespace /app {\n}\n' });
  const sockets = await N.call('fetchSockets', { nsp: '/app', rooms: ['user:alice'] });
  await N.stop();
  assert.equal(sockets.length, 1);
  assert.deepEqual(sockets[0].rooms.sort(), [rec.sid, 'r1', 'user:alice'].sort(), 'user room first, then rooms within max_rooms_per_socket 2');
  assert.deepEqual(sockets[0].data, { plan: 'pro' });
  const joins = (await records('/app', 0)).filter((f) => f.sid === rec.sid && f.type === 'join');
  assert.deepEqual(joins.map((f) => [f.room, f.user]), [['user:alice', 'alice'], ['r1', 'alice']]);
  s.disconnect();
  assert.equal((await d.metrics()).roomcast_connects_pending, 0);
});

test('refuse (decided in msgpack): the client reads the backend\'s message, counted', { skip }, async () => {
  const before = await refused('backend_refused');
  const s = h.sioClient(d.port, '/app', { transports: ['websocket'] });
  const rec = await waiting('/app', seen);
  assert.equal(rec.headers, '{}');
  const refusal = h.sioConnectError(s); // listening before the decision
  await decide(rec, { accept: false, message: 'not signed in "é"' }, Number(rec.ack), mp.encode);
  const err = await refusal;
  assert.equal(err.message, 'not signed in "é"');
  assert.equal(await refused('backend_refused'), before + 1);
  s.disconnect();
});

test('timeout and no worker at all: "backend did not answer", counted', { skip }, async () => {
  const before = await refused('backend_did_not_answer');
  const s = h.sioClient(d.port, '/app', { transports: ['websocket'] });
  const err = await h.sioConnectError(s);
  assert.equal(err.message, 'backend did not answer');
  assert.equal(await refused('backend_did_not_answer'), before + 1);
  s.disconnect();
});

test('max_pending_connects 2: the third waits not, "too many connects waiting"', { skip }, async () => {
  const before = await refused('too_many_connects_waiting');
  const a = h.sioClient(d.port, '/slow', { transports: ['websocket'], auth: { who: 'a' } });
  const b = h.sioClient(d.port, '/slow', { transports: ['websocket'], auth: { who: 'b' } });
  const ra = await waiting('/slow', seen, 'a');
  const rb = await waiting('/slow', seen, 'b');
  const c = h.sioClient(d.port, '/slow', { transports: ['websocket'] });
  assert.equal((await h.sioConnectError(c)).message, 'too many connects waiting');
  assert.equal(await refused('too_many_connects_waiting'), before + 1);
  // listening before the decisions: b's refusal may come before a's connect
  const aConnected = h.sioConnected(a);
  const bRefused = h.sioConnectError(b);
  await decide(ra, { accept: true });
  await decide(rb, { accept: false });
  await aConnected;
  assert.equal((await bRefused).message, 'refused by the backend');
  for (const s of [a, b, c]) s.disconnect();
});

test('a decision for a closed session, a forged ack id and a duplicate are dropped and counted', { skip }, async () => {
  const dropped = async () => (await d.metrics()).roomcast_backend_replies_dropped_total || 0;
  const gone = h.sioClient(d.port, '/slow', { transports: ['websocket'] });
  const rg = await waiting('/slow', seen);
  gone.disconnect();
  await h.waitFor(async () => (await d.metrics()).roomcast_connects_pending === 0, { what: 'the wait freed' });
  // the backends, told of the connect, are told it is gone
  const bye = await h.waitFor(async () => (await records('/slow', 0)).find((f) => f.sid === rg.sid && f.type === 'disconnect'),
    { what: 'the disconnect record of the wait' });
  assert.equal(bye.reason, 'transport close');
  let n = await dropped();
  await decide(rg, { accept: true });
  await h.waitFor(async () => (await dropped()) === n + 1, { what: 'late decision dropped' });

  const s = h.sioClient(d.port, '/slow', { transports: ['websocket'] });
  const rec = await waiting('/slow', seen);
  n = await dropped();
  await decide(rec, { accept: true }, Number(rec.ack) + 1000);
  await h.waitFor(async () => (await dropped()) === n + 1, { what: 'forged ack id dropped' });
  await decide(rec, { accept: true, user: 'bob' });
  await h.sioConnected(s);
  await decide(rec, { accept: false });
  await h.waitFor(async () => (await dropped()) === n + 2, { what: 'duplicate dropped' });
  assert.ok(s.connected, 'the duplicate changed nothing');
  s.disconnect();
});

test('another namespace of the session works while one CONNECT waits; a packet for it is a protocol error', { skip }, async () => {
  const { ws } = await h.sioWs(d.port); // "/" connected
  ws.sendText('40/slow,');
  const rec = await waiting('/slow', seen);
  ws.sendText('42["chat", 1]');
  ws.sendText('420["join","chat:1"]');
  assert.equal(await ws.text(), '430["ok"]', '"/" answers while /slow waits');
  const errors = (await d.metrics()).roomcast_sio_protocol_errors_total || 0;
  ws.sendText('42/slow,["early"]');
  await h.waitFor(async () => (await d.metrics()).roomcast_sio_protocol_errors_total === errors + 1, { what: 'protocol error' });
  await h.waitFor(async () => (await d.metrics()).roomcast_connects_pending === 0, { what: 'the wait freed with the session' });
  await decide(rec, { accept: true });
  ws.destroy();
});

test('SIGTERM: daemon exits 0', { skip }, async () => {
  await d.stop('SIGTERM');
});
