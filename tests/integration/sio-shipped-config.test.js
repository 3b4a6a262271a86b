// sio-shipped-config.test.js - the chat that `make run` promises: roomcastd
// started on conf/roomcast.conf exactly as shipped (only the port changed)
// lets two official socket.io-client instances, one on polling and one on
// WebSocket, join a `chat:*` room and talk through the relay, with no
// backend; a room outside `chat:*` is refused; `make run CONF=path` runs
// another file. Ends with SIGTERM.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');

const SHIPPED = fs.readFileSync(path.join(h.REPO, 'conf', 'roomcast.conf'), 'utf8');

let d;
before(async () => {
  assert.match(SHIPPED, /^listen\s+127\.0\.0\.1:3000$/m, 'the shipped config listens on 127.0.0.1:3000');
  const config = SHIPPED.replace(/^(listen\s+127\.0\.0\.1:)3000$/m, '$1{PORT}');
  d = await h.startDaemon({ sio: true, config });
});
after(() => d && d.kill());

test('two clients chat in chat:lobby under the shipped policy; other rooms are refused', async () => {
  const alice = h.sioClient(d.port, '/', { transports: ['polling'] });
  const bob = h.sioClient(d.port, '/', { transports: ['websocket'] });
  try {
    await Promise.all([h.sioConnected(alice), h.sioConnected(bob)]);
    assert.deepEqual(await h.sioAck(alice, 'join', 'chat:lobby'), ['ok']);
    assert.deepEqual(await h.sioAck(bob, 'join', 'chat:lobby'), ['ok']);
    assert.deepEqual(await h.sioAck(bob, 'join', 'lobby'), ['not allowed']);
    const toBob = h.once(bob, 'message');
    const toAlice = h.once(alice, 'message');
    alice.emit('message', { from: 'alice', text: 'hi bob' });
    assert.deepEqual(await toBob, { from: 'alice', text: 'hi bob' });
    bob.emit('message', { from: 'bob', text: 'hi alice' });
    assert.deepEqual(await toAlice, { from: 'bob', text: 'hi alice' });
  } finally {
    alice.disconnect();
    bob.disconnect();
  }
  await d.waitIdle();
});

test('make run CONF=path runs that file in the foreground; SIGTERM stops it', { skip: h.REFERENCE && 'make run starts roomcastd' }, async () => {
  const { spawn } = require('node:child_process');
  const os = require('node:os');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-run-'));
  const port = await h.freePort();
  const conf = path.join(dir, 'other.conf');
  fs.writeFileSync(conf, `listen 127.0.0.1:${port}\nnamespace /elsewhere {\n}\n`);
  // its own process group: make, and the daemon it runs in the foreground
  const make = spawn('make', ['-s', '-C', h.REPO, 'run', `CONF=${conf}`], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  make.stdout.on('data', (x) => { out += x; });
  make.stderr.on('data', (x) => { out += x; });
  const exited = new Promise((r) => make.on('exit', (code, signal) => r({ code, signal })));
  try {
    await h.waitFor(async () => (await h.request(port, { path: '/healthz', waitClose: true }).catch(() => null))?.status === 200,
      { what: `make run on port ${port}`, timeout: 60000 });
    const s = await h.sioConnect(port, '/elsewhere', { transports: ['websocket'] });
    s.disconnect();
    process.kill(-make.pid, 'SIGTERM');
    await exited;
    assert.match(out, /started/);
    assert.match(out, /stopped/);
  } finally {
    try { process.kill(-make.pid, 'SIGKILL'); } catch (e) { /* gone */ }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

h.endTests(() => d, { idle: false });
