// install.test.js - `make install`, the systemd units and the installed
// config (issues #13, #19). Covers: install honours PREFIX, SBINDIR, SYSCONFDIR,
// MANDIR, UNITDIR and DESTDIR, and writes units naming the paths it used;
// the installed binary reads SYSCONFDIR's roomcast.conf without -c; each
// instance of the template has its own RuntimeDirectory and LogsDirectory;
// `systemd-analyze verify` passes on roomcastd.service and an instance of
// roomcastd@.service (its own config, NAME.conf), and `systemd-analyze
// security --offline=yes` rates both at an exposure of 2.0 or less; every
// system call the daemon makes (traced with strace over WebSocket and
// polling clients, a unix socket, a /metrics scrape, Redis, a reload and a
// drain) is one the unit's
// SystemCallFilter allows; the installed config checks, listens on
// loopback and lets no client join a room or reach another; uninstall
// removes what install put there, the links `systemctl enable` made to its
// units and the directories install created (no other), and keeps a config
// changed since; the shipped logrotate file rotates the log_file of both
// units and then sends SIGUSR1 to their main processes; the installed
// unit's ExecStart and ExecReload lines, run as written, fail a reload of a
// file with an error before any SIGHUP (issue 19).
// roomcastd only.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const skip = h.REFERENCE && 'roomcastd\'s installation';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-install-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const make = (...args) => execFileSync('make', ['-s', '-C', h.REPO, ...args], { encoding: 'utf8' });
const analyze = (...args) => {
  try {
    return { code: 0, out: execFileSync('systemd-analyze', args, { encoding: 'utf8', stdio: 'pipe' }) };
  } catch (e) {
    return { code: e.status, out: `${e.stdout}${e.stderr}` };
  }
};

/** An install under <root> with real paths (systemd-analyze verify checks that ExecStart exists). */
function installAt(root) {
  const dirs = { PREFIX: root, SYSCONFDIR: `${root}/etc`, UNITDIR: `${root}/units` };
  make('install', ...Object.entries(dirs).map(([k, v]) => `${k}=${v}`));
  return dirs;
}

test('install honours PREFIX, SYSCONFDIR, UNITDIR and DESTDIR; the units name the paths used', { skip }, () => {
  const root = path.join(tmp, 'real');
  installAt(root);
  for (const f of ['sbin/roomcastd', 'share/man/man8/roomcastd.8', 'share/man/man5/roomcast.conf.5',
    'share/doc/roomcast/roomcast.conf.example', 'etc/roomcast/roomcast.conf', 'units/roomcastd.service',
    'units/roomcastd@.service', 'units/roomcastd.socket', 'etc/logrotate.d/roomcast']) assert.ok(fs.existsSync(path.join(root, f)), f);
  const unit = fs.readFileSync(path.join(root, 'units/roomcastd.service'), 'utf8');
  assert.match(unit, new RegExp(`^ExecStart=${root}/sbin/roomcastd -c ${root}/etc/roomcast/roomcast.conf$`, 'm'));
  assert.match(unit, new RegExp(`^ExecReload=${root}/sbin/roomcastd -t -c ${root}/etc/roomcast/roomcast.conf$`, 'm'));
  assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  const tpl = fs.readFileSync(path.join(root, 'units/roomcastd@.service'), 'utf8');
  assert.match(tpl, new RegExp(`^ExecStart=${root}/sbin/roomcastd -c ${root}/etc/roomcast/%i.conf$`, 'm'));
  assert.match(tpl, /^Description=.* \(%i\)$/m);
  assert.match(tpl, new RegExp(`^ExecReload=${root}/sbin/roomcastd -t -c ${root}/etc/roomcast/%i.conf$`, 'm'));
  // each instance its own runtime and logs directories: systemd removes a
  // RuntimeDirectory at stop, with every unix socket in it
  assert.match(tpl, /^RuntimeDirectory=roomcast\/%i$/m);
  assert.match(tpl, /^LogsDirectory=roomcast\/%i$/m);
  for (const line of tpl.match(/^\w+Directory=.*$/gm)) assert.match(line, /=roomcast\/%i$/, line);
  assert.match(unit, /^RuntimeDirectory=roomcast$/m);

  const staged = path.join(tmp, 'staged');
  make('install', `DESTDIR=${staged}`, 'PREFIX=/usr', 'MANDIR=/usr/share/man', 'SBINDIR=/usr/bin');
  assert.ok(fs.existsSync(path.join(staged, 'usr/bin/roomcastd')));
  assert.ok(fs.existsSync(path.join(staged, 'usr/share/man/man8/roomcastd.8')));
  assert.ok(fs.existsSync(path.join(staged, 'etc/roomcast/roomcast.conf')));
  const stagedUnit = fs.readFileSync(path.join(staged, 'etc/systemd/system/roomcastd.service'), 'utf8');
  assert.match(stagedUnit, /^ExecStart=\/usr\/bin\/roomcastd -c \/etc\/roomcast\/roomcast.conf$/m, 'DESTDIR is not in the unit');
});

