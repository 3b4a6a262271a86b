// backend-streams.test.js - client events to backends through a Redis Stream
// (issue #12), on one roomcastd with a real redis-server, official clients
// and node-redis consumers. Covers: an unrelayed event becomes an XADD entry
// with the documented fields (type, nsp, sid, instance, user, event, args),
// text and binary (placeholders stay in args, attachment N is field binN,
// raw bytes), over WebSocket and polling; `user` is the token's sub under
// auth jwt and empty otherwise; the namespace policy (forward unrelayed,
// all, none; forward_events globs; join/leave events never forwarded);
// two workers of one consumer group get every event exactly once between
// them and in order per socket; entries a worker read and never XACKed are
// re-claimed by another with XAUTOCLAIM; MAXLEN ~ trims the stream; the
// counters (roomcast_backend_records_total, sio_events_dropped_total).
// Acks: an event sent with an ack carries `ack` and `reply`; a backend's
// JSON reply on that channel reaches the client as its ack, over WebSocket
// and polling, for text and binary events, and a msgpack reply with binary
// values reaches it as a BINARY_ACK with those bytes; a duplicate, forged, late or
// malformed reply, or one for a socket that left, is dropped and counted
// (roomcast_backend_replies_dropped_total); awaited ids expire at
// backend_ack_timeout and past max_backend_acks the oldest is given up,
// both counted. A backend's emits (JSON channel and emitter format) and
// ack replies published in order from one connection reach the client in
// that order (#19). With backend_streams 4, each socket's records go to
// <stream>:<FNV-1a of its id mod 4>, in order.
// roomcastd only: the reference server has no backend stream.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');
const mp = require(path.join(__dirname, '..', 'node_modules', 'notepack.io'));

const skip = h.REFERENCE && 'roomcastd\'s backend stream';
const STREAM = 'rc:events';
const KEY = h.hs256SecretFile('roomcast-backend-');
const { secret: SECRET, file: SECRET_FILE } = KEY;

const RAW = `
namespace / {
    client_join           chat:*
}
namespace /all {
    client_join           chat:*
    relay                 yes
    forward               all
}
namespace /relayed {
    client_join           chat:*
    relay                 yes
}
namespace /none {
    forward               none
}
namespace /some {
    forward_events        chat.* ping
}
namespace /jwt {
    auth                  jwt
    jwt_secret_file       ${SECRET_FILE}
}
`;

const token = (claims) => h.hs256Token(SECRET, { exp: Math.floor(Date.now() / 1000) + 3600, ...claims });

let r;
let d;
let redis;
const open = h.trackedClients();
before(async () => {
  if (skip) return;
  r = await h.startRedis();
  d = await h.startClusterDaemon(r, { raw: RAW, config: { backend_stream: STREAM, backend_stream_maxlen: 1000 } });
  redis = await r.client();
});
after(async () => {
  if (d) d.kill();
  if (r) await r.close();
  KEY.remove();
});

const BUF = () => require(path.join(__dirname, '..', 'node_modules', 'redis')).commandOptions({ returnBuffers: true });

/** [{id, f: {name: Buffer}}] from a raw XRANGE-style reply of Buffers. */
function entries(raw) {
  return (raw || []).map(([id, kv]) => {
    const f = {};
    for (let i = 0; i < kv.length; i += 2) f[kv[i].toString()] = kv[i + 1];
    return { id: id.toString(), f };
  });
}
/** Event records only: lifecycle records (backend-lifecycle.test.js) are left out. */
const events = (raw) => entries(raw).filter((e) => e.f.type.toString() === 'event');
const text = (e) => Object.fromEntries(Object.entries(e.f).map(([k, v]) => [k, v.toString()]));

async function all(stream = STREAM) {
  return events(await redis.sendCommand(['XRANGE', stream, '-', '+'], BUF()));
}
async function lastId(stream = STREAM) {
  const x = await redis.sendCommand(['XREVRANGE', stream, '+', '-', 'COUNT', '1']);
  return x && x.length ? x[0][0] : '0-0';
}
/** Entries after `from` once there are `n` of them. */
async function waitEntries(from, n, stream = STREAM) {
  let got;
  await h.waitFor(async () => {
    got = events(await redis.sendCommand(['XRANGE', stream, `(${from}`, '+'], BUF()));
    return got.length >= n;
  }, { what: `${n} stream entries after ${from}` });
  return got;
}

