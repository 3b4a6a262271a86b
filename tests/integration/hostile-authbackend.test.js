// hostile-authbackend.test.js - what an attacker can make roomcastd hold with
// `auth backend` (issue #12), on one roomcastd with a real redis-server and no
// worker at all, so that every CONNECT to the namespace waits. Covers: 200
// sessions each sending one CONNECT with a 6K auth payload: at most
// max_pending_connects (50) wait, the rest are refused at once with "too many
// connects waiting" and counted, and the room traffic of namespace "/" (with
// a new client) goes on; a session that repeats its CONNECT while the first
// waits is closed as a protocol error (one wait per namespace of a session);
// once the sessions close every wait is freed. RSS and descriptors before,
// at peak and after (hostile-common.js), on a second round after a first
// that warms the allocator up. With max_pending_connects_per_ip (#19), one
// address (127.0.0.2) holds that many waits and its next CONNECTs are refused
// at once, counted, while 127.0.0.1 still waits; a wait that ends frees its
// slot, once.
// roomcastd only: the reference server has no backend stream.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');
const { sampler, delta, servedNow } = require('./hostile-common');

const skip = h.REFERENCE && 'roomcastd\'s auth backend';
const RAW = `
namespace / {
    client_join           *
    relay                 yes
}
namespace /gate {
    auth                  backend
}
`;
const PENDING = 50;
const SESSIONS = 200;

let r;
let d;
before(async () => {
  if (skip) return;
  r = await h.startRedis();
  d = await h.startClusterDaemon(r, {
    raw: RAW, config: { backend_stream: 'rc:gate', max_pending_connects: PENDING, auth_backend_timeout: '1h' },
  });
});
after(async () => {
  if (d) d.kill();
  if (r) await r.close();
});

/** SESSIONS raw sessions, each with one CONNECT to /gate sent. */
async function attack(auth) {
  const sessions = [];
  const refusedReplies = [];
  for (let i = 0; i < SESSIONS; i++) {
    const { ws } = await h.wsSession(d.port);
    sessions.push(ws);
    ws.sendText(`40/gate,${auth}`);
    if (i >= PENDING) refusedReplies.push(ws.text());
  }
  return { sessions, replies: await Promise.all(refusedReplies) };
}

async function closeAll(sessions) {
  for (const ws of sessions) ws.destroy();
  await h.waitFor(async () => {
    const m = await d.metrics();
    return m.roomcast_connects_pending === 0 && m.roomcast_sessions_current === 0;
  }, { what: 'every wait freed' });
}

test(`${SESSIONS} sessions with one waiting CONNECT each: ${PENDING} wait, the rest refused and counted, memory back`, { skip }, async (t) => {
  const auth = JSON.stringify({ pad: 'x'.repeat(6000) });
  // A first round warms the allocator and the tables up; the second is measured.
  await closeAll((await attack(auth)).sessions);
  const m0 = await d.metrics();
  const s = sampler(d);
  const { sessions, replies } = await attack(auth);
  for (const reply of replies) {
    assert.equal(reply, '44/gate,{"message":"too many connects waiting"}');
  }
  let m = await d.metrics();
  assert.equal(m.roomcast_connects_pending, PENDING);
  assert.equal(delta(m0, m, 'auth_refused_total{reason="too_many_connects_waiting"}'), SESSIONS - PENDING);
  assert.equal(delta(m0, m, 'auth_refused_total{reason="backend_did_not_answer"}'), 0);
  await servedNow(d.port);

  // The first session repeats its CONNECT while it waits: a protocol error.
  const errors = m.roomcast_sio_protocol_errors_total || 0;
  sessions[0].sendText(`40/gate,${auth}`);
  await h.waitFor(async () => (await d.metrics()).roomcast_sio_protocol_errors_total === errors + 1, { what: 'repeat CONNECT refused' });
  await h.waitFor(async () => (await d.metrics()).roomcast_connects_pending === PENDING - 1, { what: 'its wait freed' });

  await closeAll(sessions);
  await s.finish(t, `${SESSIONS} sessions, ${PENDING} waiting CONNECTs of 6K`);
});

const PER_IP = 10;
const ATTACKER = '127.0.0.2';

test(`max_pending_connects_per_ip ${PER_IP}: one address holds ${PER_IP} waits, its next CONNECTs are refused, another address still waits`, { skip }, async (t) => {
  const d2 = await h.startClusterDaemon(r, {
    raw: RAW, config: { backend_stream: 'rc:gate2', max_pending_connects: PENDING, max_pending_connects_per_ip: PER_IP, auth_backend_timeout: '1h' },
  });
  t.after(() => d2.kill());
  const auth = JSON.stringify({ pad: 'x'.repeat(6000) });
  const sessions = [];
  t.after(() => sessions.forEach((ws) => ws.destroy()));
  const waiting = (n) => h.waitFor(async () => (await d2.metrics()).roomcast_connects_pending === n, { what: `${n} CONNECTs waiting` });
  /** One session from <from> sending a CONNECT to /gate; the refusal it reads, or null if it waits. */
  const connectFrom = async (from, expectRefused) => {
    const { ws } = await h.wsSession(d2.port, { localAddress: from });
    sessions.push(ws);
    ws.sendText(`40/gate,${auth}`);
    return expectRefused ? ws.text() : null;
  };
  const round = async (s) => {
    const m0 = await d2.metrics();
    for (let i = 0; i < PER_IP; i++) await connectFrom(ATTACKER, false);
    await waiting(PER_IP);
    for (let i = 0; i < 2 * PER_IP; i++) {
      assert.equal(await connectFrom(ATTACKER, true), '44/gate,{"message":"too many connects waiting"}', `CONNECT ${PER_IP + i + 1} from one address`);
    }
    if (s) s.take();
    await connectFrom('127.0.0.1', false);
    await waiting(PER_IP + 1); // another address still waits
    await servedNow(d2.port);
    // one of the attacker's waits ends with its session: its slot is usable again, once
    sessions[0].destroy();
    await waiting(PER_IP);
    await connectFrom(ATTACKER, false);
    await waiting(PER_IP + 1);
    assert.equal(await connectFrom(ATTACKER, true), '44/gate,{"message":"too many connects waiting"}', 'past the limit again');
    const m = await d2.metrics();
    assert.equal(delta(m0, m, 'sio_connects_pending_rejected_per_ip_total'), 2 * PER_IP + 1, 'every refusal counted');
    assert.equal(delta(m0, m, 'auth_refused_total{reason="too_many_connects_waiting"}'), 2 * PER_IP + 1);
    sessions.forEach((ws) => ws.destroy());
    sessions.length = 0;
    await waiting(0);
  };
  // A first round warms the allocator and the tables up; the second is measured.
  await round(null);
  const s = sampler(d2);
  await round(s);
  await s.finish(t, `${PER_IP} waiting CONNECTs of 6K from one address, ${2 * PER_IP + 1} refused`);
  await d2.stop('SIGTERM');
});

test('SIGTERM: daemon exits 0', { skip }, async () => {
  await d.stop('SIGTERM');
});
