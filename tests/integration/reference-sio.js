#!/usr/bin/env node
// reference-sio.js - the Socket.IO policy of roomcastd (namespaces, room
// joins, relay) written on the Node reference implementation (socket.io
// 4.8.1 with the engine.io 6.6.12 it bundles), so that the sio-*.test.js
// files can be checked against the real reference server
// (ROOMCAST_TARGET=reference, or startDaemon({ sio: true, target: 'reference' })).
//
// It reads the same config file syntax as roomcastd: the Engine.IO keys that
// reference-echo.js maps (listen, path, transports, ping_*, max_payload, ...),
// the globals connect_timeout, max_room_name and max_namespaces_per_session,
// and `namespace NAME { ... }` blocks with client_join, join_event,
// leave_event, max_rooms_per_socket and relay. `/` always exists; other
// namespaces exist only when declared, so socket.io itself answers
// `44/nsp,{"message":"Invalid namespace"}` for the others.
//
// Policy, with the same ack strings as roomcastd:
//  - join_event (default "join") with a room name: "invalid room name" for a
//    non-string, an empty string or more than max_room_name bytes; "not
//    allowed" when no client_join glob matches (`*` any sequence, `?` one
//    character, `{auth.FIELD}` the literal value of that field of the CONNECT
//    auth object: a string as is, an integer in decimal, anything else makes
//    the pattern fail); "ok" when already a member; "too many rooms" when the
//    socket is already in max_rooms_per_socket rooms (its own id room not
//    counted); else the socket joins and gets "ok".
//  - leave_event: the same name checks, "not allowed" for the socket's own id
//    room, else leaves (a room it is not in included) and "ok".
//  - any other event: with relay yes, sent unchanged to the other members of
//    the rooms the sender has joined (own id room excluded) with
//    socket.to([...rooms]).emit(), then acked with no arguments if the client
//    asked for an ack; with relay no, dropped and never acked.
//  - max_namespaces_per_session: a CONNECT past it gets
//    `44/nsp,{"message":"too many namespaces"}` (a namespace middleware).
//  - connect_timeout maps onto socket.io's connectTimeout.
// It answers GET /healthz and GET /metrics (roomcast_connections_current,
// roomcast_sessions_current, roomcast_sockets_current) and exits 0 on
// SIGTERM/SIGINT; the config reader and that HTTP side are in
// reference-common.js, shared with reference-echo.js.
//
// With a `redis` key (HOST:PORT or unix:/path, plus redis_password,
// redis_db, redis_key, redis_request_timeout, redis_emit_channel;
// redis_max_message is accepted and ignored) every declared namespace uses
// @socket.io/redis-adapter 8.3.0 on node-redis 4.7.0 clients (createClient,
// and a duplicate for subscribing), so relays and everything else go
// through the cluster as on any Node server, and:
//  - a server-side emit from another server that wants an ack is answered
//    once with null (roomcastd's policy);
//  - the JSON emit channel (redis_emit_channel, default roomcast-emit):
//    `{"nsp":"/","rooms":[...],"except":[...],"data":[ev, ...args],
//    "volatile":false}` (only data required, nsp "/" by default) is emitted
//    to this server's matching sockets only (io.of(nsp).local); anything
//    else (bad JSON, no data, undeclared namespace) is ignored;
//  - publishing never waits for Redis: while the connection is down a
//    publish fails at once (disableOfflineQueue) and is dropped, as
//    roomcastd drops it;
//  - /healthz answers `ok\nredis up\n`, or `ok\nredis down\n` while a
//    client is not ready (or the subscriptions are not confirmed yet).
// Used as a module (node-cluster-server.js), start(cfg, opts) runs the same
// server and returns its io and Redis clients.
'use strict';

const path = require('node:path');
const common = require('./reference-common');

const { Server } = require(path.join(common.modules, 'socket.io'));

const redisModule = () => require(path.join(common.modules, 'redis'));
const adapterModule = () => require(path.join(common.modules, '@socket.io', 'redis-adapter'));

function newNamespace(name) {
  return {
    name,
    clientJoin: [],
    joinEvent: 'join',
    leaveEvent: 'leave',
    maxRoomsPerSocket: 64,
    relay: false,
  };
}

