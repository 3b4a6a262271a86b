// hostile-peerport.test.js - cluster_listen before the token, and upstreams
// (issue #19).
// Connections on cluster_listen that have not shown the cluster's token are
// anyone's: they hold their own places, cluster_max_unauthenticated (12 here)
// and cluster_max_unauthenticated_per_ip (8), never a client's
// max_connections slot (10 here). An attacker keeps idle connections on A's
// cluster port: from 127.0.0.2 its 9th gets 503 and is closed
// (roomcast_route_unauthenticated_rejected_total); from 127.0.0.3, past 12 in
// all, each new one closes the oldest without a token
// (roomcast_route_unauthenticated_evicted_total), so that B (an
// authenticated peer, not capped) still forwards requests for A's sessions
// on new connections; meanwhile clients still open sessions on A. RSS and
// descriptors of A before, at peak and after (hostile-common.js).
// Upstreams (B's connections to A for forwarded requests) hold no client
// slot either: 20 long-polls held through B (max_connections 30), at
// cluster_max_upstreams 20 the next forwarded request gets 503
// (roomcast_route_upstreams_rejected_total) while B still serves its own
// clients; once they are idle, a relayed upgrade closes one to make room.
// roomcastd only: the reference server has no routing.
'use strict';

const net = require('node:net');
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');
const { sampler, delta } = require('./hostile-common');
const { instances, redis } = require('./routing-common');

const skip = h.REFERENCE && 'roomcastd\'s session routing';
const PER_IP = 8;
const ALL = 12;
const MAX_CONNECTIONS = 10;

/** The cluster_listen port a daemon announced, from its log. */
async function clusterPort(d) {
  const m = await h.waitFor(() => /peers forward to 127\.0\.0\.1:(\d+)/.exec(d.stderr()), { what: 'the announced address' });
  return Number(m[1]);
}

/** An idle connection to <port> from <from>: resolves with it once open. */
function idleFrom(port, from) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1', localAddress: from });
    sock.once('connect', () => { sock.removeListener('error', reject); resolve(new h.RawConn(sock)); });
    sock.once('error', reject);
  });
}

test(`cluster_listen without the token: ${PER_IP} per address (then 503), ${ALL} in all (then the oldest closed); clients and an authenticated peer go on`, { skip }, async (t) => {
  const r = await redis();
  const [A, B] = await instances(r, 2, {
    config: {
      max_connections: MAX_CONNECTIONS, cluster_max_unauthenticated: ALL,
      cluster_max_unauthenticated_per_ip: PER_IP, header_timeout: '1h',
    },
  });
  const port = await clusterPort(A);
  const idle = [];
  t.after(() => idle.forEach((c) => c.destroy()));
  const unauthenticated = (n) => h.waitFor(async () => (await A.metrics()).roomcast_route_unauthenticated === n,
                                           { what: `${n} connections without a token at A` });
  /** Asserts a connection from <from> is refused: 503, then closed. */
  const refused = async (from, what) => {
    const c = await idleFrom(port, from);
    const res = await c.response();
    assert.equal(res.statusLine, 'HTTP/1.1 503 Service Unavailable', `${what}: "${h.show(res.raw)}"`);
    await c.closed();
  };
  const m0 = await A.metrics();
  const s = sampler(A);
  for (let i = 0; i < PER_IP; i++) idle.push(await idleFrom(port, '127.0.0.2'));
  await unauthenticated(PER_IP);
  await refused('127.0.0.2', 'past cluster_max_unauthenticated_per_ip');
  // more idle connections without a token than max_connections: clients still get sessions
  for (let i = 0; i < ALL - PER_IP; i++) idle.push(await idleFrom(port, '127.0.0.3'));
  await unauthenticated(ALL);
  // past the cap in all: the newcomer stays, the oldest without a token goes
  idle.push(await idleFrom(port, '127.0.0.3'));
  await idle[0].closed();
  await unauthenticated(ALL);
  s.take();
  assert.ok(ALL > MAX_CONNECTIONS);
  const sessions = [];
  for (let i = 0; i < 3; i++) sessions.push((await h.handshake(A.port)).sid);
  // B forwards to A on connections of its own: an authenticated peer is not capped
  for (const sid of sessions) h.assertPostOk(await h.post(B.port, sid, '40'), 'CONNECT through B');
  const gets = await Promise.all(sessions.map((sid) => h.poll(B.port, sid)));
  for (const res of gets) assert.match(res.text, /^40\{"sid":"[\w-]{20}"\}$/, 'the CONNECT answer through B');
  const m = await A.metrics();
  assert.ok(m.roomcast_route_unauthenticated < ALL, 'B\'s connections left the count once they showed the token');
  assert.equal(delta(m0, m, 'route_unauthenticated_rejected_total'), 1, 'the refusal counted');
  assert.equal(delta(m0, m, 'route_unauthenticated_evicted_total'), 1 + ALL - m.roomcast_route_unauthenticated,
               'every eviction counted: one by the attacker, one per new connection of B');
  assert.equal(delta(m0, m, 'connections_rejected_total'), 0, 'no client slot taken');
  assert.equal((await B.metrics()).roomcast_route_forward_failures_total || 0, 0);
  idle.forEach((c) => c.destroy());
  await unauthenticated(0);
  await s.finish(t, `${ALL} idle connections without a token on cluster_listen`);
});

