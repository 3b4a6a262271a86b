// socket-activation.test.js - roomcastd.socket (issue 19): systemd holds
// the listening sockets and passes them in (sd_listen_fds), so that they
// survive a restart or an upgrade of the binary. No systemd runs as PID 1
// here: systemd-socket-activate binds the installed socket unit's
// ListenStream= addresses and passes them the way systemd does (fds 3...,
// $LISTEN_FDS, $LISTEN_PID), to a shell loop standing in for the service
// manager, which runs the installed service's ExecStartPre= and ExecStart=
// lines as written, again each time the daemon exits (systemctl restart
// is a stop, then a start, with the socket unit's sockets held). Covers:
// both installed units pass `systemd-analyze verify`; clients connecting in
// a loop, over TCP and over a unix socket, are never refused across a
// restart and across an upgrade of the binary (a new file put in place,
// then a restart), including clients that connect while no roomcastd runs;
// ExecReload= as written reloads with the sockets kept; a unix socket's
// file survives the daemon; a passed socket that no config line names, or
// that is not a listening stream socket, stops the start with its address;
// port 80 passed in is served by a daemon running as nobody with no
// capability, which cannot bind it itself.
// roomcastd only.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const skip = h.REFERENCE && 'roomcastd\'s socket activation';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-sockact-'));
const children = new Set();
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The values of <key>= lines in a unit file (comments skipped). */
const unitValues = (text, key) => text.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));

/** GET /healthz on a fresh connection (TCP port, or a unix socket path): resolves with the status or rejects. */
function healthz(where) {
  return new Promise((resolve, reject) => {
    const opts = typeof where === 'number' ? { host: '127.0.0.1', port: where } : { socketPath: where };
    const req = http.get({ ...opts, path: '/healthz', agent: false, timeout: 10000, headers: { Host: 'localhost' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
  });
}

/** Spawns <cmd> <args>, its output kept; resolves exited on exit. */
function run(cmd, args, env) {
  // killed with the daemons if the file ends first (a timeout)
  const c = h.track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }));
  children.add(c);
  c.out = '';
  c.stdout.on('data', (x) => { c.out += x; });
  c.stderr.on('data', (x) => { c.out += x; });
  c.exited = new Promise((res) => c.on('exit', (code) => { children.delete(c); res(code); }));
  return c;
}

const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

