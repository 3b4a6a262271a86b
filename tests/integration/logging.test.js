// logging.test.js - what operators read (issue #13). Covers: a log file's
// lines are logfmt with a millisecond UTC time (time=...Z level=... msg="...",
// quotes in a message escaped); on stderr the same without the time, and
// under journald (JOURNAL_STREAM set) with the syslog priority prefix; a
// message's fields follow it (sid=, peer=, input=); a line a client can
// cause at will is written at most 10 times a second from one place, the
// rest counted as suppressed=N on the next; a request for an unknown
// session id gets the reference's code 1 answer and a rate-limited line:
// a warning that asks whether the balancer is sticky where another
// instance could own the sid (redis, reuseport), else, as for a poll after
// a normal close on a lone instance, an info line (#19).
// SIGUSR1 reopens the log file, USR2, ALRM and WINCH are logged and
// ignored, QUIT drains; a reload refused still reopens the log; ids of
// connections, sessions and sockets are fields, never inside msg; access_log
// writes a JSON or logfmt line per session opened and closed (issue 19).
// roomcastd only: these are roomcastd's logs.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');

const skip = h.REFERENCE && 'roomcastd\'s logs';

/** A logfmt line as { key: value }, quotes and escapes undone; fails on anything else. */
function parseLogfmt(line) {
  const fields = {};
  const re = /([a-z_]+)=("(?:[^"\\]|\\.)*"|[^\s"]+)(?: |$)/gy;
  let m;
  let end = 0;
  while ((m = re.exec(line))) {
    assert.ok(!(m[1] in fields), `${m[1]} twice in ${line}`);
    fields[m[1]] = m[2].startsWith('"') ? m[2].slice(1, -1).replace(/\\(.)/g, '$1') : m[2];
    end = re.lastIndex;
  }
  assert.equal(end, line.length, `not logfmt: ${line}`);
  return fields;
}
const daemons = [];
after(() => daemons.forEach((d) => d.kill()));

test('a log file: logfmt lines with millisecond UTC times; fields after the message', { skip }, async () => {
  const d = await h.startDaemon({ sio: true,
    config: `listen 127.0.0.1:{PORT}\npath ${h.EIO_PATH}\nlog_file {DIR}/rc.log\ndrain_timeout 0ms\n` });
  daemons.push(d);
  const file = path.join(d.dir, 'rc.log');
  const ws = await h.WsConn.connect(d.port, `${h.EIO_PATH}?EIO=4&transport=websocket`);
  await ws.text(); // open
  ws.sendText('9"bad'); // not an Engine.IO packet: a parse error, quoted input
  await ws.closed();
  await d.stop();
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
  for (const line of lines) {
    assert.match(line, /^time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=(error|warn|info|debug) msg="(?:[^"\\]|\\.)*"( [a-z_]+=("(?:[^"\\]|\\.)*"|\S+))*$/, line);
  }
  const t = Date.parse(/^time=(\S+)/.exec(lines[0])[1]);
  assert.ok(Math.abs(t - Date.now()) < 60000, 'UTC, now');
  const parse = lines.find((l) => l.includes('Engine.IO parse error'));
  assert.match(parse, /level=info msg="Engine.IO parse error" sid=[\w-]{20} input="9\\x22bad"$/);
});

test('stderr: no time, and the syslog priority under journald', { skip }, async () => {
  const plain = await h.startDaemon({ sio: true });
  daemons.push(plain);
  await plain.stop();
  assert.match(plain.stderr(), /^level=info msg="roomcastd [\d.]+ started \(pid \d+, \w+\)"$/m);
  const journal = await h.startDaemon({ sio: true, env: { JOURNAL_STREAM: '8:12345' } });
  daemons.push(journal);
  await journal.stop();
  assert.match(journal.stderr(), /^<6>level=info msg="stopped"$/m);
});

test('a lone instance: a poll after a normal close is an info line, never a warning; code 1 (#19)', { skip }, async () => {
  const d = await h.startDaemon({ sio: true });
  daemons.push(d);
  const { sid } = await h.handshake(d.port);
  h.assertPostOk(await h.post(d.port, sid, '1')); // the client closes
  h.assertEioError(await h.poll(d.port, sid), 1);
  const lines = () => d.stderr().split('\n').filter((l) => l.includes('400 for an unknown session id'));
  await h.waitFor(() => lines().length === 1, { what: 'the line for the poll after the close' });
  assert.equal(lines()[0], `level=info msg="400 for an unknown session id: closed or expired" sid="${sid}" peer=127.0.0.1`);
  // rate-limited all the same: a client can cause it at will
  const N = 40;
  const answers = await Promise.all(Array.from({ length: N }, (_, i) => h.request(d.port, {
    path: `${h.EIO_PATH}?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAA${String(i).padStart(2, '0')}`, waitClose: true,
  })));
  for (const res of answers) h.assertEioError(res, 1);
  assert.ok(lines().length >= 2 && lines().length <= 10, `${lines().length} lines for ${N + 1} requests in under a second`);
  // the next second: one more line, with the count of those not written
  await new Promise((r) => setTimeout(r, 1100));
  h.assertEioError(await h.request(d.port, { path: `${h.EIO_PATH}?EIO=4&transport=polling&sid=BBBBBBBBBBBBBBBBBBBB`, waitClose: true }), 1);
  assert.match(lines().at(-1), new RegExp(`^level=info .*sid="BBBBBBBBBBBBBBBBBBBB" peer=127\\.0\\.0\\.1 suppressed=${N + 1 - 10}$`));
  assert.doesNotMatch(d.stderr(), /level=warn.*unknown session id/, 'no warning where routing cannot be the cause');
  await d.stop();
});

