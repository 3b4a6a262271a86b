// reload.test.js - SIGHUP reloads the config file (issue #13), on one
// roomcastd with official clients connected over polling and WebSocket
// while the file changes under them. Covers: what changes live (relay,
// the Redis password at the next connect, log level
// and a log file reopened after logrotate moved it, CORS, room policy, a
// namespace added, an auth jwt secret read again, connect_timeout for
// sessions opened after the reload); what needs a restart (listen, ping
// settings, a namespace removed) is logged by name and keeps running as it
// was; a file with an error is refused with FILE:LINE and changes nothing;
// the counters roomcast_config_reloads_total and
// roomcast_config_reload_failures_total, the gauges
// roomcast_config_last_reload_successful and
// roomcast_config_last_reload_success_timestamp_seconds; through it all the connected
// clients keep their sessions and relay to each other.
// roomcastd only: the reference server has no config file.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const skip = h.REFERENCE && 'roomcastd\'s config file';
const OLD_SECRET = crypto.randomBytes(32).toString('hex');
const NEW_SECRET = crypto.randomBytes(32).toString('hex');
const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-reload-'));
const SECRET_FILE = path.join(keyDir, 'secret');

/** The config file, with {PORT} and {DIR} as the harness fills them (or the values given). */
function configText({ port = '{PORT}', dir = '{DIR}', level = 'info', cors = '', joins = 'chat:*', extra = '', ping = '25s', blocks = '' } = {}) {
  return `listen 127.0.0.1:${port}
path ${h.EIO_PATH}
drain_timeout 0ms
log_level ${level}
log_file ${dir}/roomcastd.log
ping_interval ${ping}
${cors ? `cors_origin ${cors}\n` : ''}${extra}
namespace / {
    client_join ${joins}
    relay yes
}
namespace /jwt {
    auth jwt
    jwt_secret_file ${SECRET_FILE}
}
${blocks}`;
}

let d;
const open = h.trackedClients();
before(async () => {
  if (skip) return;
  fs.writeFileSync(SECRET_FILE, OLD_SECRET);
  d = await h.startDaemon({ sio: true, config: configText() });
});
after(() => {
  if (d) d.kill();
  fs.rmSync(keyDir, { recursive: true, force: true });
});

/** The file for this daemon, with <opts> as configText() takes them. */
const fileFor = (opts = {}) => configText({ port: d.port, dir: d.dir, ...opts });
const logText = () => fs.readFileSync(path.join(d.dir, 'roomcastd.log'), 'utf8');

/** Writes <text> (if given) as the file, sends SIGHUP, waits for <counter> to move. */
async function reload(text, counter = 'roomcast_config_reloads_total') {
  const before = (await d.metrics())[counter];
  if (text !== undefined) fs.writeFileSync(d.configFile, text);
  d.child.kill('SIGHUP');
  await h.waitFor(async () => (await d.metrics())[counter] === before + 1, { what: `${counter} +1` });
}

/** Two clients in chat:1, one polling and one WebSocket, that relay to each other. */
async function pair() {
  const poll = h.sioWatchDisconnect(await h.sioRecorded(open, d.port, 'polling'));
  const ws = h.sioWatchDisconnect(await h.sioRecorded(open, d.port, 'websocket'));
  await h.sioJoinAll(poll, ['chat:1']);
  await h.sioJoinAll(ws, ['chat:1']);
  return { poll, ws };
}

async function relays({ poll, ws }, n) {
  poll.emit('said', `p${n}`);
  ws.emit('said', `w${n}`);
  await h.sioWaitGot(ws, ['said', `p${n}`]);
  await h.sioWaitGot(poll, ['said', `w${n}`]);
}

const token = (secret) => h.hs256Token(secret, { sub: 'u', exp: Math.floor(Date.now() / 1000) + 600 });

async function corsHeader(origin) {
  const res = await h.request(d.port, { path: `${h.EIO_PATH}?EIO=4&transport=polling`, headers: { Origin: origin }, waitClose: true });
  return res.headers['access-control-allow-origin'];
}