test('the installed units, run as written under socket activation: no client refused across restarts and an upgrade', { skip, timeout: 120000 }, async (t) => {
  const root = path.join(tmp, 'root');
  // the sanitizer build installed when the tests run it (make asan-integration)
  const asan = fs.readFileSync(h.BIN).includes('AddressSanitizer')
    ? [`BUILD=${path.dirname(h.BIN)}`, 'CC=clang', 'SAN=1'] : [];
  execFileSync('make', ['-s', '-C', h.REPO, 'install', ...asan, `PREFIX=${root}`, `SYSCONFDIR=${root}/etc`, `UNITDIR=${root}/units`]);
  const units = path.join(root, 'units');
  for (const u of ['roomcastd.socket', 'roomcastd.service']) {
    execFileSync('systemd-analyze', ['verify', '--man=no', path.join(units, u)], { stdio: 'pipe' });
  }
  const service = fs.readFileSync(path.join(units, 'roomcastd.service'), 'utf8');
  const socketUnit = fs.readFileSync(path.join(units, 'roomcastd.socket'), 'utf8');
  const [pre] = unitValues(service, 'ExecStartPre');
  const [start] = unitValues(service, 'ExecStart');
  const reloads = unitValues(service, 'ExecReload');
  assert.ok(reloads.length >= 2, 'ExecReload= checks the file, then signals');
  const [listen] = unitValues(socketUnit, 'ListenStream');
  assert.equal(listen, '127.0.0.1:3000');

  // the operator's edit: the installed config and socket unit on a port of
  // the test's, plus a unix socket in both
  const port = await h.freePort();
  const sock = path.join(tmp, 'rc.sock');
  const conf = path.join(root, 'etc/roomcast/roomcast.conf');
  fs.writeFileSync(conf, `${fs.readFileSync(conf, 'utf8').replace('listen              127.0.0.1:3000', `listen 127.0.0.1:${port}`)}` +
    `listen unix:${sock}\n`);
  assert.match(fs.readFileSync(conf, 'utf8'), new RegExp(`^listen 127\\.0\\.0\\.1:${port}$`, 'm'));

  // the service manager: ExecStartPre=, then ExecStart= with $LISTEN_PID
  // its own, its pid noted as $MAINPID; again whenever it exits
  const pidFile = path.join(tmp, 'mainpid');
  const stop = path.join(tmp, 'stop');
  // (in the background, waited for: a SIGTERM to the manager stops it too)
  const manager = [
    'trap \'touch "$STOP"; kill "$main" 2>/dev/null\' TERM',
    'while [ ! -e "$STOP" ]; do',
    `  ${pre} || exit 1`,
    `  sh -c 'echo $$ > "$PIDFILE"; LISTEN_PID=$$; export LISTEN_PID; exec "$@"' sh ${start} &`,
    '  main=$!',
    '  wait "$main"',
    '  echo "manager: main process exited $?" >&2',
    'done',
  ].join('\n');
  // (systemd-socket-activate passes on only the variables named by -E)
  const m = run('systemd-socket-activate', ['-l', `127.0.0.1:${port}`, '-l', sock, '-E', 'PIDFILE', '-E', 'STOP', '-E', 'PATH',
    'sh', '-c', manager], { PIDFILE: pidFile, STOP: stop });
  m.exitSignal = 'SIGTERM';
  await h.waitFor(() => /Listening on .*rc\.sock/.test(m.out), { what: `systemd-socket-activate listening (${m.out})` });

  // clients in loops, each a new connection: systemd-socket-activate starts
  // the manager at the first
  const log = [];
  let running = true;
  const loop = async (where) => {
    while (running) {
      const at = Date.now();
      try {
        const status = await healthz(where);
        log.push({ at, done: Date.now(), status });
      } catch (e) {
        log.push({ at, done: Date.now(), error: `${where}: ${e.message}` });
      }
    }
  };
  const loops = [loop(port), loop(port), loop(sock)];
  const mainPid = () => Number(fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim());
  const served = async () => {
    const n = log.length;
    await h.waitFor(() => log.length > n + 10, { what: 'answers' });
  };
  const gaps = [];
  /** Stops the main process as systemctl restart does; resolves once its successor answers. */
  const restart = async () => {
    const old = mainPid();
    const stopped = Date.now();
    process.kill(old, 'SIGTERM');
    await h.waitFor(() => !alive(old), { what: `pid ${old} gone`, interval: 2 });
    const down = Date.now();
    await h.waitFor(() => mainPid() !== old && alive(mainPid()) && fs.readFileSync(`/proc/${mainPid()}/cmdline`, 'utf8').includes('roomcastd'),
      { what: 'the next main process', interval: 2 });
    const up = Date.now();
    const pid = mainPid();
    await served();
    gaps.push({ stopped, down, up, pid });
    return pid;
  };
  try {
    await h.waitFor(() => mainPid() > 0, { what: `the first start (${m.out})` });
    await served();
    const first = mainPid();
    const second = await restart();
    assert.notEqual(second, first);

    // every ExecReload= as written, in order (the check, then the signal),
    // $MAINPID the main process
    for (const reload of reloads) execFileSync('sh', ['-c', reload.replaceAll('$MAINPID', String(second))]);
    await h.waitFor(() => /reloaded/.test(m.out), { what: 'the reload' });
    await served();

    // an upgrade: a new binary put in place (a new file, as a package
    // manager does), then a restart
    const bin = path.join(root, 'sbin/roomcastd');
    fs.copyFileSync(bin, `${bin}.new`);
    fs.renameSync(`${bin}.new`, bin);
    const third = await restart();
    assert.notEqual(fs.statSync(`/proc/${third}/exe`).ino, undefined);
    assert.equal(fs.realpathSync(`/proc/${third}/exe`), bin);
    await served();
  } finally {
    running = false;
    await Promise.all(loops);
    fs.writeFileSync(stop, '');
    // the main process, whatever the pid file says: the manager's children
    const kids = fs.existsSync(`/proc/${m.pid}`) ? fs.readFileSync(`/proc/${m.pid}/task/${m.pid}/children`, 'utf8') : '';
    for (const pid of kids.trim().split(/\s+/).filter(Boolean).map(Number)) process.kill(pid, 'SIGTERM');
    await m.exited;
  }
  const errors = log.filter((x) => x.error || x.status !== 200);
  assert.deepEqual(errors, [], `every request answered 200 (${log.length} made); manager output:\n${m.out}`);
  // clients connected after the stop and were served by the next process
  // (they waited in the socket's backlog while no roomcastd ran)
  for (const g of gaps) {
    const across = log.filter((x) => x.at >= g.stopped && x.at < g.up && x.done >= g.up);
    const wait = Math.max(...across.map((x) => x.done - x.at));
    t.diagnostic(`restart to pid ${g.pid}: no roomcastd for ${g.up - g.down} ms; ${across.length} requests made ` +
      `after the SIGTERM waited for the next process, up to ${wait} ms`);
    assert.ok(across.length > 0, `requests across the restart to pid ${g.pid}`);
  }
  assert.match(m.out, /listening on 127\.0\.0\.1:\d+ \(socket from systemd\)/);
  assert.match(m.out, /listening on unix:\S+rc\.sock \(socket from systemd\)/);
  assert.doesNotMatch(m.out, /level=error|Sanitizer/);
  assert.equal((m.out.match(/manager: main process exited 0/g) || []).length, 3, 'each stop exited 0');
  assert.ok(fs.statSync(sock).isSocket(), 'the socket file is systemd\'s: it stays');
});