test('where another instance could own the sid (redis, reuseport), a warning that asks about stickiness', { skip }, async () => {
  const r = await h.startRedis();
  try {
    const clustered = await h.startClusterDaemon(r);
    const port = await h.freePort();
    const shared = await h.startDaemon({ sio: true, port, config: `listen 127.0.0.1:${port} reuseport\npath ${h.EIO_PATH}\n` });
    daemons.push(clustered, shared);
    for (const d of [clustered, shared]) {
      h.assertEioError(await h.request(d.port, { path: `${h.EIO_PATH}?EIO=4&transport=polling&sid=CCCCCCCCCCCCCCCCCCCC`, waitClose: true }), 1);
      await h.waitFor(() => d.stderr().includes('sid="CCCCCCCCCCCCCCCCCCCC"'), { what: 'the line' });
      assert.match(d.stderr(), /^level=warn msg="400 for an unknown session id: closed, expired, or another instance's \(is the balancer sticky for polling\? see cluster_listen\)" sid="CCCCCCCCCCCCCCCCCCCC" peer=127\.0\.0\.1$/m);
      await d.stop();
    }
  } finally {
    await r.close();
  }
});

test('SIGUSR1 reopens log_file; USR2, ALRM and WINCH are logged and ignored; QUIT drains', { skip }, async () => {
  const d = await h.startDaemon({ sio: true,
    config: `listen 127.0.0.1:{PORT}\npath ${h.EIO_PATH}\nlog_file {DIR}/rc.log\ndrain_timeout 0ms\n` });
  daemons.push(d);
  const file = path.join(d.dir, 'rc.log');
  const read = () => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');
  fs.renameSync(file, `${file}.1`);           // logrotate's move
  d.child.kill('SIGUSR1');
  await h.waitFor(() => read().includes('msg="SIGUSR1: log file reopened"'), { what: 'a new rc.log' });
  for (const sig of ['SIGUSR2', 'SIGALRM', 'SIGWINCH']) {
    d.child.kill(sig);
    await h.waitFor(() => read().includes(`level=warn msg="${sig} ignored (roomcastd(8) lists the signals it takes)"`), { what: `${sig} logged` });
  }
  assert.equal((await h.request(d.port, { path: '/healthz', waitClose: true })).status, 200);
  assert.equal(fs.readFileSync(`${file}.1`, 'utf8').includes('ignored'), false, 'nothing more in the rotated file');
  await d.stop('SIGQUIT');
  assert.match(read(), /msg="stopping on signal 3: moving 0 sessions off over 0 ms"/);
});

