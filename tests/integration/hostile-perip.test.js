// hostile-perip.test.js - max_connections_per_ip (#11, #19). With
// max_connections_per_ip 50, an attacker whose connections come from
// 127.0.0.2 (bound as their local address) keeps 50 keep-alive connections
// open: its 51st gets
// `503 Service Unavailable` and is closed, counted in
// roomcast_connections_rejected_per_ip_total, while 127.0.0.1 (/healthz,
// /metrics, a new client and a room's traffic) is served. The count is exact
// across close paths: a slot freed by the client closing, by a
// Connection: close answer, by a 400 for a bad request and by
// header_timeout is usable again, once each, and the next one past the
// limit is refused again. The per-address count of IPv4-mapped IPv6 peers
// cannot be played here (listeners are IPV6_V6ONLY); src/net/server.c keeps
// IPv4 in that form so both share one count. Sessions count too (#19): one
// keep-alive connection from 127.0.0.2 opens 50 polling sessions, its 51st
// handshake gets 503 (roomcast_sessions_rejected_per_ip_total) while
// 127.0.0.1 opens sessions and the room goes on; a session it closes frees
// its slot, once.
// roomcastd only: Node has no per-address limit.
'use strict';

const net = require('node:net');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');
const { RAW_ROOM, roomWatch, sampler, delta, servedNow } = require('./hostile-common');

const skip = h.REFERENCE && 'Node has no per-address limit';
const LIMIT = 50;
const ATTACKER = '127.0.0.2';

let d;
let refusals = 0; // 503s the attacker has seen
before(async () => {
  if (skip) return;
  d = await h.startDaemon({ sio: true, config: { max_connections_per_ip: LIMIT, header_timeout: '1s' }, raw: RAW_ROOM });
});
after(() => d && d.kill());

/** A raw connection from the attacker's address. */
function connectFromAttacker() {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port: d.port, host: '127.0.0.1', localAddress: ATTACKER });
    sock.once('connect', () => { sock.removeListener('error', reject); resolve(new h.RawConn(sock)); });
    sock.once('error', reject);
  });
}

/** A keep-alive connection from the attacker with one request answered; false if refused. */
async function accepted() {
  const c = await connectFromAttacker();
  c.write(h.buildRequest({ port: d.port, path: '/healthz' }));
  const r = await c.response();
  if (r.status === 200) return c;
  assert.equal(r.statusLine, 'HTTP/1.1 503 Service Unavailable', `"${h.show(r.raw)}"`);
  await c.closed();
  refusals++;
  return false;
}

/** Asserts the attacker's next connection is refused with 503 and closed. */
async function refused(what) {
  const c = await accepted();
  if (c) c.destroy();
  assert.equal(c, false, `${what}: a connection past the limit is refused`);
}

