#!/usr/bin/env node
// node-cluster-server.js - the Node side of the cluster-*.test.js files,
// forked by harness.js (startNodeCluster, startEmitterProcess) with an IPC
// channel (serialization 'advanced': Buffers and Dates cross unchanged).
// Two roles:
//
//  -c FILE: a plain socket.io 4.8.1 server with @socket.io/redis-adapter
//   8.3.0 on node-redis 4.7.0, i.e. reference-sio.js's start() (same config
//   syntax, same namespace/join/relay policy for its own clients: rooms
//   joined with a `join` event acked "ok", other events relayed with
//   socket.to(rooms).emit()) but without the JSON emit channel: a Node
//   server does not listen there. It also records every server-side emit
//   it receives. Commands (every field optional unless said):
//     emit {nsp, rooms, except, volatile, compress, local, args}
//     emitWithAck {nsp, rooms, except, timeout, args} -> {err, responses}
//       (io.timeout(t).to(rooms).emit(...args, cb))
//     fetchSockets {nsp, rooms, except} -> [{id, rooms, handshake, data}]
//     allRooms {nsp} -> [room names]
//     serverSideEmit {nsp, args, ack} -> with ack {err, responses}
//     socketsJoin / socketsLeave {nsp, in, except, rooms}
//     disconnectSockets {nsp, in, except, close}
//     serverSideEvents -> [{nsp, args}] received so far
//     serverCount {nsp}; localSockets {nsp} -> [{id, rooms, handshake, data}]
//
//  --emitter URL KEY: an @socket.io/redis-emitter 5.1.0 Emitter (key KEY)
//   on its own node-redis client. Commands:
//     emit {nsp, rooms, except, volatile, compress, args}
//       (nsp is passed to emitter.of() as given, so "admin" tests the
//       missing slash)
//     socketsJoin / socketsLeave {nsp, in, except, rooms}
//     disconnectSockets {nsp, in, except, close}
//     serverSideEmit {nsp, args}
//     publish {channel, payload}: raw PUBLISH (Buffer or string)
//
// A command message is {id, cmd, ...fields}; the answer {id, result} or
// {id, error} is sent only after a PING round trip on the publishing
// connection, so whatever the command published has been handed by Redis
// to every subscriber by then. {ready: true} is sent once the server
// listens and its subscriptions are confirmed (or the emitter's client is
// connected). The process exits when the IPC channel closes.
'use strict';

const path = require('node:path');
const common = require('./reference-common');

function serve(handlers, sync) {
  process.on('message', async (m) => {
    const h = handlers[m.cmd];
    let reply;
    try {
      if (!h) throw new Error(`unknown command ${m.cmd}`);
      const result = await h(m);
      await sync();
      reply = { id: m.id, result };
    } catch (e) {
      reply = { id: m.id, error: e && e.message ? e.message : String(e) };
    }
    if (process.connected) process.send(reply);
  });
  process.on('disconnect', () => process.exit(0));
}

/** A broadcast operator (Namespace, BroadcastOperator or emitter) with the target fields applied. */
function target(op, { rooms, except, volatile, compress, local } = {}) {
  if (rooms && rooms.length) op = op.to(rooms);
  if (except && except.length) op = op.except(except);
  if (volatile) op = op.volatile;
  if (compress === false) op = op.compress(false);
  if (local) op = op.local;
  return op;
}

/** A socket (local Socket or RemoteSocket) as plain data. */
function socketData(s) {
  return JSON.parse(JSON.stringify({ id: s.id, rooms: [...s.rooms], handshake: s.handshake, data: s.data }));
}

async function serverRole() {
  const ref = require('./reference-sio');
  const cfg = ref.parseConfig(common.configArg('node-cluster-server.js'));
  if (!cfg.redis) throw new Error('node-cluster-server.js needs a redis key');
  const events = [];
  const { io, pub, healthy } = await ref.start(cfg, {
    jsonEmit: false,
    onServerSideEmit: (nsp, args) => events.push({ nsp, args }),
  });
  const nsp = (m) => {
    const name = m.nsp || '/';
    if (!cfg.namespaces.has(name)) throw new Error(`namespace ${name} not declared`);
    return io.of(name);
  };
  const withAck = (run) => new Promise((resolve) => {
    run((err, responses) => resolve({ err: err ? err.message : null, responses }));
  });
  serve({
    emit: (m) => target(nsp(m), m).emit(...m.args),
    emitWithAck: (m) => withAck((cb) => target(nsp(m), m).timeout(m.timeout).emit(...m.args, cb)),
    fetchSockets: async (m) => (await target(nsp(m), m).fetchSockets()).map(socketData),
    allRooms: async (m) => [...await nsp(m).adapter.allRooms()],
    serverSideEmit: (m) => (m.ack
      ? withAck((cb) => nsp(m).serverSideEmit(...m.args, cb))
      : nsp(m).serverSideEmit(...m.args)),
    socketsJoin: (m) => { target(nsp(m), { rooms: m.in, except: m.except }).socketsJoin(m.rooms); },
    socketsLeave: (m) => { target(nsp(m), { rooms: m.in, except: m.except }).socketsLeave(m.rooms); },
    disconnectSockets: (m) => { target(nsp(m), { rooms: m.in, except: m.except }).disconnectSockets(!!m.close); },
    serverSideEvents: () => events,
    serverCount: (m) => nsp(m).adapter.serverCount(),
    localSockets: (m) => [...nsp(m).sockets.values()].map(socketData),
  }, () => pub.ping());
  // ready once the subscriptions are confirmed
  const wait = () => (healthy() ? process.send({ ready: true }) : setTimeout(wait, 10));
  wait();
}

async function emitterRole() {
  const i = process.argv.indexOf('--emitter');
  const url = process.argv[i + 1];
  const key = process.argv[i + 2] || 'socket.io';
  const { createClient } = require(path.join(common.modules, 'redis'));
  const { Emitter } = require(path.join(common.modules, '@socket.io', 'redis-emitter'));
  const client = createClient({ url });
  client.on('error', () => {});
  await client.connect();
  const emitter = new Emitter(client, { key });
  const of = (m) => (m.nsp === undefined ? emitter : emitter.of(m.nsp));
  serve({
    emit: (m) => target(of(m), m).emit(...m.args),
    socketsJoin: (m) => { target(of(m), { rooms: m.in, except: m.except }).socketsJoin(m.rooms); },
    socketsLeave: (m) => { target(of(m), { rooms: m.in, except: m.except }).socketsLeave(m.rooms); },
    disconnectSockets: (m) => { target(of(m), { rooms: m.in, except: m.except }).disconnectSockets(!!m.close); },
    serverSideEmit: (m) => { of(m).serverSideEmit(...m.args); },
    publish: (m) => client.publish(m.channel, m.payload),
  }, () => client.ping());
  process.on('SIGTERM', () => client.disconnect().finally(() => process.exit(0)));
  process.send({ ready: true });
}

(process.argv.includes('--emitter') ? emitterRole() : serverRole()).catch((e) => {
  process.stderr.write(`node-cluster-server.js: ${e.stack || e}\n`);
  process.exit(1);
});
