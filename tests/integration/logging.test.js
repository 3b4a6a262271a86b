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
// roomcastd only: these are roomcastd's logs.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');

const skip = h.REFERENCE && 'roomcastd\'s logs';
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