async function client(nsp = '/', transport = 'websocket', opts = {}) {
  return h.sioRecorded(open, d.port, transport, nsp, opts);
}

/** Resolves once <sid>'s connect record is in the stream (records may be held for backend_flush_delay). */
async function connectWritten(sid) {
  await h.waitFor(async () => (await redis.sendCommand(['XRANGE', STREAM, '-', '+']))
    .some(([, f]) => f[1] === 'connect' && f[f.indexOf('sid') + 1] === sid), { what: `${sid}'s connect record` });
}

test('an unrelayed text event is one record with the documented fields', { skip }, async () => {
  const s = await client();
  await connectWritten(s.id);
  const from = await lastId();
  const before = await d.metrics();
  s.emit('hello', { a: 1, b: [true, null] }, 'x', 3.5);
  const [e] = await waitEntries(from, 1);
  const f = text(e);
  assert.match(f.instance, /^[A-Za-z0-9_-]{6}$/);
  assert.deepEqual(f, {
    type: 'event', nsp: '/', sid: s.id, instance: f.instance, user: '', event: 'hello',
    args: '[{"a":1,"b":[true,null]},"x",3.5]',
  });
  assert.deepEqual(JSON.parse(f.args), [{ a: 1, b: [true, null] }, 'x', 3.5]);
  s.emit('noargs');
  const [e2] = await waitEntries(e.id, 1);
  assert.equal(text(e2).args, '[]');
  assert.equal(text(e2).event, 'noargs');
  const m = await h.waitFor(async () => {
    const x = await d.metrics();
    return x.roomcast_backend_records_total >= before.roomcast_backend_records_total + 2 && x;
  }, { what: 'backend_records_total +2' });
  assert.equal(m.roomcast_backend_records_total, before.roomcast_backend_records_total + 2);
  assert.equal(m.roomcast_sio_events_dropped_total, before.roomcast_sio_events_dropped_total);
});

for (const transport of ['websocket', 'polling']) {
  test(`a binary event over ${transport}: placeholders stay in args, attachments are bin0, bin1`, { skip }, async () => {
    const s = await client('/', transport);
    const from = await lastId();
    s.emit('file', Buffer.from([1, 2, 3]), { name: 'n', data: Buffer.from([0, 0xff, 0x0d, 0x0a]) });
    const [e] = await waitEntries(from, 1);
    assert.equal(e.f.event.toString(), 'file');
    assert.equal(e.f.sid.toString(), s.id);
    assert.deepEqual(JSON.parse(e.f.args.toString()), [
      { _placeholder: true, num: 0 }, { name: 'n', data: { _placeholder: true, num: 1 } },
    ]);
    assert.equal(e.f.bin0.toString('hex'), '010203');
    assert.equal(e.f.bin1.toString('hex'), '00ff0d0a');
    assert.equal(e.f.bin2, undefined);
  });
}

test('user is the token\'s sub under auth jwt', { skip }, async () => {
  const s = await client('/jwt', 'websocket', { auth: { token: token({ sub: 'alice' }) } });
  const from = await lastId();
  s.emit('whoami', 1);
  const [e] = await waitEntries(from, 1);
  assert.deepEqual([text(e).nsp, text(e).user, text(e).args], ['/jwt', 'alice', '[1]']);
});

test('policy: join/leave never, relayed only with forward all, none, forward_events globs', { skip }, async () => {
  const plain = await client('/');
  const allS = await client('/all');
  const relayed = await client('/relayed');
  const none = await client('/none');
  const some = await client('/some');
  const from = await lastId();
  const before = await d.metrics();
  assert.deepEqual(await h.sioAck(plain, 'join', 'chat:1'), ['ok']);
  assert.deepEqual(await h.sioAck(plain, 'leave', 'chat:1'), ['ok']);
  assert.deepEqual(await h.sioAck(allS, 'join', 'chat:1'), ['ok']);
  assert.deepEqual(await h.sioAck(allS, 'said', 'to all'), []);
  assert.deepEqual(await h.sioAck(relayed, 'join', 'chat:1'), ['ok']);
  assert.deepEqual(await h.sioAck(relayed, 'said', 'relayed only'), []);
  none.emit('lost', 1);
  for (const ev of ['chat.msg', 'other', 'ping', 'pingx', 'chat.']) some.emit(ev, ev);
  await h.sioFence(some);
  await h.sioFence(none);
  plain.emit('last', 1);
  const got = await waitEntries(from, 1 + 3 + 1);
  const seen = got.map((e) => [text(e).nsp, text(e).event, text(e).args]);
  assert.deepEqual(seen, [
    ['/all', 'said', '["to all"]'],
    ['/some', 'chat.msg', '["chat.msg"]'],
    ['/some', 'ping', '["ping"]'],
    ['/some', 'chat.', '["chat."]'],
    ['/', 'last', '[1]'],
  ]);
  const m = await d.metrics();
  // /none's "lost" and /some's "other" and "pingx", plus the fences (join ""
  // is a join event: not dropped)
  assert.equal(m.roomcast_sio_events_dropped_total, before.roomcast_sio_events_dropped_total + 3);
});

