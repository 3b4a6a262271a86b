// backend-outage.test.js - the backend stream while Redis is away (issue
// #12), on one roomcastd (backend_buffer 64K) with a real redis-server that
// the tests kill and restart. Covers: redis-server killed during traffic,
// the events forwarded meanwhile wait in the buffer and reach the stream in
// the order sent once Redis is back, every event exactly once (Redis
// keeps nothing across the restart); records in flight when the link drops
// (Redis stopped with SIGSTOP, then killed) are written again, in order
// (backend_records_resent_total); past backend_buffer, an event that
// asked for an ack is answered at once with {"error":"unavailable"}, the
// others are dropped, and the counters (backend_dropped_total{reason=
// "buffer_full"}, backend_acks_unavailable_total, backend_buffered_total,
// the backend_buffer_bytes gauge) say exactly what was kept and lost; a
// record Redis refuses (the key is not a stream) is counted once and not
// retried.
// roomcastd only: the reference server has no backend stream.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');
const { delta } = require('./hostile-common');

const skip = h.REFERENCE && 'roomcastd\'s backend stream';
const STREAM = 'rc:outage';
const BUFFER = 64 * 1024;
const FULL = 'backend_dropped_total{reason="buffer_full"}';
const REFUSED = 'backend_dropped_total{reason="refused"}';

let r;
let d;
before(async () => {
  if (skip) return;
  r = await h.startRedis();
  d = await h.startClusterDaemon(r, { config: { backend_stream: STREAM, backend_buffer: '64K' } });
});
after(async () => {
  if (d) d.kill();
  if (r) await r.close();
});

/** The `args` of every entry of STREAM whose event is <name>, parsed, in stream order. */
async function argsOf(name) {
  const redis = await r.client();
  const raw = await redis.sendCommand(['XRANGE', STREAM, '-', '+']);
  await redis.disconnect();
  return h.streamEntries(raw).filter((f) => f.event === name).map((f) => JSON.parse(f.args));
}

/** Metrics once <n> records (<events> of them events) since <m0> are answered or dropped and none waits. */
async function settled(m0, n, events = n) {
  return h.waitFor(async () => {
    const x = await d.metrics();
    const answered = delta(m0, x, 'backend_records_total') +
      delta(m0, x, FULL) + delta(m0, x, REFUSED);
    return delta(m0, x, 'sio_events_received_total') >= events && answered >= n &&
      x.roomcast_backend_buffer_bytes === 0 && x;
  }, { what: `${n} records written or counted, the buffer empty`, timeout: 30000 });
}

/** An official client on `/` once its connect record is in the stream. */
async function connected() {
  const m = await d.metrics();
  const s = await h.sioConnect(d.port, '/', { transports: ['websocket'] });
  await settled(m, 1, 0);
  return s;
}

/** Disconnects <s> and waits for its disconnect record to be answered. */
async function leave(s) {
  const m = await d.metrics();
  s.disconnect();
  await d.waitIdle();
  await settled(m, 1, 0);
}

test('a record Redis refuses (the key is not a stream) is counted once and not retried', { skip }, async () => {
  const redis = await r.client();
  const s = await connected();
  await redis.set(STREAM, 'not a stream');
  const m0 = await d.metrics();
  s.emit('refused', 1);
  const m1 = await settled(m0, 1);
  assert.equal(delta(m0, m1, REFUSED), 1);
  assert.equal(delta(m0, m1, 'backend_records_total'), 0);
  assert.equal(delta(m0, m1, 'backend_buffered_total'), 0);
  await redis.del(STREAM);
  s.emit('accepted', 2);
  const m2 = await settled(m1, 1);
  assert.equal(delta(m1, m2, 'backend_records_total'), 1);
  assert.equal(delta(m0, m2, REFUSED), 1, 'the refused record was not written again');
  assert.deepEqual(await argsOf('accepted'), [[2]]);
  await leave(s);
  await redis.disconnect();
});

