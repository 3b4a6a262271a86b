// examples-backend.test.js - examples/backend.js (node-redis) and examples/backend.py
// (Debian's python3-redis), each run as real worker processes against roomcastd and a
// real redis-server, as the README tells a user to: every official client below talks
// to roomcastd only, and every answer comes from the worker through Redis. Per
// language: an ack answered with the same arguments (echo); a socket joined to a room
// by the backend (subscribe, through the JSON channel), then an emit to that room
// (say) that reaches both members; an emit to one user's room (whisper); and a worker
// that dies holding an entry without XACK (CRASH_ON), whose entry a second worker
// claims (XAUTOCLAIM) and answers, so the client's ack still comes; and a CONNECT to
// an `auth backend` namespace decided by the worker from the session cookie: a client
// with `session=alice` over polling is accepted and is in user:alice, one without is
// refused with "not signed in"; and a binary event (bytes that are not UTF-8) whose
// bytes come back in the ack (msgpack reply) and in an emit to a room (the emitter's
// msgpack format), the worker living on.
// roomcastd only: the examples speak to roomcastd's stream and JSON channel.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const h = require('./harness');

const skip = h.REFERENCE && 'roomcastd\'s backend stream';
const RAW = `
namespace / {
    client_join           chat:* user:*
}
namespace /signed {
    auth                  backend
}
`;
const WORKERS = {
  node: [process.execPath, [path.join(h.REPO, 'examples', 'backend.js')]],
  python: ['/usr/bin/python3', [path.join(h.REPO, 'examples', 'backend.py')]],
};

let r;
const daemons = {};
const workers = new Set();
const open = h.trackedClients();

before(async () => {
  if (skip) return;
  r = await h.startRedis();
  for (const lang of Object.keys(WORKERS)) {
    daemons[lang] = await h.startClusterDaemon(r, { raw: RAW, config: { backend_stream: `roomcast:${lang}`, backend_headers: 'cookie' } });
  }
});
after(async () => {
  for (const w of workers) w.kill('SIGKILL');
  for (const d of Object.values(daemons)) d.kill();
  if (r) await r.close();
});

