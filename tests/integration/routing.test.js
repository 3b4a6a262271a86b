// routing.test.js - no sticky sessions, request by request (issue #14): with
// cluster_listen and cluster_secret_file, any request of a session may land
// on any instance.  A GET and a POST for A's session sent to B are
// forwarded (a POST too big for max_payload is refused at B); an upgrade
// for A's session sent to B is relayed (probe, `5`, then Socket.IO over the
// WebSocket), and A's goodbye reaches B when it stops; a forged sid and a
// valid sid of an instance that does not exist get code 1 without any
// forwarding (the latter after its hold); cluster_listen refuses requests
// without the cluster's token and handshakes; announcements without the
// secret's MAC are dropped; A killed with SIGKILL: a request for its
// session through B fails within a second with code 1 and its official
// clients reconnect to B, and A's captured lines replayed do not bring it
// back.  Replays (issue #19): every line A ever sent, replayed after its
// goodbye, neither brings A back nor sends A's sids to whoever binds A's
// old address; an older goodbye or address of a live instance is dropped;
// a line more than 5 s off the clock is dropped, one 4 s off is taken.
// Start-up (issue #19): two reuseport processes started together take
// clients at once, 20 cold starts with 5 polling clients each, every one
// connecting; a request for an instance not heard of yet is held while it
// is asked for and forwarded once it answers (one that never does gets
// code 1 after the hold, one that left gets it at once); a stopping
// instance answers no ask after its goodbye.  Bounds: 300
// long-polls held through B cost B two descriptors each and nothing once
// their clients vanish, and each vanished client's session at A ends as a
// direct abort would end it; a relayed WebSocket whose client stops reading
// is cut by B at max_output_buffer (B holds about that much, not the
// traffic), and its session ends at A; 1024 requests wait for instances not
// heard of, the next gets code 1 at once; 50 replayed asks make an
// instance announce at most every 100 ms.  The minute under balancers and
// reuseport is routing-soak.test.js.
// roomcastd only: the reference server has no routing.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');
const { SECRET, RAW, ROUTED, cleanups, instances, redis } = require('./routing-common');

const skip = h.REFERENCE && 'roomcastd\'s session routing';

/** The secret's 30-bit MAC of a sid's first 15 characters (sid.h). */
function sidFor(instance, random) {
  const mac = crypto.createHmac('sha256', SECRET).update(`sid:${instance}${random}`).digest();
  return `${instance}${random}${mac.subarray(0, 4).toString('base64url').slice(0, 5)}`;
}

/** A signed announcement "2 ID ADDR TIME MAC", as an instance of the cluster sends it (route.c). */
function line(id, addr, time) {
  const body = `2 ${id} ${addr} ${time}`;
  return `${body} ${crypto.createHmac('sha256', SECRET).update(`announce:${body}`).digest().subarray(0, 8).toString('hex')}`;
}

/**
 * Every line published on r's route channel from now on, as an attacker on
 * Redis sees it: { lines, replay(list, { together }) }, replay() publishing
 * each line of list again, in order (or pipelined, together), and leaving
 * it out of lines.
 */
async function capture(r) {
  const sub = await r.client();
  const pub = await r.client();
  const lines = [];
  const mine = new Map();
  await sub.subscribe('socket.io-route#', (m) => {
    if (mine.get(m)) mine.set(m, mine.get(m) - 1);
    else lines.push(m);
  });
  const replay = async (list, { together = false } = {}) => {
    for (const l of list) mine.set(l, (mine.get(l) || 0) + 1);
    if (together) await Promise.all(list.map((l) => pub.publish('socket.io-route#', l)));
    else for (const l of list) await pub.publish('socket.io-route#', l);
  };
  return { lines, replay };
}

/** The cluster_listen address a daemon announced, from its log. */
async function clusterPort(d) {
  const m = await h.waitFor(() => /peers forward to 127\.0\.0\.1:(\d+)/.exec(d.stderr()), { what: 'the announced address' });
  return Number(m[1]);
}

/** Two routed instances on their own ports, meshed. */
async function pair(config = {}) {
  const r = await redis();
  const [A, B] = await instances(r, 2, { config });
  return { r, A, B };
}

