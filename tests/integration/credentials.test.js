// credentials.test.js - secrets for a unit under DynamicUser (issue 19),
// which cannot read a root-owned 0600 file: every key naming a file to read
// takes credential:NAME, the copy systemd's LoadCredential=NAME:PATH puts
// in $CREDENTIALS_DIRECTORY (set here in the daemon's environment, as
// systemd sets it), and redis_password_file sends AUTH, from a file, on
// every Redis connection. Covers: two instances on a real redis-server
// with requirepass, the password, the cluster secret and the JWT secret all
// credentials: both reach Redis (subscriber and publisher: an event relayed
// from one instance reaches a client of the other), the cluster routes, a
// token signed with the credential's secret connects; after the password
// changes in Redis and in the file, a reload and a cut connection bring the
// instance back with the new one; a wrong password is refused by Redis and
// logged; credential: without $CREDENTIALS_DIRECTORY, or naming a
// credential that is not there, fails -t with the reason; run as nobody
// (standing in for the dynamic user), roomcastd -t cannot read a root-owned
// 0600 secret and reads its copy in the credentials directory.
// roomcastd only.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const skip = h.REFERENCE && 'roomcastd\'s config keys';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-creds-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A credentials directory as systemd lays it out: one file per credential, read-only. */
function credentials(name, files) {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  for (const [k, v] of Object.entries(files)) fs.writeFileSync(path.join(dir, k), v, { mode: 0o400 });
  return dir;
}

const RAW = 'namespace / {\n    auth jwt\n    jwt_secret_file credential:jwt\n    client_join *\n    relay yes\n}\n';
const CONFIG = { redis_password_file: 'credential:redis', cluster_secret_file: 'credential:cluster' };

test('redis_password_file, cluster_secret_file and jwt_secret_file from systemd credentials', { skip }, async () => {
  const password = crypto.randomBytes(12).toString('hex');
  const jwt = crypto.randomBytes(32).toString('hex');
  const r = await h.startRedis({ password });
  const dir = credentials('ok', { redis: `${password}\n`, cluster: crypto.randomBytes(32).toString('base64'), jwt });
  const env = { CREDENTIALS_DIRECTORY: dir };
  const start = async () => {
    const cluster = await h.freePort();
    return h.startClusterDaemon(r, { raw: RAW, env, config: { ...CONFIG, cluster_listen: `127.0.0.1:${cluster}` } });
  };
  const [A, B] = await h.startAll([start(), start()]);
  const redis = await r.client();
  const open = [];
  try {
    for (const d of [A, B]) assert.match(d.stderr(), /cluster: instance [\w-]+, peers forward to 127\.0\.0\.1:\d+/);
    const token = h.hs256Token(jwt, { sub: 'u1', exp: Math.floor(Date.now() / 1000) + 600 });
    const a = await h.sioConnect(A.port, '/', { transports: ['websocket'], auth: { token } });
    const b = await h.sioConnect(B.port, '/', { transports: ['websocket'], auth: { token } });
    open.push(a, b);
    for (const s of [a, b]) assert.deepEqual(await h.sioAck(s, 'join', 'r'), ['ok']);
    const got = h.once(b, 'hi');
    a.emit('hi', 'through Redis');
    assert.equal(await got, 'through Redis');

    // a new password in Redis and in the file: a reload reads it, and the
    // next connections authenticate with it
    const next = crypto.randomBytes(12).toString('hex');
    await redis.configSet('requirepass', next);
    fs.chmodSync(path.join(dir, 'redis'), 0o600);
    fs.writeFileSync(path.join(dir, 'redis'), `${next}\n`);
    A.child.kill('SIGHUP');
    await h.waitFor(() => /reloaded/.test(A.stderr()), { what: 'the reload' });
    await redis.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    await redis.sendCommand(['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes']);
    await h.waitFor(() => /redis \S+: reconnected/.test(A.stderr()), { what: 'A back on Redis with the new password' });
    await h.waitRedis(A, 'up');
    assert.doesNotMatch(A.stderr(), /AUTH refused/);
    for (const s of open) s.disconnect();
    await A.stop();
    await B.stop();
  } finally {
    for (const s of open) s.disconnect();
    A.kill();
    B.kill();
    await r.close();
  }
});

