// hostile-backend.test.js - a client trying to make roomcastd hold more
// through the backend stream (issue #12), on a real redis-server. Covers: a
// flood of events asking for acks no backend answers costs at most
// max_backend_acks awaited ids per socket (the rest given up and counted),
// every event is either a record Redis took or a counted drop, and RSS and
// descriptors come back once the client leaves; with redis-server killed,
// a flood is dropped and counted record by record (reason redis_down), the
// daemon keeps serving, and once Redis is back records are written again.
// roomcastd only.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');
const { sampler, delta, servedNow } = require('./hostile-common');

const skip = h.REFERENCE && 'roomcastd\'s backend stream';
const STREAM = 'rc:hostile';
const DOWN = 'backend_dropped_total{reason="redis_down"}';

let r;
let d;
before(async () => {
  if (skip) return;
  r = await h.startRedis();
  d = await h.startClusterDaemon(r, { config: { backend_stream: STREAM, max_backend_acks: 64 } });
});
after(async () => {
  if (d) d.kill();
  if (r) await r.close();
});

const dropped = (m) => Object.entries(m)
  .filter(([k]) => k.startsWith('roomcast_backend_dropped_total{'))
  .reduce((n, [, v]) => n + v, 0);

async function flood(n, { withAck }) {
  const s = await h.sioConnect(d.port, '/', { transports: ['websocket'] });
  for (let i = 0; i < n; i++) {
    if (withAck(i)) s.emit('flood', i, () => {});
    else s.emit('flood', i);
  }
  return s;
}

async function floodAndCount(N) {
  const m0 = await d.metrics();
  const s = await flood(N, { withAck: () => true });
  const m1 = await h.waitFor(async () => {
    const x = await d.metrics();
    return delta(m0, x, 'sio_events_received_total') >= N &&
      delta(m0, x, 'backend_records_total') + dropped(x) - dropped(m0) >= N && x;
  }, { what: `${N} events handled and answered by Redis`, timeout: 60000 });
  assert.equal(delta(m0, m1, 'backend_records_total') + dropped(m1) - dropped(m0), N);
  assert.equal(delta(m0, m1, 'backend_acks_overflow_total'), N - 64);
  await servedNow(d.port);
  s.disconnect();
  await d.waitIdle();
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

test('redis-server killed: a flood is dropped and counted per record, the daemon serves, records resume after the restart', { skip }, async () => {
  await r.kill();
  await h.waitRedis(d, 'down');
  const N = 10000;
  const m0 = await d.metrics();
  const s = await flood(N, { withAck: (i) => i % 2 === 0 });
  const m1 = await h.waitFor(async () => {
    const x = await d.metrics();
    return delta(m0, x, 'sio_events_received_total') >= N && x;
  }, { what: `${N} events handled`, timeout: 60000 });
  assert.equal(delta(m0, m1, DOWN), N);
  assert.equal(delta(m0, m1, 'backend_records_total'), 0);
  await servedNow(d.port);
  s.disconnect();
  await r.start();
  await h.waitRedis(d, 'up', { timeout: 15000 });
  const s2 = await h.sioConnect(d.port, '/', { transports: ['websocket'] });
  s2.emit('after', 1);
  await h.waitFor(async () => delta(m1, await d.metrics(), 'backend_records_total') === 1, { what: 'a record after the restart' });
  s2.disconnect();
  await d.waitIdle();
});

test('SIGTERM: daemon exits 0', { skip }, async () => {
  await d.stop('SIGTERM');
});
