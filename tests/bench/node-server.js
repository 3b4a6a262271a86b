#!/usr/bin/env node
// node-server.js - the Node reference server of `make bench` (bench.js starts
// it pinned to CPU 0, like roomcastd). socket.io 4.8.1 with
// @socket.io/redis-adapter 8.3.0 on node-redis 4.7.0, all at their default
// settings (the versions pinned in tests/package.json), so the table
// compares roomcastd with what a Node deployment gets out of the box.
//
// The same policy as tests/bench/roomcast-bench.conf: a client joins any
// room with `join` (acked "ok"), and every other event it emits goes
// unchanged to the other members of its rooms (roomcastd's `relay yes`).
// Broadcasts from the bench publisher arrive through the adapter like those
// of @socket.io/redis-emitter.
//
// With --jwt-dir DIR, two more namespaces admit a client only with a valid
// token in its auth object, verified by the jsonwebtoken middleware most
// Node apps use: /jwt-hs with the HMAC secret in DIR/jwt.secret (HS256),
// /jwt-es with the P-256 public key in DIR/jwt-es.pem (ES256), as
// roomcastd's `auth jwt` namespaces of the same names.
//
// With --forward KEY, "/" relays nothing: every event but join is added to
// the Redis Stream KEY with XADD (MAXLEN ~ 100000), as a Node app forwards
// events to backends, in the fields roomcastd's backend stream uses.
//
// Args: --port P --redis HOST:PORT [--jwt-dir DIR] [--forward KEY]. Prints "listening" on stdout once the
// port is open and the adapter's subscriptions are confirmed, so the first
// publish of a run cannot be missed. Exits 0 on SIGTERM or SIGINT.
'use strict';

const http = require('node:http');
const path = require('node:path');

const MODULES = path.join(__dirname, '..', 'node_modules');
const { Server } = require(path.join(MODULES, 'socket.io'));
const { createAdapter } = require(path.join(MODULES, '@socket.io', 'redis-adapter'));
const { createClient } = require(path.join(MODULES, 'redis'));
const jwt = require(path.join(MODULES, 'jsonwebtoken'));
const fs = require('node:fs');

function parseArgs(argv) {
  const args = { port: 0, redis: '', jwtDir: '', forward: '' };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (k === '--port') args.port = Number(v);
    else if (k === '--redis') args.redis = v;
    else if (k === '--jwt-dir') args.jwtDir = v;
    else if (k === '--forward') args.forward = v;
    else throw new Error(`unknown argument ${k}`);
  }
  if (!(args.port > 0) || !/^[^:]+:\d+$/.test(args.redis)) {
    throw new Error('usage: node-server.js --port P --redis HOST:PORT');
  }
  return args;
}

/** `join` any room, acked "ok": roomcastd's `client_join *`. */
function onJoin(socket) {
  socket.on('join', (room, ack) => {
    socket.join(room);
    if (typeof ack === 'function') ack('ok');
  });
}

/** The bench's policy: join, and every other event relayed to the sender's rooms. */
function onConnection(socket) {
  onJoin(socket);
  socket.onAny((event, ...args) => {
    if (event === 'join') return;
    // socket.to() already leaves out the sender; the socket's own room is
    // dropped so a client in no other room relays to nobody
    const rooms = [...socket.rooms].filter((r) => r !== socket.id);
    if (rooms.length) socket.to(rooms).emit(event, ...args);
  });
}

/** The connection handler of --forward: joins as usual, every other event to the stream. */
function forwarding(redis, key) {
  const trim = { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: 100000 } };
  return (socket) => {
    onJoin(socket);
    socket.onAny((event, ...args) => {
      if (event === 'join') return;
      redis.xAdd(key, '*', { type: 'event', nsp: socket.nsp.name, sid: socket.id, event, args: JSON.stringify(args) }, trim)
        .catch(() => {});
    });
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const pub = createClient({ url: `redis://${args.redis}` });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);

  const httpServer = http.createServer();
  const io = new Server(httpServer, { adapter: createAdapter(pub, sub) });
  io.of('/').on('connection', args.forward ? forwarding(pub, args.forward) : onConnection);
  if (args.jwtDir) {
    const keys = [['/jwt-hs', fs.readFileSync(path.join(args.jwtDir, 'jwt.secret')), 'HS256'],
      ['/jwt-es', fs.readFileSync(path.join(args.jwtDir, 'jwt-es.pem')), 'ES256']];
    for (const [name, key, alg] of keys) {
      io.of(name).use((socket, next) => {
        jwt.verify(socket.handshake.auth && socket.handshake.auth.token, key, { algorithms: [alg] },
          (err) => next(err || undefined));
      }).on('connection', onConnection);
    }
  }

  // the adapter subscribed when "/" was created; a subscription issued
  // after it on the same connection is confirmed after it
  await sub.subscribe(`bench-node-ready#${process.pid}`, () => {});
  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(args.port, '127.0.0.1', resolve);
  });
  process.stdout.write('listening\n');

  const stop = () => {
    io.close();
    Promise.allSettled([pub.disconnect(), sub.disconnect()]).then(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

// node-cluster2.js's workers take the same policy
module.exports = { onConnection };

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`node-server.js: ${e.stack || e}\n`);
    process.exit(1);
  });
}