function parseConfig(file) {
  const cfg = {
    ...common.engineDefaults(),
    ...common.redisDefaults(),
    connectTimeout: 45000,
    maxRoomName: 256,
    maxNamespacesPerSession: 16,
    namespaces: new Map([['/', newNamespace('/')]]),
  };
  let block = null;
  const read = common.readConfigLines(file, (line, i, fail) => {
    const open = /^namespace\s+(\S+)\s*\{\s*(\})?$/.exec(line);
    if (open) {
      if (block) fail(i, 'nested namespace block');
      if (open[1][0] !== '/') fail(i, `namespace "${open[1]}" must start with /`);
      block = cfg.namespaces.get(open[1]) || newNamespace(open[1]);
      cfg.namespaces.set(open[1], block);
      if (open[2]) block = null;
      return;
    }
    if (line === '}') {
      if (!block) fail(i, 'unexpected }');
      block = null;
      return;
    }
    const [key, ...vals] = line.split(/\s+/);
    const v = vals[0];
    if (block) {
      // as roomcastd: each key once per block
      block.seen = block.seen || new Set();
      if (block.seen.has(key)) fail(i, `duplicate key '${key}'`);
      block.seen.add(key);
      switch (key) {
        case 'client_join': block.clientJoin.push(...vals); break;
        case 'join_event': block.joinEvent = v; break;
        case 'leave_event': block.leaveEvent = v; break;
        case 'max_rooms_per_socket': block.maxRoomsPerSocket = Number(v); break;
        case 'relay': block.relay = common.parseBool(v); break;
        default: fail(i, `unknown namespace key "${key}"`);
      }
      return;
    }
    switch (key) {
      case 'connect_timeout': cfg.connectTimeout = common.parseDuration(v); break;
      case 'max_room_name': cfg.maxRoomName = Number(v); break;
      case 'max_namespaces_per_session': cfg.maxNamespacesPerSession = Number(v); break;
      default:
        if (!common.engineKey(cfg, key, vals) && !common.redisKey(cfg, key, vals)) fail(i, `unknown key "${key}"`);
    }
  });
  if (block) read.fail(read.count - 1, `namespace ${block.name}: missing }`);
  return cfg;
}

// ------------------------------------------------------------- room policy

/** The auth field as a pattern sees it: string as is, integer in decimal. */
function authField(auth, field) {
  if (!auth || typeof auth !== 'object' || Array.isArray(auth)) return undefined;
  const v = auth[field];
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return String(v);
  return undefined;
}

const escapeRe = (s) => s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');

