// leak.test.js - resources come back after many sessions. A round opens 1,000
// concurrent Engine.IO sessions with raw clients (half WebSocket, half
// polling), checks roomcast_sessions_current counts them exactly, has each
// exchange one message and close (WebSocket close 1000; polling POST `1`),
// and waits for roomcast_sessions_current 0 and roomcast_connections_current
// 0 (plus the scrape's own connection). After a warm-up round the daemon's
// open fd count (/proc/PID/fd) and VmRSS are the baseline; after a second
// round the fd count must equal it exactly and VmRSS stay within +4 MiB.
// Against the reference server (Node) the rounds and the session counts run
// but the fd/RSS comparison is skipped: a garbage-collected process has no
// stable baseline; against an ASan build only the fd count is compared.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const N = 1000;
let d;

before(async () => {
  d = await h.startDaemon({ echo: true });
});
after(() => d && d.kill());

async function openWs(i) {
  const s = await h.wsSession(d.port);
  return {
    async exchange() {
      s.ws.sendText(`4ws ${i}`);
      assert.equal(await s.ws.text(), `4ws ${i}`);
      s.ws.sendClose(1000);
      const f = await s.ws.frame();
      assert.equal(f.code, 1000);
      await s.ws.closed();
    },
  };
}

async function openPolling(i) {
  const { sid } = await h.handshake(d.port);
  return {
    async exchange() {
      h.assertPostOk(await h.post(d.port, sid, `4polling ${i}`));
      h.assertPollBody(await h.poll(d.port, sid), `4polling ${i}`);
      h.assertPostOk(await h.post(d.port, sid, '1'));
    },
  };
}

async function round() {
  const sessions = await Promise.all(Array.from({ length: N }, (_, i) => (i % 2 ? openWs(i) : openPolling(i))));
  const m = await d.metrics();
  assert.equal(m.roomcast_sessions_current, N, 'all sessions open at once');
  assert.ok(m.roomcast_connections_current >= N / 2 && m.roomcast_connections_current <= N / 2 + 1,
    `connections while ${N / 2} WebSockets are open: ${m.roomcast_connections_current}`);
  await Promise.all(sessions.map((s) => s.exchange()));
  await d.waitIdle();
}

test(`${N} sessions twice: fd count back to baseline exactly, VmRSS within +4 MiB`, { timeout: 120000 }, async (t) => {
  await round(); // warm-up: allocator arenas, buffers, session tables grow once
  // The baseline once no descriptor of the round is still on its way out
  // (a connection closed after waitIdle() read its metrics): the same count
  // five times 50 ms apart. Taken too early, it counted one more than the
  // daemon holds at rest, and the end looked like a descriptor closed.
  let fd0 = -1;
  let same = 0;
  await h.waitFor(() => {
    const n = d.fdCount();
    same = n === fd0 ? same + 1 : 0;
    fd0 = n;
    return same >= 4;
  }, { interval: 50, what: 'a settled descriptor count' });
  const rss0 = d.rssKiB();
  await round();
  if (h.REFERENCE) return;
  let fd1;
  try {
    // the idle check above already saw 0 connections; fds closed with them
    await h.waitFor(() => (fd1 = d.fdCount()) === fd0, { timeout: 2000, what: 'fd count' });
  } catch (e) { /* asserted below with the numbers */ }
  assert.equal(fd1, fd0, `open fds: baseline ${fd0}, after the second round ${fd1}`);
  const rss1 = d.rssKiB();
  t.diagnostic(`fds ${fd0} -> ${fd1}, VmRSS ${rss0} KiB -> ${rss1} KiB`);
  if (d.sanitized) return t.diagnostic('ASan build: VmRSS not compared (quarantine)');
  assert.ok(rss1 <= rss0 + 4096, `VmRSS: baseline ${rss0} KiB, after ${rss1} KiB (limit +4096)`);
});

h.endTests(() => d, { idle: false });
