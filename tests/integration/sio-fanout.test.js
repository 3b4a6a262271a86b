// sio-fanout.test.js - 200 official socket.io-client sockets (half polling,
// half WebSocket) in 10 rooms with overlapping membership (every client is
// in 1 to 3 rooms); 40 of them each relay one event with an ack. Every
// client must receive exactly the events of the senders other than itself
// that share at least one room with it, each once, computed from the
// membership table, and nothing else. "Nothing else" is proved without a
// timer: all senders' acks are back before any client's fence (a join of ""
// answered "invalid room name") is sent, so each fence answer is queued
// behind every relayed event for that client. Then everyone disconnects and
// roomcast_sessions_current returns to 0; SIGTERM.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const N = 200;
const ROOMS = 10;

const RAW = `
namespace / {
    client_join           room:*
    relay                 yes
}
`;

let d;
before(async () => {
  d = await h.startDaemon({ sio: true, raw: RAW });
});
after(() => d && d.kill());

/** Rooms of client i: 1 to 3 of the 10, overlapping. */
function roomsOf(i) {
  const r = new Set([i % ROOMS]);
  if (i % 3 === 0) r.add((i + 3) % ROOMS);
  if (i % 7 === 0) r.add((i * 7 + 5) % ROOMS);
  return [...r].map((x) => `room:${x}`);
}
const isSender = (i) => i % 5 === 0;

let clients = [];

test(`${N} clients in ${ROOMS} rooms each receive exactly the events of the senders they share a room with`, async () => {
  clients = await Promise.all(Array.from({ length: N }, async (_, i) => {
    const s = h.sioClient(d.port, '/', { transports: [i % 2 ? 'websocket' : 'polling'] });
    await h.sioConnected(s);
    s.got = h.sioRecord(s);
    return s;
  }));
  await Promise.all(clients.map(async (s, i) => {
    for (const r of roomsOf(i)) assert.deepEqual(await h.sioAck(s, 'join', r), ['ok'], `client ${i} joins ${r}`);
  }));
  assert.equal((await d.metrics()).roomcast_sessions_current, N);

  const senders = clients.map((_, i) => i).filter(isSender);
  const acks = await Promise.all(senders.map((i) => h.sioAck(clients[i], 'news', i, { from: `client ${i}` })));
  assert.deepEqual(acks, senders.map(() => []));
  await Promise.all(clients.map((s) => h.sioFence(s)));

  let total = 0;
  clients.forEach((s, j) => {
    const mine = new Set(roomsOf(j));
    const expected = senders.filter((i) => i !== j && roomsOf(i).some((r) => mine.has(r)));
    total += expected.length;
    const got = s.got.map((e) => {
      assert.equal(e[0], 'news');
      assert.deepEqual(e[2], { from: `client ${e[1]}` });
      return e[1];
    });
    assert.deepEqual([...got].sort((x, y) => x - y), expected,
      `client ${j} (rooms ${roomsOf(j).join(' ')}): ${got.length} events, expected ${expected.length}`);
  });
  assert.ok(total > N, `a meaningful fan-out (${total} deliveries)`);
});

h.endTests(() => d, { clients: () => clients, idleName: 'every client disconnects; roomcast_sessions_current returns to 0' });