/** Does client_join glob `pattern` match `room` for a socket with `auth`? */
function globMatch(pattern, room, auth) {
  let re = '';
  for (let i = 0; i < pattern.length;) {
    const m = /^\{auth\.([^}]+)\}/.exec(pattern.slice(i));
    if (m) {
      const v = authField(auth, m[1]);
      if (v === undefined) return false;
      re += escapeRe(v);
      i += m[0].length;
      continue;
    }
    const c = pattern[i++];
    if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`).test(room);
}

/**
 * The node-redis clients for cfg (publisher and subscriber), connecting in
 * the background; .healthy() tells whether both are ready.
 */
function redisClients(cfg) {
  const { createClient } = redisModule();
  // the publisher fails at once while Redis is away instead of queueing
  const pub = createClient({ ...common.redisClientOptions(cfg), disableOfflineQueue: true });
  const sub = pub.duplicate({ disableOfflineQueue: false });
  for (const c of [pub, sub]) {
    c.on('error', () => {}); // reconnects by itself; a missing listener would throw
    c.connect().catch(() => {});
  }
  // the adapter publishes without handling the promise: a failed publish
  // (Redis away) is dropped instead of becoming an unhandled rejection
  const publish = pub.publish.bind(pub);
  pub.publishFailed = 0;
  pub.publish = (...args) => {
    const p = publish(...args);
    p.catch(() => { pub.publishFailed++; });
    return p;
  };
  pub.PUBLISH = pub.publish;
  return { pub, sub };
}

/** Emits a JSON emit channel message to this server's matching sockets. */
function jsonEmit(io, cfg, text) {
  let m;
  try {
    m = JSON.parse(text);
  } catch (e) {
    return;
  }
  if (!m || typeof m !== 'object' || !Array.isArray(m.data) || m.data.length === 0) return;
  const nspName = m.nsp === undefined ? '/' : m.nsp;
  if (typeof nspName !== 'string' || !cfg.namespaces.has(nspName)) return;
  let op = io.of(nspName).local;
  if (Array.isArray(m.rooms) && m.rooms.length) op = op.to(m.rooms);
  if (Array.isArray(m.except) && m.except.length) op = op.except(m.except);
  if (m.volatile === true) op = op.volatile;
  try {
    op.emit(...m.data);
  } catch (e) {
    // a reserved or non-string event name
  }
}

/**
 * Runs the server for cfg. opts: jsonEmit (default true: listen on the
 * JSON emit channel), onServerSideEmit(nspName, args) (called for every
 * server-side emit from another server, before the null ack). Resolves with
 * { io, pub, sub } (pub and sub null without redis) once listening.
 */
async function start(cfg, { jsonEmit: withJsonEmit = true, onServerSideEmit = () => {} } = {}) {
  const eio = common.engineServer(cfg);
  let clients = null;
  let subscribed = false;
  const ioOpts = { serveClient: false, connectTimeout: cfg.connectTimeout };
  if (cfg.redis) {
    // the adapter leaves some node-redis promises unhandled (unsubscribing
    // at close, a request while Redis is away, a subscription Redis refuses
    // for a wrong password): those are no crash here, /healthz says down
    process.on('unhandledRejection', (e) => {
      const name = e && e.constructor && e.constructor.name;
      if (/^(ClientClosedError|ClientOfflineError|SocketClosedUnexpectedlyError|DisconnectsClientError|ConnectionTimeoutError|ErrorReply)$/.test(name)) return;
      throw e;
    });
    clients = redisClients(cfg);
    ioOpts.adapter = adapterModule().createAdapter(clients.pub, clients.sub, {
      key: cfg.redisKey,
      requestsTimeout: cfg.redisRequestTimeout,
    });
  }
  const io = new Server(ioOpts);
  io.bind(eio);

  // namespaces connected (or being connected) per engine connection
  const nspCount = new WeakMap();
  let socketsCurrent = 0;

  // sockets that passed the namespace limit (not socket.data: that is
  // what a cluster's fetchSockets() shows, {} as in roomcastd)
  const counted = new WeakSet();

  for (const ns of cfg.namespaces.values()) {
    const nsp = io.of(ns.name);
    // a server-side emit from another server: seen, then acked with null
    // when an ack is wanted (the redis adapter passes the callback last)
    nsp._onServerSideEmit = (args) => {
      const list = [...args];
      const ack = typeof list[list.length - 1] === 'function' ? list.pop() : null;
      onServerSideEmit(ns.name, list);
      if (ack) ack(null);
    };
    nsp.use((socket, next) => {
      const conn = socket.conn;
      const n = nspCount.get(conn) || 0;
      if (n >= cfg.maxNamespacesPerSession) return next(new Error('too many namespaces'));
      nspCount.set(conn, n + 1);
      counted.add(socket);
      return next();
    });
    nsp.on('connection', (socket) => {
      socketsCurrent++;
      const auth = socket.handshake.auth;
      // "error" is not reserved in the parser: without a listener Node's
      // EventEmitter would throw when the socket dispatches it.
      socket.on('error', () => {});
      socket.on('disconnect', () => {
        socketsCurrent--;
        if (counted.has(socket)) nspCount.set(socket.conn, (nspCount.get(socket.conn) || 1) - 1);
      });

      const roomArg = (room) => {
        if (typeof room !== 'string' || room.length === 0 || Buffer.byteLength(room) > cfg.maxRoomName) {
          return 'invalid room name';
        }
        if (!ns.clientJoin.some((p) => globMatch(p, room, auth))) return 'not allowed';
        return null;
      };
      const split = (args) => {
        const ack = args.length && typeof args[args.length - 1] === 'function' ? args.pop() : null;
        return [args, ack || (() => {})];
      };

      socket.on(ns.joinEvent, (...raw) => {
        const [args, ack] = split(raw);
        const room = args[0];
        const why = roomArg(room);
        if (why) return ack(why);
        if (socket.rooms.has(room)) return ack('ok');
        if (socket.rooms.size - 1 >= ns.maxRoomsPerSocket) return ack('too many rooms');
        socket.join(room);
        return ack('ok');
      });
      socket.on(ns.leaveEvent, (...raw) => {
        const [args, ack] = split(raw);
        const room = args[0];
        const why = room === socket.id ? 'not allowed' : roomArg(room);
        if (why) return ack(why);
        socket.leave(room);
        return ack('ok');
      });
      socket.onAny((event, ...raw) => {
        if (event === ns.joinEvent || event === ns.leaveEvent) return;
        if (!ns.relay) return;
        const [args, ack] = split(raw);
        const rooms = [...socket.rooms].filter((r) => r !== socket.id);
        if (rooms.length) socket.to(rooms).emit(event, ...args);
        ack();
      });
    });
  }

  if (clients) {
    // issued after the adapters' subscriptions on the same connection:
    // once this one is confirmed, theirs are too
    // (a server without the JSON channel waits on a private one instead)
    const subscribing = withJsonEmit
      ? clients.sub.subscribe(cfg.redisEmitChannel, (msg) => jsonEmit(io, cfg, msg))
      : clients.sub.subscribe(`${cfg.redisKey}-reference-ready#${process.pid}`, () => {});
    subscribing.then(() => { subscribed = true; }, () => {});
  }
  const healthy = () => clients && subscribed && clients.pub.isReady && clients.sub.isReady;

  await common.serve(cfg, eio, {
    name: 'reference-sio',
    metrics: () => `# TYPE roomcast_sockets_current gauge\nroomcast_sockets_current ${socketsCurrent}\n`,
    health: () => (clients ? `redis ${healthy() ? 'up' : 'down'}\n` : ''),
    onStop: () => {
      io.close();
      if (clients) for (const c of [clients.pub, clients.sub]) c.disconnect().catch(() => {});
    },
  });
  return { io, pub: clients && clients.pub, sub: clients && clients.sub, healthy };
}

function main() {
  const cfg = parseConfig(common.configArg('reference-sio.js'));
  start(cfg).catch((e) => {
    process.stderr.write(`reference-sio.js: ${e.stack || e}\n`);
    process.exit(1);
  });
}

module.exports = { parseConfig, start, globMatch };

if (require.main === module) main();
