// websocket-frames.test.js - RFC 6455 framing on Engine.IO WebSocket
// sessions with raw frames (doc/protocol.md, "WebSocket transport";
// tests/vectors/eio-websocket-maxpayload.txt):
// protocol errors close with 1002 (unmasked client frame, reserved opcode, RSV
// bits without an extension, fragmented control frame, continuation without a
// start), invalid UTF-8 closes with 1007 (in one frame and split across
// fragments), a message over max_payload closes with 1009 (one frame and
// fragmented; text and binary), while exactly max_payload passes; close
// frames with a bad code (999, 1005) or a non-UTF-8 reason, and pings over
// 125 bytes are refused; Engine.IO packets that end a session (client ping
// `2`, unknown type, empty frame, a second probe) give 88 00, harmless ones
// (`3`, `5`, `0`, `6`) are ignored; valid UTF-8
// split inside a sequence across fragments, a ping between fragments, and
// ping -> pong with the same payload all work. Each failing session is gone
// afterwards, and a well-behaved WebSocket bystander and a polling bystander
// connected all along keep working. What it does not check: the close reason
// text (the reference sends none; only the code is asserted).
'use strict';

const { test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const MAX = 1000;
let d;
let port;
const bystander = {};
let round = 0;

before(async () => {
  d = await h.startDaemon({ echo: true, config: { max_payload: MAX } });
  port = d.port;
  bystander.ws = await h.wsSession(port);
  bystander.polling = (await h.handshake(port)).sid;
});
after(() => d && d.kill());

afterEach(async () => {
  if (d.exit) return;
  round++;
  bystander.ws.ws.sendText(`4bystander ${round}`);
  assert.equal(await bystander.ws.ws.text(), `4bystander ${round}`, 'bystander websocket echo');
  h.assertPostOk(await h.post(port, bystander.polling, `4bystander ${round}`), 'bystander polling POST');
  h.assertPollBody(await h.poll(port, bystander.polling), `4bystander ${round}`, 'bystander polling GET');
});

/**
 * Reads frames until the close frame; asserts its code, answers it like a
 * real client, and waits for the server to close TCP; then the sid must be gone.
 */
async function expectClose(s, code, what) {
  const f = await s.ws.frame();
  assert.equal(f.opcode, 8, `${what}: expected a close frame, got "${h.show(f.raw)}"`);
  assert.equal(f.code, code, `${what}: close code (frame "${h.show(f.raw)}")`);
  s.ws.sendClose(code);
  await s.ws.closed();
  await h.waitSessionGone(port, s.sid, { websocket: true });
}

const cases1002 = [
  ['an unmasked client frame', (ws) => ws.sendText('4unmasked', { mask: false })],
  ['a reserved opcode (0x3)', (ws) => ws.send({ opcode: 3, payload: Buffer.from('x') })],
  ['a reserved control opcode (0xB)', (ws) => ws.send({ opcode: 0xb, payload: Buffer.from('x') })],
  ['RSV1 set without an extension', (ws) => ws.sendText('4rsv', { rsv: 4 })],
  ['a fragmented ping', (ws) => ws.send({ opcode: 9, fin: false, payload: Buffer.from('p') })],
  ['a continuation frame without a start', (ws) => ws.send({ opcode: 0, payload: Buffer.from('4x') })],
  ['a new text frame inside a fragmented message', (ws) => {
    ws.send({ opcode: 1, fin: false, payload: Buffer.from('4a') });
    ws.send({ opcode: 1, fin: true, payload: Buffer.from('4b') });
  }],
  ['a close frame with a 1-byte payload', (ws) => ws.send({ opcode: 8, payload: Buffer.from([3]) })],
];
for (const [name, act] of cases1002) {
  test(`${name} closes with 1002`, async () => {
    const s = await h.wsSession(port);
    act(s.ws);
    await expectClose(s, 1002, name);
  });
}

const closeChecks = [
  ['a close code below 1000 (999)', Buffer.from([0x03, 0xe7]), 1002],
  ['the reserved close code 1005', Buffer.from([0x03, 0xed]), 1002],
  ['a close reason that is not UTF-8', Buffer.from([0x03, 0xe8, 0xff]), 1007],
];
for (const [name, payload, code] of closeChecks) {
  test(`a close frame with ${name} is answered with ${code}`, async () => {
    const s = await h.wsSession(port);
    s.ws.send({ opcode: 8, payload });
    const f = await s.ws.frame();
    assert.equal(f.raw.toString('hex'), `8802${code.toString(16).padStart(4, '0')}`, `"${h.show(f.raw)}"`);
    await s.ws.closed();
    await h.waitSessionGone(port, s.sid, { websocket: true });
  });
}

test('a close frame with an application code (4000) is echoed with it', async () => {
  const s = await h.wsSession(port);
  s.ws.sendClose(4000, 'bye');
  const f = await s.ws.frame();
  assert.equal(f.opcode, 8);
  assert.equal(f.code, 4000, `"${h.show(f.raw)}"`);
  await s.ws.closed();
  await h.waitSessionGone(port, s.sid, { websocket: true });
});

test('a ping with a 126-byte payload closes with 1002', async () => {
  const s = await h.wsSession(port);
  s.ws.send({ opcode: 9, payload: Buffer.alloc(126) });
  await expectClose(s, 1002, 'long ping');
});

for (const [name, payload] of [['a client ping "2"', '2'], ['an unknown packet type "9"', '9'], ['an empty text frame', ''], ['a second probe "2probe"', '2probe']]) {
  test(`${name} on a WebSocket session ends it with a bare close frame (88 00)`, async () => {
    const s = await h.wsSession(port);
    s.ws.sendText(payload);
    const f = await s.ws.frame();
    assert.equal(f.raw.toString('hex'), '8800', `"${h.show(f.raw)}"`);
    s.ws.sendClose();
    await s.ws.closed();
    await h.waitSessionGone(port, s.sid, { websocket: true });
  });
}

test('packets "3", "5", "0", "6" on a WebSocket session are ignored; "4" alone and an empty binary frame echo', async () => {
  const s = await h.wsSession(port);
  for (const p of ['3', '5', '0', '6']) s.ws.sendText(p);
  s.ws.sendText('4');
  assert.equal((await s.ws.frame()).raw.toString('hex'), '810134');
  s.ws.sendBinary(Buffer.alloc(0));
  assert.equal((await s.ws.frame()).raw.toString('hex'), '8200');
  s.ws.destroy();
});

const cases1007 = [
  ['invalid UTF-8 in a text frame', (ws) => ws.sendText(Buffer.from([0x34, 0xff, 0x41]))],
  ['an overlong UTF-8 sequence', (ws) => ws.sendText(Buffer.from([0x34, 0xc0, 0xaf]))],
  ['a UTF-16 surrogate in UTF-8', (ws) => ws.sendText(Buffer.from([0x34, 0xed, 0xa0, 0x80]))],
  ['invalid UTF-8 split across fragments', (ws) => {
    ws.send({ opcode: 1, fin: false, payload: Buffer.from([0x34, 0xe2, 0x82]) });
    ws.send({ opcode: 0, fin: true, payload: Buffer.from([0x28, 0x41]) });
  }],
  ['a truncated UTF-8 sequence at the end of the message', (ws) => {
    ws.send({ opcode: 1, fin: false, payload: Buffer.from('4ab') });
    ws.send({ opcode: 0, fin: true, payload: Buffer.from([0xf0, 0x9f, 0x98]) });
  }],
];
for (const [name, act] of cases1007) {
  test(`${name} closes with 1007`, async () => {
    const s = await h.wsSession(port);
    act(s.ws);
    await expectClose(s, 1007, name);
  });
}

test(`messages of exactly max_payload (${MAX}) bytes pass, text and binary`, async () => {
  const s = await h.wsSession(port);
  const t = '4' + 'x'.repeat(MAX - 1);
  s.ws.sendText(t);
  assert.equal(await s.ws.text(), t);
  const b = Buffer.alloc(MAX, 0xab);
  s.ws.sendBinary(b);
  const f = await s.ws.frame();
  assert.equal(f.opcode, 2);
  assert.ok(f.payload.equals(b), 'binary echo');
  // fragmented, adding up to exactly max_payload
  s.ws.send({ opcode: 1, fin: false, payload: Buffer.from(t.slice(0, 400)) });
  s.ws.send({ opcode: 0, fin: true, payload: Buffer.from(t.slice(400)) });
  assert.equal(await s.ws.text(), t);
  s.ws.destroy();
});

const cases1009 = [
  ['a text frame of max_payload+1 bytes', (ws) => ws.sendText('4' + 'y'.repeat(MAX))],
  ['a binary frame of max_payload+1 bytes', (ws) => ws.sendBinary(Buffer.alloc(MAX + 1, 1))],
  ['fragments adding up to max_payload+1 bytes', (ws) => {
    ws.send({ opcode: 1, fin: false, payload: Buffer.from('4' + 'z'.repeat(599)) });
    ws.send({ opcode: 0, fin: true, payload: Buffer.from('z'.repeat(401)) });
  }],
];
for (const [name, act] of cases1009) {
  test(`${name} closes with 1009`, async () => {
    const s = await h.wsSession(port);
    act(s.ws);
    await expectClose(s, 1009, name);
  });
}

test('valid UTF-8 split inside a sequence across fragments is accepted', async () => {
  const s = await h.wsSession(port);
  const whole = Buffer.from('4é€😀');
  // cut inside é, inside €, and inside 😀
  s.ws.send({ opcode: 1, fin: false, payload: whole.subarray(0, 2) });
  s.ws.send({ opcode: 0, fin: false, payload: whole.subarray(2, 4) });
  s.ws.send({ opcode: 0, fin: false, payload: whole.subarray(4, 8) });
  s.ws.send({ opcode: 0, fin: true, payload: whole.subarray(8) });
  assert.equal(await s.ws.text(), '4é€😀');
  s.ws.destroy();
});

test('ping gets a pong with the same payload, also between fragments', async () => {
  const s = await h.wsSession(port);
  s.ws.send({ opcode: 9, payload: Buffer.from('hello') });
  let f = await s.ws.frame();
  assert.equal(f.raw.toString('hex'), '8a0568656c6c6f', `pong: "${h.show(f.raw)}"`);
  s.ws.send({ opcode: 1, fin: false, payload: Buffer.from('4frag') });
  s.ws.send({ opcode: 9, payload: Buffer.from('mid') });
  s.ws.send({ opcode: 0, fin: true, payload: Buffer.from('mented') });
  f = await s.ws.frame();
  assert.equal(f.raw.toString('hex'), '8a036d6964', `pong: "${h.show(f.raw)}"`);
  assert.equal(await s.ws.text(), '4fragmented');
  // an unsolicited pong is ignored
  s.ws.send({ opcode: 10, payload: Buffer.from('x') });
  s.ws.sendText('4after pong');
  assert.equal(await s.ws.text(), '4after pong');
  s.ws.destroy();
});

test('extended payload lengths: 126 and 65536-byte forms are read and written', async () => {
  const d2 = await h.startDaemon({ echo: true, config: { max_payload: '100K' } });
  try {
    const s = await h.wsSession(d2.port);
    for (const n of [125, 126, 65535, 65536, 70000]) {
      const t = '4' + 'q'.repeat(n - 1);
      s.ws.sendText(t);
      const f = await s.ws.frame();
      assert.equal(f.opcode, 1);
      assert.equal(f.payload.length, n);
      assert.equal(f.raw[1] & 0x7f, n < 126 ? n : n < 65536 ? 126 : 127, `length form for ${n}`);
    }
    s.ws.destroy();
    await d2.stop();
  } finally {
    d2.kill();
  }
});

h.endTests(() => d, { idle: false });
