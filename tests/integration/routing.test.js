// routing.test.js - no sticky sessions (issue #14): with cluster_listen and
// cluster_secret_file, any request of a session may land on any instance.
// Covers, for real: HAProxy `balance roundrobin` and nginx without a hash
// (the shipped examples with their stickiness taken out) in front of two
// roomcastd, and two and three roomcastd processes on one port with
// reuseport and no balancer: polling-only, polling-then-upgrade and
// WebSocket-only official clients connect, join a room, exchange acked
// events and receive backend broadcasts for ROUTING_SOAK_MS (60 s) with
// no transport error and nothing missing; every upgrade completes.  Then,
// request by request: a GET and a POST for A's session sent to B are
// forwarded; an upgrade for A's session sent to B is relayed (probe, `5`,
// then Socket.IO over the WebSocket); a forged sid and a valid sid of an
// instance that does not exist get code 1 without any forwarding;
// cluster_listen refuses requests without the cluster's token and
// handshakes; announcements without the secret's MAC are dropped; A killed with SIGKILL: a request for its session through B
// fails within a second with code 1 and its official clients reconnect to
// B.  Bounds: 300 long-polls held through B cost B two descriptors each
// and nothing once their clients vanish, and each vanished client's
// session at A ends as a direct abort would end it.
// roomcastd only: the reference server has no routing.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const skip = h.REFERENCE && 'roomcastd\'s session routing';
const SOAK_MS = Number(process.env.ROUTING_SOAK_MS || 60000);
const RAW = 'namespace / {\n    client_join *\n    relay yes\n}\n';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-route-'));
const SECRET = crypto.randomBytes(32).toString('base64');
const SECRET_FILE = path.join(tmp, 'cluster.secret');
fs.writeFileSync(SECRET_FILE, `${SECRET}\n`, { mode: 0o600 });
const ROUTED = { cluster_listen: '127.0.0.1:0', cluster_secret_file: SECRET_FILE, drain_timeout: '0ms' };

const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const example = (name) => fs.readFileSync(path.join(h.REPO, 'conf', name), 'utf8');
const metricsAt = async (port) => h.parseMetrics((await h.request(port, { path: '/metrics', waitClose: true })).text);

/** The secret's 30-bit MAC of a sid's first 15 characters (sid.h). */
function sidFor(instance, random) {
  const mac = crypto.createHmac('sha256', SECRET).update(`sid:${instance}${random}`).digest();
  return `${instance}${random}${mac.subarray(0, 4).toString('base64url').slice(0, 5)}`;
}

/** The cluster_listen address a daemon announced, from its log. */
async function clusterPort(d) {
  const m = await h.waitFor(() => /peers forward to 127\.0\.0\.1:(\d+)/.exec(d.stderr()), { what: 'the announced address' });
  return Number(m[1]);
}

/** Waits until every daemon's peer table holds all the others. */
async function meshed(adminPorts) {
  await h.waitFor(async () => {
    for (const p of adminPorts) if ((await metricsAt(p)).roomcast_route_peers !== adminPorts.length - 1) return false;
    return true;
  }, { what: `${adminPorts.length} instances announced to each other`, timeout: 10000 });
}

/** <n> routed instances on Redis r; each has an admin port for its own metrics. */
async function instances(r, n, { port, reuseport = false, config = {} } = {}) {
  const admins = [];
  for (let i = 0; i < n; i++) admins.push(await h.freePort());
  const shared = reuseport ? port || await h.freePort() : undefined;
  const ds = await h.startAll(admins.map((admin) => h.startClusterDaemon(r, {
    raw: RAW,
    port: shared,
    config: {
      ...ROUTED, admin_listen: `127.0.0.1:${admin}`, ...config,
      ...(reuseport ? { listen: `127.0.0.1:${shared} reuseport` } : {}),
    },
  })));
  ds.forEach((d, i) => { d.admin = admins[i]; d.metrics = () => metricsAt(d.admin); });
  cleanups.push(() => ds.forEach((d) => d.kill()));
  await meshed(admins);
  return ds;
}

function spawnChild(cmd, args) {
  const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  c.stdout.on('data', (x) => { out += x; });
  c.stderr.on('data', (x) => { out += x; });
  c.output = () => out;
  cleanups.push(() => c.kill('SIGKILL'));
  return c;
}

