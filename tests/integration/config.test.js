// config.test.js - the command line and the config file of roomcastd:
// `-t -c FILE` accepts a file using every key (exit 0) and rejects an unknown
// key or a bad value with `FILE:LINE: message` on stderr and exit 1;
// `--version` and `-h` exit 0; -t checks the log file and the cluster
// secret as start does; start-up errors reach stderr with log_file set;
// -T prints the effective config, which -t accepts and which dumps to
// itself (issue 19); two `listen` lines (IPv4 and [::1]) both
// serve Engine.IO; `log_file` receives the start line; SIGTERM and SIGINT both
// exit 0. The -t/--version/-h cases are roomcastd only (skipped against the
// reference server); the daemon cases run against both.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const only = h.REFERENCE && 'roomcastd command line';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-config-'));
const daemons = [];
after(() => {
  daemons.forEach((x) => x.kill());
  fs.rmSync(tmp, { recursive: true, force: true });
});

function file(name, text) {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, text);
  return p;
}

const GOOD = `# every key once
listen 127.0.0.1:3999
listen [::1]:3999
path /socket.io/
transports polling websocket
allow_upgrades yes
ping_interval 25s
ping_timeout 20000ms
upgrade_timeout 1m
max_payload 1000000
max_connections 10000
max_header_size 16K
max_output_buffer 8M
keepalive_timeout 5s
cors_origin http://a.example http://b.example
log_level debug   # trailing comment
log_file ${path.join(tmp, 'unused.log')}
`;

test('-t on a file with every key: exit 0, nothing on stderr', { skip: only }, async () => {
  const f = file('good.conf', GOOD);
  for (const args of [['-t', '-c', f], ['-c', f, '-t']]) {
    const r = await h.runOnce(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, '');
  }
  // the test mode does not bind: a second check while the first file's port is in use
  const r = await h.runOnce(['-t', '-c', file('ok2.conf', 'ping_interval 500ms\nlog_level warn\n')]);
  assert.equal(r.code, 0, r.stderr);
});

const BAD = [
  ['unknown key', 'listen 127.0.0.1:3999\n# c\nbogus_key 1\n', 3],
  ['duration without unit', 'ping_interval 25\n', 1],
  ['bad duration unit', '\n\nping_timeout 5 seconds\n', 3],
  ['bad size', 'max_payload 1X\n', 1],
  ['negative size', 'max_header_size -1\n', 1],
  ['bad listen address', 'listen nowhere\n', 1],
  ['listen without port', 'listen 127.0.0.1\n', 1],
  ['bad boolean', 'path /socket.io/\nallow_upgrades maybe\n', 2],
  ['unknown transport', 'transports polling carrier-pigeon\n', 1],
  ['bad log level', 'log_level loud\n', 1],
  ['missing value', 'max_connections\n', 1],
];
for (const [name, text, line] of BAD) {
  test(`-t rejects ${name}: exit 1, "FILE:${line}: message"`, { skip: only }, async () => {
    const f = file(`bad-${name.replace(/\W+/g, '-')}.conf`, text);
    const r = await h.runOnce(['-t', '-c', f]);
    assert.equal(r.code, 1, `exit code; stderr: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}: \\S`, 'm'), `stderr: ${r.stderr}`);
  });
}

test('-c with a missing file: exit 1 with the file name on stderr', { skip: only }, async () => {
  const f = path.join(tmp, 'does-not-exist.conf');
  const r = await h.runOnce(['-t', '-c', f]);
  assert.equal(r.code, 1);
  assert.ok(r.stderr.includes(f), `stderr: ${r.stderr}`);
});

