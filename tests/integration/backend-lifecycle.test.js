// backend-lifecycle.test.js - lifecycle records in the backend stream
// (issue #12), on one roomcastd with a real redis-server, official clients
// and raw WebSocket sessions. Covers: a namespace that forwards writes a
// connect record (auth: the CONNECT payload as the client sent it, token
// included, or without it under jwt_redact_token yes; claims, address), join and leave records for the joins and leaves the policy
// accepted and changed something (not for refused ones, nor for a leave of
// a room the socket is not in), join records for the rooms a token grants
// at connect, after the connect record, and a disconnect record with the
// Socket.IO reason for each one provoked here: client namespace
// disconnect, server namespace disconnect (redis_emit_channel), transport
// close, ping timeout, forced close, transport error; a namespace with
// forward none writes none; at SIGTERM, each socket's "server shutting
// down" record is in the stream once the daemon has exited (the drain
// waits for Redis to answer).
// roomcastd only: the reference server has no backend stream.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const skip = h.REFERENCE && 'roomcastd\'s backend stream';
const STREAM = 'rc:life';
const KEY = h.hs256SecretFile('roomcast-life-');
const { secret: SECRET, file: SECRET_FILE } = KEY;

const RAW = `
namespace / {
    client_join           chat:*
}
namespace /none {
    client_join           chat:*
    forward               none
}
namespace /jwt {
    auth                  jwt
    jwt_secret_file       ${SECRET_FILE}
    jwt_redact_token      yes
    user_room             user:{sub}
    rooms_claim           rooms
}
`;

const token = (claims) => h.hs256Token(SECRET, claims);

let r;
let d;
let redis;
before(async () => {
  if (skip) return;
  r = await h.startRedis();
  d = await h.startClusterDaemon(r, { raw: RAW, config: { backend_stream: STREAM, ping_interval: '300ms', ping_timeout: '300ms' } });
  redis = await r.client();
});
after(async () => {
  if (d) d.kill();
  if (r) await r.close();
  KEY.remove();
});

/** Every record of socket <sid> (fields as strings, no entry id), once <n> have arrived. */
async function recordsOf(sid, n) {
  let got;
  await h.waitFor(async () => {
    got = h.streamEntries(await redis.sendCommand(['XRANGE', STREAM, '-', '+']))
      .filter((f) => f.sid === sid).map(({ id, ...f }) => f);
    return got.length >= n;
  }, { what: `${n} records of ${sid}` });
  return got;
}

const common = (f, type, sid, nsp = '/', user = '') => ({ type, nsp, sid, instance: f.instance, user });

test('connect, join, leave and client disconnect records, with the documented fields', { skip }, async () => {
  const s = await h.sioConnect(d.port, '/', { transports: ['websocket'], auth: { token: 'secret', room: 'x', n: [1, 2] } });
  const sid = s.id;
  assert.deepEqual(await h.sioAck(s, 'join', 'chat:1'), ['ok']);
  assert.deepEqual(await h.sioAck(s, 'join', 'chat:1'), ['ok'], 'already in: no record');
  assert.deepEqual(await h.sioAck(s, 'join', 'secret:1'), ['not allowed'], 'refused: no record');
  assert.deepEqual(await h.sioAck(s, 'leave', 'chat:2'), ['ok'], 'not in: no record');
  assert.deepEqual(await h.sioAck(s, 'leave', 'chat:1'), ['ok']);
  s.disconnect();
  const got = await recordsOf(sid, 4);
  assert.match(got[0].instance, /^[A-Za-z0-9_-]{6}$/);
  assert.deepEqual(got, [
    { ...common(got[0], 'connect', sid), auth: '{"token":"secret","room":"x","n":[1,2]}', claims: '', address: '127.0.0.1', headers: '{}' },
    { ...common(got[0], 'join', sid), room: 'chat:1' },
    { ...common(got[0], 'leave', sid), room: 'chat:1' },
    { ...common(got[0], 'disconnect', sid), reason: 'client namespace disconnect' },
  ]);
});