/** The shipped example, with its instances on <a> and <b>, the site on <port>, and <edit> applied. */
function addressed(text, a, b, port, listen, edit) {
  const out = edit(text).replaceAll('127.0.0.1:3001', `127.0.0.1:${a}`).replaceAll('127.0.0.1:3002', `127.0.0.1:${b}`)
    .replace(listen, (m) => m.replace(/:?80\b/, `127.0.0.1:${port}`));
  assert.notEqual(edit(text), text, 'the stickiness was taken out');
  return out;
}

const TOPOLOGIES = {
  async 'HAProxy balance roundrobin'(r) {
    const [A, B] = await instances(r, 2);
    const port = await h.freePort();
    const file = path.join(tmp, `haproxy-${port}.cfg`);
    fs.writeFileSync(file, addressed(example('haproxy.cfg.example'), A.port, B.port, port, /bind :80/,
      (t) => t.replace(/balance source\n\s*hash-type consistent/, 'balance roundrobin')));
    const lb = spawnChild('haproxy', ['-f', file, '-db']);
    return { port, daemons: [A, B], lb };
  },
  async 'nginx round robin'(r) {
    const [A, B] = await instances(r, 2);
    const port = await h.freePort();
    const lb = h.startNginx(addressed(example('nginx.conf.example'), A.port, B.port, port, /listen 80;/,
      (t) => t.replace(/^\s*hash \$remote_addr consistent;\n/m, '')));
    cleanups.push(() => lb.kill('SIGKILL'));
    return { port, daemons: [A, B], lb };
  },
  async 'two processes, reuseport'(r) {
    const daemons = await instances(r, 2, { reuseport: true });
    return { port: daemons[0].port, daemons };
  },
  async 'three processes, reuseport'(r) {
    const daemons = await instances(r, 3, { reuseport: true });
    return { port: daemons[0].port, daemons };
  },
};

const KINDS = [['polling'], ['polling'], ['polling'], ['polling', 'websocket'], ['polling', 'websocket'],
  ['polling', 'websocket'], ['websocket'], ['websocket']];

/** One official client that records what it gets and every failure. */
function soakClient(port, transports, tag) {
  const s = h.sioClient(port, '/', { transports, reconnection: false });
  s.tag = tag;
  s.failures = [];
  s.heard = 0;
  s.news = 0;
  s.on('connect_error', (e) => s.failures.push(`connect_error ${e.message}`));
  s.on('disconnect', (reason) => s.failures.push(`disconnect ${reason}`));
  s.on('msg', () => { s.heard++; });
  s.on('news', () => { s.news++; });
  return s;
}

/** The clients exchange acked events and get broadcasts for <ms>; returns the counts. */
async function soak(port, redis, ms) {
  const clients = KINDS.map((transports, i) => soakClient(port, transports, i));
  try {
    await Promise.all(clients.map((s) => h.sioConnected(s)));
    for (const s of clients) assert.equal(await s.timeout(5000).emitWithAck('join', 'r'), 'ok');
    const upgrading = clients.filter((s) => KINDS[s.tag].length === 2);
    await h.waitFor(() => upgrading.every((s) => s.io.engine.transport.name === 'websocket'), { what: 'every upgrade done' });
    let rounds = 0;
    let acks = 0;
    let news = 0;
    for (const end = Date.now() + ms; Date.now() < end;) {
      rounds++;
      await Promise.all(clients.map(async (s) => { await s.timeout(5000).emitWithAck('msg', s.tag, rounds); acks++; }));
      if (rounds % 4 === 0) {
        news++;
        await redis.publish('roomcast-emit', JSON.stringify({ rooms: ['r'], data: ['news', rounds] }));
      }
      await sleep(200);
    }
    const want = (clients.length - 1) * rounds;
    await h.waitFor(() => clients.every((s) => s.heard === want && s.news === news),
      { what: `${want} events and ${news} broadcasts at every client` });
    const failures = clients.flatMap((s) => s.failures.map((f) => `client ${s.tag}: ${f}`));
    assert.deepEqual(failures, [], 'no transport error, no disconnect');
    assert.ok(clients.every((s) => s.connected), 'all still connected');
    assert.deepEqual(clients.map((s) => s.io.engine.transport.name), KINDS.map((k) => k[k.length - 1]),
      'polling-only clients stayed on polling, the others are on WebSocket');
    return { rounds, acks, clients: clients.length };
  } finally {
    for (const s of clients) s.close();
  }
}