test(`one address keeps ${LIMIT} connections; the ${LIMIT + 1}st gets 503; slots freed by every close path are reused exactly`, { skip }, async (t) => {
  const watch = await roomWatch(d.port);
  t.after(() => watch.clients.forEach((c) => c.disconnect()));
  const m0 = await d.metrics();
  const s = sampler(d);
  const conns = [];
  t.after(() => conns.forEach((c) => c.destroy()));
  for (let i = 0; i < LIMIT; i++) {
    const c = await accepted();
    assert.ok(c, `connection ${i + 1} of ${LIMIT} accepted`);
    conns.push(c);
  }
  await refused('at the limit');
  s.take();
  await servedNow(d.port);
  await watch.waitProgress();

  const closePaths = {
    'the client closes': async (c) => { c.destroy(); },
    'a Connection: close answer': async (c) => {
      c.write(h.buildRequest({ port: d.port, path: '/healthz', headers: { Connection: 'close' } }));
      assert.equal((await c.response()).status, 200);
      await c.closed();
    },
    'a 400 for a bad request': async (c) => {
      c.write('BREW /pot HTTP/1.1\r\n\r\n');
      assert.equal((await c.response()).status, 400);
      await c.closed();
    },
    'header_timeout': async (c) => {
      c.write('GET /healthz HTTP/1.1\r\n');
      assert.equal((await c.response()).status, 408);
      await c.closed();
    },
  };
  for (const [path, close] of Object.entries(closePaths)) {
    await close(conns.shift());
    const c = await h.waitFor(() => accepted(), { what: `the slot freed by ${path}` });
    conns.push(c);
    await refused(`after ${path}`);
  }
  const m = await d.metrics();
  // one refusal at the limit and one after each reuse, plus any retry made
  // before the server had seen a close
  assert.ok(refusals >= 1 + Object.keys(closePaths).length);
  assert.equal(delta(m0, m, 'connections_rejected_per_ip_total'), refusals, 'every refusal counted');
  assert.equal(delta(m0, m, 'connections_rejected_total'), 0, 'max_connections itself never tripped');
  conns.forEach((c) => c.destroy());
  conns.length = 0;
  // all gone: the address's entry is freed and a full set is accepted again
  await h.waitFor(async () => (await d.metrics()).roomcast_connections_current <= 3,
                  { what: 'the attacker\'s connections closed' });
  for (let i = 0; i < LIMIT; i++) conns.push(await accepted());
  assert.ok(conns.every(Boolean), `${LIMIT} accepted again`);
  await refused('the second round');
  conns.forEach((c) => c.destroy());
  await watch.waitProgress();
  await watch.stop();
  await s.finish(t, `${LIMIT} connections from one address`);
});

/** A polling handshake on the attacker's keep-alive connection <c>: its sid, or false if refused 503. */
async function sessionOn(c) {
  c.write(h.buildRequest({ port: d.port, path: h.q('&t=P1') }));
  const r = await c.response();
  if (r.status === 503) return false;
  assert.equal(r.status, 200, `"${h.show(r.raw)}"`);
  return JSON.parse(r.text.slice(1)).sid;
}

/** Closes session <sid> as a client does (POST `1`) on the attacker's connection <c>. */
async function closeSessionOn(c, sid) {
  c.write(h.buildRequest({ port: d.port, method: 'POST', path: h.pollPath(sid), body: '1', headers: { 'Content-Type': 'text/plain;charset=UTF-8' } }));
  h.assertPostOk(await c.response());
}

test(`one address with one keep-alive connection holds ${LIMIT} sessions; the ${LIMIT + 1}st handshake gets 503; a closed session frees its slot`, { skip }, async (t) => {
  const watch = await roomWatch(d.port);
  t.after(() => watch.clients.forEach((c) => c.disconnect()));
  const m0 = await d.metrics();
  const s = sampler(d);
  const c = await connectFromAttacker();
  t.after(() => c.destroy());
  const sids = [];
  for (let i = 0; i < LIMIT; i++) {
    const sid = await sessionOn(c);
    assert.ok(sid, `session ${i + 1} of ${LIMIT} opened`);
    sids.push(sid);
  }
  assert.equal(await sessionOn(c), false, 'a handshake past the limit is refused');
  s.take();
  await servedNow(d.port); // another address still opens sessions
  await watch.waitProgress();
  await closeSessionOn(c, sids.shift());
  const again = await sessionOn(c);
  assert.ok(again, 'the slot of a closed session is usable again');
  sids.push(again);
  assert.equal(await sessionOn(c), false, 'and the next one past the limit is refused again');
  const m = await d.metrics();
  assert.equal(delta(m0, m, 'sessions_rejected_per_ip_total'), 2, 'every refusal counted');
  assert.equal(delta(m0, m, 'connections_rejected_total'), 0, 'max_connections itself never tripped');
  for (const sid of sids) await closeSessionOn(c, sid);
  c.destroy();
  await h.waitFor(async () => (await d.metrics()).roomcast_sessions_current <= 2,
                  { what: 'the attacker\'s sessions closed' });
  await watch.waitProgress();
  await watch.stop();
  await s.finish(t, `${LIMIT} sessions from one address`);
});

if (!skip) h.endTests(() => d);
