// sio-rooms.test.js - the room policy of a namespace block: joins and leaves
// with the official socket.io-client (ack arguments compared exactly) and
// with raw polling (the ACK bytes `43<id>["ok"]`, `43/custom,<id>[...]`).
// Covered: client_join globs (`*` any sequence, `?` exactly one character,
// anchored at both ends, several patterns on the line); `{auth.FIELD}` taken
// literally from the CONNECT auth object (alice may join user:alice:x, not
// user:bob:x; a user named "*" is no wildcard; no auth or a missing field
// matches nothing; an integer field in decimal); every answer: "ok" (also
// when already a member), "not allowed", "too many rooms", "invalid room
// name" (number, null, object, array, missing argument, empty string,
// max_room_name+1 bytes; max_room_name bytes passes); max_rooms_per_socket
// at N and N+1 with the own id room not counted, and a leave freeing a
// slot; leave: "ok" for a joined room (relays stop reaching it) and for a
// room not joined, "not allowed" for the own id room and for a name no
// pattern allows, "invalid room name" likewise; join and leave without an
// ack still act, silently; custom join_event/leave_event names, where "join"
// becomes an ordinary relayed event. Ends with roomcast_sessions_current 0
// and SIGTERM.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const MAX_ROOM_NAME = 40;
const MAX_ROOMS = 3;
const RAW = `
namespace / {
    client_join           chat:* user:{auth.user}:* q:?? n:{auth.n}
    max_rooms_per_socket  ${MAX_ROOMS}
    relay                 yes
}
namespace /custom {
    client_join           *
    join_event            subscribe
    leave_event           unsubscribe
    relay                 yes
}
`;

let d;
before(async () => {
  d = await h.startDaemon({ sio: true, config: { max_room_name: MAX_ROOM_NAME }, raw: RAW });
});
after(() => d && d.kill());

const open = h.trackedClients();

async function client(opts = {}, nsp = '/') {
  const s = h.sioClient(d.port, nsp, { transports: ['websocket'], ...opts });
  open.add(s);
  return h.sioConnected(s);
}

const join = (s, ...args) => h.sioAck(s, 'join', ...args);
const leave = (s, ...args) => h.sioAck(s, 'leave', ...args);

/** Does a relay from a fresh member of `room` reach s? (fenced, no timing) */
async function reaches(s, room, { nsp = '/', joinEvent = 'join', auth } = {}) {
  const probe = await client({ auth }, nsp);
  assert.deepEqual(await h.sioAck(probe, joinEvent, room), ['ok'], `probe joins ${room}`);
  const got = [];
  const on = (ev, ...args) => got.push([ev, ...args]);
  s.onAny(on);
  assert.deepEqual(await h.sioAck(probe, 'probe', room), []);
  await h.sioFence(s, joinEvent);
  s.offAny(on);
  probe.disconnect();
  open.delete(probe);
  assert.ok(got.length <= 1, `probe received ${got.length} times`);
  return got.length === 1;
}

test('client_join globs: * any sequence, ? one character, anchored; "ok" again when already a member', async () => {
  const s = await client();
  assert.deepEqual(await join(s, 'chat:1'), ['ok']);
  assert.deepEqual(await join(s, 'chat:1'), ['ok'], 'already a member');
  assert.deepEqual(await join(s, 'chat:'), ['ok'], '* matches the empty sequence');
  assert.deepEqual(await leave(s, 'chat:'), ['ok']);
  assert.deepEqual(await join(s, 'chat:a:b*c?'), ['ok'], '* matches any characters, glob characters in the room too');
  assert.deepEqual(await leave(s, 'chat:a:b*c?'), ['ok']);
  for (const room of ['chat', 'Chat:1', 'xchat:1', ' chat:1', 'lobby', 'q:a', 'q:abc', 'q:', 'user:', 'n:']) {
    assert.deepEqual(await join(s, room), ['not allowed'], `join ${JSON.stringify(room)}`);
  }
  assert.deepEqual(await join(s, 'q:ab'), ['ok'], '? matches exactly one character');
  assert.ok(await reaches(s, 'chat:1'));
  assert.ok(await reaches(s, 'q:ab'));
});

test('auth: user:{auth.user}:* lets alice join user:alice:x but not user:bob:x', async () => {
  const alice = await client({ auth: { user: 'alice' } });
  assert.deepEqual(await join(alice, 'user:alice:x'), ['ok']);
  assert.deepEqual(await join(alice, 'user:alice:'), ['ok']);
  assert.deepEqual(await join(alice, 'user:bob:x'), ['not allowed']);
  assert.deepEqual(await join(alice, 'user:alicex:x'), ['not allowed']);
  assert.deepEqual(await join(alice, 'user:alice'), ['not allowed']);
  const bob = await client({ auth: { user: 'bob', n: 7 } });
  assert.deepEqual(await join(bob, 'user:bob:x'), ['ok']);
  assert.deepEqual(await join(bob, 'user:alice:x'), ['not allowed']);
  assert.ok(await reaches(alice, 'user:alice:x', { auth: { user: 'alice' } }));
  assert.ok(await reaches(bob, 'user:bob:x', { auth: { user: 'bob' } }));
});