test(`any request on any instance: two balancers without stickiness and 2 or 3 reuseport processes, ${SOAK_MS / 1000} s each`, { skip, timeout: SOAK_MS + 120000 }, async (t) => {
  const runs = Object.entries(TOPOLOGIES).map(async ([name, build]) => {
    const r = await h.startRedis();
    cleanups.push(() => r.close());
    const { port, daemons } = await build(r);
    await h.waitFor(async () => (await h.request(port, { path: '/healthz', waitClose: true }).catch(() => null))?.status === 200,
      { what: `${name} serving on ${port}`, timeout: 15000 });
    const redis = await r.client();
    const res = await soak(port, redis, SOAK_MS);
    const ms = await Promise.all(daemons.map((d) => d.metrics()));
    const sum = (k) => ms.reduce((a, m) => a + (m[k] || 0), 0);
    t.diagnostic(`${name}: ${res.clients} clients, ${res.rounds} rounds, ${res.acks} acks; forwarded ${sum('roomcast_route_forwarded_total')}, `
      + `upgrades relayed ${sum('roomcast_route_relayed_upgrades_total')}, sessions per instance ${ms.map((m) => m.roomcast_engine_sessions_opened_total).join('/')}`);
    assert.equal(res.acks, res.rounds * res.clients);
    assert.ok(sum('roomcast_route_forwarded_total') > 0, `${name}: requests were forwarded`);
    assert.equal(sum('roomcast_route_forward_failures_total'), 0, `${name}: no forward failed`);
    assert.equal(sum('roomcast_engine_transport_errors_total'), 0, `${name}: no transport error`);
    assert.ok(ms.every((m) => m.roomcast_engine_sessions_opened_total > 0), `${name}: every instance held sessions`);
    for (const d of daemons) assert.doesNotMatch(d.stderr(), /unknown session id/, `${name}: no code 1`);
    // a clean exit: under ASan, LeakSanitizer reports at exit
    for (const d of daemons) await d.stop();
  });
  const results = await Promise.allSettled(runs);
  const failed = results.find((x) => x.status === 'rejected');
  if (failed) throw failed.reason;
});

/** Two routed instances on their own ports, meshed. */
async function pair() {
  const r = await h.startRedis();
  cleanups.push(() => r.close());
  const [A, B] = await instances(r, 2);
  return { r, A, B };
}

test('GET and POST for A\'s session sent to B are forwarded; an upgrade sent to B is relayed', { skip }, async () => {
  const { A, B } = await pair();
  const { sid } = await h.handshake(A.port);
  assert.equal(sid.slice(0, 3), /cluster: instance (\S{3}),/.exec(A.stderr())[1], 'the sid names its instance');
  h.assertPostOk(await h.post(B.port, sid, '40'), 'CONNECT through B');
  const connect = await h.poll(B.port, sid);
  assert.equal(connect.status, 200);
  assert.match(connect.text, /^40\{"sid":"[\w-]{20}"\}$/, 'the CONNECT answer through B');
  assert.equal((await B.metrics()).roomcast_route_forwarded_total, 2);
  assert.equal((await A.metrics()).roomcast_sockets_current, 1, 'the socket lives on A');
  // too big for max_payload: refused by B from its head, as A would, nothing forwarded
  const big = await h.request(B.port, { method: 'POST', path: h.pollPath(sid), headers: { 'Content-Length': '2000000', 'Content-Type': 'text/plain;charset=UTF-8' } });
  assert.equal(big.status, 413);
  assert.equal((await B.metrics()).roomcast_route_forwarded_total, 2);

  // the upgrade, sent to B: relayed to A, which runs the probe
  const ws = await h.WsConn.connect(B.port, `${h.EIO_PATH}?EIO=4&transport=websocket&sid=${sid}`);
  assert.equal(ws.handshake.status, 101, h.show(ws.handshake.raw));
  assert.equal(ws.handshake.headers['sec-websocket-accept'], ws.expectedAccept);
  ws.sendText('2probe');
  assert.equal(await ws.text(), '3probe');
  const held = h.poll(B.port, sid);
  assert.equal((await held).text, '6', 'the noop that frees the held GET, through B');
  ws.sendText('5');
  ws.sendText('42["join","room"]');
  await h.waitFor(async () => (await A.metrics()).roomcast_engine_upgrades_total === 1, { what: 'A upgraded the session' });
  ws.sendText('421["join","x"]');
  assert.equal(await ws.text(), '431["ok"]', 'an ack over the relayed WebSocket');
  assert.equal((await B.metrics()).roomcast_route_relayed_upgrades_total, 1);
  assert.equal((await B.metrics()).roomcast_sessions_current, 0, 'B holds no session');
  ws.sendClose(1000);
  await h.waitFor(async () => (await A.metrics()).roomcast_sessions_current === 0, { what: 'the close reached A' });
  await h.waitFor(async () => (await B.metrics()).roomcast_route_upstreams <= 1, { what: 'B\'s relay closed' });
  await A.stop();
  // its goodbye: B forgets it at once, not 3.5 s later
  await h.waitFor(() => /instance [\w-]{3} at 127\.0\.0\.1:\d+ left the cluster/.test(B.stderr()), { what: 'A\'s goodbye', timeout: 2000 });
  await B.stop();
});