test('two workers in one group get every event exactly once between them, in order per socket', { skip }, async () => {
  const w1 = await r.client();
  const w2 = await r.client();
  await redis.sendCommand(['XGROUP', 'CREATE', STREAM, 'g1', '$', 'MKSTREAM']);
  const socks = [await client('/'), await client('/', 'polling'), await client('/')];
  const N = 40;
  for (let i = 0; i < N; i++) for (const s of socks) s.emit('seq', i);
  const got = [];
  const read = async (w, name) => entries((await w.sendCommand(['XREADGROUP', 'GROUP', 'g1', name, 'COUNT', '7', 'STREAMS', STREAM, '>'], BUF()) || [[null, []]])[0][1]);
  await h.waitFor(async () => {
    for (const [w, name] of [[w1, 'w1'], [w2, 'w2']]) {
      for (const e of await read(w, name)) {
        if (text(e).type === 'event') got.push({ ...text(e), id: e.id, by: name });
        await w.sendCommand(['XACK', STREAM, 'g1', e.id]);
      }
    }
    return got.length >= N * socks.length;
  }, { what: `${N * socks.length} records read by the group` });
  assert.equal(got.length, N * socks.length, 'no record twice');
  assert.equal(new Set(got.map((e) => e.id)).size, got.length);
  assert.ok(got.some((e) => e.by === 'w1') && got.some((e) => e.by === 'w2'), 'both workers got some');
  const byId = got.slice().sort((a, b) => cmpId(a.id, b.id));
  for (const s of socks) {
    assert.deepEqual(byId.filter((e) => e.sid === s.id).map((e) => JSON.parse(e.args)[0]),
      Array.from({ length: N }, (_, i) => i), `order of ${s.id}`);
  }
  const pending = await redis.sendCommand(['XPENDING', STREAM, 'g1']);
  assert.equal(Number(pending[0]), 0);
});

/** backend_stream_index(): FNV-1a 32-bit of the socket id, modulo k (roomcast.conf(5)). */
function streamIndex(sid, k) {
  let h = 2166136261;
  for (const b of Buffer.from(sid)) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h % k;
}

test('backend_streams 4: each socket\'s records go to the stream its id hashes to, in order', { skip }, async () => {
  assert.equal(streamIndex('AAAAAAAAAAAAAAAAAAAA', 4), 1, 'the man page\'s worked example');
  const k4 = await h.startClusterDaemon(r, { raw: RAW, config: { backend_stream: 'k4', backend_streams: 4 } });
  try {
    const socks = [];
    for (let i = 0; i < 12; i++) socks.push(await h.sioRecorded(open, k4.port));
    const N = 10;
    for (let i = 0; i < N; i++) for (const s of socks) s.emit('seq', i);
    const byStream = [];
    await h.waitFor(async () => {
      byStream.length = 0;
      for (let i = 0; i < 4; i++) byStream.push((await all(`k4:${i}`)).map(text));
      return byStream.reduce((n, x) => n + x.length, 0) >= N * socks.length;
    }, { what: 'every record in the four streams' });
    assert.equal(await redis.exists('k4'), 0, 'nothing in the unsuffixed stream');
    for (const s of socks) {
      const i = streamIndex(s.id, 4);
      for (let j = 0; j < 4; j++) {
        const mine = byStream[j].filter((e) => e.sid === s.id).map((e) => JSON.parse(e.args)[0]);
        assert.deepEqual(mine, j === i ? Array.from({ length: N }, (_, x) => x) : [], `${s.id} in k4:${j}`);
      }
    }
    assert.ok(byStream.filter((x) => x.length).length > 1, '12 sockets spread over more than one stream');
    for (const s of socks) s.disconnect();
    await k4.stop();
  } finally {
    k4.kill();
  }
});

