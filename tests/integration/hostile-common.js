// hostile-common.js - what the hostile-*.test.js files share:
//  - roomWatch(): two well-behaved official Socket.IO clients (WebSocket) in
//    room "r" of namespace `/` (the files configure `client_join *` and
//    `relay yes`), one emitting numbered events with an ack, the other
//    checking it receives every one, in order, for as long as an attack runs;
//  - sampler(): the daemon's RSS (KiB) and descriptor count before, at peak
//    (highest sample taken while the attack runs, every 50 ms or as asked)
//    and after, printed with t.diagnostic() for the lead's table, and the
//    "back to before" checks, waiting for them (descriptors close as
//    connections are reaped; the periodic malloc_trim gives RSS back within
//    a few seconds): descriptors always, RSS only without ASan, whose
//    quarantine keeps freed memory.
'use strict';

const assert = require('node:assert/strict');
const h = require('./harness');

const RAW_ROOM = `
namespace / {
    client_join           *
    relay                 yes
}
`;

/**
 * Starts the room's traffic; returns {waitProgress(), stop(), clients}.
 * waitProgress() resolves once one more event has gone through (the room is
 * served now); stop() ends the traffic and asserts every event arrived.
 */
async function roomWatch(port) {
  const tx = await h.sioConnect(port, '/', { transports: ['websocket'] });
  const rx = await h.sioConnect(port, '/', { transports: ['websocket'] });
  for (const s of [tx, rx]) assert.deepEqual(await h.sioAck(s, 'join', 'r'), ['ok']);
  const got = [];
  rx.on('m', (i) => got.push(i));
  let sent = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      sent++;
      assert.deepEqual(await h.sioAck(tx, 'm', sent), [], `ack of event ${sent}`);
      await h.waitFor(() => got.length >= sent, { what: `event ${sent} at the room's reader` });
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    clients: [tx, rx],
    async waitProgress() {
      const mark = got.length;
      await h.waitFor(() => got.length > mark, { what: 'the room to carry one more event' });
    },
    async stop() {
      stopped = true;
      await loop;
      assert.deepEqual(got, Array.from({ length: sent }, (_, i) => i + 1), 'every event, in order');
      tx.disconnect();
      rx.disconnect();
      return sent;
    },
  };
}

/** RSS and descriptors of <d>: before, highest while sampling, after. */
function sampler(d, { intervalMs = 50 } = {}) {
  const sample = () => ({ rss: d.rssKiB(), fds: d.fdCount() });
  const s = { before: sample(), peak: null, after: null, timer: null };
  s.peak = { ...s.before };
  s.take = () => {
    const now = sample();
    s.peak.rss = Math.max(s.peak.rss, now.rss);
    s.peak.fds = Math.max(s.peak.fds, now.fds);
    return now;
  };
  s.timer = setInterval(() => {
    try {
      s.take();
    } catch {
      clearInterval(s.timer); // the daemon is gone: its test has failed already
    }
  }, intervalMs);
  s.timer.unref(); // a failed test must not keep node running
  /** Stops sampling, waits for descriptors and RSS to come back, prints, checks. */
  s.finish = async (t, what, { fdSlack = 4, rssSlackKiB = 2048 } = {}) => {
    clearInterval(s.timer);
    s.take();
    const back = (now) => now.fds <= s.before.fds + fdSlack &&
      (d.sanitized || now.rss <= s.before.rss + rssSlackKiB);
    try {
      await h.waitFor(() => back(s.after = sample()), { what: 'descriptors and RSS back' });
    } catch (e) { /* asserted below, with the numbers */ }
    t.diagnostic(`${what}: RSS KiB before ${s.before.rss} peak ${s.peak.rss} after ${s.after.rss}; ` +
                 `fds before ${s.before.fds} peak ${s.peak.fds} after ${s.after.fds}` +
                 (d.sanitized ? ' (ASan build: RSS not compared)' : ''));
    assert.ok(s.after.fds <= s.before.fds + fdSlack, `fds after ${s.after.fds}, before ${s.before.fds}`);
    if (!d.sanitized) {
      assert.ok(s.after.rss <= s.before.rss + rssSlackKiB,
                `RSS after ${s.after.rss} KiB, before ${s.before.rss} KiB`);
    }
    return s;
  };
  return s;
}

/** The change of counter <name> between two /metrics scrapes. */
function delta(before, now, name) {
  return (now[`roomcast_${name}`] || 0) - (before[`roomcast_${name}`] || 0);
}

/** /healthz answers 200 and a new official client connects, now. */
async function servedNow(port) {
  assert.equal((await h.request(port, { path: '/healthz' })).status, 200, '/healthz during the attack');
  const s = await h.sioConnect(port, '/', { transports: ['websocket'] });
  s.disconnect();
}

module.exports = { RAW_ROOM, roomWatch, sampler, delta, servedNow };