test('the installed binary reads SYSCONFDIR\'s config without -c; its man pages name it', { skip }, () => {
  const root = path.join(tmp, 'real');
  // installed by the test above, with SYSCONFDIR=<root>/etc
  const checked = execFileSync(path.join(root, 'sbin/roomcastd'), ['-t'], { encoding: 'utf8' });
  assert.equal(checked, `${root}/etc/roomcast/roomcast.conf: ok\n`);

  const staged = path.join(tmp, 'staged-sysconf');
  make('install', `DESTDIR=${staged}`, 'PREFIX=/usr', 'SYSCONFDIR=/opt/rc/etc');
  const help = execFileSync(path.join(staged, 'usr/sbin/roomcastd'), ['-h'], { encoding: 'utf8' });
  assert.match(help, /\(default \/opt\/rc\/etc\/roomcast\/roomcast\.conf\)/);
  assert.ok(fs.existsSync(path.join(staged, 'opt/rc/etc/roomcast/roomcast.conf')));
  const man = fs.readFileSync(path.join(staged, 'usr/share/man/man8/roomcastd.8'), 'utf8');
  assert.match(man, /\/opt\/rc\/etc\/roomcast\/roomcast\.conf/);
  assert.doesNotMatch(man.replaceAll('/opt/rc/etc/roomcast/', ''), /\/etc\/roomcast\//);
  // the build's own binary keeps its default: install built another
  assert.match(execFileSync(path.join(h.REPO, 'build/roomcastd'), ['-h'], { encoding: 'utf8' }),
    /\(default \/etc\/roomcast\/roomcast\.conf\)/);
});

test('systemd-analyze: both units verify, and each exposure is at most 2.0', { skip }, (t) => {
  const root = path.join(tmp, 'real');
  const units = path.join(root, 'units');
  // an instance of the template, as systemd would load roomcastd@eu.service
  fs.copyFileSync(path.join(units, 'roomcastd@.service'), path.join(units, 'roomcastd@eu.service'));
  for (const unit of ['roomcastd.service', 'roomcastd@eu.service']) {
    const file = path.join(units, unit);
    const v = analyze('verify', '--man=no', file);
    assert.equal(v.code, 0, `verify ${unit}: ${v.out}`);
    const s = analyze('security', '--offline=yes', file);
    const m = /Overall exposure level for \S+: (\d+\.\d+)/.exec(s.out);
    assert.ok(m, `security ${unit}: ${s.out}`);
    t.diagnostic(`${unit}: exposure ${m[1]}`);
    assert.ok(Number(m[1]) <= 2.0, `${unit}: exposure ${m[1]}\n${s.out}`);
  }
});

/** The command lines of <key> (ExecStart, ExecReload) in <unit>'s text, in order, split as systemd splits them. */
const unitCommands = (unit, key) => [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1].trim().split(/\s+/));

/** Runs <argv> as systemd runs an Exec line ($MAINPID set); resolves with its exit status. */
function runLine(argv, mainPid) {
  const args = argv.map((a) => a.replaceAll('$MAINPID', String(mainPid)));
  return new Promise((resolve) => {
    const c = spawn(args[0], args.slice(1), { stdio: 'ignore' });
    c.on('exit', (code) => resolve(code));
  });
}

