// hostile-json.test.js - JSON a hostile client (or a Redis publisher) sends
// cannot make roomcastd hold many times its size (issue #11, attack 1).
// Before: a 990 KB CONNECT auth of `[],[],...` took RSS from 5 MB to 52 MB
// and kept it for the socket's life; a binary header whose attachments never
// come kept its parsed tree (46 MB a client) until the session ended.
// Each attack is played by 20 raw WebSocket clients at once, while two
// well-behaved official clients in room "r" relay numbered events to each
// other (hostile-common.js roomWatch); every one must arrive, in order. For
// each attack the daemon's VmRSS and descriptors are read before, at the
// peak (sampled every 5 ms: a parse is a short spike) and after, printed as
// diagnostics, and bounded:
// - CONNECT or EVENT JSON past max_json_expansion (default 32): the session
//   is closed, counted in sio_json_too_costly_total; peak RSS stays within
//   the attackers' own message buffers plus one parse budget;
// - a CONNECT auth longer than max_auth_size: CONNECT_ERROR
//   `44{"message":"auth too large"}`, the session stays, nothing is kept;
// - binary headers waiting for their attachments with a tree 22x their
//   size: the daemon holds about their text (20 x 0.9 MB), not the trees;
// - a plain JSON emit from Redis past the budget (its own daemon and
//   redis-server): dropped and counted, a normal emit after it delivered.
// After each attack RSS comes back within 2 MB of where it was (the
// periodic malloc_trim), and descriptors exactly. RSS bounds are skipped on
// the ASan build (its allocator keeps freed memory in quarantine); the
// descriptor counts and every answer are checked on both.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');
const { RAW_ROOM, roomWatch, sampler, delta } = require('./hostile-common');

const ATTACKERS = 20;
const MIB = 1024;                  // KiB per MiB, for rssKiB() numbers
const NEAR_TEXT = 990 * 1000;      // just under max_payload (1e6)
// 20 messages in flight (20 MB) plus one parse budget (64K + 32 x 990K)
const FLOOD_BOUND = 20 * MIB + 32 * MIB + 16 * MIB;

let d;
const open = h.trackedClients();

before(async () => {
  d = await h.startDaemon({ sio: true, raw: RAW_ROOM });
});
after(() => d && d.kill());

/** `<head><unit>,<unit>,...<tail>` of about `size` bytes. */
function flood(head, unit, tail, size) {
  const n = Math.floor((size - head.length - tail.length) / (unit.length + 1));
  return head + Array(n).fill(unit).join(',') + tail;
}

/** `n` raw WebSocket Engine.IO sessions, optionally connected to "/". */
async function sessions(n, { connect = false } = {}) {
  return Promise.all(Array.from({ length: n }, () => (connect ? h.sioWs(d.port) : h.wsSession(d.port))));
}

/** Reads frames until the close frame; resolves once the server closed the TCP connection. */
async function expectClosed(ws) {
  for (;;) {
    const f = await ws.frame();
    if (f.opcode === 8) break;
  }
  await ws.closed();
}

/**
 * Runs `run` (which may return a cleanup) while the room's traffic goes on
 * and RSS is sampled every 5 ms (a parse is a short spike); then checks the
 * room got everything, the peak stayed within `bound` KiB and RSS and
 * descriptors came back.
 */
async function attack(t, name, bound, run) {
  const watch = await roomWatch(d.port);
  const s = sampler(d, { intervalMs: 5 });
  const cleanup = await run();
  s.take();
  await watch.stop();
  if (cleanup) await cleanup();
  await d.waitIdle();
  await s.finish(t, name, { fdSlack: 0 });
  if (!d.sanitized) assert.ok(s.peak.rss - s.before.rss <= bound, `${name}: peak VmRSS +${s.peak.rss - s.before.rss} KiB, bound ${bound} KiB`);
}

test('CONNECT auth of [],[],... past max_json_expansion: session closed, counted, nothing kept', async (t) => {
  const m0 = await d.metrics();
  const text = '40' + flood('{"a":[', '[]', ']}', NEAR_TEXT);
  // 20 messages in flight (20 MB) plus one parse budget (64K + 32 x 990K)
  await attack(t, 'auth [],[],...', FLOOD_BOUND, async () => {
    const list = await sessions(ATTACKERS);
    for (const { ws } of list) ws.sendText(text);
    await Promise.all(list.map(({ ws }) => expectClosed(ws)));
  });
  const m1 = await d.metrics();
  assert.equal(delta(m0, m1, 'sio_json_too_costly_total'), ATTACKERS);
});

