// slow-consumer.test.js - max_output_buffer: a client that stops reading
// while a room's traffic keeps coming is closed once its output passes the
// limit, counted in roomcast_output_overflow_total, and costs the others
// nothing: a reading member of the same room gets every event, in order,
// and the sender's acks keep coming. This also drives the direct write of a
// shared frame into a full socket (the rest goes to the connection's
// buffer) and the buffer's growth up to the limit.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const RAW = `
max_payload 200000
max_output_buffer 256K
namespace / {
    client_join           *
    relay                 yes
}
`;
const EVENTS = 100;
const PAD = 'x'.repeat(100 * 1024);

let d;
before(async () => {
  d = await h.startDaemon({ sio: true, raw: RAW });
});
after(() => d && d.kill());

const member = () => h.sioRoomMember(d.port);

test('a client that stops reading is closed past max_output_buffer; the room\'s readers get everything', async () => {
  const slow = await member();
  const fast = await member();
  const tx = await member();
  slow.ws.conn.sock.pause();
  const before = await d.metrics();
  // One event at a time: the reader never has more than one outstanding, so
  // only the client that stopped reading can pass the limit.
  for (let i = 0; i < EVENTS; i++) {
    tx.ws.sendText(`42${i + 1}["m",${i},"${PAD}"]`);
    assert.equal(await tx.ws.text(), `43${i + 1}[]`);
    const t = await fast.ws.text();
    assert.ok(t.startsWith(`42["m",${i},"x`), `event ${i} in order, got "${t.slice(0, 16)}"`);
    assert.equal(t.length, `42["m",${i},""]`.length + PAD.length);
  }
  const m = await h.waitFor(async () => {
    const now = await d.metrics();
    return now.roomcast_sessions_current === 2 && now;
  }, { what: 'the slow client to be closed' });
  assert.equal(m.roomcast_output_overflow_total - (before.roomcast_output_overflow_total || 0), 1);
  fast.ws.destroy();
  tx.ws.destroy();
  slow.ws.destroy();
});

h.endTests(() => d);
