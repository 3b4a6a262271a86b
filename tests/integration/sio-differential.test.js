// sio-differential.test.js - one scripted multi-client Socket.IO session run
// against roomcastd and against reference-sio.js (the Node socket.io 4.8.1
// server with the same policy, from the same config), recording per client
// socket the exact list of events received (name and arguments, binary as
// hex) and, separately, every ack result and connect_error message; the two
// recordings must be identical. The script: four official clients
// (polling, WebSocket, polling upgraded to WebSocket) with auth objects,
// an undeclared namespace refused, joins allowed and refused (not allowed,
// invalid room name, too many rooms, the auth-based user:{auth.user}:*
// pattern), relays with and without acks and with emitWithAck + timeout,
// binary and nested binary both ways, a second namespace multiplexed on two
// of the clients' sessions, a relay-no namespace (dropped, no ack), leaves
// (including the own id room), a client disconnecting, and relays after
// that. Every step waits for its ack (or a fence: a join of "" answered
// "invalid room name") before the next, so each client's order is fixed.
// With ROOMCAST_TARGET=reference both runs are the reference (the script is
// then checked against itself).
'use strict';

const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const RAW = `
namespace / {
    client_join           chat:* user:{auth.user}:*
    max_rooms_per_socket  3
    relay                 yes
}
namespace /admin {
    client_join           ops:*
    join_event            sub
    leave_event           unsub
    relay                 yes
}
namespace /quiet {
    client_join           *
}
`;

async function script(port) {
  const rec = {};
  const acks = {};
  const sockets = {};
  const track = (name, s) => {
    sockets[name] = s;
    rec[name] = h.sioRecord(s);
    acks[name] = [];
    return s;
  };
  const ack = async (name, ev, ...args) => {
    const r = await h.sioAck(sockets[name], ev, ...args);
    const shown = args.map((a) => (a === sockets[name].id ? '<own socket id>' : a)); // ids differ between runs
    acks[name].push([ev, ...h.sioNormalize(shown), '=>', ...r]);
    return r;
  };
  const fence = (name) => h.sioFence(sockets[name], name.endsWith('/admin') ? 'sub' : 'join');
  const emit = async (name, ev, ...args) => {
    sockets[name].emit(ev, ...args);
    await fence(name);
  };

  const connect = async (name, nsp, opts) => {
    const s = h.sioClient(port, nsp, { ...opts });
    await h.sioConnected(s);
    if (opts.transports.length === 2 && s.io.engine.transport.name !== 'websocket') await h.once(s.io.engine, 'upgrade');
    return track(name, s);
  };
  await connect('alice', '/', { transports: ['polling'], auth: { user: 'alice' } });
  await connect('bob', '/', { transports: ['websocket'], auth: { user: 'bob', n: 2 } });
  await connect('carol', '/', { transports: ['polling', 'websocket'], auth: { user: 'carol' } });
  await connect('dave', '/', { transports: ['websocket'] });

  const nope = h.sioClient(port, '/nope', { transports: ['polling'] });
  acks.nope = [['connect_error', (await h.sioConnectError(nope)).message]];
  nope.disconnect();

  // joins
  for (const [name, rooms] of [
    ['alice', ['chat:1', 'user:alice:inbox', 'user:bob:inbox']],
    ['bob', ['chat:1', 'user:bob:inbox']],
    ['carol', ['chat:1', 'chat:2', 'chat:3', 'chat:4', 'chat:2']],
    ['dave', ['chat:2', 'lobby', 5, '', 'user:undefined:x']],
  ]) {
    for (const room of rooms) await ack(name, 'join', room);
  }
  await emit('dave', 'join', 'chat:3'); // no ack asked
  await ack('dave', 'leave', sockets.dave.id);

  // relays
  await ack('alice', 'msg', 'hello', { n: 1, list: [1, 'two', null] });
  await emit('bob', 'msg', 'no ack from bob');
  await ack('carol', 'bin', Buffer.from([1, 2, 3]), { nested: [Buffer.from('ff', 'hex'), { b: Buffer.alloc(0) }] });
  await ack('dave', 'bin-back', Buffer.from('dave'), 'tail');
  acks.alice.push(['emitWithAck+timeout', String(await sockets.alice.timeout(10000).emitWithAck('msg', 'with timeout'))]);
  await ack('bob', 'to-inbox', 'only me');
  await emit('carol', 'unicode', 'é✓😀', '\u2028');

  // a second namespace on alice's and dave's sessions
  for (const who of ['alice', 'dave']) {
    const s = sockets[who].io.socket('/admin');
    await h.sioConnected(s);
    track(`${who}/admin`, s);
  }
  await ack('alice/admin', 'sub', 'ops:1');
  await ack('dave/admin', 'sub', 'ops:1');
  await ack('dave/admin', 'sub', 'chat:1');
  await ack('alice/admin', 'join', 'ops:1'); // an ordinary event in /admin
  await ack('dave/admin', 'admin-bin', { k: Buffer.from([9, 8]) });
  await ack('alice', 'msg', 'not to admin');

  // relay no
  const q = h.sioClient(port, '/quiet', { transports: ['websocket'] });
  await h.sioConnected(q);
  track('quiet', q);
  await ack('quiet', 'join', 'q');
  let quietAcked = 0;
  q.emit('dropped', 1, () => { quietAcked++; });
  await fence('quiet');
  acks.quiet.push(['dropped acks', quietAcked]);

  // leaves and a disconnect
  await ack('carol', 'leave', 'chat:1');
  await ack('carol', 'leave', 'chat:9');
  await ack('carol', 'leave', 'lobby');
  await ack('alice', 'msg', 'after carol left chat:1');
  await ack('carol', 'join', 'chat:4');
  sockets.bob.disconnect();
  await ack('alice', 'msg', 'after bob left');
  await ack('dave', 'msg', 'dave to chat:2 and chat:3');
  await ack('alice/admin', 'unsub', 'ops:1');
  await ack('dave/admin', 'admin', 'after unsub');

  for (const name of Object.keys(sockets)) if (sockets[name].connected) await fence(name);
  for (const s of Object.values(sockets)) s.disconnect();
  return { events: rec, acks };
}

let results = {};
for (const target of ['reference', 'roomcastd']) {
  test(`the scripted session runs against ${target}`, async () => {
    const d = await h.startDaemon({ sio: true, raw: RAW, target: h.REFERENCE ? 'reference' : target });
    try {
      results[target] = await script(d.port);
      await d.waitIdle();
      await d.stop('SIGTERM');
    } finally {
      d.kill();
    }
  });
}

test('roomcastd and the reference recorded exactly the same events and acks', () => {
  // SIO_DIFF_DUMP=1 prints both recordings (to read a difference whole)
  if (process.env.SIO_DIFF_DUMP) process.stderr.write(`${JSON.stringify(results)}\n`);
  assert.ok(results.reference && results.roomcastd, 'both runs completed');
  assert.deepEqual(results.roomcastd.acks, results.reference.acks, 'ack results (roomcastd vs reference)');
  assert.deepEqual(results.roomcastd.events, results.reference.events, 'events received (roomcastd vs reference)');
  // the script did exercise something
  assert.ok(results.reference.events.bob.length >= 3);
  assert.ok(results.reference.events['dave/admin'].length >= 1);
});
