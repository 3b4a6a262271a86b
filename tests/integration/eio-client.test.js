// eio-client.test.js - the official engine.io-client 6.6.3 against
// roomcast-echo (every message is sent back to its sender): polling only,
// WebSocket only, and polling upgraded to WebSocket (the `upgrade` event and
// the transport name); text and binary (Buffer and Uint8Array) messages both
// ways; message sizes from 1 byte up to exactly max_payload (over polling the
// limit is the whole POST body, so the largest text message is max_payload-1
// characters plus the `4` type byte; over WebSocket the frame of the `4` type
// byte + data may be exactly max_payload, a binary frame max_payload bytes);
// a burst of messages arriving in order with nothing lost or duplicated, also
// while the upgrade happens; and the session count returning to 0 after the
// clients close. What it cannot cover: browser-only behaviour (XHR in Node is
// xmlhttprequest-ssl with Connection: close per request).
'use strict';

const { test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');

const MAX = 100 * 1024; // max_payload 100K
let d;

before(async () => {
  d = await h.startDaemon({ echo: true, config: { max_payload: '100K' } });
});
after(() => d && d.kill());

// clients a failed test left open are closed so later tests start clean
const clients = new Set();
afterEach(() => {
  for (const s of clients) s.close();
  clients.clear();
});

/** Collects a client's messages; waitCount(n) resolves once n have arrived. */
function inbox(socket) {
  const items = [];
  let waiter = null;
  socket.on('message', (m) => {
    items.push(m);
    if (waiter && items.length >= waiter.n) { waiter.resolve(); waiter = null; }
  });
  return {
    items,
    waitCount(n) {
      if (items.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out with ${items.length}/${n} messages back`)), 20000);
        waiter = { n, resolve: () => { clearTimeout(t); resolve(); } };
        socket.once('close', (reason) => reject(new Error(`socket closed (${reason}) after ${items.length}/${n} messages`)));
      });
    },
  };
}

async function openClient(transports, opts = {}) {
  const s = h.eioClient(d.port, { transports, ...opts });
  clients.add(s);
  s.on('error', () => {});
  await h.once(s, 'open', { failOn: ['error', 'close'] });
  return s;
}

async function closeClient(s) {
  const closed = h.once(s, 'close');
  s.close();
  await closed;
}

const norm = (m) => (typeof m === 'string' ? m : Buffer.from(m instanceof ArrayBuffer ? new Uint8Array(m) : m));

function assertSameMessages(got, sent) {
  assert.equal(got.length, sent.length, 'message count');
  for (let i = 0; i < sent.length; i++) {
    // an empty message is the bare packet "4": the client delivers undefined
    if (sent[i] === '' && got[i] === undefined) continue;
    const g = norm(got[i]);
    const s = norm(sent[i]);
    if (typeof s === 'string') {
      assert.equal(typeof g, 'string', `message ${i} should be text`);
      assert.ok(g === s, `message ${i}: text differs (got ${g.length} chars "${g.slice(0, 40)}", sent ${s.length} "${s.slice(0, 40)}")`);
    } else {
      assert.ok(Buffer.isBuffer(g), `message ${i} should be binary, got ${typeof g}`);
      assert.ok(g.equals(s), `message ${i}: ${g.length} bytes back, ${s.length} sent, content ${g.equals(s) ? 'same' : 'differs'}`);
    }
  }
}

function text(n) {
  const abc = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return abc.repeat(Math.ceil(n / abc.length)).slice(0, n);
}

function bytes(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) & 0xff;
  return b;
}

for (const mode of ['polling', 'websocket']) {
  test(`${mode} only: opens on ${mode}, text and binary messages come back`, async () => {
    const s = await openClient([mode]);
    assert.equal(s.transport.name, mode);
    let upgraded = false;
    s.on('upgrade', () => { upgraded = true; });
    const box = inbox(s);
    const sent = ['hello', 'é€😀', '', Buffer.from([1, 2, 3]), new Uint8Array([0, 255, 128, 0x1e]), 'after binary'];
    for (const m of sent) s.send(m);
    await box.waitCount(sent.length);
    assertSameMessages(box.items, sent);
    assert.equal(upgraded, false, 'no upgrade expected');
    assert.equal(s.transport.name, mode);
    await closeClient(s);
  });

  test(`${mode} only: sizes from 1 byte up to max_payload exactly`, async () => {
    const s = await openClient([mode]);
    const box = inbox(s);
    // largest message that fits: polling counts the whole POST body ("4" + text,
    // "b" + base64 for binary); WebSocket counts the frame payload
    const maxText = MAX - 1;
    const maxBin = mode === 'polling' ? Math.floor((MAX - 1) / 4) * 3 : MAX;
    const sent = [];
    for (const n of [1, 2, 125, 126, 127, 1023, 1024, 65535, 65536, 65537, maxText]) sent.push(text(n));
    for (const n of [1, 125, 126, 65535, 65536, maxBin]) sent.push(bytes(n));
    // one at a time, so each polling POST carries exactly one message
    for (const m of sent) {
      const n = box.items.length;
      s.send(m);
      await box.waitCount(n + 1);
    }
    assertSameMessages(box.items, sent);
    assert.equal(s.readyState, 'open');
    await closeClient(s);
  });

  test(`${mode} only: a burst of 2000 messages comes back in order, none lost or duplicated`, async () => {
    const s = await openClient([mode]);
    const box = inbox(s);
    const sent = [];
    for (let i = 0; i < 2000; i++) sent.push(i % 5 === 4 ? Buffer.from(`bin${i}`) : `m${i}`);
    for (const m of sent) s.send(m);
    await box.waitCount(sent.length);
    assertSameMessages(box.items, sent);
    await closeClient(s);
  });
}

test('polling then upgrade: upgrade event, transport becomes websocket, messages both ways after it', async () => {
  const s = h.eioClient(d.port, { transports: ['polling', 'websocket'] });
  clients.add(s);
  s.on('error', () => {});
  const upgraded = h.once(s, 'upgrade', { failOn: ['close', 'upgradeError'] });
  await h.once(s, 'open', { failOn: ['error', 'close'] });
  assert.equal(s.transport.name, 'polling');
  const t = await upgraded;
  assert.equal(t.name, 'websocket');
  assert.equal(s.transport.name, 'websocket');
  const box = inbox(s);
  const sent = ['after upgrade', Buffer.from([9, 8, 7]), text(MAX - 1), bytes(MAX)];
  for (const m of sent) s.send(m);
  await box.waitCount(sent.length);
  assertSameMessages(box.items, sent);
  await closeClient(s);
});

test('messages sent continuously while the upgrade happens arrive in order, none lost or duplicated', async () => {
  const s = h.eioClient(d.port, { transports: ['polling', 'websocket'] });
  clients.add(s);
  s.on('error', () => {});
  const box = inbox(s);
  const sent = [];
  let upgradedAt = -1;
  let closed = null;
  s.on('close', (r) => { closed = r; });
  s.on('upgrade', () => { upgradedAt = sent.length; });
  await h.once(s, 'open', { failOn: ['error', 'close'] });
  // a few messages per turn of the event loop until 300 more went after the upgrade
  await new Promise((resolve, reject) => {
    const pump = () => {
      if (closed) return reject(new Error(`closed during pump: ${closed}`));
      if (upgradedAt >= 0 && sent.length >= upgradedAt + 300) return resolve();
      if (sent.length > 200000) return reject(new Error('no upgrade after 200000 messages'));
      for (let i = 0; i < 5; i++) {
        const n = sent.length;
        const m = n % 7 === 6 ? Buffer.from(`b${n}`) : `t${n}`;
        sent.push(m);
        s.send(m);
      }
      setImmediate(pump);
    };
    pump();
  });
  assert.ok(upgradedAt > 0, 'some messages must have been sent before the upgrade');
  assert.equal(s.transport.name, 'websocket');
  await box.waitCount(sent.length);
  assertSameMessages(box.items, sent);
  await closeClient(s);
});

test('tests/programs/eio-suite.conf runs roomcast-echo as the official engine.io test suite expects (#19)', { skip: h.REFERENCE && 'roomcast-echo only' }, async () => {
  const conf = fs.readFileSync(path.join(h.REPO, 'tests', 'programs', 'eio-suite.conf'), 'utf8');
  assert.match(conf, /^listen +127\.0\.0\.1:3000$/m, 'the port the suite connects to');
  // the same file on a free port, loopback IPv4 only (a test machine may lack ::1)
  const suite = await h.startDaemon({ echo: true, config: conf.replace(/^listen +\[::1\].*$/m, '').replaceAll(':3000', ':{PORT}') });
  try {
    const res = await h.request(suite.port, { path: '/engine.io/?EIO=4&transport=polling' });
    const open = JSON.parse(res.text.slice(1));
    assert.deepEqual({ ...open, sid: 'x' }, { sid: 'x', upgrades: ['websocket'], pingInterval: 300, pingTimeout: 200, maxPayload: 1000000 });
    const s = h.eioClient(suite.port, { path: '/engine.io/', transports: ['polling', 'websocket'] });
    clients.add(s);
    await h.once(s, 'open', { failOn: ['error', 'close'] });
    const box = inbox(s);
    s.send('echo me');
    s.send(Buffer.from([1, 2, 3]));
    await box.waitCount(2);
    assert.equal(box.items[0], 'echo me');
    assert.deepEqual(Buffer.from(box.items[1]), Buffer.from([1, 2, 3]));
    s.close();
  } finally {
    await suite.stop();
  }
});

h.endTests(() => d);