test('live changes apply while clients over both transports keep their sessions', { skip }, async () => {
  const c = await pair();
  await relays(c, 1);
  assert.deepEqual(await h.sioAck(c.ws, 'join', 'game:1'), ['not allowed']);
  assert.equal(await corsHeader('http://app.example'), undefined);
  assert.match((await h.sioConnectError(h.sioClient(d.port, '/added', { transports: ['websocket'] }))).message, /Invalid namespace/);
  const jwtOld = await h.sioConnect(d.port, '/jwt', { transports: ['websocket'], auth: { token: token(OLD_SECRET) } });
  jwtOld.disconnect();

  // logrotate moves the file away; the reload writes to a new one
  fs.renameSync(path.join(d.dir, 'roomcastd.log'), path.join(d.dir, 'roomcastd.log.1'));
  fs.writeFileSync(SECRET_FILE, NEW_SECRET);
  await reload(fileFor({
    level: 'debug', cors: 'http://app.example', joins: 'chat:* game:*',
    blocks: 'namespace /added {\n    client_join *\n}\n',
  }));

  assert.match(logText(), /reloaded /, 'the reopened log file has the reload');
  assert.deepEqual(await h.sioAck(c.ws, 'join', 'game:1'), ['ok'], 'the new client_join applies to a connected socket');
  assert.deepEqual(await h.sioAck(c.poll, 'join', 'game:1'), ['ok']);
  assert.equal(await corsHeader('http://app.example'), 'http://app.example');
  const added = await h.sioConnect(d.port, '/added', { transports: ['polling'] });
  assert.deepEqual(await h.sioAck(added, 'join', 'x'), ['ok']);
  added.disconnect();
  const jwtNew = await h.sioConnect(d.port, '/jwt', { transports: ['websocket'], auth: { token: token(NEW_SECRET) } });
  jwtNew.disconnect();
  const refused = await h.sioConnectError(h.sioClient(d.port, '/jwt', { transports: ['websocket'], auth: { token: token(OLD_SECRET) } }));
  assert.equal(refused.message, 'bad signature');

  await relays(c, 2);
  await h.waitFor(() => / level=debug msg="session closed" sid=/.test(logText()), { what: 'debug lines (log_level debug)' });
  assert.doesNotMatch(fs.readFileSync(path.join(d.dir, 'roomcastd.log.1'), 'utf8'), / level=debug /, 'none before the reload');
  assert.deepEqual(c.poll.disconnects, []);
  assert.deepEqual(c.ws.disconnects, []);
  assert.ok(c.poll.connected && c.ws.connected);
});

test('what needs a restart is logged by name and keeps running as it was', { skip }, async () => {
  const c = await pair();
  const other = await h.freePort();
  const logBefore = logText().length;
  await reload(fileFor({ port: other, ping: '5s', cors: 'http://app.example', joins: 'chat:* game:*' }));
  const said = logText().slice(logBefore);
  for (const key of ['listen', 'ping_interval', 'namespace /added \\(removed\\)']) {
    assert.match(said, new RegExp(`level=warn msg="reload: ${key} changed in the file: needs a restart`), key);
  }
  assert.equal((await h.request(d.port, { path: '/healthz', waitClose: true })).status, 200, 'still on the old port');
  await assert.rejects(h.request(other, { path: '/healthz', waitClose: true }), 'not on the new one');
  const added = await h.sioConnect(d.port, '/added', { transports: ['websocket'] });
  added.disconnect();
  // clients were told pingInterval 25000 at handshake; a new one is too
  const hs = await h.handshake(d.port);
  assert.equal(hs.open.pingInterval, 25000);
  await relays(c, 3);
  assert.deepEqual(c.ws.disconnects, []);
});

test('roomcast_config_last_reload_successful, and when the file was last applied', { skip }, async () => {
  const start = await d.metrics();
  assert.equal(start.roomcast_config_last_reload_successful, 1, 'the start applied the file');
  const t0 = start.roomcast_config_last_reload_success_timestamp_seconds;
  assert.ok(Math.abs(t0 - Date.now() / 1000) < 600, `${t0} is now`);
  const good = fs.readFileSync(d.configFile, 'utf8');
  await reload(`${good}\nbogus_key 1\n`, 'roomcast_config_reload_failures_total');
  const refused = await d.metrics();
  assert.equal(refused.roomcast_config_last_reload_successful, 0);
  assert.equal(refused.roomcast_config_last_reload_success_timestamp_seconds, t0, 'a refusal keeps the time');
  await reload(good);
  const applied = await d.metrics();
  assert.equal(applied.roomcast_config_last_reload_successful, 1);
  const t1 = applied.roomcast_config_last_reload_success_timestamp_seconds;
  assert.ok(t1 >= t0 && t1 <= Date.now() / 1000 + 1, `${t0} <= ${t1} <= now`);
});

