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
// SIGTERM/SIGINT.
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const modules = path.join(__dirname, '..', 'node_modules');
const engine = require(path.join(modules, 'engine.io'));
const { Server } = require(path.join(modules, 'socket.io'));

function parseDuration(v) {
  const m = /^(\d+)(ms|s|m|h)$/.exec(v);
  if (!m) throw new Error(`bad duration ${v}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2]];
}

function parseSize(v) {
  const m = /^(\d+)([KMG]?)$/.exec(v);
  if (!m) throw new Error(`bad size ${v}`);
  return Number(m[1]) * { '': 1, K: 1024, M: 1024 * 1024, G: 1024 * 1024 * 1024 }[m[2]];
}

function parseBool(v) {
  if (v === 'yes') return true;
  if (v === 'no') return false;
  throw new Error(`bad boolean ${v}`);
}

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
    listen: [],
    path: '/socket.io/',
    transports: ['polling', 'websocket'],
    allowUpgrades: true,
    pingInterval: 25000,
    pingTimeout: 20000,
    upgradeTimeout: 10000,
    maxPayload: 1000000,
    maxConnections: 10000,
    maxHeaderSize: 16 * 1024,
    keepAliveTimeout: 5000,
    cors: null,
    logFile: null,
    connectTimeout: 45000,
    maxRoomName: 256,
    maxNamespacesPerSession: 16,
    namespaces: new Map([['/', newNamespace('/')]]),
  };
  let block = null;
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const fail = (i, msg) => {
    process.stderr.write(`${file}:${i + 1}: ${msg}\n`);
    process.exit(1);
  };
  lines.forEach((raw, i) => {
    const line = raw.replace(/(^|\s)#.*/, '').trim();
    if (!line) return;
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
    try {
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
          case 'relay': block.relay = parseBool(v); break;
          default: fail(i, `unknown namespace key "${key}"`);
        }
        return;
      }
      switch (key) {
        case 'listen': cfg.listen.push(v); break;
        case 'path': cfg.path = v; break;
        case 'transports': cfg.transports = vals; break;
        case 'allow_upgrades': cfg.allowUpgrades = parseBool(v); break;
        case 'ping_interval': cfg.pingInterval = parseDuration(v); break;
        case 'ping_timeout': cfg.pingTimeout = parseDuration(v); break;
        case 'upgrade_timeout': cfg.upgradeTimeout = parseDuration(v); break;
        case 'max_payload': cfg.maxPayload = parseSize(v); break;
        case 'max_connections': cfg.maxConnections = Number(v); break;
        case 'max_header_size': cfg.maxHeaderSize = parseSize(v); break;
        case 'keepalive_timeout': cfg.keepAliveTimeout = parseDuration(v); break;
        case 'cors_origin': cfg.cors = vals.length === 1 ? v : vals; break;
        case 'log_file': cfg.logFile = v; break;
        case 'connect_timeout': cfg.connectTimeout = parseDuration(v); break;
        case 'max_room_name': cfg.maxRoomName = Number(v); break;
        case 'max_namespaces_per_session': cfg.maxNamespacesPerSession = Number(v); break;
        case 'max_output_buffer': case 'log_level': break;
        default: fail(i, `unknown key "${key}"`);
      }
    } catch (e) {
      fail(i, e.message);
    }
  });
  if (block) fail(lines.length - 1, `namespace ${block.name}: missing }`);
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

function main() {
  const ci = process.argv.indexOf('-c');
  if (ci < 0) {
    process.stderr.write('usage: reference-sio.js -c FILE\n');
    process.exit(2);
  }
  const cfg = parseConfig(process.argv[ci + 1]);
  const eio = new engine.Server({
    transports: cfg.transports,
    allowUpgrades: cfg.allowUpgrades,
    pingInterval: cfg.pingInterval,
    pingTimeout: cfg.pingTimeout,
    upgradeTimeout: cfg.upgradeTimeout,
    maxHttpBufferSize: cfg.maxPayload,
    cors: cfg.cors ? { origin: cfg.cors, credentials: true } : undefined,
  });
  const io = new Server({ serveClient: false, connectTimeout: cfg.connectTimeout });
  io.bind(eio);

  // namespaces connected (or being connected) per engine connection
  const nspCount = new WeakMap();
  let socketsCurrent = 0;

  for (const ns of cfg.namespaces.values()) {
    const nsp = io.of(ns.name);
    nsp.use((socket, next) => {
      const conn = socket.conn;
      const n = nspCount.get(conn) || 0;
      if (n >= cfg.maxNamespacesPerSession) return next(new Error('too many namespaces'));
      nspCount.set(conn, n + 1);
      socket.data.counted = true;
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
        if (socket.data.counted) nspCount.set(socket.conn, (nspCount.get(socket.conn) || 1) - 1);
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

  let connections = 0;
  const servers = [];
  const onRequest = (req, res) => {
    const url = req.url.split('?')[0];
    if (req.method === 'GET' && url === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok\n');
    } else if (req.method === 'GET' && url === '/metrics') {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
      res.end(`# TYPE roomcast_connections_current gauge\nroomcast_connections_current ${connections}\n` +
        `# TYPE roomcast_sessions_current gauge\nroomcast_sessions_current ${eio.clientsCount}\n` +
        `# TYPE roomcast_sockets_current gauge\nroomcast_sockets_current ${socketsCurrent}\n`);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found\n');
    }
  };

  let pending = cfg.listen.length;
  for (const addr of cfg.listen) {
    const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(addr);
    const srv = http.createServer({ maxHeaderSize: cfg.maxHeaderSize }, onRequest);
    srv.keepAliveTimeout = cfg.keepAliveTimeout;
    srv.maxConnections = cfg.maxConnections;
    srv.on('connection', (sock) => {
      connections++;
      sock.on('close', () => connections--);
    });
    srv.listen(Number(m[2]), m[1], () => {
      if (--pending === 0) {
        for (const s of servers) eio.attach(s, { path: cfg.path });
        const line = `roomcast reference-sio started, listening on ${cfg.listen.join(' ')}\n`;
        if (cfg.logFile) fs.appendFileSync(cfg.logFile, line);
        process.stderr.write(line);
      }
    });
    servers.push(srv);
  }

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const s of servers) s.close();
    io.close();
    eio.close();
    setImmediate(() => {
      for (const s of servers) s.closeAllConnections();
      setTimeout(() => process.exit(0), 50);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
