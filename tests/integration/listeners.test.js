// listeners.test.js - where roomcastd listens (issue #13): a unix socket
// beside TCP, for a balancer on the same host, and reuseport, for several
// processes on one port. Covers: `listen unix:PATH` creates the socket
// file with mode 0666 (as loopback TCP) or the one given (mode=0600),
// serves Engine.IO over it (a polling handshake straight on the socket;
// official clients through nginx's `server
// unix:PATH` over both transports, relaying to a client on the TCP
// listener), a file left by a killed daemon is replaced, a regular file at
// the path is not, the file is gone once the daemon has stopped; two
// daemons with `listen ADDR reuseport` share one port and both get
// clients, while without it the second fails to start with a clear error.
// roomcastd only: the listeners are roomcastd's.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const skip = h.REFERENCE && 'roomcastd\'s listeners';
// drain_timeout 0ms: a stop closes every session at once
const NSP = 'drain_timeout 0ms\nnamespace / {\n    client_join *\n    relay yes\n}\n';

/** GET <p> on the unix socket <sock>: { status, body }. */
function unixGet(sock, p) {
  return new Promise((resolve, reject) => {
    http.get({ socketPath: sock, path: p, headers: { Host: 'localhost' } }, (res) => {
      let body = '';
      res.on('data', (x) => { body += x; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

test('a unix socket beside TCP: its mode, Engine.IO on it, nginx in front, gone at exit', { skip }, async () => {
  const d = await h.startDaemon({ sio: true,
    config: `listen 127.0.0.1:{PORT}\nlisten unix:{DIR}/rc.sock\nlisten unix:{DIR}/private.sock mode=0600\n${NSP}` });
  const sock = path.join(d.dir, 'rc.sock');
  try {
    const st = fs.statSync(sock);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o666, 'default mode: as loopback TCP');
    assert.equal(fs.statSync(path.join(d.dir, 'private.sock')).mode & 0o777, 0o600);
    assert.match(d.stderr(), new RegExp(`listening on unix:${sock}`));
    // nginx's workers run as another user: they must reach the folder
    fs.chmodSync(d.dir, 0o755);

    const hs = await unixGet(sock, `${h.EIO_PATH}?EIO=4&transport=polling`);
    assert.equal(hs.status, 200);
    assert.match(hs.body, /^0\{"sid":"[\w-]{20}"/);

    const port = await h.freePort();
    const nginx = h.startNginx(`upstream rc {\n    server unix:${sock};\n}\n` +
      'map $http_upgrade $c {\n    default upgrade;\n    \'\' \'\';\n}\n' +
      `server {\n    listen 127.0.0.1:${port};\n    location / {\n        proxy_pass http://rc;\n` +
      '        proxy_http_version 1.1;\n        proxy_set_header Upgrade $http_upgrade;\n' +
      '        proxy_set_header Connection $c;\n        proxy_buffering off;\n    }\n}\n');
    try {
      await h.waitFor(async () => (await h.request(port, { path: '/healthz', waitClose: true }).catch(() => null))?.status === 200,
        { what: `nginx on ${port} (${nginx.output()})` });
      const viaWs = await h.sioConnect(port, '/', { transports: ['websocket'] });
      const viaPolling = await h.sioConnect(port, '/', { transports: ['polling'] });
      const direct = await h.sioConnect(d.port, '/', { transports: ['websocket'] });
      for (const s of [viaWs, viaPolling, direct]) assert.deepEqual(await h.sioAck(s, 'join', 'r'), ['ok']);
      const got = [h.once(viaPolling, 'hi'), h.once(direct, 'hi')];
      viaWs.emit('hi', 'over the unix socket');
      assert.deepEqual(await Promise.all(got), ['over the unix socket', 'over the unix socket']);
      for (const s of [viaWs, viaPolling, direct]) s.disconnect();
    } finally {
      await nginx.stop();
    }
    await d.stop();
    assert.ok(!fs.existsSync(sock), 'the socket file is removed at exit');
    assert.ok(!fs.existsSync(path.join(d.dir, 'private.sock')));
  } finally {
    d.kill();
  }
});

test('a socket file left by a killed daemon is replaced; a regular file is not', { skip }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-unix-'));
  const sock = path.join(dir, 'rc.sock');
  try {
    // a socket file nobody listens on, as SIGKILL leaves it
    execFileSync('python3', ['-c', `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(sock)})`]);
    assert.ok(fs.statSync(sock).isSocket());
    const d = await h.startDaemon({ sio: true, config: `listen 127.0.0.1:{PORT}\nlisten unix:${sock}\n${NSP}` });
    try {
      assert.equal((await unixGet(sock, '/healthz')).status, 200);
      await d.stop();
    } finally {
      d.kill();
    }
    fs.writeFileSync(sock, 'not a socket');
    const port = await h.freePort();
    const conf = path.join(dir, 'rc.conf');
    fs.writeFileSync(conf, `listen 127.0.0.1:${port}\nlisten unix:${sock}\n`);
    const run = await h.runOnce(['-c', conf]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`listen unix:${sock}: Address already in use`));
    assert.equal(fs.readFileSync(sock, 'utf8'), 'not a socket', 'left alone');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('reuseport: two daemons on one port both get clients; without it the second cannot start', { skip }, async () => {
  const port = await h.freePort();
  // each scraped on an admin port of its own: on the shared port a scrape
  // would land on either
  const [adminA, adminB] = [await h.freePort(), await h.freePort()];
  const conf = (admin) => `listen 127.0.0.1:{PORT} reuseport\nadmin_listen 127.0.0.1:${admin}\n${NSP}`;
  const a = await h.startDaemon({ sio: true, port, config: conf(adminA) });
  const b = await h.startDaemon({ sio: true, port, config: conf(adminB) });
  a.admin = adminA;
  b.admin = adminB;
  try {
    // startDaemon's readiness check on the shared port may be answered by a:
    // b is up once its admin port answers
    for (const d of [a, b]) {
      await h.waitFor(async () => (await h.request(d.admin, { path: '/healthz', waitClose: true }).catch(() => null))?.status === 200,
        { what: `admin port ${d.admin}` });
    }
    const opened = async (d) => h.parseMetrics((await h.request(d.admin, { path: '/metrics', waitClose: true })).text)
      .roomcast_sio_connects_total;
    const [a0, b0] = [await opened(a), await opened(b)];
    const clients = [];
    for (let i = 0; i < 40; i++) clients.push(await h.sioConnect(port, '/', { transports: ['websocket'] }));
    const onA = (await opened(a)) - a0;
    const onB = (await opened(b)) - b0;
    assert.equal(onA + onB, 40);
    assert.ok(onA > 0 && onB > 0, `the kernel spread them: ${onA} and ${onB}`);
    for (const s of clients) s.disconnect();

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-reuse-'));
    const plain = path.join(dir, 'rc.conf');
    fs.writeFileSync(plain, `listen 127.0.0.1:${port}\n`);
    const run = await h.runOnce(['-c', plain]);
    fs.rmSync(dir, { recursive: true, force: true });
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`listen 127.0.0.1:${port}: Address already in use`));
    await a.stop();
    await b.stop();
  } finally {
    a.kill();
    b.kill();
  }
});