function cmpId(a, b) {
  const [a1, a2] = a.split('-').map(BigInt);
  const [b1, b2] = b.split('-').map(BigInt);
  return a1 === b1 ? (a2 < b2 ? -1 : a2 > b2 ? 1 : 0) : (a1 < b1 ? -1 : 1);
}

test('a worker that dies without XACK: another re-claims its entries with XAUTOCLAIM', { skip }, async () => {
  const w1 = await r.client();
  const w2 = await r.client();
  await redis.sendCommand(['XGROUP', 'CREATE', STREAM, 'g2', '$', 'MKSTREAM']);
  const s = await client('/');
  const from = await lastId();
  for (let i = 0; i < 10; i++) s.emit('job', i);
  await waitEntries(from, 10);
  const isJob = ([, kv]) => kv[kv.indexOf('type') + 1] === 'event';
  const taken = await w1.sendCommand(['XREADGROUP', 'GROUP', 'g2', 'w1', 'COUNT', '100', 'STREAMS', STREAM, '>']);
  assert.equal(taken[0][1].filter(isJob).length, 10);
  await w1.disconnect(); // dies holding 10 unacked entries
  const claimed = await w2.sendCommand(['XAUTOCLAIM', STREAM, 'g2', 'w2', '0', '0-0', 'COUNT', '100']);
  const jobs = claimed[1].filter(isJob).map(([id, kv]) => ({ id, job: JSON.parse(kv[kv.indexOf('args') + 1])[0] }));
  assert.deepEqual(jobs.map((j) => j.job), Array.from({ length: 10 }, (_, i) => i));
  for (const [id] of claimed[1]) await w2.sendCommand(['XACK', STREAM, 'g2', id]);
  assert.equal(Number((await redis.sendCommand(['XPENDING', STREAM, 'g2']))[0]), 0);
});

test('MAXLEN ~ keeps the stream near backend_stream_maxlen', { skip }, async () => {
  const s = await client('/');
  const from = await lastId();
  for (let i = 0; i < 1500; i++) s.emit('bulk', i);
  await h.waitFor(async () => {
    const x = await redis.sendCommand(['XREVRANGE', STREAM, '+', '-', 'COUNT', '1']);
    return x.length && cmpId(x[0][0], from) > 0 && JSON.parse(x[0][1][x[0][1].indexOf('args') + 1])[0] === 1499;
  }, { what: 'the last bulk record' });
  const len = Number(await redis.sendCommand(['XLEN', STREAM]));
  assert.ok(len >= 1000 && len < 1500, `XLEN ${len} near 1000`);
});

/** Reads the one new record after `from` and answers it as a backend would. */
async function answer(from, args, encode = JSON.stringify) {
  const [e] = await waitEntries(from, 1);
  const f = text(e);
  assert.match(f.ack, /^\d+$/);
  assert.equal(f.reply, `${STREAM}:reply:${f.instance}`);
  const n = await redis.publish(f.reply, encode({ sid: f.sid, ack: Number(f.ack), args }));
  assert.equal(n, 1, 'the instance subscribes to its reply channel');
  return { e, f };
}

for (const transport of ['websocket', 'polling']) {
  test(`acks round-trip through a backend over ${transport}, text and binary events`, { skip }, async () => {
    const s = await client('/', transport);
    let from = await lastId();
    const before = await d.metrics();
    const p1 = h.sioAck(s, 'ask', 'q1');
    const { f } = await answer(from, ['ok', { n: 1, s: 'é\u0000' }, null]);
    assert.deepEqual(await p1, ['ok', { n: 1, s: 'é\u0000' }, null]);
    assert.equal(f.args, '["q1"]');
    from = await lastId();
    const p2 = h.sioAck(s, 'upload', Buffer.from([9, 8, 7]));
    const { e } = await answer(from, []);
    assert.equal(e.f.bin0.toString('hex'), '090807');
    assert.deepEqual(await p2, []);
    // A msgpack reply carries binary values: the client gets a BINARY_ACK.
    from = await lastId();
    const p3 = h.sioAck(s, 'ask', 'q3');
    await answer(from, ['ok', Buffer.from([1, 2, 0xff]), { nested: [Buffer.from('hi')] }], mp.encode);
    assert.deepEqual(await p3, ['ok', { $bin: '0102ff' }, { nested: [{ $bin: '6869' }] }]);
    const m = await d.metrics();
    assert.equal(m.roomcast_backend_replies_total, before.roomcast_backend_replies_total + 3);
    assert.equal(m.roomcast_backend_replies_dropped_total, before.roomcast_backend_replies_dropped_total);
  });
}