/** What `systemctl reload` does: each ExecReload line in turn, stopping at the first that fails. */
async function systemctlReload(lines, mainPid) {
  for (const argv of lines) {
    const code = await runLine(argv, mainPid);
    if (code !== 0) return code;
  }
  return 0;
}

test('the unit\'s ExecReload fails on a file with an error, and sends no SIGHUP', { skip }, async () => {
  const root = path.join(tmp, 'reload');
  installAt(root);
  const unit = fs.readFileSync(path.join(root, 'units/roomcastd.service'), 'utf8');
  const [start] = unitCommands(unit, 'ExecStart');
  const reloads = unitCommands(unit, 'ExecReload');
  const conf = path.join(root, 'etc/roomcast/roomcast.conf');
  assert.deepEqual(start, [path.join(root, 'sbin/roomcastd'), '-c', conf]);
  const port = await h.freePort();
  const good = `listen 127.0.0.1:${port}\ndrain_timeout 0ms\n`;
  fs.writeFileSync(conf, good);
  const daemon = spawn(start[0], start.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  daemon.stderr.on('data', (x) => { stderr += x; });
  const exited = new Promise((res) => daemon.on('exit', (code) => res(code)));
  const metrics = async () => h.parseMetrics((await h.request(port, { path: '/metrics', waitClose: true })).text);
  try {
    await h.waitFor(async () => (await h.request(port, { path: '/healthz', waitClose: true }).catch(() => null))?.status === 200,
      { what: 'the daemon ExecStart started' });
    assert.equal(await systemctlReload(reloads, daemon.pid), 0, 'a good file reloads');
    await h.waitFor(async () => (await metrics()).roomcast_config_reloads_total === 1, { what: 'the reload' });
    fs.writeFileSync(conf, `${good}max_conections 5\n`);
    assert.equal(await systemctlReload(reloads, daemon.pid), 1, 'a file with an error fails the reload');
    const m = await metrics();
    assert.equal(m.roomcast_config_reload_failures_total, 0, 'checked before any SIGHUP');
    assert.equal(m.roomcast_config_last_reload_successful, 1);
    daemon.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  } finally {
    daemon.kill('SIGKILL');
  }
});

/** The names in a systemd-analyze syscall-filter set, groups expanded, recursively. */
function syscallSet(name, seen = new Set()) {
  const out = analyze('syscall-filter', name).out;
  const names = new Set();
  for (const raw of out.split('\n').slice(1)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    if (line.startsWith('@')) {
      if (!seen.has(line)) {
        seen.add(line);
        for (const n of syscallSet(line, seen)) names.add(n);
      }
    } else {
      names.add(line);
    }
  }
  return names;
}

test('every system call the daemon makes is one SystemCallFilter allows', { skip }, async () => {
  const unit = fs.readFileSync(path.join(h.REPO, 'systemd/roomcastd.service'), 'utf8');
  assert.match(unit, /^SystemCallFilter=@system-service$/m);
  assert.match(unit, /^SystemCallFilter=~@privileged$/m);
  const allowed = syscallSet('@system-service');
  for (const n of syscallSet('@privileged')) allowed.delete(n);

  const r = await h.startRedis();
  const trace = path.join(tmp, 'strace.out');
  const port = await h.freePort();
  const conf = path.join(tmp, 'traced.conf');
  const admin = await h.freePort();
  fs.writeFileSync(conf, `listen 127.0.0.1:${port}\nlisten unix:${tmp}/traced.sock mode=0660\n` +
    `admin_listen 127.0.0.1:${admin}\nredis ${r.addr}\nlog_level debug\ndrain_timeout 300ms\n` +
    'namespace / {\n  client_join *\n  relay yes\n}\n');
  // the binary make install puts in place (a sanitizer build cannot run
  // under ptrace: LeakSanitizer refuses to)
  const bin = path.join(h.REPO, 'build', 'roomcastd');
  const child = spawn('strace', ['-f', '-qq', '-o', trace, bin, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (x) => { stderr += x; });
  const exited = new Promise((res) => child.on('exit', (code) => res(code)));
  try {
    await h.waitFor(async () => {
      const res = await h.request(port, { path: '/healthz', waitClose: true }).catch(() => null);
      return res && /redis up/.test(res.text);
    }, { what: 'the traced daemon up with Redis' });
    assert.equal((await h.request(admin, { path: '/metrics', waitClose: true })).status, 200);
    const a = await h.sioConnect(port, '/', { transports: ['websocket'] });
    const b = await h.sioConnect(port, '/', { transports: ['polling'] });
    const c = await h.sioConnect(port, '/');                      // polling, then upgrade
    for (const s of [a, b, c]) assert.deepEqual(await h.sioAck(s, 'join', 'r'), ['ok']);
    const got = new Promise((res) => b.once('hi', res));
    a.emit('hi', Buffer.from([1, 2]));
    await got;
    // signals go to the daemon, strace's child, not to strace
    const pid = Number(fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim());
    process.kill(pid, 'SIGHUP');
    await h.waitFor(() => stderr.includes('reloaded'), { what: 'the reload' });
    process.kill(pid, 'SIGTERM');
    assert.equal(await exited, 0, stderr);
    for (const s of [a, b, c]) s.disconnect();
  } finally {
    child.kill('SIGKILL');
    await r.close();
  }
  const used = new Set();
  for (const line of fs.readFileSync(trace, 'utf8').split('\n')) {
    const m = /^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]/.exec(line);
    if (m && m[1] !== 'exit' && m[1] !== 'resumed') used.add(m[1]);
  }
  assert.ok(used.has('epoll_wait') && used.has('accept4') && used.has('timerfd_settime'), `traced: ${[...used]}`);
  const denied = [...used].filter((n) => !allowed.has(n));
  assert.deepEqual(denied, [], `system calls outside the unit's filter: ${denied}`);
});

test('the installed config: loopback, no room joins, no relay', { skip }, async () => {
  const installed = fs.readFileSync(path.join(h.REPO, 'conf/installed.conf'), 'utf8');
  assert.match(installed, /^listen\s+127\.0\.0\.1:3000$/m);
  execFileSync(h.BIN, ['-t', '-c', path.join(h.REPO, 'conf/installed.conf')]);
  // its port, and drain_timeout 0ms as every test daemon that stops with clients on it
  const d = await h.startDaemon({ sio: true, config: installed.replace(/^listen\s+\S+$/m, 'listen 127.0.0.1:{PORT}\ndrain_timeout 0ms') });
  try {
    const a = await h.sioConnect(d.port, '/', { transports: ['websocket'] });
    const b = await h.sioConnect(d.port, '/', { transports: ['websocket'] });
    assert.deepEqual(await h.sioAck(a, 'join', 'anything'), ['not allowed']);
    let heard = 0;
    b.onAny(() => { heard++; });
    a.emit('hello', 1);
    await h.sioFence(b);
    assert.equal(heard, 0, 'nothing relayed');
    a.disconnect();
    b.disconnect();
    await d.stop();
  } finally {
    d.kill();
  }
});

test('uninstall removes what install put there, and keeps a changed config', { skip }, () => {
  const root = path.join(tmp, 'real');
  const dirs = { PREFIX: root, SYSCONFDIR: `${root}/etc`, UNITDIR: `${root}/units` };
  const args = Object.entries(dirs).map(([k, v]) => `${k}=${v}`);
  fs.rmSync(path.join(root, 'units/roomcastd@eu.service'));
  const conf = path.join(root, 'etc/roomcast/roomcast.conf');
  fs.appendFileSync(conf, 'max_connections 5000\n');
  const said = make('uninstall', ...args);
  assert.match(said, /kept .*roomcast\.conf \(changed since install\)/);
  assert.ok(fs.existsSync(conf));
  const left = execFileSync('find', [root, '-type', 'f'], { encoding: 'utf8' }).trim().split('\n');
  assert.deepEqual(left, [conf]);
  // unchanged: removed with its directory
  fs.rmSync(conf);
  installAt(root);
  make('uninstall', ...args);
  assert.equal(execFileSync('find', [root, '-type', 'f'], { encoding: 'utf8' }).trim(), '');
  assert.ok(!fs.existsSync(path.join(root, 'etc/roomcast')));
});

test('uninstall removes the links enabling its units and the directories install created, no other', { skip }, () => {
  const staged = path.join(tmp, 'enabled');
  // there before install: kept, even empty
  fs.mkdirSync(path.join(staged, 'usr/local/sbin'), { recursive: true });
  make('install', `DESTDIR=${staged}`);
  const wants = path.join(staged, 'etc/systemd/system/multi-user.target.wants');
  execFileSync('systemctl', [`--root=${staged}`, 'enable', 'roomcastd.service', 'roomcastd@eu.service', 'roomcastd.socket'],
    { stdio: 'pipe' });
  assert.ok(fs.lstatSync(path.join(staged, 'etc/systemd/system/sockets.target.wants/roomcastd.socket')).isSymbolicLink());
  assert.ok(fs.lstatSync(path.join(wants, 'roomcastd@eu.service')).isSymbolicLink());
  // another unit's link in the same folder stays
  fs.symlinkSync('/lib/systemd/system/other.service', path.join(wants, 'other.service'));
  const said = make('uninstall', `DESTDIR=${staged}`);
  assert.match(said, /removed .*multi-user\.target\.wants\/roomcastd\.service/);
  const left = execFileSync('find', [staged], { encoding: 'utf8' }).trim().split('\n').map((f) => path.relative(staged, f));
  assert.deepEqual(left.sort(), ['', 'etc', 'etc/systemd', 'etc/systemd/system', 'etc/systemd/system/multi-user.target.wants',
    'etc/systemd/system/multi-user.target.wants/other.service', 'usr', 'usr/local', 'usr/local/sbin']);

  // enabled again, the folder holds only ours: it goes with them
  fs.rmSync(path.join(wants, 'other.service'));
  make('install', `DESTDIR=${staged}`);
  execFileSync('systemctl', [`--root=${staged}`, 'enable', 'roomcastd.service'], { stdio: 'pipe' });
  make('uninstall', `DESTDIR=${staged}`);
  assert.ok(!fs.existsSync(wants));
  assert.ok(fs.existsSync(path.join(staged, 'usr/local/sbin')));
  assert.ok(!fs.existsSync(path.join(staged, 'usr/local/share')));
});

test('the shipped logrotate file rotates the logs of both units and sends their main processes SIGUSR1', { skip }, () => {
  const root = path.join(tmp, 'logrotate');
  installAt(root);
  const shipped = path.join(root, 'etc/logrotate.d/roomcast');
  execFileSync('logrotate', ['-d', '-s', path.join(root, 'state.dry'), shipped], { stdio: 'pipe' });

  // the same file on a folder of the test's, with a systemctl that notes its arguments
  const logs = path.join(root, 'logs');
  fs.mkdirSync(path.join(logs, 'eu'), { recursive: true });
  fs.writeFileSync(path.join(logs, 'roomcastd.log'), 'level=info msg=started\n');
  fs.writeFileSync(path.join(logs, 'eu', 'roomcastd.log'), 'level=info msg=started\n');
  const conf = path.join(root, 'logrotate.conf');
  fs.writeFileSync(conf, fs.readFileSync(shipped, 'utf8').replaceAll('/var/log/roomcast/', `${logs}/`));
  const bin = path.join(root, 'bin');
  fs.mkdirSync(bin);
  const calls = path.join(root, 'systemctl.calls');
  fs.writeFileSync(path.join(bin, 'systemctl'), `#!/bin/sh\necho "$*" >> ${calls}\n`, { mode: 0o755 });
  execFileSync('logrotate', ['-f', '-s', path.join(root, 'state'), conf],
    { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, stdio: 'pipe' });
  for (const dir of [logs, path.join(logs, 'eu')]) {
    assert.ok(fs.existsSync(path.join(dir, 'roomcastd.log.1')), `${dir}: rotated`);
    assert.ok(!fs.existsSync(path.join(dir, 'roomcastd.log')), `${dir}: roomcastd creates the new file`);
  }
  assert.deepEqual(fs.readFileSync(calls, 'utf8').trim().split('\n'), [
    'kill --kill-whom=main --signal=USR1 roomcastd.service',
    'kill --kill-whom=main --signal=USR1 roomcastd@*.service',
  ], 'one SIGUSR1 to each main process, after all the logs moved');
  make('uninstall', `PREFIX=${root}`, `SYSCONFDIR=${root}/etc`, `UNITDIR=${root}/units`);
  assert.ok(!fs.existsSync(shipped));
});