test('a file with an error is refused with FILE:LINE and changes nothing', { skip }, async () => {
  const c = await pair();
  const good = fileFor({ cors: 'http://app.example', joins: 'chat:* game:*', blocks: 'namespace /added {\n}\n' });
  await reload(good);
  await reload(good.replace('relay yes', 'relay yes\n    relay_maybe yes'), 'roomcast_config_reload_failures_total');
  const line = good.replace('relay yes', 'relay yes\n    relay_maybe yes').split('\n').findIndex((l) => l.includes('relay_maybe')) + 1;
  assert.match(logText(), new RegExp(`level=error msg="reload refused: ${d.configFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:${line}: unknown key 'relay_maybe'; the running configuration stays`));
  // a key file that cannot be read: refused too, the old key stays in use
  fs.rmSync(SECRET_FILE);
  await reload(good, 'roomcast_config_reload_failures_total');
  assert.match(logText(), /reload refused: .*namespace \/jwt: .*secret/);
  const jwt = await h.sioConnect(d.port, '/jwt', { transports: ['websocket'], auth: { token: token(NEW_SECRET) } });
  jwt.disconnect();
  assert.deepEqual(await h.sioAck(c.ws, 'join', 'game:2'), ['ok'], 'the running policy stays');
  assert.equal(await corsHeader('http://app.example'), 'http://app.example');
  await relays(c, 4);
  assert.deepEqual(c.poll.disconnects, []);
});

test('connect_timeout: sessions opened after the reload get the new one', { skip }, async () => {
  fs.writeFileSync(SECRET_FILE, NEW_SECRET);
  await reload(fileFor({ cors: 'http://app.example', joins: 'chat:* game:*', extra: 'connect_timeout 300ms\n', blocks: 'namespace /added {\n}\n' }));
  const t0 = Date.now();
  const { ws } = await h.wsSession(d.port);
  await ws.closed({ timeout: 5000 });
  assert.ok(Date.now() - t0 < 2000, `closed after ${Date.now() - t0} ms (connect_timeout 300ms, default 45s)`);
});

test('relay and the Redis password change live: a relay stops, the next connect authenticates anew', { skip }, async () => {
  const r = await h.startRedis();
  const c = await h.startClusterDaemon(r, { raw: 'namespace /r {\n    client_join *\n    relay yes\n}\n' });
  const admin = await r.client();
  try {
    const a = await h.sioConnect(c.port, '/r', { transports: ['websocket'] });
    const b = h.sioWatchDisconnect(await h.sioRecorded(open, c.port, 'websocket', '/r'));
    for (const s of [a, b]) assert.deepEqual(await h.sioAck(s, 'join', 'x'), ['ok']);
    a.emit('said', 1);
    await h.sioWaitGot(b, ['said', 1]);

    const text = fs.readFileSync(c.configFile, 'utf8');
    fs.writeFileSync(c.configFile, `${text.replace('relay yes', 'relay no')}\nredis_password s3cret\n`);
    c.child.kill('SIGHUP');
    await h.waitFor(async () => (await c.metrics()).roomcast_config_reloads_total === 1, { what: 'the reload' });
    const m0 = await c.metrics();
    a.emit('said', 2);
    await h.waitFor(async () => (await c.metrics()).roomcast_sio_events_received_total === m0.roomcast_sio_events_received_total + 1,
      { what: 'the event handled' });
    await h.sioFence(b);
    assert.equal((await c.metrics()).roomcast_sio_events_relayed_total, m0.roomcast_sio_events_relayed_total);
    assert.ok(!b.got.some((e) => e[0] === 'said' && e[1] === 2), 'relay no applies to connected sockets');

    // Redis now wants the password: only the reloaded one gets the daemon back in
    const before = (await c.metrics()).roomcast_redis_reconnects_total;
    await admin.sendCommand(['CONFIG', 'SET', 'requirepass', 's3cret']);
    await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'normal']);
    await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    await h.waitFor(async () => (await c.metrics()).roomcast_redis_reconnects_total > before, { what: 'a reconnect' });
    await h.waitRedis(c, 'up', { timeout: 15000 });
    a.disconnect();
    assert.deepEqual(b.disconnects, []);
  } finally {
    c.kill();
    await admin.disconnect().catch(() => {});
    await r.close();
  }
});

test('SIGTERM: daemon exits 0', { skip }, async () => {
  await d.stop();
});