test('EVENT of [{},{},...] past max_json_expansion: session closed, counted', async (t) => {
  const m0 = await d.metrics();
  const text = flood('42["x",', '{}', ']', NEAR_TEXT);
  await attack(t, 'event {},{},...', FLOOD_BOUND, async () => {
    const list = await sessions(ATTACKERS, { connect: true });
    for (const { ws } of list) ws.sendText(text);
    await Promise.all(list.map(({ ws }) => expectClosed(ws)));
  });
  const m1 = await d.metrics();
  assert.equal(delta(m0, m1, 'sio_json_too_costly_total'), ATTACKERS);
});

test('CONNECT auth past max_auth_size: CONNECT_ERROR "auth too large", the session stays, nothing kept', async (t) => {
  const m0 = await d.metrics();
  const text = `40{"t":"${'x'.repeat(NEAR_TEXT)}"}`;
  let list;
  await attack(t, 'auth too large', FLOOD_BOUND, async () => {
    list = await sessions(ATTACKERS);
    for (const { ws } of list) ws.sendText(text);
    for (const { ws } of list) assert.equal(await ws.text(), '44{"message":"auth too large"}');
    // still open: a CONNECT within the limit now succeeds on the same session
    list[0].ws.sendText('40{"t":"ok"}');
    assert.match(await list[0].ws.text(), /^40\{"sid":"[\w-]{20}"\}$/);
    return async () => { for (const { ws } of list) ws.destroy(); };
  });
  const m1 = await d.metrics();
  assert.equal(delta(m0, m1, 'sio_auth_too_large_total'), ATTACKERS);
});

test('binary headers of [1,1,...] waiting for attachments: the daemon holds their text, not their trees', async (t) => {
  // 22x in jansson's trees (20 x 21 MB before #11); the text is 20 x 0.99 MB
  const text = flood('451-["x",{"_placeholder":true,"num":0},', '1', ']', NEAR_TEXT);
  let list;
  let held;
  await attack(t, 'pending binary', 2 * 20 * MIB + 32 * MIB + 16 * MIB, async () => {
    list = await sessions(ATTACKERS, { connect: true });
    const rss0 = d.rssKiB();
    // a WebSocket ping behind each header: its pong says the header was read
    for (const { ws } of list) {
      ws.sendText(text);
      ws.send({ opcode: 9, payload: Buffer.from('fence') });
    }
    for (const { ws } of list) assert.equal((await ws.frame()).opcode, 10, 'pong after the header');
    // the WebSocket buffers the headers came in are free again: once the
    // periodic trim has given them back, what is left is what is held
    const trims = (await d.metrics()).roomcast_memory_trims_total;
    if (!d.sanitized) await h.waitFor(async () => (await d.metrics()).roomcast_memory_trims_total > trims, { what: 'a trim' });
    held = d.rssKiB() - rss0;
    return async () => { for (const { ws } of list) ws.destroy(); };
  });
  t.diagnostic(`pending binary: ${held} KiB held by ${ATTACKERS} pending headers of ${NEAR_TEXT} bytes`);
  if (!d.sanitized) assert.ok(held <= 20 * MIB + 4 * MIB, `held ${held} KiB for ${ATTACKERS} x ${NEAR_TEXT} bytes of headers`);
});

test('plain JSON emit from Redis past max_json_expansion: dropped and counted, the next one delivered', async (t) => {
  const r = await h.startRedis();
  const c = await h.startClusterDaemon(r, { raw: RAW_ROOM });
  try {
    const em = await h.redisEmitter(r);
    const rx = await h.sioRecorded(open, c.port);
    await h.sioJoinAll(rx, ['r']);
    const m0 = await c.metrics();
    const s = sampler(c, { intervalMs: 5 });
    await em.client.publish('roomcast-emit', flood('{"rooms":["r"],"data":["x",', '[]', ']}', NEAR_TEXT));
    await em.client.publish('roomcast-emit', '{"rooms":["r"],"data":["after",1]}');
    await h.waitFor(() => rx.got.length === 1, { what: 'the emit after the dropped one' });
    assert.deepEqual(rx.got, [['after', 1]]);
    const m1 = await c.metrics();
    assert.equal(delta(m0, m1, 'cluster_bad_messages_total'), 1);
    assert.equal(delta(m0, m1, 'cluster_json_emits_total'), 1);
    await s.finish(t, 'plain JSON emit of [],[],... from Redis', { fdSlack: 0 });
    // the message as Redis sent it (1 MB, twice: reader and reply) and one budget
    if (!c.sanitized) assert.ok(s.peak.rss - s.before.rss <= 2 * MIB + 32 * MIB + 8 * MIB);
    rx.disconnect();
    await c.waitIdle();
    await c.stop();
  } finally {
    c.kill();
    await r.close();
  }
});

h.endTests(() => d, { clients: open });
