// drain.test.js - SIGTERM moves clients off gradually (issue #13), and
// what the daemon tells systemd, on roomcastd with official clients over
// WebSocket and polling and a notify socket. Covers: READY=1 at start,
// RELOADING=1 then READY=1 around a SIGHUP; at SIGTERM, STOPPING=1, the
// listeners closed at once (a new client is refused), sessions closed in
// batches spread over drain_timeout as transport closes ("transport close"
// at the client, which reconnects elsewhere), STATUS= lines counting down,
// exit 0; a second SIGTERM closes every session at once and exits.
// roomcastd only: the reference server closes everything at once.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const h = require('./harness');

const skip = h.REFERENCE && 'roomcastd\'s drain';

/** N official clients (half polling) that record when and why they were disconnected. */
async function clients(port, n) {
  const list = await Promise.all(Array.from({ length: n }, async (_, i) => {
    const s = await h.sioConnect(port, '/', { transports: [i % 2 ? 'polling' : 'websocket'], reconnection: false });
    s.gone = null;
    s.on('disconnect', (reason) => { s.gone = { at: Date.now(), reason }; });
    return s;
  }));
  return list;
}

const refused = (port) => new Promise((resolve) => {
  const c = net.connect(port, '127.0.0.1');
  c.on('connect', () => { c.destroy(); resolve(false); });
  c.on('error', (e) => resolve(e.code === 'ECONNREFUSED'));
});

test('READY at start, RELOADING then READY around a reload', { skip }, async () => {
  const n = await h.notifySocket();
  const d = await h.startDaemon({ sio: true, env: { NOTIFY_SOCKET: n.path } });
  try {
    await h.waitFor(() => n.messages.some((m) => m.fields.READY === '1'), { what: 'READY=1' });
    const before = n.messages.length;
    d.child.kill('SIGHUP');
    await h.waitFor(() => n.messages.length >= before + 2, { what: 'two more notify messages' });
    assert.deepEqual(n.messages.slice(before).map((m) => m.fields), [{ RELOADING: '1' }, { READY: '1' }]);
    await d.stop();
  } finally {
    d.kill();
    n.close();
  }
});

test('SIGTERM moves 60 clients off in batches over drain_timeout, then exits 0', { skip }, async () => {
  const n = await h.notifySocket();
  const d = await h.startDaemon({ sio: true, config: { drain_timeout: '2s' }, env: { NOTIFY_SOCKET: n.path } });
  try {
    const list = await clients(d.port, 60);
    const t0 = Date.now();
    d.child.kill('SIGTERM');
    await h.waitFor(() => n.messages.some((m) => m.fields.STOPPING === '1'), { what: 'STOPPING=1' });
    assert.ok(await refused(d.port), 'no new connection once draining');
    const exit = await Promise.race([d.exited, new Promise((r) => setTimeout(() => r(null), 8000))]);
    assert.deepEqual(exit, { code: 0, signal: null }, `exit; stderr:\n${d.stderr()}`);
    await h.waitFor(() => list.every((s) => s.gone), { what: 'every client disconnected' });
    assert.deepEqual([...new Set(list.map((s) => s.gone.reason))], ['transport close'],
      'a transport close: the official client reconnects');
    const after = list.map((s) => s.gone.at - t0).sort((a, b) => a - b);
    // 60 sessions over 2 s in 100 ms ticks: 3 a tick; the last batch at 1.9 s
    assert.ok(after[0] < 1000, `first closed at ${after[0]} ms`);
    assert.ok(after[after.length - 1] >= 1300, `last closed at ${after[after.length - 1]} ms, not all at once`);
    const maxInWindow = Math.max(...after.map((t) => after.filter((u) => u >= t && u < t + 100).length));
    assert.ok(maxInWindow <= 12, `${maxInWindow} closed within 100 ms (batches of 3)`);
    const status = n.messages.filter((m) => m.fields.STATUS).map((m) => Number(/(\d+) sessions to move/.exec(m.fields.STATUS)[1]));
    assert.ok(status.length >= 10, `${status.length} STATUS lines`);
    for (let i = 1; i < status.length; i++) assert.ok(status[i] <= status[i - 1], `STATUS counts down: ${status}`);
    assert.match(d.stderr(), /stopping on signal 15: moving 60 sessions off over 2000 ms/);
  } finally {
    d.kill();
    n.close();
  }
});

test('a second SIGTERM closes every session at once', { skip }, async () => {
  const d = await h.startDaemon({ sio: true, config: { drain_timeout: '60s' } });
  try {
    const list = await clients(d.port, 20);
    d.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(list.some((s) => !s.gone), 'still draining after 300 ms of 60 s');
    const t1 = Date.now();
    d.child.kill('SIGTERM');
    const exit = await Promise.race([d.exited, new Promise((r) => setTimeout(() => r(null), 5000))]);
    assert.deepEqual(exit, { code: 0, signal: null }, `exit; stderr:\n${d.stderr()}`);
    assert.ok(Date.now() - t1 < 2000, `exited ${Date.now() - t1} ms after the second signal`);
    await h.waitFor(() => list.every((s) => s.gone), { what: 'every client disconnected' });
    assert.match(d.stderr(), /signal 15 again: closing every session now/);
  } finally {
    d.kill();
  }
});