test('a token: claims in the connect record, user is its sub, its rooms are join records after it', { skip }, async () => {
  const claims = { sub: 'ann', rooms: ['team:7', 'team:8'], exp: Math.floor(Date.now() / 1000) + 3600 };
  // jwt_redact_token yes: the verified token stays out of the stream, the rest goes
  const s = await h.sioConnect(d.port, '/jwt', { transports: ['websocket'], auth: { token: token(claims), app: 1 } });
  const sid = s.id;
  s.disconnect();
  const got = await recordsOf(sid, 5);
  const c = (type) => common(got[0], type, sid, '/jwt', 'ann');
  assert.deepEqual(got, [
    { ...c('connect'), auth: '{"app":1}', claims: JSON.stringify(claims), address: '127.0.0.1', headers: '{}' },
    { ...c('join'), room: 'user:ann' },
    { ...c('join'), room: 'team:7' },
    { ...c('join'), room: 'team:8' },
    { ...c('disconnect'), reason: 'client namespace disconnect' },
  ]);
});

test('disconnect reasons: server namespace disconnect, transport close, ping timeout, forced close, transport error', { skip }, async () => {
  const reasonOf = async (sid) => (await recordsOf(sid, 2)).find((f) => f.type === 'disconnect').reason;

  const byServer = await h.sioConnect(d.port, '/', { transports: ['websocket'] });
  const sid1 = byServer.id;
  await redis.publish('roomcast-emit', JSON.stringify({ rooms: [sid1], disconnect: false }));
  assert.equal(await reasonOf(sid1), 'server namespace disconnect');
  byServer.disconnect();

  const closed = await h.sioWs(d.port);
  closed.ws.destroy();
  assert.equal(await reasonOf(closed.socketId), 'transport close');

  const silent = await h.sioWs(d.port); // never answers the pings
  assert.equal(await reasonOf(silent.socketId), 'ping timeout');
  silent.ws.destroy();

  const bad = await h.sioWs(d.port);
  bad.ws.sendText('42[');
  assert.equal(await reasonOf(bad.socketId), 'forced close');
  bad.ws.destroy();

  const beating = await h.sioWs(d.port);
  beating.ws.sendText('2'); // a ping from the client: "invalid heartbeat direction"
  assert.equal(await reasonOf(beating.socketId), 'transport error');
  beating.ws.destroy();
});

test('a namespace with forward none writes no lifecycle record', { skip }, async () => {
  const s = await h.sioConnect(d.port, '/none', { transports: ['websocket'] });
  const sid = s.id;
  assert.deepEqual(await h.sioAck(s, 'join', 'chat:1'), ['ok']);
  s.disconnect();
  // A record written after these would follow them: one from "/" is the fence.
  const fence = await h.sioConnect(d.port, '/', { transports: ['websocket'] });
  const fenceId = fence.id;
  fence.disconnect();
  await recordsOf(fenceId, 2);
  const raw = await redis.sendCommand(['XRANGE', STREAM, '-', '+']);
  assert.equal(raw.filter(([, kv]) => kv.includes(sid)).length, 0);
});

test('SIGTERM: each socket\'s "server shutting down" record is in the stream when the daemon has exited', { skip }, async () => {
  const N = 200;
  const socks = [];
  // Each answers the 300 ms pings, so that opening 200 on a loaded machine
  // cannot time the first ones out before the SIGTERM.
  const answerPings = async (ws) => {
    try {
      for (;;) if ((await ws.text()) === '2') ws.sendText('3');
    } catch { /* closed by the stop */ }
  };
  for (let i = 0; i < N; i++) {
    socks.push(await h.sioWs(d.port));
    answerPings(socks[i].ws);
  }
  await recordsOf(socks[N - 1].socketId, 1);
  await d.stop('SIGTERM');
  const reasons = new Map();
  for (const f of h.streamEntries(await redis.sendCommand(['XRANGE', STREAM, '-', '+']))) {
    if (f.type === 'disconnect') reasons.set(f.sid, f.reason);
  }
  for (const s of socks) assert.equal(reasons.get(s.socketId), 'server shutting down', s.socketId);
  for (const s of socks) s.ws.destroy();
});
