// sio-namespaces.test.js - Socket.IO namespaces with the official
// socket.io-client 4.8.1 (and raw polling where exact bytes matter): the
// default namespace `/` and a declared one (`/admin`) over polling only,
// WebSocket only and polling upgraded to WebSocket, each connecting and
// relaying an event to a second client; the CONNECT reply is exactly
// `40{"sid":"<20 chars>"}` (`40/admin,{...}` for /admin, no pid) and the
// socket id is not the engine sid; namespaces are separate (a relay in `/`
// does not reach `/admin` members of a room with the same name); several
// namespaces multiplexed on one engine session; CONNECT to an undeclared
// namespace gets `44/nsp,{"message":"Invalid namespace"}` and the engine
// session stays usable; max_namespaces_per_session at N (passes) and N+1
// (`44/nsp,{"message":"too many namespaces"}`), and a namespace disconnect
// frees a slot. Ends with roomcast_sessions_current 0 and SIGTERM.
// reference-sio.js implements max_namespaces_per_session with a namespace
// middleware, so every test here also runs against the reference.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const RAW = `
namespace / {
    client_join           chat:*
    relay                 yes
}
namespace /admin {
    client_join           chat:*
    relay                 yes
}
namespace /quiet {
}
`;

let d;
before(async () => {
  d = await h.startDaemon({ sio: true, raw: RAW });
});
after(() => d && d.kill());

const open = h.trackedClients();
function track(s) { open.add(s); return s; }

const MODES = {
  polling: { transports: ['polling'] },
  websocket: { transports: ['websocket'] },
  upgrade: { transports: ['polling', 'websocket'] },
};

async function connect(nsp, mode, opts = {}) {
  const s = track(h.sioClient(d.port, nsp, { ...MODES[mode], ...opts }));
  await h.sioConnected(s);
  const engine = s.io.engine;
  if (mode === 'upgrade' && engine.transport.name !== 'websocket') await h.once(engine, 'upgrade');
  assert.equal(engine.transport.name, mode === 'polling' ? 'polling' : 'websocket', 'transport in use');
  assert.match(s.id, /^[A-Za-z0-9_-]{20}$/, 'socket id');
  assert.notEqual(s.id, engine.id, 'the socket id is not the engine sid');
  return s;
}

for (const nsp of ['/', '/admin']) {
  for (const mode of Object.keys(MODES)) {
    test(`${nsp} over ${mode}: connects, joins and relays to a second client`, async () => {
      const a = await connect(nsp, mode);
      const b = await connect(nsp, mode);
      const gotA = h.sioRecord(a);
      const gotB = h.sioRecord(b);
      assert.deepEqual(await h.sioAck(a, 'join', 'chat:1'), ['ok']);
      assert.deepEqual(await h.sioAck(b, 'join', 'chat:1'), ['ok']);
      assert.deepEqual(await h.sioAck(a, 'msg', `hello ${nsp} ${mode}`, { n: 1 }), []);
      await h.sioFence(a);
      await h.sioFence(b);
      assert.deepEqual(gotB, [['msg', `hello ${nsp} ${mode}`, { n: 1 }]]);
      assert.deepEqual(gotA, [], 'the sender gets nothing back');
    });
  }
}

test('CONNECT replies are exactly 40{"sid":...} and 40/admin,{"sid":...} (no pid), ids fresh', async () => {
  const { sid } = await h.handshake(d.port);
  h.assertPostOk(await h.post(d.port, sid, '40'));
  let res = await h.poll(d.port, sid);
  const m1 = /^40\{"sid":"([A-Za-z0-9_-]{20})"\}$/.exec(res.text);
  assert.ok(m1, `reply to 40: "${h.show(res.body)}"`);
  h.assertPostOk(await h.post(d.port, sid, '40/admin,{"token":"abc"}'));
  res = await h.poll(d.port, sid);
  const m2 = /^40\/admin,\{"sid":"([A-Za-z0-9_-]{20})"\}$/.exec(res.text);
  assert.ok(m2, `reply to 40/admin,: "${h.show(res.body)}"`);
  assert.notEqual(m1[1], sid);
  assert.notEqual(m2[1], sid);
  assert.notEqual(m1[1], m2[1]);
  h.assertPostOk(await h.post(d.port, sid, '1'));
});

test('namespaces are separate: a relay in / does not reach /admin members of a room with the same name', async () => {
  const a = await connect('/', 'websocket');
  const b = await connect('/', 'polling');
  const c = await connect('/admin', 'websocket');
  const gotB = h.sioRecord(b);
  const gotC = h.sioRecord(c);
  for (const s of [a, b, c]) assert.deepEqual(await h.sioAck(s, 'join', 'chat:same'), ['ok']);
  assert.deepEqual(await h.sioAck(a, 'msg', 'only /'), []);
  await h.sioFence(b);
  await h.sioFence(c);
  assert.deepEqual(gotB, [['msg', 'only /']]);
  assert.deepEqual(gotC, []);
});

for (const mode of ['polling', 'websocket']) {
  test(`several namespaces on one engine session (${mode}): each socket gets only its namespace's relays`, async () => {
    const m = h.sioManager(d.port, MODES[mode]);
    const x = track(m.socket('/'));
    const y = track(m.socket('/admin'));
    await Promise.all([h.sioConnected(x), h.sioConnected(y)]);
    assert.equal(x.io.engine, y.io.engine, 'one engine session');
    assert.notEqual(x.id, y.id);
    const gotX = h.sioRecord(x);
    const gotY = h.sioRecord(y);
    assert.deepEqual(await h.sioAck(x, 'join', 'chat:mux'), ['ok']);
    assert.deepEqual(await h.sioAck(y, 'join', 'chat:mux'), ['ok']);
    const zRoot = await connect('/', 'websocket');
    const zAdmin = await connect('/admin', 'polling');
    assert.deepEqual(await h.sioAck(zRoot, 'join', 'chat:mux'), ['ok']);
    assert.deepEqual(await h.sioAck(zAdmin, 'join', 'chat:mux'), ['ok']);
    assert.deepEqual(await h.sioAck(zRoot, 'msg', 'to /'), []);
    assert.deepEqual(await h.sioAck(zAdmin, 'msg', 'to /admin'), []);
    // and from the multiplexed session out
    const gotZRoot = h.sioRecord(zRoot);
    const gotZAdmin = h.sioRecord(zAdmin);
    assert.deepEqual(await h.sioAck(y, 'msg', 'from y'), []);
    await Promise.all([x, y, zRoot, zAdmin].map((s) => h.sioFence(s)));
    assert.deepEqual(gotX, [['msg', 'to /']]);
    assert.deepEqual(gotY, [['msg', 'to /admin']]);
    assert.deepEqual(gotZRoot, []);
    assert.deepEqual(gotZAdmin, [['msg', 'from y']]);
  });
}

