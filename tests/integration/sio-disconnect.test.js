// sio-disconnect.test.js - a socket's rooms are freed when it goes away:
// clean socket.disconnect() over polling and WebSocket, a namespace
// disconnect that keeps the engine session (`41/nsp,` from a Manager socket),
// and abrupt drops: the TCP connection of an official client's WebSocket
// destroyed, a raw WebSocket session destroyed, and a raw polling session
// abandoned (no GET, no POST: it ends by ping timeout, ping_interval 300ms /
// ping_timeout 300ms here). In each case a member of the same rooms stays;
// after the gone socket's session is counted out (roomcast_sessions_current)
// a relay to those rooms reaches exactly the member that stayed and is
// acked, and a new socket joins the same rooms ("ok") and receives the next
// relay. Ends with roomcast_sessions_current 0 and SIGTERM (a stale member
// left in a room would show as a crash or a missing ack; an ASan build would
// report the use after free).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const RAW = h.openNamespaces('/', '/admin');
const ROOMS = ['d1', 'd2', 'd3'];

let d;
before(async () => {
  d = await h.startDaemon({ sio: true, config: { ping_interval: '300ms', ping_timeout: '300ms' }, raw: RAW });
});
after(() => d && d.kill());

const open = h.trackedClients();

const client = (transport, nsp) => h.sioRecorded(open, d.port, transport, nsp);
const joinAll = (s, rooms = ROOMS) => h.sioJoinAll(s, rooms);

const sessions = async () => (await d.metrics()).roomcast_sessions_current;
const waitSessions = (n) => h.waitFor(async () => (await sessions()) === n, { what: `roomcast_sessions_current ${n}` });

/**
 * Runs `gone` (which makes the victim's socket go away and returns once the
 * caller can wait for the session count), then checks the rooms: a relay
 * reaches the staying member only, a new socket joins and is reached.
 */
async function checkFreed(makeVictim, gone, { nsp = '/', sessionsLeft = 2 } = {}) {
  const stay = await client('polling', nsp);
  const sender = await client('websocket', nsp);
  await joinAll(stay);
  await joinAll(sender, ['d2']);
  const victim = await makeVictim();
  // the victim is reached while it is there
  assert.deepEqual(await h.sioAck(sender, 'before', 1), []);
  await h.sioFence(stay);
  assert.deepEqual(stay.got, [['before', 1]]);
  if (victim.check) await victim.check();

  await gone(victim);
  await waitSessions(sessionsLeft);
  assert.deepEqual(await h.sioAck(sender, 'after', 2), []);
  await h.sioFence(stay);
  assert.deepEqual(stay.got, [['before', 1], ['after', 2]]);

  const fresh = await client('websocket', nsp);
  await joinAll(fresh);
  assert.deepEqual(await h.sioAck(sender, 'again', 3), []);
  await h.sioFence(stay);
  await h.sioFence(fresh);
  assert.deepEqual(stay.got, [['before', 1], ['after', 2], ['again', 3]]);
  assert.deepEqual(fresh.got, [['again', 3]]);
  assert.deepEqual(sender.got, []);
  for (const s of [stay, sender, fresh]) s.disconnect();
  await waitSessions(sessionsLeft - 2);
}

/** An official client in ROOMS whose reception of "before" is checked. */
const sioVictim = (transport, nsp) => async () => {
  const v = await client(transport, nsp);
  await joinAll(v);
  v.check = async () => {
    await h.sioFence(v);
    assert.deepEqual(v.got, [['before', 1]]);
  };
  return v;
};

for (const transport of ['polling', 'websocket']) {
  test(`clean socket.disconnect() over ${transport} frees the socket's rooms`, async () => {
    await checkFreed(sioVictim(transport), async (v) => { v.disconnect(); open.delete(v); });
  });
}

test('namespace disconnect (41/admin,) with the engine session kept frees that socket\'s rooms', async () => {
  const m = h.sioManager(d.port, { transports: ['websocket'] });
  const root = m.socket('/');
  open.add(root);
  await h.sioConnected(root);
  await checkFreed(async () => {
    const v = m.socket('/admin');
    open.add(v);
    await h.sioConnected(v);
    v.got = h.sioRecord(v);
    await joinAll(v);
    v.check = async () => {
      await h.sioFence(v);
      assert.deepEqual(v.got, [['before', 1]]);
    };
    return v;
  }, async (v) => {
    v.disconnect();
    open.delete(v);
    // the engine session stays: no session count change to wait for, so
    // fence on the other namespace of the same session (same transport)
    await h.sioFence(root);
  }, { nsp: '/admin', sessionsLeft: 3 });
  assert.equal(root.connected, true, 'the / socket of the same session stays connected');
  root.disconnect();
  await waitSessions(0);
});

test('abrupt: the TCP connection of an official WebSocket client destroyed', async () => {
  await checkFreed(sioVictim('websocket'), async (v) => {
    const closed = h.once(v, 'disconnect');
    v.io.engine.transport.ws._socket.destroy();
    await closed;
    open.delete(v);
  });
});

test('abrupt: a raw WebSocket session destroyed', async () => {
  await checkFreed(async () => {
    const w = await h.sioWs(d.port);
    for (const [i, r] of ROOMS.entries()) {
      w.ws.sendText(`42${i}["join","${r}"]`);
      assert.equal(await w.ws.text(), `43${i}["ok"]`);
    }
    w.check = async () => {
      let t = await w.ws.text();
      while (t === '2') { w.ws.sendText('3'); t = await w.ws.text(); } // answer pings
      assert.equal(t, '42["before",1]');
    };
    return w;
  }, async (w) => { w.ws.destroy(); });
});

test('abrupt: a raw polling session abandoned (ends by ping timeout)', async () => {
  await checkFreed(async () => {
    const p = await h.sioPolling(d.port);
    for (const [i, r] of ROOMS.entries()) {
      await h.postPoll(d.port, p.sid, `42${i}["join","${r}"]`, `43${i}["ok"]`);
    }
    return p;
  }, async () => {});
});

h.endTests(() => d, { clients: open });