test('auth: the field value is literal (a user "*" or "?" is no wildcard); absent auth or field matches nothing', async () => {
  const star = await client({ auth: { user: '*' } });
  assert.deepEqual(await join(star, 'user:bob:x'), ['not allowed']);
  assert.deepEqual(await join(star, 'user:*:x'), ['ok']);
  const q = await client({ auth: { user: '?' } });
  assert.deepEqual(await join(q, 'user:b:x'), ['not allowed']);
  assert.deepEqual(await join(q, 'user:?:x'), ['ok']);
  const none = await client();
  assert.deepEqual(await join(none, 'user::x'), ['not allowed']);
  assert.deepEqual(await join(none, 'user:undefined:x'), ['not allowed']);
  const other = await client({ auth: { token: 'abc' } });
  assert.deepEqual(await join(other, 'user:abc:x'), ['not allowed']);
  assert.deepEqual(await join(other, 'chat:ok'), ['ok'], 'other patterns still apply');
});

test('auth: an integer field matches in decimal (n:{auth.n} with n 7)', async () => {
  const s = await client({ auth: { n: 7 } });
  assert.deepEqual(await join(s, 'n:7'), ['ok']);
  assert.deepEqual(await join(s, 'n:8'), ['not allowed']);
});

test('invalid room name: number, null, object, array, no argument, empty, max_room_name+1 bytes; max_room_name bytes is fine', async () => {
  const s = await client();
  for (const arg of [5, null, { room: 'chat:1' }, ['chat:1'], true, '']) {
    assert.deepEqual(await join(s, arg), ['invalid room name'], `join ${JSON.stringify(arg)}`);
    assert.deepEqual(await leave(s, arg), ['invalid room name'], `leave ${JSON.stringify(arg)}`);
  }
  assert.deepEqual(await h.sioAck(s, 'join'), ['invalid room name'], 'join without a room');
  const atMax = 'chat:' + 'x'.repeat(MAX_ROOM_NAME - 5);
  const overMax = atMax + 'x';
  assert.equal(Buffer.byteLength(atMax), MAX_ROOM_NAME);
  assert.deepEqual(await join(s, overMax), ['invalid room name'], 'max_room_name + 1');
  assert.deepEqual(await leave(s, overMax), ['invalid room name'], 'leave max_room_name + 1');
  assert.deepEqual(await join(s, atMax), ['ok'], 'max_room_name');
  assert.ok(await reaches(s, atMax));
  assert.deepEqual(await leave(s, atMax), ['ok']);
});

test(`max_rooms_per_socket ${MAX_ROOMS}: N rooms join (own id room not counted), N+1 is "too many rooms", a leave frees a slot`, async () => {
  const s = await client();
  for (let i = 1; i <= MAX_ROOMS; i++) assert.deepEqual(await join(s, `chat:${i}`), ['ok'], `room ${i}`);
  assert.deepEqual(await join(s, 'chat:extra'), ['too many rooms']);
  assert.deepEqual(await join(s, 'chat:2'), ['ok'], 'already a member is still ok at the limit');
  assert.deepEqual(await join(s, 'lobby'), ['not allowed'], 'not allowed is answered before the count');
  assert.deepEqual(await join(s, ''), ['invalid room name']);
  assert.equal(await reaches(s, 'chat:extra'), false, 'the refused room was not joined');
  assert.deepEqual(await leave(s, 'chat:1'), ['ok']);
  assert.deepEqual(await join(s, 'chat:extra'), ['ok']);
  assert.deepEqual(await join(s, 'chat:1'), ['too many rooms']);
  assert.ok(await reaches(s, 'chat:extra'));
  assert.equal(await reaches(s, 'chat:1'), false);
});

test('leave: "ok" for a joined room (relays stop), "ok" for a room not joined, "not allowed" for the own id room and for a name no pattern allows', async () => {
  const s = await client();
  assert.deepEqual(await join(s, 'chat:l'), ['ok']);
  assert.ok(await reaches(s, 'chat:l'));
  assert.deepEqual(await leave(s, 'chat:l'), ['ok']);
  assert.equal(await reaches(s, 'chat:l'), false);
  assert.deepEqual(await leave(s, 'chat:l'), ['ok'], 'leaving again');
  assert.deepEqual(await leave(s, 'chat:never'), ['ok'], 'leaving a room never joined');
  assert.deepEqual(await leave(s, s.id), ['not allowed'], 'own id room');
  assert.deepEqual(await leave(s, 'lobby'), ['not allowed']);
});

