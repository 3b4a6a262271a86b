// auth-jwks.test.js - `jwt_jwks_url` (issue 19): a namespace's keys fetched
// from an identity provider's HTTPS URL, against a local HTTPS server this
// file starts, whose certificate is signed by a CA made here with openssl
// (trusted through jwt_jwks_ca_file), and whose key set it rotates mid-run:
//  - a CONNECT that comes before the first fetch answered waits for it
//    and connects (the official client, first attempt); one still waiting
//    at jwt_jwks_wait is refused "signing keys not fetched in time";
//  - a token naming a kid the set lacks makes roomcastd fetch again and
//    waits for that fetch: after the provider rotated, the official client
//    with a token of the new key connects on its first attempt, with no
//    connect_error; one of the removed key is refused "no key for kid";
//  - a made-up kid while no fetch is allowed (jwt_jwks_refresh_min) is
//    refused at once, without a wait; a flood of made-up kids while a fetch
//    is held waits within max_pending_connects and
//    max_pending_connects_per_ip (shared with auth backend), the rest
//    refused "too many connects waiting", every waiter refused "no key for
//    kid" when the fetch ends (counts, RSS and descriptors before, at peak,
//    after); a waiting CONNECT whose client goes away frees its wait;
//  - those fetches are rate-limited: a flood of unknown kids makes at most
//    one fetch per jwt_jwks_refresh_min (gaps measured by the server);
//  - a namespace with a short jwt_jwks_refresh picks up a rotation by
//    itself, and its fetches leave no descriptor open;
//  - while the provider is down (connection reset), answers 503, sends a
//    body over jwt_jwks_max_size or more keys than jwt_jwks_max_keys, the
//    last good set keeps working, each failure counted; a set at both
//    limits (a body of exactly jwt_jwks_max_size, jwt_jwks_max_keys keys)
//    is taken; a fetch that trickles past jwt_jwks_timeout is dropped;
//  - a server whose certificate does not name the URL's host is refused
//    (hostname verification on), logged with the reason;
//  - a SIGHUP that keeps the URL keeps its set, one that names another
//    fetches it and drops the old one; roomcastd -t refuses an
//    http:// URL and an unreadable CA file.
// roomcastd only: the Node reference has no auth middleware here.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const https = require('node:https');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');
const { sampler, delta } = require('./hostile-common');

const skip = h.REFERENCE && 'roomcastd\'s jwt_jwks_url';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-jwks-'));
const file = (name) => path.join(dir, name);

/** A CA, and two server certificates it signs: one for localhost and
 * 127.0.0.1, one for another name only. */
