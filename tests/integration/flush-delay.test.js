// flush-delay.test.js - a namespace's flush_delay (roomcast.conf(5)): what a
// broadcast writes to a WebSocket client waits up to the delay, and what
// arrives meanwhile leaves in the same write; a write that is not held (an
// ack, a namespace without delay) takes the held output with it at the end
// of its turn; a client that goes away while output is held costs nothing
// (the ASan build's LeakSanitizer checks the SIGTERM). The delay is 1 s so
// that "held" and "not held" stay far apart on a loaded machine.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const DELAY_MS = 1000;
const RAW = `
namespace / {
    client_join           *
    relay                 yes
    flush_delay           ${DELAY_MS}ms
}
namespace /now {
    client_join           *
    relay                 yes
}
`;

let d;
before(async () => {
  d = await h.startDaemon({ sio: true, raw: RAW });
});
after(() => d && d.kill());

/** A raw WebSocket Socket.IO client on <nsp>, in room "r". */
async function member(nsp) {
  const c = await h.sioRoomMember(d.port, { nsp });
  c.chunks = [];
  c.ws.conn.sock.on('data', (b) => c.chunks.push({ at: Date.now(), bytes: b.length }));
  return c;
}

/** Reads <n> text frames from <c>. */
async function texts(c, n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await c.ws.text());
  return out;
}

test('a burst held by flush_delay reaches the client after the delay in one write; the sender\'s ack does not wait', async () => {
  const rx = await member('/');
  const tx = await member('/');
  const t0 = Date.now();
  for (let i = 0; i < 5; i++) tx.ws.sendText(`42${i + 10}["m",${i}]`);
  const acks = await texts(tx, 5);
  const ackedAt = Date.now();
  assert.deepEqual(acks, [10, 11, 12, 13, 14].map((id) => `43${id}[]`));
  assert.ok(ackedAt - t0 < DELAY_MS * 0.9, `acks are not held (${ackedAt - t0} ms)`);
  assert.deepEqual(await texts(rx, 5), [0, 1, 2, 3, 4].map((i) => `42["m",${i}]`));
  assert.ok(rx.chunks[0].at - t0 >= DELAY_MS * 0.9, `the burst waited the delay (${rx.chunks[0].at - t0} ms)`);
  assert.equal(rx.chunks.length, 1, `one write: chunks ${JSON.stringify(rx.chunks)}`);
  assert.equal(rx.chunks[0].bytes, 5 * (2 + '42["m",0]'.length));
  rx.ws.destroy();
  tx.ws.destroy();
});

test('a namespace without flush_delay writes at the end of the turn', async () => {
  const rx = await member('/now');
  const tx = await member('/now');
  const t0 = Date.now();
  tx.ws.sendText('42/now,["m",1]');
  assert.equal(await rx.ws.text(), '42/now,["m",1]');
  assert.ok(Date.now() - t0 < DELAY_MS * 0.9, `not held (${Date.now() - t0} ms)`);
  rx.ws.destroy();
  tx.ws.destroy();
});

test('a write that is not held flushes the held output with it', async () => {
  const rx = await member('/');
  const tx = await member('/');
  const t0 = Date.now();
  tx.ws.sendText('42["m","held"]');
  // Wait until the relay has surely run, then make the receiver owe an ack:
  // its answer is written unheld and takes the held event along.
  assert.equal(await (async () => { tx.ws.sendText('4277["m","probe"]'); return tx.ws.text(); })(), '4377[]');
  rx.ws.sendText('4278["join","r2"]');
  const got = await texts(rx, 3);
  assert.ok(Date.now() - t0 < DELAY_MS * 0.9, `flushed before the delay (${Date.now() - t0} ms)`);
  assert.deepEqual(got, ['42["m","held"]', '42["m","probe"]', '4378["ok"]']);
  rx.ws.destroy();
  tx.ws.destroy();
});

test('a client that goes away while its output is held is freed; the others still get theirs', async () => {
  const gone = await member('/');
  const stays = await member('/');
  const tx = await member('/');
  tx.ws.sendText('421["m","x"]');
  assert.equal(await tx.ws.text(), '431[]');
  gone.ws.destroy();
  await h.waitFor(async () => (await d.metrics()).roomcast_sessions_current === 2, 'the gone client to be reaped');
  assert.equal(await stays.ws.text(), '42["m","x"]');
  stays.ws.destroy();
  tx.ws.destroy();
});

h.endTests(() => d);