test('join and leave without an ack still act, silently', async () => {
  const s = await client();
  const got = h.sioRecord(s);
  s.emit('join', 'chat:silent');
  s.emit('join', 'lobby');
  s.emit('join', 5);
  await h.sioFence(s);
  assert.deepEqual(got, [], 'nothing is sent back');
  assert.ok(await reaches(s, 'chat:silent'));
  s.emit('leave', 'chat:silent');
  s.emit('leave', s.id);
  await h.sioFence(s);
  assert.equal(await reaches(s, 'chat:silent'), false);
  // past the limit without an ack: not joined
  for (let i = 1; i <= MAX_ROOMS; i++) s.emit('join', `chat:s${i}`);
  s.emit('join', 'chat:s-over');
  await h.sioFence(s);
  assert.deepEqual(got.filter((e) => e[0] !== 'probe'), [], 'nothing but the probes');
  assert.equal(await reaches(s, 'chat:s-over'), false);
  assert.ok(await reaches(s, `chat:s${MAX_ROOMS}`));
});

test('raw polling: the answers are exactly 43<id>["ok"], 43<id>["not allowed"], 43<id>["invalid room name"], 43<id>["too many rooms"]', async () => {
  const { sid } = await h.sioPolling(d.port, { auth: { user: 'carol' } });
  const cases = [
    ['420["join","chat:1"]', '430["ok"]'],
    ['421["join","user:carol:1"]', '431["ok"]'],
    ['4212["join","user:dave:1"]', '4312["not allowed"]'],
    ['423["join",""]', '433["invalid room name"]'],
    ['424["join",7]', '434["invalid room name"]'],
    ['425["join","q:zz"]', '435["ok"]'],
    ['426["join","chat:2"]', '436["too many rooms"]'],
    ['427["leave","chat:1"]', '437["ok"]'],
    ['428["join","chat:2"]', '438["ok"]'],
    ['4299["leave","lobby"]', '4399["not allowed"]'],
  ];
  for (const [body, answer] of cases) {
    h.assertPostOk(await h.post(d.port, sid, body), body);
    h.assertPollBody(await h.poll(d.port, sid), answer, body);
  }
  // several in one POST: answers in order, in one GET or several
  h.assertPostOk(await h.post(d.port, sid, '4230["join","chat:2"]\x1e4231["leave","chat:2"]\x1e4232["join","x"]'));
  let text = '';
  while (text.split('\x1e').length < 3) {
    const res = await h.poll(d.port, sid);
    assert.equal(res.status, 200);
    text += (text ? '\x1e' : '') + res.text;
  }
  assert.equal(text, '4330["ok"]\x1e4331["ok"]\x1e4332["not allowed"]');
  h.assertPostOk(await h.post(d.port, sid, '1'));
});

test('custom join_event/leave_event: subscribe/unsubscribe answer, "join" is an ordinary relayed event there', async () => {
  const a = await client({}, '/custom');
  const b = await client({ transports: ['polling'] }, '/custom');
  const gotB = h.sioRecord(b);
  assert.deepEqual(await h.sioAck(a, 'subscribe', 'anything'), ['ok']);
  assert.deepEqual(await h.sioAck(b, 'subscribe', 'anything'), ['ok']);
  assert.deepEqual(await h.sioAck(a, 'subscribe', ''), ['invalid room name']);
  assert.deepEqual(await h.sioAck(a, 'unsubscribe', a.id), ['not allowed']);
  // "join" is relayed and acked with no arguments
  assert.deepEqual(await h.sioAck(a, 'join', 'chat:1'), []);
  assert.deepEqual(await h.sioAck(a, 'leave', 'anything'), []);
  await h.sioFence(b, 'subscribe');
  assert.deepEqual(gotB.filter((e) => e[0] !== 'probe'), [['join', 'chat:1'], ['leave', 'anything']]);
  assert.ok(await reaches(b, 'anything', { nsp: '/custom', joinEvent: 'subscribe' }));
  assert.deepEqual(await h.sioAck(b, 'unsubscribe', 'anything'), ['ok']);
  assert.equal(await reaches(b, 'anything', { nsp: '/custom', joinEvent: 'subscribe' }), false);

  const { sid } = await h.sioPolling(d.port, { nsp: '/custom' });
  await h.postPoll(d.port, sid, '42/custom,3["subscribe","r"]', '43/custom,3["ok"]');
  await h.postPoll(d.port, sid, '42/custom,4["unsubscribe","r"]', '43/custom,4["ok"]');
  await h.postPoll(d.port, sid, '42/custom,5["join","r"]', '43/custom,5[]');
  h.assertPostOk(await h.post(d.port, sid, '1'));
});

h.endTests(() => d, { clients: open });