test('a wrong password from redis_password_file is refused by Redis and logged', { skip }, async () => {
  const r = await h.startRedis({ password: 'right-password' });
  const dir = credentials('wrong', { redis: 'wrong-password\n' });
  const d = await h.startDaemon({ sio: true, env: { CREDENTIALS_DIRECTORY: dir },
    config: { redis: r.addr, redis_password_file: 'credential:redis' } });
  try {
    await h.waitFor(() => /AUTH refused: WRONGPASS/.test(d.stderr()), { what: 'the refused AUTH logged' });
    assert.equal((await h.healthz(d.port)).text, 'ok\nredis down\n');
    await d.stop();
  } finally {
    d.kill();
    await r.close();
  }
});

test('credential: without $CREDENTIALS_DIRECTORY, or a missing credential, fails -t with the reason', { skip }, async () => {
  const conf = path.join(tmp, 'check.conf');
  fs.writeFileSync(conf, 'redis 127.0.0.1:6379\nredis_password_file credential:redis\n');
  const env = { ...process.env };
  delete env.CREDENTIALS_DIRECTORY;
  const bare = await h.runOnce(['-t', '-c', conf], { env });
  assert.equal(bare.code, 1);
  assert.equal(bare.stderr, `${conf}:2: redis_password_file: credential:redis needs $CREDENTIALS_DIRECTORY, ` +
    'which systemd sets for a unit with LoadCredential=redis:PATH\n');
  const dir = credentials('empty', {});
  const missing = await h.runOnce(['-t', '-c', conf], { env: { ...env, CREDENTIALS_DIRECTORY: dir } });
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, `${conf}: redis_password_file ${dir}/redis: No such file or directory\n`);
  fs.writeFileSync(path.join(dir, 'redis'), 'pw\n');
  const ok = await h.runOnce(['-t', '-c', conf], { env: { ...env, CREDENTIALS_DIRECTORY: dir } });
  assert.equal(ok.code, 0, ok.stderr);
});

test('as the unit\'s dynamic user: a root-owned 0600 secret is unreadable, its credential copy is read', { skip }, async () => {
  // what systemd does for DynamicUser=yes and LoadCredential=redis:PATH,
  // with nobody as the dynamic user: the secret stays root's, the copy in
  // the credentials directory is the service user's alone
  const dir = fs.mkdtempSync(path.join(tmp, 'dynamic-'));
  fs.chmodSync(tmp, 0o711);
  fs.chmodSync(dir, 0o711);
  const secret = path.join(dir, 'redis.password');
  fs.writeFileSync(secret, 'from-root\n', { mode: 0o600 });
  const creds = path.join(dir, 'credentials');
  fs.mkdirSync(creds, { mode: 0o500 });
  fs.writeFileSync(path.join(creds, 'redis'), fs.readFileSync(secret), { mode: 0o400 });
  fs.chownSync(path.join(creds, 'redis'), 65534, 65534);
  fs.chownSync(creds, 65534, 65534);
  const conf = (value) => {
    const file = path.join(dir, `${value.replace(/\W/g, '_')}.conf`);
    fs.writeFileSync(file, `redis 127.0.0.1:6379\nredis_password_file ${value}\n`, { mode: 0o644 });
    return file;
  };
  const asNobody = (file) => new Promise((resolve) => {
    const c = spawn('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--inh-caps=-all',
      '--bounding-set=-all', h.BIN, '-t', '-c', file], { env: { ...process.env, CREDENTIALS_DIRECTORY: creds } });
    let out = '';
    c.stdout.on('data', (x) => { out += x; });
    c.stderr.on('data', (x) => { out += x; });
    c.on('exit', (code) => resolve({ code, out }));
  });
  const plain = conf(secret);
  const refused = await asNobody(plain);
  assert.equal(refused.code, 1);
  assert.equal(refused.out, `${plain}: redis_password_file ${secret}: Permission denied\n`);
  const viaCredential = conf('credential:redis');
  const ok = await asNobody(viaCredential);
  assert.equal(ok.code, 0, ok.out);
  assert.equal(ok.out, `${viaCredential}: ok\n`);
});