function makeCerts() {
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=roomcast test CA');
  for (const [name, san] of [['good', 'DNS:localhost,IP:127.0.0.1'], ['other', 'DNS:other.example']]) {
    fs.writeFileSync(file(`${name}.ext`), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n`);
    ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
  }
}

const keys = {};
for (const kid of ['k1', 'k2', 'k3', 'k4']) keys[kid] = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = (kid) => ({ ...keys[kid].publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'ES256' });
const set = (...kids) => ({ keys: kids.map(jwk) });

const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
/** An ES256 token for sub alice, signed with key <signer> and naming <kid>. */
function token(kid, signer = kid) {
  const data = `${b64({ alg: 'ES256', typ: 'JWT', kid })}.${b64({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  const sig = crypto.sign('sha256', Buffer.from(data), { key: keys[signer].privateKey, dsaEncoding: 'ieee-p1363' });
  return `${data}.${sig.toString('base64url')}`;
}

/**
 * The identity provider: per path, what it serves (`mode`: ok, hold until
 * released, reset, 503, big, many, exact, trickle) and when each fetch
 * arrived.
 */
function startProvider(cert) {
  const paths = {};
  const route = (p) => {
    if (!paths[p]) paths[p] = { jwks: set('k1'), mode: 'ok', arrivals: [], release: null };
    return paths[p];
  };
  const server = https.createServer({ key: fs.readFileSync(file(`${cert}.key`)), cert: fs.readFileSync(file(`${cert}.pem`)) }, (req, res) => {
    const r = route(req.url);
    r.arrivals.push(Date.now());
    const answer = () => {
      if (r.mode === 'reset') return req.socket.destroy();
      if (r.mode === 'trickle') {
        // a byte every 200 ms: never idle, never done
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 1000 });
        const t = setInterval(() => res.write(' '), 200);
        res.on('close', () => { clearInterval(t); r.closedAt = Date.now(); });
        return undefined;
      }
      if (r.mode === '503') { res.writeHead(503); return res.end('down for maintenance'); }
      let body = JSON.stringify(r.jwks);
      if (r.mode === 'big') body = JSON.stringify({ ...r.jwks, pad: 'x'.repeat(8192) });
      if (r.mode === 'many') body = JSON.stringify(set('k1', 'k2', 'k3', 'k4'));
      if (r.mode === 'exact') { // jwt_jwks_max_size to the byte
        const base = JSON.stringify({ ...r.jwks, pad: '' }).length;
        body = JSON.stringify({ ...r.jwks, pad: 'x'.repeat(4096 - base) });
        assert.equal(body.length, 4096);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(body);
    };
    if (r.mode === 'hold') r.release = answer;
    else answer();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: server.address().port, route })));
}

let d;
let provider;
let other;
const open = h.trackedClients();

/** The block of namespace <nsp>, its keys fetched from <url>, with <lines>. */
const block = (nsp, url, ...lines) => `namespace ${nsp} {
    auth                  jwt
    jwt_jwks_url          ${url}
    jwt_jwks_ca_file      ${file('ca.pem')}
${lines.map((l) => `    ${l}\n`).join('')}}
`;
const raw = (p, o) => [
  block('/a', `https://localhost:${p}/a`, 'jwt_jwks_refresh 1h', 'jwt_jwks_refresh_min 1s',
    'jwt_jwks_timeout 2s', 'jwt_jwks_max_size 4K', 'jwt_jwks_max_keys 3'),
  block('/tick', `https://127.0.0.1:${p}/tick`, 'jwt_jwks_refresh 1s'),
  block('/wrong', `https://127.0.0.1:${o}/wrong`, 'jwt_jwks_refresh_min 1h'),
  block('/slow', `https://127.0.0.1:${p}/slow`, 'jwt_jwks_timeout 1m', 'jwt_jwks_wait 300ms'),
  block('/flood', `https://127.0.0.1:${p}/flood`, 'jwt_jwks_refresh 1h', 'jwt_jwks_refresh_min 1s',
    'jwt_jwks_timeout 1m', 'jwt_jwks_wait 1m'),
  block('/limit', `https://127.0.0.1:${p}/limit`, 'jwt_jwks_refresh 1h', 'jwt_jwks_refresh_min 1h'),
].join('');
// CONNECTs waiting for a fetch (or a backend), in the process and per address
const MAX_PENDING = 12;
const PER_IP = 6;

before(async () => {
  if (skip) return;
  makeCerts();
  provider = await startProvider('good');
  other = await startProvider('other');
  provider.route('/a').mode = 'hold';
  provider.route('/slow').mode = 'hold';
  d = await h.startDaemon({
    sio: true, raw: raw(provider.port, other.port),
    config: { max_pending_connects: MAX_PENDING, max_pending_connects_per_ip: PER_IP },
  });
});
after(() => {
  if (d) d.kill();
  for (const p of [provider, other]) if (p) p.server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function connect(nsp, tok) {
  const s = h.sioClient(d.port, nsp, { transports: ['websocket'], auth: { token: tok } });
  open.add(s);
  await h.sioConnected(s);
  s.disconnect();
}

async function refused(nsp, tok) {
  const s = h.sioClient(d.port, nsp, { transports: ['websocket'], auth: { token: tok } });
  open.add(s);
  const err = await h.sioConnectError(s);
  s.disconnect();
  return err.message;
}

const waitMetric = (what, pred) => h.waitFor(async () => {
  const m = await d.metrics();
  return pred(m) ? m : false;
}, { what });

/** Resolves once <route> may be fetched again for a kid (jwt_jwks_refresh_min 1s after its last fetch began). */
const refreshAllowed = (r) => h.waitFor(() => r.arrivals.length > 0 && Date.now() - r.arrivals.at(-1) >= 1100,
  { what: 'jwt_jwks_refresh_min since the last fetch' });
const pending = (n) => waitMetric(`${n} CONNECTs waiting`, (x) => x.roomcast_connects_pending === n);
/** Answers the fetch <r> holds, as mode <mode>. */
function release(r, mode = 'ok') {
  r.mode = mode;
  const answer = r.release;
  r.release = null;
  answer();
}

/**
 * The official client on /a with token <tok>: its CONNECT waits for the
 * fetch <r> holds, answered then; it connects with no connect_error.
 */
async function connectsThroughWait(r, tok) {
  const s = h.sioClient(d.port, '/a', { transports: ['websocket'], auth: { token: tok } });
  open.add(s);
  const errors = [];
  s.on('connect_error', (e) => errors.push(e.message));
  await h.waitFor(() => r.release, { what: 'the fetch of /a, held' });
  await pending(1);
  release(r);
  await h.sioConnected(s);
  s.disconnect();
  assert.deepEqual(errors, [], 'no connect_error: the CONNECT waited for the fetch');
}

test('a CONNECT before the first fetch answered waits for it and connects on its first attempt', { skip }, async () => {
  const a = provider.route('/a');
  await h.waitFor(() => a.arrivals.length === 1 && a.release, { what: 'the first fetch of /a, held' });
  const m0 = await d.metrics();
  await connectsThroughWait(a, token('k1'));
  const m = await d.metrics();
  assert.equal(delta(m0, m, 'jwks_connect_waits_total'), 1);
  assert.equal(m.roomcast_connects_pending, 0);
  assert.equal(a.arrivals.length, 1, 'one fetch: the CONNECT waited for the one running');
});

test('a CONNECT still waiting at jwt_jwks_wait is refused "signing keys not fetched in time"', { skip }, async () => {
  const sl = provider.route('/slow');
  await h.waitFor(() => sl.release, { what: 'the first fetch of /slow, held' });
  const m0 = await d.metrics();
  const t0 = Date.now();
  assert.equal(await refused('/slow', token('k1')), 'signing keys not fetched in time');
  const took = Date.now() - t0;
  assert.ok(took >= 250, `refused after ${took} ms (jwt_jwks_wait 300ms)`);
  const m = await d.metrics();
  assert.equal(delta(m0, m, 'auth_refused_total{reason="signing_keys_not_fetched_in_time"}'), 1);
  assert.equal(delta(m0, m, 'jwks_connect_waits_total'), 1);
  assert.equal(m.roomcast_connects_pending, 0);
  // the fetch, late, still brings the set
  release(sl);
  await h.waitFor(async () => {
    const c = h.sioClient(d.port, '/slow', { transports: ['websocket'], auth: { token: token('k1') } });
    open.add(c);
    try { await h.sioConnected(c); return true; } catch (e) { return false; } finally { c.disconnect(); }
  }, { what: '/slow accepting k1' });
});

test('after a rotation, the official client with a token of the new key connects on its first attempt', { skip }, async () => {
  const a = provider.route('/a');
  await refreshAllowed(a);
  const m0 = await d.metrics();
  const seen = a.arrivals.length;
  // the provider rotates; roomcastd has not fetched since
  a.jwks = set('k2', 'k3');
  a.mode = 'hold';
  await connectsThroughWait(a, token('k2'));
  assert.equal(a.arrivals.length, seen + 1, 'one fetch, asked for by kid k2');
  let m = await d.metrics();
  assert.equal(delta(m0, m, 'jwks_connect_waits_total'), 1);
  assert.equal(delta(m0, m, 'jwks_kid_refreshes_total'), 1);
  assert.equal(m.roomcast_connects_pending, 0);
  await connect('/a', token('k3'));
  // k1 is no longer served: refused at once (no fetch allowed yet), it asks for one
  assert.equal(await refused('/a', token('k1')), 'no key for kid', 'the removed key');
  m = await d.metrics();
  assert.equal(delta(m0, m, 'jwks_connect_waits_total'), 1, 'no wait while no fetch is allowed');
  await h.waitFor(() => a.arrivals.length === seen + 2, { what: 'the fetch the removed kid asked for' });
  await connect('/a', token('k3'));
});

test('a made-up kid while no fetch is allowed is refused at once, without a wait', { skip }, async () => {
  const l = provider.route('/limit');
  await waitMetric('the set of /limit held', () => l.arrivals.length === 1);
  await connect('/limit', token('k1'));
  const m0 = await d.metrics();
  const replies = [];
  const sessions = [];
  for (let i = 0; i < 3 * MAX_PENDING; i++) {
    const { ws } = await h.wsSession(d.port);
    sessions.push(ws);
    ws.sendText(`40/limit,${JSON.stringify({ token: token(`made-up-${i}`, 'k1') })}`);
    replies.push(ws.text());
  }
  for (const reply of await Promise.all(replies)) assert.equal(reply, '44/limit,{"message":"no key for kid"}');
  const m = await d.metrics();
  assert.equal(delta(m0, m, 'jwks_connect_waits_total'), 0);
  assert.equal(delta(m0, m, 'auth_refused_total{reason="no_key_for_kid"}'), 3 * MAX_PENDING);
  assert.equal(l.arrivals.length, 1, 'no fetch: jwt_jwks_refresh_min 1h');
  sessions.forEach((ws) => ws.destroy());
});

test(`a flood of made-up kids while a fetch runs: ${MAX_PENDING} wait (${PER_IP} per address), the rest refused, each waiter refused when it ends`, { skip }, async (t) => {
  const f = provider.route('/flood');
  const sessions = [];
  t.after(() => sessions.forEach((ws) => ws.destroy()));
  let n = 0;
  /** A session from <from> sending a CONNECT with a made-up kid; the reply it reads. */
  const connectFrom = async (from) => {
    const { ws } = await h.wsSession(d.port, { localAddress: from });
    sessions.push(ws);
    ws.sendText(`40/flood,${JSON.stringify({ token: token(`made-up-${n++}`, 'k1') })}`);
    return ws.text();
  };
  const busy = '44/flood,{"message":"too many connects waiting"}';
  const round = async (s) => {
    await refreshAllowed(f);
    const m0 = await d.metrics();
    const seen = f.arrivals.length;
    f.mode = 'hold';
    const waiting = [];
    for (let i = 0; i < PER_IP; i++) waiting.push(connectFrom('127.0.0.2'));
    await pending(PER_IP);
    for (let i = 0; i < 2 * PER_IP; i++) assert.equal(await connectFrom('127.0.0.2'), busy, 'past max_pending_connects_per_ip');
    for (let i = 0; i < PER_IP; i++) waiting.push(connectFrom('127.0.0.1'));
    await pending(MAX_PENDING);
    for (let i = 0; i < 3; i++) assert.equal(await connectFrom('127.0.0.3'), busy, 'past max_pending_connects');
    if (s) s.take();
    await connect('/limit', token('k1')); // others are served meanwhile
    let m = await d.metrics();
    assert.equal(m.roomcast_connects_pending, MAX_PENDING);
    assert.equal(delta(m0, m, 'jwks_connect_waits_total'), MAX_PENDING);
    assert.equal(delta(m0, m, 'sio_connects_pending_rejected_per_ip_total'), 2 * PER_IP);
    assert.equal(delta(m0, m, 'auth_refused_total{reason="too_many_connects_waiting"}'), 2 * PER_IP + 3);
    assert.equal(f.arrivals.length, seen + 1, 'one fetch for every made-up kid');
    release(f);
    for (const reply of await Promise.all(waiting)) assert.equal(reply, '44/flood,{"message":"no key for kid"}');
    m = await d.metrics();
    assert.equal(m.roomcast_connects_pending, 0);
    assert.equal(delta(m0, m, 'auth_refused_total{reason="no_key_for_kid"}'), MAX_PENDING);
    sessions.forEach((ws) => ws.destroy());
    sessions.length = 0;
    await waitMetric('every session gone', (x) => x.roomcast_sessions_current === 0);
  };
  // A first round warms the allocator and the tables up; the second is measured.
  await round(null);
  const s = sampler(d);
  await round(s);
  await s.finish(t, `${MAX_PENDING} CONNECTs waiting for a fetch, ${2 * PER_IP + 3} refused`);
});

test('a CONNECT whose client goes away while it waits for a fetch frees its wait', { skip }, async () => {
  const f = provider.route('/flood');
  await refreshAllowed(f);
  const m0 = await d.metrics();
  f.mode = 'hold';
  // the official client gives up; a raw one drops its connection
  const s = h.sioClient(d.port, '/flood', { transports: ['websocket'], auth: { token: token('k2', 'k2') } });
  open.add(s);
  const { ws } = await h.wsSession(d.port);
  ws.sendText(`40/flood,${JSON.stringify({ token: token('made-up', 'k1') })}`);
  await pending(2);
  s.disconnect();
  await pending(1);
  ws.destroy();
  await pending(0);
  await waitMetric('both sessions gone', (x) => x.roomcast_sessions_current === 0);
  f.jwks = set('k1', 'k2');
  release(f);
  await waitMetric('the fetch ended', (x) => x.roomcast_jwks_keys === m0.roomcast_jwks_keys + 1);
  const m = await d.metrics();
  assert.equal(delta(m0, m, 'jwks_connect_waits_total'), 2);
  assert.equal(delta(m0, m, 'sio_connect_errors_total'), 0, 'nobody left to refuse');
  await connect('/flood', token('k2'));
});

test('a flood of unknown kids makes at most one fetch per jwt_jwks_refresh_min', { skip }, async () => {
  const a = provider.route('/a');
  const first = a.arrivals.length;
  const end = Date.now() + 2600;
  let n = 0;
  while (Date.now() < end) {
    const s = h.sioClient(d.port, '/a', { transports: ['websocket'], auth: { token: token('k4') } });
    open.add(s);
    await h.sioConnectError(s);
    s.disconnect();
    n++;
  }
  const got = a.arrivals.slice(first - 1);
  assert.ok(n > 20, `${n} refused CONNECTs`);
  assert.ok(got.length - 1 <= 3, `${got.length - 1} fetches for ${n} unknown kids in 2.6 s`);
  for (let i = 1; i < got.length; i++) {
    assert.ok(got[i] - got[i - 1] >= 900, `fetches ${got[i] - got[i - 1]} ms apart`);
  }
});

test('jwt_jwks_refresh fetches again by itself and picks up a rotation', { skip }, async () => {
  const t = provider.route('/tick');
  assert.equal(await refused('/tick', token('k4')), 'no key for kid');
  t.jwks = set('k4');
  const seen = t.arrivals.length;
  await h.waitFor(() => t.arrivals.length >= seen + 1, { what: 'a periodic fetch of /tick', timeout: 5000 });
  // each fetch's connection is closed once done: three more hold no descriptor
  const fds = d.fdCount();
  await h.waitFor(() => t.arrivals.length >= seen + 4, { what: 'three more fetches of /tick', timeout: 8000 });
  await h.waitFor(() => d.fdCount() <= fds, { what: `descriptors back to ${fds}` });
  await h.waitFor(async () => {
    const s = h.sioClient(d.port, '/tick', { transports: ['websocket'], auth: { token: token('k4') } });
    open.add(s);
    try { await h.sioConnected(s); return true; } catch (e) { return false; } finally { s.disconnect(); }
  }, { what: '/tick accepting k4', timeout: 5000 });
  assert.equal(await refused('/tick', token('k1')), 'no key for kid');
});

test('while the provider fails the last good set keeps working; each failure is counted', { skip }, async () => {
  const a = provider.route('/a');
  // the keys of the other namespaces' sets; /a holds k2 and k3
  const others = (await d.metrics()).roomcast_jwks_keys - 2;
  for (const mode of ['reset', '503', 'big', 'many']) {
    const m0 = await d.metrics();
    a.mode = mode;
    const seen = a.arrivals.length;
    // an unknown kid asks for the fetch (within a second: refresh_min)
    assert.equal(await refused('/a', token('k1')), 'no key for kid');
    await h.waitFor(() => a.arrivals.length > seen, { what: `a fetch answered ${mode}` });
    const m = await waitMetric(`${mode} counted`, (x) => x.roomcast_jwks_fetch_failures_total > m0.roomcast_jwks_fetch_failures_total);
    assert.equal(m.roomcast_jwks_keys, m0.roomcast_jwks_keys, `${mode}: the set kept`);
    await connect('/a', token('k2'));
  }
  const log = d.stderr();
  assert.match(log, /jwks: https:\/\/localhost:\d+\/a: HTTP status 503; keeping the 2 keys in use/);
  assert.match(log, /body larger than jwt_jwks_max_size \(4096\)/);
  assert.match(log, /JWKS: 4 keys: at most 3/);
  // back up, at both limits: 3 keys (jwt_jwks_max_keys) in a body of
  // exactly 4096 bytes (jwt_jwks_max_size)
  a.mode = 'exact';
  a.jwks = set('k1', 'k2', 'k3');
  assert.equal(await refused('/a', token('k4')), 'no key for kid');
  await waitMetric('3 keys at the limits held', (x) => x.roomcast_jwks_keys === others + 3);
  await connect('/a', token('k1'));
  // a set without k2: k2 is refused after it
  a.mode = 'ok';
  a.jwks = set('k1');
  assert.equal(await refused('/a', token('k4')), 'no key for kid');
  await waitMetric('the one-key set held', (x) => x.roomcast_jwks_keys === others + 1);
  assert.equal(await refused('/a', token('k2')), 'no key for kid');
  await connect('/a', token('k1'));
});

test('a fetch still running at jwt_jwks_timeout is dropped and the set kept', { skip }, async () => {
  const a = provider.route('/a');
  const m0 = await d.metrics();
  const seen = a.arrivals.length;
  a.mode = 'trickle';
  a.closedAt = 0;
  assert.equal(await refused('/a', token('k4')), 'no key for kid');
  await h.waitFor(() => a.arrivals.length > seen, { what: 'the trickled fetch' });
  await h.waitFor(() => a.closedAt, { what: 'roomcastd closing the trickled fetch', timeout: 6000 });
  const took = a.closedAt - a.arrivals[seen];
  assert.ok(took >= 1500 && took < 4000, `closed ${took} ms after it began (jwt_jwks_timeout 2s)`);
  const m = await waitMetric('the timeout counted', (x) => x.roomcast_jwks_fetch_failures_total === m0.roomcast_jwks_fetch_failures_total + 1);
  assert.equal(m.roomcast_jwks_keys, m0.roomcast_jwks_keys);
  assert.match(d.stderr(), /\/a: not done within jwt_jwks_timeout; keeping the 1 keys in use/);
  await connect('/a', token('k1'));
  a.mode = 'ok';
});

test('a certificate that does not name the URL\'s host is refused', { skip }, async () => {
  await h.waitFor(() => /wrong: TLS: certificate refused: IP address mismatch/.test(d.stderr()),
    { what: 'the /wrong fetch refused' });
  assert.equal(other.route('/wrong').arrivals.length, 0, 'no request sent over it');
  assert.equal(await refused('/wrong', token('k1')), 'signing keys not fetched yet');
});

test('a reload that keeps the URL keeps its set', { skip }, async () => {
  const a = provider.route('/a');
  const m0 = await d.metrics();
  const seen = a.arrivals.length;
  a.mode = 'reset';
  process.kill(d.pid, 'SIGHUP');
  await waitMetric('the reload', (x) => x.roomcast_config_reloads_total === m0.roomcast_config_reloads_total + 1);
  await connect('/a', token('k1'));
  assert.equal(a.arrivals.length, seen, 'no fetch for an unchanged URL');
  a.mode = 'ok';
});

test('a reload that names a new URL fetches it and drops the old one', { skip }, async () => {
  const t = provider.route('/tick');
  const t2 = provider.route('/tick2');
  t2.jwks = set('k3');
  const m0 = await d.metrics();
  fs.writeFileSync(d.configFile, fs.readFileSync(d.configFile, 'utf8').replace(/\/tick\n/, '/tick2\n'));
  process.kill(d.pid, 'SIGHUP');
  await waitMetric('the reload', (x) => x.roomcast_config_reloads_total === m0.roomcast_config_reloads_total + 1);
  const tickSeen = t.arrivals.length;
  // jwt_jwks_refresh 1s: a third fetch of /tick2 means two seconds have
  // passed, in which the old source, alive, would have fetched twice
  await h.waitFor(() => t2.arrivals.length >= 3, { what: 'three fetches of /tick2', timeout: 8000 });
  assert.ok(t.arrivals.length <= tickSeen + 1, 'the old URL is no longer fetched (one may have been in flight)');
  await connect('/tick', token('k3'));
  assert.equal(await refused('/tick', token('k4')), 'no key for kid');
});

test('roomcastd -t refuses an http:// URL and an unreadable CA file', { skip }, async () => {
  const conf = (body) => {
    const p = file(`t${Math.random()}.conf`);
    fs.writeFileSync(p, `listen 127.0.0.1:1\nnamespace /x {\n    auth jwt\n${body}}\n`);
    return p;
  };
  let r = await h.runOnce(['-t', '-c', conf('    jwt_jwks_url http://id.example/jwks\n')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /:4: jwt_jwks_url: only https:\/\/ URLs: the key set must come over TLS/);
  r = await h.runOnce(['-t', '-c', conf(`    jwt_jwks_url https://id.example/jwks\n    jwt_jwks_ca_file ${file('nope.pem')}\n`)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /namespace \/x: jwt_jwks_ca_file .*nope\.pem: no PEM certificate could be read/);
  // a provider that is down is not a reason to refuse the file
  r = await h.runOnce(['-t', '-c', conf(`    jwt_jwks_url https://127.0.0.1:1/jwks\n    jwt_jwks_ca_file ${file('ca.pem')}\n`)]);
  assert.equal(r.code, 0, r.stderr);
});

h.endTests(() => d, { clients: () => open });