const UPSTREAMS = 20;

test(`cluster_max_upstreams ${UPSTREAMS}: forwarded long-polls hold no client slot; past the bound 503, an idle upstream gives way`, { skip }, async (t) => {
  const r = await redis();
  // each held long-poll through B costs B a client connection and an upstream:
  // with both counted in max_connections, B would lock clients out at 15
  const [A, B] = await instances(r, 2, {
    config: { max_connections: 30, cluster_max_upstreams: UPSTREAMS, keepalive_timeout: '1s' },
  });
  const m0 = await B.metrics();
  const s = sampler(B);
  const held = [];
  t.after(() => held.forEach((g) => g.conn.destroy()));
  const sids = [];
  for (let i = 0; i < UPSTREAMS; i++) {
    const { sid } = await h.handshake(A.port);
    sids.push(sid);
    held.push(await h.pendingGet(B.port, sid));
  }
  await h.waitFor(async () => (await B.metrics()).roomcast_route_upstreams === UPSTREAMS,
                  { what: `${UPSTREAMS} long-polls held through B` });
  const { sid: extra } = await h.handshake(A.port);
  const past = await h.poll(B.port, extra);
  assert.equal(past.statusLine, 'HTTP/1.1 503 Service Unavailable', `past the bound: "${h.show(past.raw)}"`);
  s.take();
  // B still serves its own clients and its metrics
  const own = await h.sioConnect(B.port, '/', { transports: ['websocket'] });
  own.disconnect();
  let m = await B.metrics();
  assert.equal(delta(m0, m, 'route_upstreams_rejected_total'), 1, 'the refusal counted');
  assert.equal(delta(m0, m, 'connections_rejected_total'), 0, 'no client refused');
  // the long-polls end (their sessions close at A): their upstreams go idle, kept
  for (const sid of sids) h.assertPostOk(await h.post(A.port, sid, '1'));
  for (const g of held) assert.equal((await g.response).text, '6');
  // an upgrade through B needs a new upstream: an idle one gives way
  const ws = await h.WsConn.connect(B.port, `${h.EIO_PATH}?EIO=4&transport=websocket&sid=${extra}`);
  assert.equal(ws.handshake.status, 101, h.show(ws.handshake.raw));
  ws.sendText('2probe');
  assert.equal(await ws.text(), '3probe');
  m = await B.metrics();
  assert.ok(m.roomcast_route_upstreams <= UPSTREAMS, `upstreams ${m.roomcast_route_upstreams}`);
  assert.equal(delta(m0, m, 'route_upstreams_rejected_total'), 1, 'nothing refused while idle ones can go');
  ws.destroy();
  held.forEach((g) => g.conn.destroy());
  await h.waitFor(async () => (await B.metrics()).roomcast_route_upstreams === 0,
                  { what: 'B\'s upstreams closed (keepalive_timeout at A)' });
  await s.finish(t, `${UPSTREAMS} forwarded long-polls through one instance`);
});
