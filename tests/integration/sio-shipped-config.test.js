// sio-shipped-config.test.js - the chat that `make run` promises: roomcastd
// started on conf/roomcast.conf exactly as shipped (only the port changed)
// lets two official socket.io-client instances, one on polling and one on
// WebSocket, join a `chat:*` room and talk through the relay, with no
// backend; a room outside `chat:*` is refused. Ends with SIGTERM.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');

const SHIPPED = fs.readFileSync(path.join(h.REPO, 'conf', 'roomcast.conf'), 'utf8');

let d;
before(async () => {
  assert.match(SHIPPED, /^listen\s+127\.0\.0\.1:3000$/m, 'the shipped config listens on 127.0.0.1:3000');
  const config = SHIPPED.replace(/^(listen\s+127\.0\.0\.1:)3000$/m, '$1{PORT}');
  d = await h.startDaemon({ sio: true, config });
});
after(() => d && d.kill());

test('two clients chat in chat:lobby under the shipped policy; other rooms are refused', async () => {
  const alice = h.sioClient(d.port, '/', { transports: ['polling'] });
  const bob = h.sioClient(d.port, '/', { transports: ['websocket'] });
  try {
    await Promise.all([h.sioConnected(alice), h.sioConnected(bob)]);
    assert.deepEqual(await h.sioAck(alice, 'join', 'chat:lobby'), ['ok']);
    assert.deepEqual(await h.sioAck(bob, 'join', 'chat:lobby'), ['ok']);
    assert.deepEqual(await h.sioAck(bob, 'join', 'lobby'), ['not allowed']);
    const toBob = h.once(bob, 'message');
    const toAlice = h.once(alice, 'message');
    alice.emit('message', { from: 'alice', text: 'hi bob' });
    assert.deepEqual(await toBob, { from: 'alice', text: 'hi bob' });
    bob.emit('message', { from: 'bob', text: 'hi alice' });
    assert.deepEqual(await toAlice, { from: 'bob', text: 'hi alice' });
  } finally {
    alice.disconnect();
    bob.disconnect();
  }
  await d.waitIdle();
});

h.endTests(() => d, { idle: false });