test('forged and stale sids get code 1 with nothing forwarded; cluster_listen wants the token; forged announcements are dropped', { skip }, async () => {
  const { r, A, B } = await pair();
  const before = await B.metrics();
  const { sid } = await h.handshake(A.port);
  const forged = `${sid.slice(0, 19)}${sid[19] === 'A' ? 'B' : 'A'}`;
  h.assertEioError(await h.poll(B.port, forged), 1, 'bad MAC');
  h.assertEioError(await h.post(B.port, forged, '40'), 1, 'bad MAC, POST');
  const ws = await h.WsConn.connect(B.port, `${h.EIO_PATH}?EIO=4&transport=websocket&sid=${forged}`);
  assert.equal(ws.handshake.status, 400, 'bad MAC, upgrade');
  const stale = sidFor(sid.slice(0, 3) === 'zzz' ? 'yyy' : 'zzz', 'abcdefghijkl');
  h.assertEioError(await h.poll(B.port, stale), 1, 'no such instance');
  const after_ = await B.metrics();
  assert.equal(after_.roomcast_route_forged_sids_total - (before.roomcast_route_forged_sids_total || 0), 3);
  assert.equal(after_.roomcast_route_unknown_instance_total - (before.roomcast_route_unknown_instance_total || 0), 1);
  assert.equal(after_.roomcast_route_forwarded_total || 0, 0, 'nothing forwarded');

  const peerPort = await clusterPort(A);
  const token = crypto.createHmac('sha256', SECRET).update('peer').digest().subarray(0, 16).toString('hex');
  const path_ = `${h.EIO_PATH}?EIO=4&transport=polling&sid=${sid}`;
  assert.equal((await h.request(peerPort, { path: path_, waitClose: true })).status, 403, 'no token');
  assert.equal((await h.request(peerPort, { path: path_, headers: { 'X-Roomcast-Peer': 'f'.repeat(32) }, waitClose: true })).status, 403, 'wrong token');
  assert.equal((await h.request(peerPort, { path: '/metrics', headers: { 'X-Roomcast-Peer': token } })).status, 404, 'only the engine');
  h.assertEioError(await h.request(peerPort, { path: h.q(), headers: { 'X-Roomcast-Peer': token } }), 3, 'no handshake from a peer');
  h.assertEioError(await h.request(peerPort, { path: h.pollPath(forged), headers: { 'X-Roomcast-Peer': token } }), 1, 'never forwarded again');
  assert.equal((await A.metrics()).roomcast_route_peer_refused_total, 2);

  // whoever can publish on Redis without the secret cannot steer forwarding
  const redis = await r.client();
  const id = sid.slice(0, 3);
  for (const bad of [`1 ${id} 127.0.0.1:1 0123456789abcdef`, '1 zzz 127.0.0.1:1', 'garbage', `1 ${id} - ffffffffffffffff`, 'x'.repeat(400)]) {
    await redis.publish('socket.io-route#', bad);
  }
  await h.waitFor(async () => (await B.metrics()).roomcast_route_bad_announcements_total === 5, { what: '5 bad announcements counted' });
  assert.equal((await B.metrics()).roomcast_route_peers, 1, 'A still known');
  h.assertPostOk(await h.post(B.port, sid, '3'), 'and still reached through B');
  await A.stop();
  await B.stop();
});