test('undeclared namespace: connect_error "Invalid namespace", the engine session and its other namespace keep working', async () => {
  const m = h.sioManager(d.port, MODES.websocket);
  const x = track(m.socket('/'));
  await h.sioConnected(x);
  const nope = track(m.socket('/nope'));
  const err = await h.sioConnectError(nope);
  assert.equal(err.message, 'Invalid namespace');
  assert.equal(x.connected, true);
  assert.equal(m.engine.readyState, 'open');
  assert.deepEqual(await h.sioAck(x, 'join', 'chat:still'), ['ok']);
});

test('undeclared namespace over raw polling: exactly 44/nope,{"message":"Invalid namespace"}, then 40 still connects', async () => {
  const { sid } = await h.handshake(d.port);
  await h.postPoll(d.port, sid, '40/nope,', '44/nope,{"message":"Invalid namespace"}');
  await h.postPoll(d.port, sid, '40/nope/deeper,{"a":1}', '44/nope/deeper,{"message":"Invalid namespace"}');
  h.assertPostOk(await h.post(d.port, sid, '40'));
  const res = await h.poll(d.port, sid);
  assert.match(res.text, h.SIO_CONNECT_REPLY);
  h.assertPostOk(await h.post(d.port, sid, '1'));
});

test('max_namespaces_per_session 2: N connects, N+1 gets exactly 44/quiet,{"message":"too many namespaces"}, session kept', async () => {
  const d2 = await h.startDaemon({ sio: true, config: { max_namespaces_per_session: 2 }, raw: RAW });
  try {
    const { sid } = await h.handshake(d2.port);
    for (const [body, prefix] of [['40', ''], ['40/admin,', '/admin,']]) {
      h.assertPostOk(await h.post(d2.port, sid, body));
      const res = await h.poll(d2.port, sid);
      const m = h.SIO_CONNECT_REPLY.exec(res.text);
      assert.ok(m && (m[1] || '') === prefix, `reply to ${body}: "${h.show(res.body)}"`);
    }
    await h.postPoll(d2.port, sid, '40/quiet,', '44/quiet,{"message":"too many namespaces"}');
    // an undeclared namespace is still "Invalid namespace" at the limit
    await h.postPoll(d2.port, sid, '40/nope,', '44/nope,{"message":"Invalid namespace"}');
    // the two connected sockets still work: a join on / is acked
    await h.postPoll(d2.port, sid, '427["join","chat:1"]', '437["ok"]');
    // a namespace disconnect frees a slot
    h.assertPostOk(await h.post(d2.port, sid, '41/admin,'));
    h.assertPostOk(await h.post(d2.port, sid, '40/quiet,'));
    const res = await h.poll(d2.port, sid);
    assert.match(res.text, /^40\/quiet,\{"sid":"[A-Za-z0-9_-]{20}"\}$/, `after 41/admin,: "${h.show(res.body)}"`);

    // the official client sees the refusal as a connect_error
    const m = h.sioManager(d2.port, MODES.websocket);
    const a = m.socket('/');
    const b = m.socket('/admin');
    await Promise.all([h.sioConnected(a), h.sioConnected(b)]);
    const c = m.socket('/quiet');
    assert.equal((await h.sioConnectError(c)).message, 'too many namespaces');
    assert.equal(a.connected && b.connected, true);
    a.disconnect();
    b.disconnect();
    h.assertPostOk(await h.post(d2.port, sid, '1'));
    await d2.waitIdle();
    await d2.stop();
  } finally {
    d2.kill();
  }
});

h.endTests(() => d, { clients: open });
