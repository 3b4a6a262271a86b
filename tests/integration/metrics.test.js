// metrics.test.js - /metrics and /healthz for operators (issue #13).
// Covers: with admin_listen, /metrics is served there only (404 on the
// client port), the engine not at all there (404), /healthz on both; GET
// and HEAD only (405 with Allow otherwise); the build-info gauge; the
// process metrics as Prometheus client libraries name them, checked
// against /proc; sockets and rooms per namespace following clients; bytes
// in and out growing with traffic; the event-loop lag histogram sampled
// four times a second, cumulative buckets, its count matching +Inf.
// roomcastd only: the Node server has no /metrics.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const h = require('./harness');

const skip = h.REFERENCE && 'roomcastd\'s /metrics';
const daemons = [];
after(() => daemons.forEach((d) => d.kill()));

async function get(port, path, method = 'GET') {
  return h.request(port, { method, path, waitClose: true });
}

async function scrape(port) {
  const res = await get(port, '/metrics');
  assert.equal(res.status, 200, h.show(res.raw));
  return { text: res.text, m: h.parseMetrics(res.text) };
}

test('admin_listen: /metrics there only, no engine there, /healthz on both, GET only', { skip }, async () => {
  const admin = await h.freePort();
  const d = await h.startDaemon({ sio: true, config: { admin_listen: `127.0.0.1:${admin}` } });
  daemons.push(d);
  assert.match(d.stderr(), new RegExp(`listening on 127.0.0.1:${admin} \\(admin: /metrics, /healthz\\)`));
  assert.equal((await get(d.port, '/metrics')).status, 404, 'not on the client port');
  assert.equal((await get(admin, '/metrics')).status, 200);
  assert.equal((await get(admin, `${h.EIO_PATH}?EIO=4&transport=polling`)).status, 404, 'no engine on the admin port');
  for (const port of [d.port, admin]) assert.equal((await get(port, '/healthz')).status, 200);
  for (const [port, path] of [[admin, '/metrics'], [admin, '/healthz'], [d.port, '/healthz']]) {
    const res = await get(port, path, 'POST');
    assert.equal(res.status, 405, `POST ${path}`);
    assert.equal(res.headers.allow, 'GET, HEAD');
  }
  assert.equal((await get(admin, '/metrics', 'HEAD')).status, 200);
  await d.stop();
});

test('build info, process metrics against /proc, namespaces, bytes, loop lag', { skip }, async () => {
  const d = await h.startDaemon({ sio: true, raw: 'namespace /chat {\n    client_join *\n}\n' });
  daemons.push(d);
  const { text, m: m0 } = await scrape(d.port);
  assert.equal(m0['roomcast_build_info{version="0.1.0"}'], 1);
  assert.match(text, /# TYPE process_cpu_seconds_total counter/);
  const status = fs.readFileSync(`/proc/${d.pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) * 1024;
  assert.ok(Math.abs(m0.process_resident_memory_bytes - rss) < 2 << 20, `RSS ${m0.process_resident_memory_bytes} vs ${rss}`);
  const vsz = Number(/VmSize:\s+(\d+) kB/.exec(status)[1]) * 1024;
  assert.ok(Math.abs(m0.process_virtual_memory_bytes - vsz) < 4 << 20, `VSZ ${m0.process_virtual_memory_bytes} vs ${vsz}`);
  assert.ok(Math.abs(m0.process_open_fds - d.fdCount()) <= 2, `fds ${m0.process_open_fds} vs ${d.fdCount()}`);
  const limit = Number(/Max open files\s+(\d+)/.exec(fs.readFileSync(`/proc/${d.pid}/limits`, 'utf8'))[1]);
  assert.equal(m0.process_max_fds, limit);
  assert.ok(Math.abs(m0.process_start_time_seconds - Date.now() / 1000) < 30, 'started just now');
  assert.ok(m0.process_cpu_seconds_total > 0);

  const a = await h.sioConnect(d.port, '/chat', { transports: ['websocket'] });
  const b = await h.sioConnect(d.port, '/chat', { transports: ['polling'] });
  const c = await h.sioConnect(d.port, '/', { transports: ['websocket'] });
  assert.deepEqual(await h.sioAck(a, 'join', 'lobby'), ['ok']);
  assert.deepEqual(await h.sioAck(b, 'join', 'lobby'), ['ok']);
  const { m: m1 } = await scrape(d.port);
  assert.equal(m1['roomcast_namespace_sockets{namespace="/chat"}'], 2);
  assert.equal(m1['roomcast_namespace_sockets{namespace="/"}'], 1);
  assert.equal(m1['roomcast_namespace_rooms{namespace="/chat"}'], 3, 'lobby and the two own rooms');
  assert.ok(m1.roomcast_bytes_received_total > m0.roomcast_bytes_received_total);
  assert.ok(m1.roomcast_bytes_sent_total > m0.roomcast_bytes_sent_total);
  a.disconnect();
  b.disconnect();
  c.disconnect();
  await d.waitIdle();
  const { m: m2 } = await scrape(d.port);
  assert.equal(m2['roomcast_namespace_sockets{namespace="/chat"}'], 0);
  assert.equal(m2['roomcast_namespace_rooms{namespace="/chat"}'], 0);

  await new Promise((r) => setTimeout(r, 600));
  const { m: m3 } = await scrape(d.port);
  const count = m3.roomcast_event_loop_lag_seconds_count;
  assert.ok(count >= m0.roomcast_event_loop_lag_seconds_count + 2, `lag sampled: ${count}`);
  assert.equal(m3['roomcast_event_loop_lag_seconds_bucket{le="+Inf"}'], count);
  const buckets = Object.keys(m3).filter((k) => k.startsWith('roomcast_event_loop_lag_seconds_bucket'));
  assert.equal(buckets.length, 11);
  for (let i = 1; i < buckets.length; i++) assert.ok(m3[buckets[i]] >= m3[buckets[i - 1]], 'cumulative');
  assert.ok(m3.roomcast_event_loop_lag_seconds_sum >= 0 && m3.roomcast_event_loop_lag_seconds_sum < count);
  await d.stop();
});