test('a rotation while the file is broken: the refused reload still reopens the log', { skip }, async () => {
  const d = await h.startDaemon({ sio: true,
    config: `listen 127.0.0.1:{PORT}\npath ${h.EIO_PATH}\nlog_file {DIR}/rc.log\ndrain_timeout 0ms\n` });
  daemons.push(d);
  const file = path.join(d.dir, 'rc.log');
  const good = fs.readFileSync(d.configFile, 'utf8');
  fs.writeFileSync(d.configFile, `${good}bogus_key 1\n`);
  fs.renameSync(file, `${file}.1`);
  d.child.kill('SIGHUP');
  await h.waitFor(async () => (await d.metrics()).roomcast_config_reload_failures_total === 1, { what: 'the refused reload' });
  assert.match(fs.readFileSync(file, 'utf8'), /level=error msg="reload refused: .*unknown key 'bogus_key'/);
  assert.doesNotMatch(fs.readFileSync(`${file}.1`, 'utf8'), /reload refused/);
  fs.writeFileSync(d.configFile, good);
  await d.stop();
});

test('per-connection lines carry conn=, peer=, sid=, socket= as fields, never inside msg', { skip }, async () => {
  const d = await h.startDaemon({ sio: true,
    config: `listen 127.0.0.1:{PORT}\npath ${h.EIO_PATH}\nlog_file {DIR}/rc.log\nlog_level debug\ndrain_timeout 0ms\n` });
  daemons.push(d);
  const ws = await h.sioConnect(d.port, '/', { transports: ['websocket'] });
  const poll = await h.sioConnect(d.port, '/', { transports: ['polling'] });
  await h.sioAck(ws, 'join', 'r');                              // refused: no client_join
  ws.disconnect();
  poll.disconnect();
  await h.request(d.port, { path: '/nowhere', waitClose: true });   // 404
  await h.request(d.port, { path: `${h.EIO_PATH}?EIO=4&transport=polling&sid=${'A'.repeat(20)}`, waitClose: true });
  await d.waitIdle();
  await d.stop();
  const lines = fs.readFileSync(path.join(d.dir, 'rc.log'), 'utf8').trim().split('\n').map(parseLogfmt);
  for (const l of lines) {
    assert.doesNotMatch(l.msg, /\b(conn \d+|session [\w-]{20}|socket [\w-]{20})\b/, `an id inside msg: ${JSON.stringify(l)}`);
    for (const k of ['sid', 'conn', 'peer', 'socket']) {
      if (l[k]) assert.ok(!l.msg.includes(l[k]), `${k} repeated in msg: ${JSON.stringify(l)}`);
    }
  }
  const closed = lines.filter((l) => l.msg === 'session closed');
  assert.equal(closed.length, 2, JSON.stringify(lines));
  for (const l of closed) {
    assert.match(l.sid, /^[\w-]{20}$/);
    assert.ok(l.reason, JSON.stringify(l));
  }
  const notFound = lines.find((l) => l.msg === '404 for GET');
  assert.ok(notFound, JSON.stringify(lines));
  assert.match(notFound.conn, /^\d+$/);
  assert.match(notFound.peer, /^127\.0\.0\.1:\d+$/);
  assert.equal(notFound.url, '/nowhere');
  assert.ok(lines.some((l) => l.sid === 'A'.repeat(20) && /^127\.0\.0\.1/.test(l.peer)));
});

test('access_log: a line per session opened and closed, JSON or logfmt, whatever log_level says', { skip }, async () => {
  const conf = (format) => `listen 127.0.0.1:{PORT}\npath ${h.EIO_PATH}\nlog_file {DIR}/rc.log\nlog_level error\naccess_log ${format}\ndrain_timeout 0ms\n`;
  const d = await h.startDaemon({ sio: true, config: conf('json') });
  daemons.push(d);
  const file = path.join(d.dir, 'rc.log');
  const ws = await h.sioConnect(d.port, '/', { transports: ['websocket'] });
  const poll = await h.sioConnect(d.port, '/', { transports: ['polling'] });
  const sids = { websocket: ws.io.engine.id, polling: poll.io.engine.id };
  ws.disconnect();
  poll.disconnect();
  await d.waitIdle();
  const json = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  for (const [transport, sid] of Object.entries(sids)) {
    const mine = json.filter((e) => e.sid === sid);
    assert.deepEqual(mine.map((e) => e.msg), ['session opened', 'session closed'], JSON.stringify(json));
    const [open, close] = mine;
    assert.deepEqual(Object.keys(open), ['time', 'level', 'msg', 'sid', 'peer', 'transport']);
    assert.equal(open.peer, '127.0.0.1');
    assert.equal(open.transport, transport);
    assert.ok(Math.abs(Date.parse(open.time) - Date.now()) < 60000);
    assert.equal(close.transport, transport);
    assert.equal(close.reason, 'transport close');
    assert.equal(typeof close.duration_ms, 'number');
    assert.ok(close.duration_ms >= 0);
  }
  // logfmt, after a reload; off again after another
  fs.writeFileSync(d.configFile, conf('logfmt').replaceAll('{PORT}', d.port).replaceAll('{DIR}', d.dir));
  d.child.kill('SIGHUP');
  await h.waitFor(async () => (await d.metrics()).roomcast_config_reloads_total === 1, { what: 'the reload' });
  const again = await h.sioConnect(d.port, '/', { transports: ['websocket'] });
  const sid = again.io.engine.id;
  again.disconnect();
  await d.waitIdle();
  const logfmt = fs.readFileSync(file, 'utf8').trim().split('\n').filter((l) => !l.startsWith('{')).map(parseLogfmt);
  const mine = logfmt.filter((l) => l.sid === sid);
  assert.deepEqual(mine.map((l) => l.msg), ['session opened', 'session closed'], JSON.stringify(logfmt));
  assert.equal(mine[1].reason, 'transport close');
  assert.match(mine[1].duration_ms, /^\d+$/);
  assert.match(mine[1].time, /Z$/);
  fs.writeFileSync(d.configFile, conf('off').replaceAll('{PORT}', d.port).replaceAll('{DIR}', d.dir));
  d.child.kill('SIGHUP');
  await h.waitFor(async () => (await d.metrics()).roomcast_config_reloads_total === 2, { what: 'the reload' });
  const before = fs.readFileSync(file, 'utf8');
  const quiet = await h.sioConnect(d.port, '/', { transports: ['websocket'] });
  quiet.disconnect();
  await d.waitIdle();
  assert.equal(fs.readFileSync(file, 'utf8'), before, 'off: no line');
  await d.stop();
});