test('-t checks the files start would open: a log_file it cannot open, a missing cluster secret', { skip: only }, async () => {
  const noDir = path.join(tmp, 'no-such-dir', 'rc.log');
  const f = file('bad-log.conf', `log_file ${noDir}\n`);
  const r = await h.runOnce(['-t', '-c', f]);
  assert.equal(r.code, 1, `-t passed a log_file start cannot open: ${r.stdout}`);
  assert.equal(r.stderr, `${f}: log_file ${noDir}: No such file or directory\n`);
  const start = await h.runOnce(['-c', f]);
  assert.equal(start.code, 1);
  assert.equal(start.stderr, r.stderr, 'the same words as start');
  // a file not there yet in a directory that is: fine, and not created by -t
  const fresh = path.join(tmp, 'fresh.log');
  const ok = await h.runOnce(['-t', '-c', file('fresh-log.conf', `log_file ${fresh}\n`)]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(fs.existsSync(fresh), false);
  const secret = path.join(tmp, 'no-secret');
  const c = await h.runOnce(['-t', '-c', file('bad-secret.conf', `redis 127.0.0.1:6379\ncluster_listen 127.0.0.1:0\ncluster_secret_file ${secret}\n`)]);
  assert.equal(c.code, 1, 'a missing cluster_secret_file');
  assert.match(c.stderr, new RegExp(`cluster_secret_file ${secret}: No such file or directory`));
});

test('with log_file set, a start-up error goes to stderr too (the journal)', { skip: only }, async () => {
  const busy = require('node:net').createServer();
  await new Promise((res) => busy.listen(0, '127.0.0.1', res));
  try {
    const port = busy.address().port;
    const log = path.join(tmp, 'busy.log');
    const r = await h.runOnce(['-c', file('busy.conf', `listen 127.0.0.1:${port}\nlog_file ${log}\n`)]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^level=error msg="listen 127\\.0\\.0\\.1:${port}: Address already in use"$`, 'm'));
    assert.match(fs.readFileSync(log, 'utf8'), /level=error msg="listen .*: Address already in use"/, 'and to the file');
    assert.doesNotMatch(r.stderr, /level=info/, 'errors only: the file has the rest');
  } finally {
    busy.close();
  }
});

test('-T prints every key with its default; -t accepts it, and it dumps to itself', { skip: only }, async () => {
  const f = file('dumped-from.conf', `${GOOD}namespace /chat {\n  client_join chat:*\n  relay yes\n}\n`);
  const r = await h.runOnce(['-T', '-c', f]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, `${f}: ok\n`);
  const lines = r.stdout.split('\n');
  assert.ok(lines.includes('listen 127.0.0.1:3999') && lines.includes('listen [::1]:3999'), 'as written');
  assert.ok(lines.includes('drain_timeout 10s'), 'a default written out');
  assert.ok(lines.includes('# redis: not set (none: a single instance until the operator names a Redis to share)'));
  assert.ok(lines.includes('namespace / {') && lines.includes('namespace /chat {') && lines.includes('    relay yes'));
  const dumped = file('dumped.conf', r.stdout);
  const t = await h.runOnce(['-t', '-c', dumped]);
  assert.equal(t.code, 0, t.stderr);
  const again = await h.runOnce(['-T', '-c', dumped]);
  assert.equal(again.code, 0, again.stderr);
  const body = (x) => x.slice(x.indexOf('\n'));
  assert.equal(body(again.stdout), body(r.stdout));
  // a file with an error: nothing on stdout
  const bad = await h.runOnce(['-T', '-c', file('bad-T.conf', 'bogus_key 1\n')]);
  assert.equal(bad.code, 1);
  assert.equal(bad.stdout, '');
});

test('an extra argument is named; an unknown key suggests the nearest one', { skip: only }, async () => {
  const r = await h.runOnce(['-t', 'extra-arg']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^roomcastd: unexpected argument 'extra-arg' \(a file goes after -c\)\nusage: roomcastd /);
  const f = file('typo.conf', 'max_conections 5\n');
  const t = await h.runOnce(['-t', '-c', f]);
  assert.equal(t.code, 1);
  assert.equal(t.stderr, `${f}:1: unknown key 'max_conections' (did you mean 'max_connections'?)\n`);
});

test('--version and -h exit 0 and print something', { skip: only }, async () => {
  const v = await h.runOnce(['--version']);
  assert.equal(v.code, 0);
  assert.match(v.stdout + v.stderr, /roomcast/i);
  const hlp = await h.runOnce(['-h']);
  assert.equal(hlp.code, 0);
  assert.match(hlp.stdout + hlp.stderr, /-c/);
});

test('two listen lines (127.0.0.1 and [::1]) both serve Engine.IO', async () => {
  const p4 = await h.freePort('127.0.0.1');
  const p6 = await h.freePort('::1');
  const d = await h.startDaemon({ port: p4, config: { listen: [`127.0.0.1:${p4}`, `[::1]:${p6}`] } });
  daemons.push(d);
  for (const [host, port] of [['127.0.0.1', p4], ['::1', p6]]) {
    const r = await h.request(port, { host, path: '/healthz' });
    assert.equal(r.status, 200, `healthz on ${host}`);
    const hs = await h.request(port, { host, path: h.q('&t=v6') });
    assert.equal(hs.status, 200);
    const sid = JSON.parse(hs.text.slice(1)).sid;
    const conn = await h.RawConn.connect(port, host);
    conn.write(h.buildRequest({ port, method: 'POST', path: h.pollPath(sid), headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, body: `4via ${host}` }));
    h.assertPostOk(await conn.response());
    conn.write(h.buildRequest({ port, path: h.pollPath(sid) }));
    h.assertPollBody(await conn.response(), `4via ${host}`);
    conn.destroy();
  }
  await d.stop();
});

test('log_file receives the start line', async () => {
  const d = await h.startDaemon({ config: { log_file: '{DIR}/roomcast.log'.replace('{DIR}', tmp) } });
  daemons.push(d);
  const log = path.join(tmp, 'roomcast.log');
  const text = await h.waitFor(() => fs.existsSync(log) && fs.readFileSync(log, 'utf8'), { what: 'the log file' });
  assert.match(text, /start|listen/i, `log: ${text}`);
  await d.stop();
});

test('SIGINT: daemon exits 0 with a WebSocket and a pending GET open', async () => {
  const d = await h.startDaemon({});
  daemons.push(d);
  const { ws } = await h.wsSession(d.port);
  const { sid } = await h.handshake(d.port);
  const g = await h.pendingGet(d.port, sid);
  await h.barrier(d.port);
  const stopped = d.stop('SIGINT');
  h.assertPollBody(await g.response, '1', 'pending GET');
  const f = await ws.frame();
  assert.equal(f.opcode, 8, `"${h.show(f.raw)}"`);
  await stopped;
});

test('SIGTERM: daemon exits 0, and roomcastd (no echo) serves Engine.IO too', async () => {
  const d = await h.startDaemon({ echo: false });
  daemons.push(d);
  const { sid } = await h.handshake(d.port);
  h.assertPostOk(await h.post(d.port, sid, '3'));
  await d.stop('SIGTERM');
});