for (const transport of ['websocket', 'polling']) {
  test(`emits and ack replies reach a client in the order a backend published them, over ${transport} (#19)`, { skip }, async () => {
    const s = await client('/', transport);
    const seen = [];
    s.onAny((ev, ...args) => seen.push([ev, ...args.map(h.sioNormalize)]));
    const from = await lastId();
    const K = 12;
    const acked = [];
    for (let i = 0; i < K; i++) {
      acked.push(new Promise((resolve) => s.emit('ask', i, (...args) => { seen.push(['ack', ...args]); resolve(); })));
    }
    const recs = (await waitEntries(from, K)).map(text);
    // One connection, no await in between: Redis runs the PUBLISHes in order.
    // Emits to the socket's own room alternate between the JSON channel and
    // the emitter's msgpack format with bytes, each followed by a reply.
    const published = [];
    for (const f of recs) {
      const i = JSON.parse(f.args)[0];
      published.push(i % 2
        ? redis.publish(`socket.io#/#${f.sid}#`, mp.encode(['emitter', { type: 2, data: ['note', i, Buffer.from([i])], nsp: '/' },
          { rooms: [f.sid], except: [], flags: {} }]))
        : redis.publish('roomcast-emit', JSON.stringify({ nsp: '/', rooms: [f.sid], data: ['note', i] })));
      published.push(redis.publish(f.reply, JSON.stringify({ sid: f.sid, ack: Number(f.ack), args: [i] })));
    }
    await Promise.all(published);
    await Promise.all(acked);
    const want = [];
    for (let i = 0; i < K; i++) want.push(i % 2 ? ['note', i, { $bin: Buffer.from([i]).toString('hex') }] : ['note', i], ['ack', i]);
    assert.deepEqual(seen, want);
  });
}

test('duplicate, forged, malformed and left-socket replies are dropped and counted', { skip }, async () => {
  const s = await client('/');
  const from = await lastId();
  const before = await d.metrics();
  const p = h.sioAck(s, 'ask', 1);
  const { f } = await answer(from, ['first']);
  assert.deepEqual(await p, ['first']);
  const pub = (x) => redis.publish(f.reply, typeof x === 'string' ? x : JSON.stringify(x));
  await pub({ sid: f.sid, ack: Number(f.ack), args: ['again'] }); // duplicate (late)
  await pub({ sid: f.sid, ack: Number(f.ack) + 1000, args: ['forged'] }); // never asked
  await pub({ sid: 'x'.repeat(20), ack: 0, args: [] }); // no such socket
  await pub('{"sid":'); // not JSON
  await pub({ sid: f.sid, ack: 'one' }); // wrong type
  await pub({ sid: f.sid, ack: 1, args: {} }); // args not an array
  await pub('['.repeat(5000) + ']'.repeat(5000)); // deep, costly JSON
  await pub(mp.encode({ sid: f.sid, ack: Number(f.ack), args: [Buffer.from([1])] })); // msgpack duplicate
  await pub(mp.encode([f.sid, Number(f.ack)])); // msgpack, not a map
  await pub(mp.encode({ sid: f.sid, ack: -1, args: [] })); // msgpack, negative ack
  await pub(mp.encode({ sid: f.sid, ack: 1, args: 'x' })); // msgpack, args not an array
  await pub(Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff])); // msgpack map of 2^32-1 entries, truncated
  const left = await client('/');
  const from2 = await lastId();
  const p2 = h.sioAck(left, 'ask', 2).catch(() => 'gone');
  const [e2] = await waitEntries(from2, 1);
  left.disconnect();
  await h.waitFor(async () => (await d.metrics()).roomcast_sockets_current <= 1, { what: 'the socket left' });
  await pub({ sid: text(e2).sid, ack: Number(text(e2).ack), args: ['too late'] });
  assert.equal(await p2, 'gone');
  const m = await h.waitFor(async () => {
    const x = await d.metrics();
    return x.roomcast_backend_replies_dropped_total >= before.roomcast_backend_replies_dropped_total + 13 && x;
  }, { what: '13 dropped replies' });
  assert.equal(m.roomcast_backend_replies_dropped_total, before.roomcast_backend_replies_dropped_total + 13);
  assert.equal(m.roomcast_backend_replies_total, before.roomcast_backend_replies_total + 1);
  assert.equal(s.got.length, 0, 'the client heard nothing but its one ack');
  await h.sioFence(s);
});

