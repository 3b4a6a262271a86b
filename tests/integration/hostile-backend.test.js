// hostile-backend.test.js - a client trying to make roomcastd hold more
// through the backend stream (issue #12), on a real redis-server. Covers: a
// flood of events asking for acks no backend answers costs at most
// max_backend_acks awaited ids per socket (the rest given up and counted),
// every event is either a record Redis took or a counted drop, and RSS and
// descriptors come back once the client leaves; with redis-server killed,
// a flood fills backend_buffer (1M here) and no more: the rest is dropped
// and counted record by record (reason buffer_full), each acked one
// answered {"error":"unavailable"}, RSS grows by about the buffer, the
// daemon keeps serving, and once Redis is back the buffered records are
// written and memory comes back.
// roomcastd only.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');
const { sampler, delta, servedNow } = require('./hostile-common');

const skip = h.REFERENCE && 'roomcastd\'s backend stream';
const STREAM = 'rc:hostile';
const FULL = 'backend_dropped_total{reason="buffer_full"}';
const BUFFER_KIB = 1024;

let r;
let d;
before(async () => {
  if (skip) return;
  r = await h.startRedis();
  d = await h.startClusterDaemon(r, { config: { backend_stream: STREAM, max_backend_acks: 64, backend_buffer: `${BUFFER_KIB}K` } });
});
after(async () => {
  if (d) d.kill();
  if (r) await r.close();
});

const dropped = (m) => Object.entries(m)
  .filter(([k]) => k.startsWith('roomcast_backend_dropped_total{'))
  .reduce((n, [, v]) => n + v, 0);

async function flood(n, { withAck, onAck = () => {} }) {
  const s = await h.sioConnect(d.port, '/', { transports: ['websocket'] });
  for (let i = 0; i < n; i++) {
    if (withAck(i)) s.emit('flood', i, onAck);
    else s.emit('flood', i);
  }
  return s;
}

async function floodAndCount(N) {
  const m0 = await d.metrics();
  const s = await flood(N, { withAck: () => true });
  const settled = (n) => h.waitFor(async () => {
    const x = await d.metrics();
    return delta(m0, x, 'sio_events_received_total') >= N &&
      delta(m0, x, 'backend_records_total') + dropped(x) - dropped(m0) >= n && x;
  }, { what: `${n} records answered by Redis or dropped`, timeout: 60000 });
  // N events and the socket's connect record
  const m1 = await settled(N + 1);
  assert.equal(delta(m0, m1, 'backend_records_total') + dropped(m1) - dropped(m0), N + 1);
  assert.equal(delta(m0, m1, 'backend_acks_overflow_total'), N - 64);
  s.disconnect();
  await d.waitIdle();
  // its disconnect record
  const m2 = await settled(N + 2);
  assert.equal(delta(m0, m2, 'backend_records_total') + dropped(m2) - dropped(m0), N + 2);
  await servedNow(d.port);
  // its connect and disconnect records, which may wait backend_flush_delay:
  // the next count starts after them
  await settled(N + 4);
}

test('a flood of acked events no backend answers: awaited ids capped, every event written or counted, memory back', { skip }, async (t) => {
  const N = 20000;
  // The first flood sets the high-water marks that stay (allocator arenas,
  // hiredis's buffers); the second must not add to them.
  await floodAndCount(N);
  const smp = sampler(d);
  await floodAndCount(N);
  await smp.finish(t, `${N} acked events to the backend, after a first flood`);
});