test('owner killed: a request for its session fails within a second, its clients reconnect to the survivor', { skip }, async () => {
  const { A, B } = await pair();
  const { sid } = await h.handshake(A.port);
  const held = await h.pendingGet(B.port, sid);
  await h.waitFor(async () => (await B.metrics()).roomcast_route_upstreams >= 1, { what: 'the GET held through B' });
  const clients = [];
  for (const transports of [['polling'], ['websocket'], ['polling', 'websocket']]) {
    const s = h.sioClient(A.port, '/', { transports, reconnection: false });
    s.kind = transports;
    clients.push(s);
    await h.sioConnected(s);
  }
  for (const s of clients) h.sioWatchDisconnect(s);
  const gone = Promise.all(clients.map((s) => h.sioWaitDisconnect(s)));
  A.child.kill('SIGKILL');
  const res = await held.response;
  h.assertEioError(res, 1, 'the held GET through B');
  const t0 = Date.now();
  h.assertEioError(await h.poll(B.port, sid), 1, 'a new GET through B');
  assert.ok(Date.now() - t0 < 1000, `answered in ${Date.now() - t0} ms`);
  await gone;
  // the official client behind a balancer would come back to any instance: here, B
  const again = await Promise.all(clients.map(async (s) => {
    const n = h.sioClient(B.port, '/', { transports: s.kind });
    await h.sioConnected(n);
    return n;
  }));
  assert.ok(again.every((s) => s.connected));
  for (const s of again) s.close();
  assert.ok((await B.metrics()).roomcast_route_forward_failures_total >= 1);
  await h.waitFor(async () => (await B.metrics()).roomcast_route_peers === 0, { what: 'A forgotten', timeout: 8000 });
  assert.match(B.stderr(), /instance [\w-]{3} at 127\.0\.0\.1:\d+ stopped announcing/);
  await B.stop();
});

test('bounds: 300 long-polls held through B cost two descriptors each there, nothing once they vanish', { skip, timeout: 120000 }, async () => {
  const { A, B } = await pair();
  const N = 300;
  const sids = [];
  for (let i = 0; i < N; i++) sids.push((await h.handshake(A.port)).sid);
  const fd0 = B.fdCount();
  const rss0 = B.rssKiB();
  const errors0 = (await A.metrics()).roomcast_engine_transport_errors_total || 0;
  const held = [];
  for (const sid of sids) held.push(await h.pendingGet(B.port, sid));
  await h.waitFor(async () => (await B.metrics()).roomcast_route_upstreams === N, { what: `${N} upstreams` });
  const fdPeak = B.fdCount();
  const rssPeak = B.rssKiB();
  for (const g of held) g.conn.destroy();
  await h.waitFor(async () => (await A.metrics()).roomcast_engine_transport_errors_total === errors0 + N,
    { what: 'each abort reached A as a transport error' });
  await h.waitFor(async () => (await B.metrics()).roomcast_route_upstreams === 0 && B.fdCount() <= fd0, { what: 'B back to its descriptors' });
  const rssEnd = B.rssKiB();
  console.log(`# B: fds ${fd0} -> ${fdPeak} -> ${B.fdCount()}; RSS ${rss0} -> ${rssPeak} -> ${rssEnd} KiB`);
  assert.ok(fdPeak - fd0 >= 2 * N && fdPeak - fd0 <= 2 * N + 8, `two descriptors per forwarded long-poll (${fdPeak - fd0})`);
  if (!B.sanitized) assert.ok(rssPeak - rss0 < N * 16, `under 16 KiB per forwarded long-poll (${rssPeak - rss0} KiB)`);
  assert.equal((await A.metrics()).roomcast_sessions_current, 0);
  await A.stop();
  await B.stop();
});