test('awaited acks expire at backend_ack_timeout; past max_backend_acks the oldest is given up', { skip }, async () => {
  const d2 = await h.startClusterDaemon(r, {
    raw: RAW, config: { backend_stream: 'rc:short', backend_ack_timeout: '300ms', max_backend_acks: 2 },
  });
  try {
    const s = h.sioClient(d2.port, '/', { transports: ['websocket'] });
    open.add(s);
    await h.sioConnected(s);
    const from = await lastId('rc:short');
    for (let i = 0; i < 3; i++) s.emit('slow', i, () => {});
    const got = await waitEntries(from, 3, 'rc:short');
    const m = await h.waitFor(async () => {
      const x = await d2.metrics();
      return x.roomcast_backend_acks_expired_total === 2 && x;
    }, { what: 'two expiries' });
    assert.equal(m.roomcast_backend_acks_overflow_total, 1);
    const f = text(got[2]);
    await redis.publish(f.reply, JSON.stringify({ sid: f.sid, ack: Number(f.ack), args: [] }));
    await h.waitFor(async () => (await d2.metrics()).roomcast_backend_replies_dropped_total === 1, { what: 'the late reply dropped' });
    s.disconnect();
    await d2.waitIdle();
    await d2.stop('SIGTERM');
  } finally {
    d2.kill();
  }
});

if (!skip) h.endTests(() => d, { clients: () => open });

/** Write system calls the process <pid> has made so far (/proc/PID/io). */
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
const writeCalls = (pid) => Number(/syscw:\s*(\d+)/.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))[1]);

test('backend_flush_delay holds records so that a burst is one write; a PUBLISH takes them at once', { skip }, async () => {
  const HELD = 'rc:held';
  const dh = await h.startClusterDaemon(r, {
    raw: 'namespace / {\n}\nnamespace /all {\n    client_join chat:*\n    relay yes\n    forward all\n}\n',
    config: { backend_stream: HELD, backend_flush_delay: '700ms' },
  });
  try {
    const s = await h.sioRecorded(open, dh.port, 'websocket', '/');
    const count = async () => (await redis.sendCommand(['XRANGE', HELD, '-', '+'])).filter((e) => e[1][1] === 'event').length;
    await h.waitFor(async () => (await redis.sendCommand(['XLEN', HELD])) >= 1, { what: 'the connect record' });
    await sleep(800); // no hold running
    const w0 = writeCalls(dh.pid);
    const t0 = Date.now();
    for (let i = 0; i < 20; i++) {
      s.emit('tick', i);
      await sleep(10); // one loop turn each: with 0ms, a write each
    }
    assert.ok(Date.now() - t0 < 600, 'the burst fits in the hold');
    assert.equal(await count(), 0, 'nothing written before the hold expires');
    await h.waitFor(async () => (await count()) === 20, { what: '20 held records' });
    const got = (await redis.sendCommand(['XRANGE', HELD, '-', '+'])).filter((e) => e[1][1] === 'event');
    assert.deepEqual(got.map((e) => JSON.parse(e[1][e[1].indexOf('args') + 1])[0]), [...Array(20).keys()]);
    const writes = writeCalls(dh.pid) - w0;
    assert.ok(writes <= 3, `${writes} write calls for 20 records`);

    // A relay in /all is PUBLISHed for other instances: it goes out at once,
    // and the record held before it goes with it.
    const a = await h.sioRecorded(open, dh.port, 'websocket', '/all');
    assert.deepEqual(await h.sioAck(a, 'join', 'chat:1'), ['ok']);
    await sleep(800);
    const before = await count();
    s.emit('held', 1);
    await sleep(50);
    const t1 = Date.now();
    a.emit('said', 'hi');
    await h.waitFor(async () => (await count()) === before + 2, { what: 'held record and relayed record', interval: 5 });
    assert.ok(Date.now() - t1 < 400, `written ${Date.now() - t1} ms after the PUBLISH, not at the hold's end`);
  } finally {
    dh.kill();
  }
});