test('redis-server killed: a flood fills backend_buffer and no more, drops are counted and acks answered, records follow the restart', { skip }, async (t) => {
  await r.kill();
  await h.waitRedis(d, 'down');
  const N = 20000;
  const m0 = await d.metrics();
  const smp = sampler(d);
  let unavailable = 0;
  const s = await flood(N, {
    withAck: (i) => i % 2 === 0,
    onAck: (a) => { if (a && a.error === 'unavailable') unavailable++; },
  });
  const m1 = await h.waitFor(async () => {
    const x = await d.metrics();
    return delta(m0, x, 'sio_events_received_total') >= N && x;
  }, { what: `${N} events handled`, timeout: 60000 });
  const kept = delta(m0, m1, 'backend_buffered_total');
  assert.equal(kept + delta(m0, m1, FULL), N + 1, 'every record (N events, a connect) buffered or dropped and counted');
  assert.ok(delta(m0, m1, FULL) > 0, 'the flood went past the buffer');
  assert.ok(m1.roomcast_backend_buffer_bytes <= BUFFER_KIB * 1024, `${m1.roomcast_backend_buffer_bytes} bytes buffered`);
  assert.equal(delta(m0, m1, 'backend_records_total'), 0);
  await h.waitFor(() => unavailable === delta(m0, m1, 'backend_acks_unavailable_total'),
    { what: 'every acked drop answered {"error":"unavailable"}' });
  assert.ok(unavailable > 0);
  await servedNow(d.port);
  smp.take();
  // The buffer, its 24-byte links and malloc's rounding: a few times 1M, never the flood.
  assert.ok(d.sanitized || smp.peak.rss - smp.before.rss <= 4 * BUFFER_KIB + 4096,
    `RSS ${smp.before.rss} KiB before, peak ${smp.peak.rss} KiB`);
  s.disconnect();
  await r.start();
  await h.waitRedis(d, 'up', { timeout: 15000 });
  // Every record since m0 waited (Redis was down until now), servedNow's
  // and the disconnects' too, or was dropped: the buffered ones are written.
  const m2 = await h.waitFor(async () => {
    const x = await d.metrics();
    return x.roomcast_backend_buffer_bytes === 0 &&
      delta(m0, x, 'backend_records_total') >= delta(m0, x, 'backend_buffered_total') && x;
  }, { what: 'the buffered records written' });
  assert.equal(delta(m0, m2, 'backend_records_total'), delta(m0, m2, 'backend_buffered_total'));
  assert.ok(delta(m0, m2, 'backend_records_total') >= kept);
  const s2 = await h.sioConnect(d.port, '/', { transports: ['websocket'] });
  s2.emit('after', 1);
  await h.waitFor(async () => delta(m2, await d.metrics(), 'backend_records_total') === 2, { what: 'a connect and an event record after the restart' });
  s2.disconnect();
  await d.waitIdle();
  // The freed buffer stays in the heap for reuse: the daemon trims only
  // once 4M are free (daemon.c), more than this buffer ever frees.
  await smp.finish(t, `${N} events with Redis down, backend_buffer ${BUFFER_KIB}K (${kept} kept)`,
    { rssSlackKiB: 4 * BUFFER_KIB });
});

test('connect churn with big auth payloads while Redis is away: lifecycle records stay within backend_buffer', { skip }, async (t) => {
  await r.kill();
  await h.waitRedis(d, 'down');
  const m0 = await d.metrics();
  const smp = sampler(d);
  const N = 400;
  const auth = { pad: 'p'.repeat(3000) }; // each connect record about 3.2K
  for (let i = 0; i < N; i += 20) {
    const batch = await Promise.all(Array.from({ length: 20 }, () => h.sioConnect(d.port, '/', { transports: ['websocket'], auth })));
    for (const s of batch) s.disconnect();
  }
  await d.waitIdle();
  const m1 = await h.waitFor(async () => {
    const x = await d.metrics();
    return delta(m0, x, 'backend_buffered_total') + delta(m0, x, FULL) >= 2 * N && x;
  }, { what: `${2 * N} connect and disconnect records buffered or dropped` });
  assert.equal(delta(m0, m1, 'backend_buffered_total') + delta(m0, m1, FULL), 2 * N);
  assert.ok(delta(m0, m1, FULL) > 0, 'the churn went past the buffer');
  assert.ok(m1.roomcast_backend_buffer_bytes <= BUFFER_KIB * 1024);
  await r.start();
  await h.waitRedis(d, 'up', { timeout: 15000 });
  await h.waitFor(async () => (await d.metrics()).roomcast_backend_buffer_bytes === 0, { what: 'the buffer written out' });
  await smp.finish(t, `${N} connects with 3K auth while Redis is down`, { rssSlackKiB: 4 * BUFFER_KIB });
});

test('SIGTERM: daemon exits 0', { skip }, async () => {
  await d.stop('SIGTERM');
});