test('redis-server killed during traffic: events forwarded meanwhile reach the stream in order after the restart', { skip }, async (t) => {
  const s = await connected();
  const m0 = await d.metrics();
  let sent = 0;
  const burst = async (n) => {
    for (let i = 0; i < n; i++) s.emit('seq', sent++);
    // one round trip through the daemon: the burst has been handled
    await h.sioAck(s, 'join', 'fence');
  };
  await burst(50);
  // Redis keeps nothing across the restart (no persistence): count from
  // once these are in.
  const mIn = await settled(m0, 50);
  const killed = r.kill();
  await burst(50); // races the kill: written, in flight when the link drops (sent again), or buffered
  await killed;
  await h.waitRedis(d, 'down');
  const firstWhileDown = sent;
  for (let i = 0; i < 5; i++) await burst(20);
  const mDown = await d.metrics();
  assert.ok(mDown.roomcast_backend_buffer_bytes > 0, 'records wait while Redis is away');
  assert.ok(mDown.roomcast_backend_buffer_bytes <= BUFFER);
  await r.start();
  await burst(50); // before or after the daemon sees Redis back: behind the buffer either way
  await h.waitRedis(d, 'up', { timeout: 15000 });
  await burst(50);
  const m1 = await settled(mIn, sent - 50);
  const got = (await argsOf('seq')).map(([i]) => i);
  assert.equal(delta(mIn, m1, FULL), 0);
  assert.equal(got.length, delta(mIn, m1, 'backend_records_total'));
  // Redis kept nothing across the restart, so a record it had added before
  // the kill is not there twice: every event after the first 50, once, in order.
  assert.deepEqual(got, Array.from({ length: sent - 50 }, (_, i) => 50 + i), 'every event in the stream, in order');
  t.diagnostic(`${sent} events: 50 before the kill, ${delta(mIn, m1, 'backend_records_resent_total')} sent again after ` +
    `the link dropped, ${delta(mIn, m1, 'backend_buffered_total')} buffered, ${got.length} in the stream after the restart`);
  assert.ok(firstWhileDown > 50);
  assert.ok(delta(mIn, m1, 'backend_buffered_total') >= 100, 'the 100 events sent while down were buffered');
  await leave(s);
});

test('records in flight when the link drops are written again once Redis is back, in order', { skip }, async () => {
  const s = await connected();
  const m0 = await d.metrics();
  r.child.kill('SIGSTOP'); // Redis takes the bytes (the kernel does) and never answers
  try {
    for (let i = 0; i < 20; i++) s.emit('inflight', i);
    await h.waitFor(async () => delta(m0, await d.metrics(), 'sio_events_received_total') >= 20, { what: '20 events handled' });
    await new Promise((res) => setTimeout(res, 100)); // past backend_flush_delay: written
    const m1 = await d.metrics();
    assert.equal(m1.roomcast_backend_buffer_bytes, 0, 'written, not waiting');
    assert.equal(delta(m0, m1, 'backend_records_total'), 0, 'not answered');
  } finally {
    await r.kill(); // the link drops with 20 records unanswered
  }
  await h.waitRedis(d, 'down');
  const mDown = await d.metrics();
  assert.equal(delta(m0, mDown, 'backend_records_resent_total'), 20);
  assert.ok(mDown.roomcast_backend_buffer_bytes > 0, 'back in the buffer');
  await r.start();
  await h.waitRedis(d, 'up', { timeout: 15000 });
  await settled(mDown, 20, 0);
  assert.deepEqual(await argsOf('inflight'), Array.from({ length: 20 }, (_, i) => [i]));
  await leave(s);
});

test('past backend_buffer: acked events are answered {"error":"unavailable"}, the rest dropped, counters exact', { skip }, async () => {
  const s = await connected();
  await r.kill();
  await h.waitRedis(d, 'down');
  const m0 = await d.metrics();
  const N = 200;
  const pad = 'x'.repeat(1000);
  const answers = new Map();
  for (let i = 0; i < N; i++) {
    const seq = String(i).padStart(4, '0'); // every record the same size
    if (i % 2 === 0) s.emit('big', seq, pad, (a) => answers.set(i, a));
    else s.emit('big', seq, pad);
  }
  await h.sioAck(s, 'join', 'fence');
  const m1 = await d.metrics();
  const full = delta(m0, m1, FULL);
  const kept = delta(m0, m1, 'backend_buffered_total');
  assert.equal(kept + full, N, 'every event buffered or dropped');
  assert.ok(kept > 0 && full > 0, `${kept} kept, ${full} dropped`);
  assert.ok(m1.roomcast_backend_buffer_bytes <= BUFFER, `${m1.roomcast_backend_buffer_bytes} bytes buffered`);
  assert.ok(m1.roomcast_backend_buffer_bytes > BUFFER - 1200, 'the buffer was filled before dropping');
  // Same-sized records: the first `kept` fit, every later one was dropped.
  const unavailable = [...answers.entries()].filter(([, a]) => JSON.stringify(a) === '{"error":"unavailable"}').map(([i]) => i);
  const ackedDropped = Array.from({ length: N }, (_, i) => i).filter((i) => i >= kept && i % 2 === 0);
  assert.deepEqual(unavailable.sort((a, b) => a - b), ackedDropped);
  assert.equal(answers.size, ackedDropped.length, 'no buffered event was answered');
  assert.equal(delta(m0, m1, 'backend_acks_unavailable_total'), ackedDropped.length);
  await r.start();
  await h.waitRedis(d, 'up', { timeout: 15000 });
  const m2 = await settled(m0, N);
  assert.equal(delta(m0, m2, 'backend_records_total'), kept);
  const got = (await argsOf('big')).map(([seq]) => Number(seq));
  assert.deepEqual(got, Array.from({ length: kept }, (_, i) => i));
  await leave(s);
});

test('SIGTERM: daemon exits 0', { skip }, async () => {
  await d.stop('SIGTERM');
});