/** A's polling session connected to `/`, upgraded through B: { sid, ws }. */
async function relayedSession(A, B) {
  const { sid } = await h.handshake(A.port);
  h.assertPostOk(await h.post(B.port, sid, '40'));
  assert.match((await h.poll(B.port, sid)).text, /^40\{"sid":"[\w-]{20}"\}$/);
  const ws = await h.WsConn.connect(B.port, `${h.EIO_PATH}?EIO=4&transport=websocket&sid=${sid}`);
  assert.equal(ws.handshake.status, 101, h.show(ws.handshake.raw));
  ws.sendText('2probe');
  assert.equal(await ws.text(), '3probe');
  assert.equal((await h.poll(B.port, sid)).text, '6');
  ws.sendText('5');
  return { sid, ws };
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
  assert.equal((await h.poll(B.port, sid)).text, '6', 'the noop that frees the held GET, through B');
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

test('a GET, PUT or DELETE with a body for A\'s session sent to B is refused from its head, never forwarded', { skip }, async () => {
  // Issue 19: B forwarded such a request from its head and again once its
  // body was read; A held the first as a long-poll and refused the second,
  // whose answer cleared the client's abort hook; the client left, and A's
  // answer to the first was written into the freed connection (SIGSEGV).
  const { A, B } = await pair();
  const { sid } = await h.handshake(A.port);
  h.assertPostOk(await h.post(A.port, sid, '40'));
  assert.match((await h.poll(A.port, sid)).text, /^40\{"sid":"[\w-]{20}"\}$/);
  for (const method of ['GET', 'PUT', 'DELETE']) {
    const conn = await h.RawConn.connect(B.port);
    conn.write(h.buildRequest({ method, path: h.pollPath(sid), port: B.port, body: 'x'.repeat(10) }));
    const res = await conn.response();
    assert.equal(res.status, 400, `${method}: ${h.show(res.raw)}`);
    assert.deepEqual(JSON.parse(res.text), { code: 3, message: 'Bad request' }, method);
    assert.equal(res.headers.connection, 'close', `${method}: its body is never read`);
    await conn.closed();
    conn.destroy();
  }
  const m = await B.metrics();
  assert.equal(m.roomcast_route_forwarded_total, 0, 'nothing was forwarded');
  assert.equal(m.roomcast_route_upstreams, 0);
  // A's session is untouched: an ack comes back on its long-poll
  h.assertPostOk(await h.post(A.port, sid, '421["join","x"]'));
  assert.equal((await h.poll(A.port, sid)).text, '431["ok"]');
  assert.doesNotMatch(B.stderr() + A.stderr(), /second answer|forwarded twice/);
  await A.stop();
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
  assert.equal(after_.roomcast_route_held_total || 0, 1, 'held while the instance was asked for, then code 1');
  assert.equal(after_.roomcast_route_forwarded_total || 0, 0, 'nothing forwarded');

  const peerPort = await clusterPort(A);
  const token = crypto.createHmac('sha256', SECRET).update('peer').digest().subarray(0, 16).toString('hex');
  const path_ = `${h.EIO_PATH}?EIO=4&transport=polling&sid=${sid}`;
  const raw = await h.RawConn.connect(peerPort);
  raw.write(h.buildRequest({ path: path_, port: peerPort, headers: { Connection: 'keep-alive' } }));
  assert.equal((await raw.response()).status, 403, 'no token');
  await raw.closed();
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
  const r = await redis();
  const { lines, replay } = await capture(r);
  const [A, B] = await instances(r, 2);
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
  // A's last lines, replayed: it stays forgotten
  const mine = lines.filter((l) => l.split(' ')[1] === sid.slice(0, 3) && l.split(' ')[2] !== '?');
  const stale0 = (await B.metrics()).roomcast_route_stale_announcements_total || 0;
  assert.ok(mine.length >= 1, 'A announced itself');
  await replay(mine);
  await h.waitFor(async () => (await B.metrics()).roomcast_route_stale_announcements_total === stale0 + mine.length, { what: `${mine.length} replays dropped` });
  assert.equal((await B.metrics()).roomcast_route_peers, 0, 'A not brought back');
  h.assertEioError(await h.poll(B.port, sid), 1, 'A\'s sid after the replays');
  await B.stop();
});

test('replayed announcements: an instance that left stays gone, a live one is not moved or forgotten, the clock decides what is fresh', { skip }, async () => {
  const r = await redis();
  const { lines, replay } = await capture(r);
  const [A, B] = await instances(r, 2);
  const { sid } = await h.handshake(A.port);
  const id = sid.slice(0, 3);
  const peerPort = await clusterPort(A);
  const stale = async () => (await B.metrics()).roomcast_route_stale_announcements_total || 0;
  const waitStale = (n, what) => h.waitFor(async () => (await stale()) === n, { what });
  // A's announcements and goodbye (not its asks, which are answered, not ordered)
  const ofA = () => lines.filter((l) => l.split(' ')[1] === id && l.split(' ')[2] !== '?');
  await h.waitFor(() => ofA().length >= 2, { what: 'two of A\'s lines captured' });

  // A live: its older lines (and an older goodbye, an older address) change nothing
  const seen = ofA();
  const t0 = Number(seen[0].split(' ')[3]);
  let n = await stale();
  // (from before A started: to A, not another instance with its id)
  await replay([...seen, line(id, '-', t0 - 1000), line(id, '127.0.0.1:1', t0 - 1000)]);
  await waitStale(n + seen.length + 2, `${seen.length + 2} older lines of A dropped`);
  assert.equal((await B.metrics()).roomcast_route_peers, 1, 'A still known');
  h.assertPostOk(await h.post(B.port, sid, '40'), 'A still reached at its address');
  assert.match((await h.poll(B.port, sid)).text, /^40/);
  assert.equal((await A.metrics()).roomcast_route_id_collisions_total || 0, 0, 'A kept its id');
  // a goodbye, or another address, from more than 5 s ago or ahead is no fresher
  n = await stale();
  await replay([line(id, '-', Date.now() - 6000), line(id, '127.0.0.1:1', Date.now() + 6000)]);
  await waitStale(n + 2, 'lines 6 s off the clock dropped');
  assert.equal((await B.metrics()).roomcast_route_peers, 1, 'A still known');
  // 4 s off is within the tolerated skew: another instance, behind and then ahead of this clock
  await replay([line('qq1', '127.0.0.1:2', Date.now() - 4000)]);
  await h.waitFor(async () => (await B.metrics()).roomcast_route_peers === 2, { what: 'an instance 4 s behind taken' });
  await replay([line('qq1', '-', Date.now() + 4000)]);
  await h.waitFor(async () => (await B.metrics()).roomcast_route_peers === 1, { what: 'its goodbye 4 s ahead taken' });

  // A leaves: nothing it ever sent brings it back, in order or not
  await A.stop();
  await h.waitFor(async () => (await B.metrics()).roomcast_route_peers === 0, { what: 'A\'s goodbye heard' });
  const all = ofA();
  assert.match(all[all.length - 1], new RegExp(`^2 ${id} - \\d+ [0-9a-f]{16}$`), `A's goodbye was the last line: ${JSON.stringify(all)}`);
  // whoever binds A's old address next gets none of A's forwarded requests
  const net = require('node:net');
  let stolen = 0;
  const thief = net.createServer((c) => { stolen++; c.destroy(); });
  await new Promise((resolve) => thief.listen(peerPort, '127.0.0.1', resolve));
  const forwarded0 = (await B.metrics()).roomcast_route_forwarded_total || 0;
  n = await stale();
  await replay([...all, ...all.slice().reverse(), ...all.filter((l) => !l.includes(' - '))]);
  const replays = 2 * all.length + all.length - 1;
  await waitStale(n + replays, `${replays} replays dropped`);
  assert.equal((await B.metrics()).roomcast_route_peers, 0, 'A not brought back');
  h.assertEioError(await h.poll(B.port, sid), 1, 'A\'s sid at once');
  h.assertEioError(await h.post(B.port, sid, '3'), 1, 'A\'s sid, POST');
  assert.equal((await B.metrics()).roomcast_route_forwarded_total || 0, forwarded0, 'nothing forwarded');
  assert.equal((await B.metrics()).roomcast_route_held_total || 0, 0, 'nothing held for an instance that left');
  assert.equal(stolen, 0, 'nothing reached A\'s old address');
  await new Promise((resolve) => thief.close(resolve));
  await B.stop();
});

test('started together: two reuseport processes take clients at once, 20 cold starts, every polling client connects', { skip, timeout: 300000 }, async () => {
  const r = await redis();
  const RUNS = 20;
  const CLIENTS = 5;
  const failed = [];
  for (let run = 0; run < RUNS; run++) {
    const port = await h.freePort();
    const ds = await h.startAll([0, 1].map(() => h.startDaemon({
      sio: true, raw: RAW, port, config: { redis: r.addr, ...ROUTED, listen: `127.0.0.1:${port} reuseport` },
    })));
    cleanups.push(() => ds.forEach((d) => d.kill()));
    // each takes clients from its start line on; connect right then
    await h.waitFor(() => ds.every((d) => / started \(pid /.test(d.stderr())), { what: 'both started', interval: 5 });
    const clients = [];
    for (let i = 0; i < CLIENTS; i++) clients.push(h.sioClient(port, '/', { transports: ['polling'] }));
    const outcomes = await Promise.all(clients.map((s) => new Promise((resolve) => {
      s.on('connect', () => resolve(null));
      s.on('connect_error', (e) => resolve(e.message));
    })));
    for (const s of clients) s.close();
    outcomes.forEach((o, i) => { if (o !== null) failed.push(`run ${run} client ${i}: connect_error ${o}`); });
    for (const d of ds) await d.stop();
  }
  assert.deepEqual(failed, [], `every one of ${RUNS * CLIENTS} clients connected`);
});

test('an instance not heard of yet: its request is held while it is asked for and forwarded once it answers; one that left gets code 1 at once', { skip }, async () => {
  const r = await redis();
  const [A] = await instances(r, 1);
  const { sid } = await h.handshake(A.port);
  // A cannot answer while B starts: B takes clients without knowing it
  A.child.kill('SIGSTOP');
  cleanups.push(() => A.child.kill('SIGCONT'));
  const [B] = await instances(r, 1);
  assert.equal((await B.metrics()).roomcast_route_peers, 0, 'B started without A');
  // at B, the CONNECT of A's session waits for A
  const connect = h.post(B.port, sid, '40');
  await h.waitFor(async () => (await B.metrics()).roomcast_route_held === 1, { what: 'the POST held at B' });
  A.child.kill('SIGCONT');
  h.assertPostOk(await connect, 'the held POST, once A answered');
  assert.match((await h.poll(B.port, sid)).text, /^40\{"sid":"[\w-]{20}"\}$/, 'the CONNECT answer through B');
  let m = await B.metrics();
  assert.equal(m.roomcast_route_held_total, 1);
  assert.equal(m.roomcast_route_held, 0);
  assert.equal(m.roomcast_route_peers, 1, 'B heard A');
  assert.equal(m.roomcast_route_forwarded_total, 2);
  // an instance that never answers: code 1 after the hold
  const never = sidFor(sid.slice(0, 3) === 'zzz' ? 'yyy' : 'zzz', 'abcdefghijkl');
  h.assertEioError(await h.poll(B.port, never), 1, 'never heard of');
  m = await B.metrics();
  assert.equal(m.roomcast_route_held_total, 2);
  assert.equal(m.roomcast_route_unknown_instance_total, 1);
  // A leaves: its sids get code 1 at once, nothing held
  await A.stop();
  await h.waitFor(async () => (await B.metrics()).roomcast_route_peers === 0, { what: 'A\'s goodbye heard' });
  h.assertEioError(await h.poll(B.port, sid), 1, 'A gone');
  h.assertEioError(await h.post(B.port, sid, '3'), 1, 'A gone, POST');
  m = await B.metrics();
  assert.equal(m.roomcast_route_held_total, 2, 'nothing held for an instance that left');
  assert.equal(m.roomcast_route_unknown_instance_total, 3);
  await B.stop();
});

test('a stopping instance answers asks until its goodbye, never after it', { skip }, async () => {
  const r = await redis();
  const { lines, replay } = await capture(r);
  const [A] = await instances(r, 1);
  const id = /cluster: instance (\S{3}),/.exec(A.stderr())[1];
  // a polling session that never polls again keeps A up to 3 s after its goodbye
  await h.handshake(A.port);
  A.child.kill('SIGTERM');
  await h.waitFor(() => lines.some((l) => l.startsWith(`2 ${id} - `)), { what: 'A\'s goodbye' });
  assert.equal(A.exit, null, 'A still up after its goodbye');
  await replay([line('qq2', '?', Date.now())]);
  assert.deepEqual(await A.exited, { code: 0, signal: null });
  const after = lines.slice(lines.findIndex((l) => l.startsWith(`2 ${id} - `)) + 1).filter((l) => l.startsWith(`2 ${id} `));
  assert.deepEqual(after, [], 'nothing from A after its goodbye');
});

test('bounds: 1024 requests wait for instances not heard of, the next gets code 1 at once', { skip, timeout: 120000 }, async () => {
  const r = await redis();
  const [B] = await instances(r, 1);
  const own = /cluster: instance (\S{3}),/.exec(B.stderr())[1];
  const ghost = own === 'zzz' ? 'yyy' : 'zzz';
  const N = 1024;
  const fd0 = B.fdCount();
  const rss0 = B.rssKiB();
  // all N + 1 arrive together: B reads them after SIGCONT, within one hold
  B.child.kill('SIGSTOP');
  let reqs;
  try {
    reqs = await Promise.all([...Array(N + 1)].map(() => h.pendingGet(B.port, sidFor(ghost, crypto.randomBytes(9).toString('base64url')))));
  } finally {
    B.child.kill('SIGCONT');
  }
  let m;
  await h.waitFor(async () => (m = await B.metrics()).roomcast_route_held_overflow_total === 1, { what: 'one past the limit refused', interval: 5 });
  const fdPeak = B.fdCount();
  const rssPeak = B.rssKiB();
  assert.ok(m.roomcast_route_held <= N, `at most ${N} held (${m.roomcast_route_held})`);
  for (const g of reqs) h.assertEioError(await g.response, 1, 'code 1: at once past the limit, after the hold under it');
  m = await B.metrics();
  assert.equal(m.roomcast_route_held_total, N, `${N} held`);
  assert.equal(m.roomcast_route_held_overflow_total, 1);
  assert.equal(m.roomcast_route_held, 0);
  assert.equal(m.roomcast_route_unknown_instance_total, N + 1);
  await h.waitFor(() => B.fdCount() <= fd0 + 2, { what: 'B back to its descriptors' });
  console.log(`# B: ${N} held: fds ${fd0} -> ${fdPeak} -> ${B.fdCount()}; RSS ${rss0} -> ${rssPeak} KiB`);
  if (!B.sanitized) assert.ok(rssPeak - rss0 < N * 8, `under 8 KiB per held request (${rssPeak - rss0} KiB)`);
  await B.stop();
});

test('bounds: 50 replayed asks make an instance announce at most every 100 ms, not 50 times', { skip }, async () => {
  const r = await redis();
  const { lines, replay } = await capture(r);
  const [A, B] = await instances(r, 2);
  const idA = /cluster: instance (\S{3}),/.exec(A.stderr())[1];
  const idB = /cluster: instance (\S{3}),/.exec(B.stderr())[1];
  const ask = lines.find((l) => l.startsWith(`2 ${idA} ? `));
  assert.ok(ask, 'A asked at its start');
  await A.stop();
  const asks0 = (await B.metrics()).roomcast_route_asks_total || 0;
  const from = lines.length;
  await replay(Array(50).fill(ask), { together: true });
  await h.waitFor(async () => (await B.metrics()).roomcast_route_asks_total === asks0 + 50, { what: 'B heard the 50 asks' });
  // the answer due ROUTE_ASK_MS after the last one, then B's next periodic line
  const stamp = (l) => Number(l.split(' ')[3]);
  const askedAt = Date.now();
  await h.waitFor(() => lines.slice(from).some((l) => l.startsWith(`2 ${idB} `) && stamp(l) > askedAt + 100), { what: 'B\'s lines after the asks' });
  const answers = lines.slice(from).filter((l) => l.startsWith(`2 ${idB} `) && stamp(l) <= askedAt + 100);
  console.log(`# B answered 50 asks with ${answers.length} announcements`);
  assert.ok(answers.length >= 1 && answers.length <= 3, `${answers.length} announcements for 50 asks (one now, one 100 ms later, perhaps the periodic one)`);
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

test('bounds: a relayed WebSocket that stops reading is cut at max_output_buffer by B, and its session ends at A', { skip, timeout: 60000 }, async () => {
  const { A, B } = await pair({ max_payload: '200000', max_output_buffer: '256K' });
  const { ws } = await relayedSession(A, B);
  ws.sendText('421["join","r"]');
  assert.equal(await ws.text(), '431["ok"]');
  const tx = await h.sioRoomMember(A.port);
  ws.conn.sock.pause();
  const rss0 = B.rssKiB();
  const before = await B.metrics();
  const pad = 'x'.repeat(100 * 1024);
  let rssPeak = rss0;
  // 10 MB for a reader that takes nothing: B may hold max_output_buffer of it
  for (let i = 0; i < 100 && (await A.metrics()).roomcast_sessions_current === 2; i++) {
    tx.ws.sendText(`42${i + 1}["m",${i},"${pad}"]`);
    assert.equal(await tx.ws.text(), `43${i + 1}[]`);
    rssPeak = Math.max(rssPeak, B.rssKiB());
  }
  await h.waitFor(async () => (await A.metrics()).roomcast_sessions_current === 1, { what: 'the relayed session ended at A' });
  const m = await B.metrics();
  assert.equal(m.roomcast_output_overflow_total - (before.roomcast_output_overflow_total || 0), 1, 'B cut the client');
  await h.waitFor(async () => (await B.metrics()).roomcast_route_upstreams === 0, { what: 'the relay closed at B' });
  console.log(`# B: RSS ${rss0} -> peak ${rssPeak} KiB while relaying to a client that reads nothing`);
  if (!B.sanitized) assert.ok(rssPeak - rss0 < 2048, `B held about max_output_buffer, not the traffic (${rssPeak - rss0} KiB)`);
  ws.destroy();
  tx.ws.destroy();
  await A.stop();
  await B.stop();
});