/** Starts a worker; resolves once it reads the stream. */
async function worker(lang, consumer, extraEnv = {}) {
  const [cmd, args] = WORKERS[lang];
  const child = spawn(cmd, args, {
    env: {
      ...process.env, NODE_PATH: path.join(h.REPO, 'tests', 'node_modules'), REDIS_URL: r.url,
      STREAM: `roomcast:${lang}`, GROUP: 'workers', CONSUMER: consumer, CLAIM_IDLE_MS: '300', ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  workers.add(child);
  child.output = '';
  child.stdout.on('data', (x) => { child.output += x; });
  child.stderr.on('data', (x) => { child.output += x; });
  child.exited = new Promise((resolve) => child.on('exit', (code) => { workers.delete(child); resolve(code); }));
  await h.waitFor(() => child.output.includes('reading') || child.exitCode !== null, { what: `${lang} worker ${consumer}` });
  assert.equal(child.exitCode, null, `${lang} worker started: ${child.output}`);
  return child;
}

async function client(lang) {
  const s = await h.sioRecorded(open, daemons[lang].port);
  return s;
}

for (const lang of Object.keys(WORKERS)) {
  test(`${lang} worker: acks, a join by the backend, emits to a room and to a user`, { skip }, async () => {
    const w = await worker(lang, `${lang}-1`);
    const a = await client(lang);
    const b = await client(lang);
    const c = await client(lang);
    assert.deepEqual(await h.sioAck(a, 'echo', 'hello', 1), ['hello', 1]);
    assert.deepEqual(await h.sioAck(a, 'subscribe', 'chat:1'), ['ok']);
    assert.deepEqual(await h.sioAck(b, 'subscribe', 'chat:1'), ['ok']);
    assert.deepEqual(await h.sioAck(c, 'join', 'user:carol'), ['ok']);
    a.emit('say', 'chat:1', 'hi');
    a.emit('whisper', 'carol', 'psst');
    await h.waitFor(() => a.got.length === 1 && b.got.length === 1 && c.got.length === 1, { what: 'the backend\'s emits' });
    assert.deepEqual(a.got, [['said', { from: a.id, text: 'hi' }]]);
    assert.deepEqual(b.got, [['said', { from: a.id, text: 'hi' }]]);
    assert.deepEqual(c.got, [['whisper', { from: a.id, text: 'psst' }]]);
    w.kill('SIGTERM');
    await w.exited;
  });

  test(`${lang} worker: binary arguments are read, echoed and emitted as bytes (#19)`, { skip }, async () => {
    const w = await worker(lang, `${lang}-bin`);
    const a = await client(lang);
    const b = await client(lang);
    const bytes = Buffer.from([0, 0xff, 0xfe, 0x80, 0xc3, 0x28, 10]); // not UTF-8
    const bin = { $bin: bytes.toString('hex') };
    assert.deepEqual(await h.sioAck(a, 'echo', bytes, { nested: [bytes, 'x'] }, 2),
      [bin, { nested: [bin, 'x'] }, 2], 'an ack with the same bytes (BINARY_ACK)');
    assert.deepEqual(await h.sioAck(a, 'subscribe', 'chat:bin'), ['ok']);
    assert.deepEqual(await h.sioAck(b, 'subscribe', 'chat:bin'), ['ok']);
    a.emit('say', 'chat:bin', bytes);
    await h.waitFor(() => a.got.length === 1 && b.got.length === 1, { what: 'the binary emit' });
    assert.deepEqual(b.got, [['said', { from: a.id, text: bin }]], 'the bytes, through the emitter format');
    assert.deepEqual(a.got, b.got);
    assert.deepEqual(await h.sioAck(a, 'echo', 'still here'), ['still here'], 'the worker lives on');
    assert.equal(w.exitCode, null, w.output);
    w.kill('SIGTERM');
    await w.exited;
  });

  test(`${lang} worker: auth backend accepts a session cookie, refuses without`, { skip }, async () => {
    const w = await worker(lang, `${lang}-auth`);
    const port = daemons[lang].port;
    const alice = h.sioClient(port, '/signed', { transports: ['polling'], extraHeaders: { cookie: 'theme=dark; session=alice' } });
    open.add(alice);
    await h.sioConnected(alice);
    const stranger = h.sioClient(port, '/signed', { transports: ['polling'] });
    open.add(stranger);
    assert.equal((await h.sioConnectError(stranger)).message, 'not signed in');
    const raw = await (await r.client()).sendCommand(['XRANGE', `roomcast:${lang}`, '-', '+']);
    const joins = raw.map(([, kv]) => kv).filter((kv) => kv.includes(alice.id) && kv.includes('join'));
    assert.ok(joins.some((kv) => kv.includes('user:alice') && kv.includes('alice')), 'in user:alice');
    w.kill('SIGTERM');
    await w.exited;
  });

  test(`${lang} worker: an entry a dead worker left unacknowledged is claimed by another`, { skip }, async () => {
    const dying = await worker(lang, `${lang}-dies`, { CRASH_ON: 'boom' });
    const a = await client(lang);
    const reply = h.sioAck(a, 'boom', 7);
    assert.equal(await dying.exited, 1, `the worker crashed on boom: ${dying.output}`);
    const rescuer = await worker(lang, `${lang}-rescuer`);
    assert.deepEqual(await reply, [{ error: 'unknown event boom' }], 'answered by the second worker');
    await h.waitFor(() => rescuer.output.includes('boom'), { what: 'the rescuer\'s log' });
    rescuer.kill('SIGTERM');
    await rescuer.exited;
  });
}

if (!skip) {
  test('SIGTERM: both daemons exit 0', async () => {
    for (const s of open) s.disconnect();
    open.clear();
    for (const d of Object.values(daemons)) await d.stop();
  });
}