test('a passed socket no config line names, or not a listening stream, stops the start', { skip }, async () => {
  const port = await h.freePort();
  const other = await h.freePort();
  const conf = path.join(tmp, 'mismatch.conf');
  fs.writeFileSync(conf, `listen 127.0.0.1:${port}\n`);
  for (const [flags, message] of [
    [['-l', `127.0.0.1:${other}`], `socket activation: systemd passed 127.0.0.1:${other}, which no listen, admin_listen ` +
      'or cluster_listen line names: the socket unit and the config must name the same addresses'],
    [['--datagram', '-l', `127.0.0.1:${port}`], `socket activation: descriptor 3 (127.0.0.1:${port}) is not a listening ` +
      'stream socket (ListenStream= in roomcastd.socket)'],
  ]) {
    const c = run('systemd-socket-activate', [...flags, h.BIN, '-c', conf]);
    await h.waitFor(() => /Listening on/.test(c.out), { what: 'systemd-socket-activate listening' });
    // the first connection (or datagram) starts it
    if (flags[0] === '--datagram') {
      const dgram = require('node:dgram').createSocket('udp4');
      dgram.send('x', port, '127.0.0.1', () => dgram.close());
    } else {
      healthz(other).catch(() => {});
    }
    assert.equal(await c.exited, 1, c.out);
    assert.ok(c.out.includes(`level=error msg="${message}"`), c.out);
  }
});

test('port 80 passed by systemd needs no capability: an unprivileged daemon serves it, and cannot bind it itself', { skip }, async () => {
  // a loopback address of the test's own (all of 127/8 is this host), so
  // that port 80 is free whatever else runs here
  const ip = `127.${2 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 256)}.${1 + Math.floor(Math.random() * 250)}`;
  const dir = fs.mkdtempSync(path.join(tmp, 'port80-'));
  fs.chmodSync(tmp, 0o711);             // nobody reaches the config, nothing else
  fs.chmodSync(dir, 0o755);
  const conf = path.join(dir, 'rc.conf');
  fs.writeFileSync(conf, `listen ${ip}:80\ndrain_timeout 0ms\n`, { mode: 0o644 });
  const nobody = ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'];

  const own = run('setpriv', [...nobody, h.BIN, '-c', conf]);
  assert.equal(await own.exited, 1, own.out);
  assert.match(own.out, new RegExp(`listen ${ip.replaceAll('.', '\\.')}:80: Permission denied`));

  const c = run('systemd-socket-activate', ['-l', `${ip}:80`, 'setpriv', ...nobody, h.BIN, '-c', conf]);
  await h.waitFor(() => /Listening on/.test(c.out), { what: 'systemd-socket-activate on port 80' });
  const res = await new Promise((resolve, reject) => {
    http.get({ host: ip, port: 80, path: '/healthz', agent: false }, (r) => {
      r.resume();
      r.on('end', () => resolve(r.statusCode));
    }).on('error', reject);
  });
  assert.equal(res, 200);
  assert.match(c.out, /listening on \S+:80 \(socket from systemd\)/);
  const status = fs.readFileSync(`/proc/${c.pid}/status`, 'utf8');
  assert.match(status, /^Uid:\s+65534\b/m, 'the daemon runs as nobody');
  assert.match(status, /^CapEff:\s+0+$/m, 'with no capability');
  c.kill('SIGTERM');
  assert.equal(await c.exited, 0, c.out);
});
