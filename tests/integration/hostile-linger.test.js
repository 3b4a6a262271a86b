// hostile-linger.test.js - linger_timeout (#11): 20 WebSocket members of a
// room stop reading while the room's traffic fills their socket buffers and
// then their output queue; they miss their pongs, so their sessions end by
// ping timeout and the server closes each connection once its output is
// flushed. Since they never read, that never happens: linger_timeout (1s
// here) must reset each one, counted in
// roomcast_connections_linger_expired_total, with descriptors and RSS back
// to where they were. A well-behaved client of the same room receives every
// event throughout, and /healthz and a new client are served.
// roomcastd only: Node has no such bound (its sockets wait for the peer).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');
const { RAW_ROOM, roomWatch, sampler, delta, servedNow } = require('./hostile-common');

const skip = h.REFERENCE && 'roomcastd\'s linger_timeout';
const ATTACKERS = 20;
const EVENTS = 80;              // of 100 KiB: 8 MB per member, more than loopback buffers hold
const PAD = 'x'.repeat(100 * 1024);
const RAW = `
ping_interval 1s
ping_timeout 1s
linger_timeout 1s
max_payload 200000
max_output_buffer 32M
${RAW_ROOM}`;

let d;
before(async () => {
  if (!skip) d = await h.startDaemon({ sio: true, raw: RAW });
});
after(() => d && d.kill());

/** A raw WebSocket member of room "r" (answers nothing: it will stop reading). */
const member = () => h.sioRoomMember(d.port);

test('members that stop reading are reset at linger_timeout after their ping timeout', { skip }, async (t) => {
  const watch = await roomWatch(d.port);
  t.after(() => watch.clients.forEach((c) => c.disconnect()));
  const m0 = await d.metrics();
  const s = sampler(d);
  const attackers = [];
  for (let i = 0; i < ATTACKERS; i++) attackers.push(await member());
  t.after(() => attackers.forEach((a) => a.ws.destroy()));
  attackers.forEach((a) => a.ws.conn.sock.pause());
  const tx = await h.sioConnect(d.port, '/', { transports: ['websocket'] });
  t.after(() => tx.disconnect());
  assert.deepEqual(await h.sioAck(tx, 'join', 'r'), ['ok']);
  for (let i = 0; i < EVENTS; i++) {
    assert.deepEqual(await h.sioAck(tx, 'big', i, PAD), [], `ack of big event ${i}`);
    if (i % 20 === 0) await watch.waitProgress();
  }
  s.take();
  await servedNow(d.port);
  await watch.waitProgress();
  const m = await h.waitFor(async () => {
    const now = await d.metrics();
    return delta(m0, now, 'connections_linger_expired_total') >= ATTACKERS && now;
  }, { what: `${ATTACKERS} lingering connections reset` });
  assert.equal(delta(m0, m, 'connections_linger_expired_total'), ATTACKERS);
  assert.equal(delta(m0, m, 'engine_ping_timeouts_total'), ATTACKERS);
  assert.equal(delta(m0, m, 'output_overflow_total'), 0, 'no member passed max_output_buffer');
  await watch.waitProgress();
  await watch.stop();
  tx.disconnect();
  // 8 MB of frames per member went through malloc's heap; the periodic
  // trim gives it back (the old behaviour held ~3.5 MB per member for good)
  await s.finish(t, `${ATTACKERS} non-reading members after their ping timeout`);
});

if (!skip) h.endTests(() => d);
