// reference-common.js - what reference-echo.js and reference-sio.js (the Node
// reference servers the integration tests run with ROOMCAST_TARGET=reference)
// share, so that both read roomcastd's config syntax and serve HTTP the same
// way. It owns:
//  - the command line (`-c FILE`, usage and exit 2 otherwise);
//  - the config file reader: `key value...` lines, `#` comments (at the start
//    of a line or after white space), errors as "FILE:LINE: message" on
//    stderr and exit 1; the value parsers (durations 500ms/2s/1m/1h, sizes
//    with K/M/G, booleans yes/no);
//  - the Engine.IO keys and their defaults (listen, path, transports,
//    allow_upgrades, ping_*, upgrade_timeout, max_payload, max_connections,
//    max_header_size, keepalive_timeout, cors_origin, log_file; the keys with
//    no engine.io equivalent, max_output_buffer and log_level, are accepted
//    and ignored) and the engine.io Server built from them;
//  - the Redis keys (redis HOST:PORT or unix:/path, redis_password,
//    redis_db, redis_key, redis_request_timeout, redis_emit_channel,
//    redis_max_message) with roomcastd's defaults, and the node-redis client
//    options they give;
//  - the HTTP side: one server per listen address (Node's maxConnections,
//    which drops extra connections instead of answering 503), GET /healthz
//    (`ok\n`, plus whatever the caller's health() adds),
//    GET /metrics (roomcast_connections_current, roomcast_sessions_current,
//    plus whatever the caller adds), 404 elsewhere, the "started" line on
//    stderr and in log_file, and exit 0 on SIGTERM/SIGINT after closing the
//    sessions.
// Each server keeps its own keys (namespace blocks, ...) and message handling.
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const modules = path.join(__dirname, '..', 'node_modules');
const engine = require(path.join(modules, 'engine.io'));

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

/** The config file named by `-c FILE`; usage and exit 2 without one. */
function configArg(script) {
  const ci = process.argv.indexOf('-c');
  if (ci < 0) {
    process.stderr.write(`usage: ${script} -c FILE\n`);
    process.exit(2);
  }
  return process.argv[ci + 1];
}

/** The Engine.IO settings with roomcastd's defaults. */
function engineDefaults() {
  return {
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
  };
}

/** Applies one Engine.IO key to cfg; false when `key` is not one of them. */
function engineKey(cfg, key, vals) {
  const v = vals[0];
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
    case 'max_output_buffer': case 'log_level': break;
    // roomcastd's hardening keys (#11): Node has no exact equivalent
    case 'header_timeout': case 'body_timeout': case 'linger_timeout': case 'max_connections_per_ip': break;
    // SIGTERM's drain (#13): the reference closes at once
    case 'drain_timeout': break;
    // the origin check (#13): the reference has none, as with allowed_origins *
    case 'allowed_origins': case 'allow_no_origin': break;
    default: return false;
  }
  return true;
}

/** The Redis settings with roomcastd's defaults: redis null = single instance. */
function redisDefaults() {
  return {
    redis: null, // {host, port} or {path}
    redisPassword: null,
    redisDb: 0,
    redisKey: 'socket.io',
    redisRequestTimeout: 5000,
    redisEmitChannel: 'roomcast-emit',
    redisMaxMessage: 1024 * 1024,
  };
}

/** Parses a `redis` value: HOST:PORT, [IPv6]:PORT or unix:/path. */
function parseRedisAddress(v) {
  if (v.startsWith('unix:')) {
    if (v.length === 5) throw new Error(`bad redis address ${v}`);
    return { path: v.slice(5) };
  }
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(v);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new Error(`bad redis address ${v}`);
  return { host: m[1], port: Number(m[2]) };
}

/** Applies one Redis key to cfg (which has redisDefaults()); false when `key` is not one. */
function redisKey(cfg, key, vals) {
  const v = vals[0];
  switch (key) {
    case 'redis': cfg.redis = parseRedisAddress(v); break;
    case 'redis_password': cfg.redisPassword = v; break;
    case 'redis_db': cfg.redisDb = Number(v); break;
    case 'redis_key': cfg.redisKey = v; break;
    case 'redis_request_timeout': cfg.redisRequestTimeout = parseDuration(v); break;
    case 'redis_emit_channel': cfg.redisEmitChannel = v; break;
    case 'redis_max_message': cfg.redisMaxMessage = parseSize(v); break;
    default: return false;
  }
  return true;
}

/** createClient() options (node-redis 4) for the Redis settings of cfg. */
function redisClientOptions(cfg) {
  const opts = cfg.redis.path
    ? { socket: { path: cfg.redis.path } }
    : { url: `redis://${cfg.redis.host.includes(':') ? `[${cfg.redis.host}]` : cfg.redis.host}:${cfg.redis.port}` };
  if (cfg.redisPassword !== null) opts.password = cfg.redisPassword;
  if (cfg.redisDb) opts.database = cfg.redisDb;
  return opts;
}

/**
 * Calls onLine(line, index, fail) for every non-empty line of `file` with
 * comments stripped and white space trimmed; an exception thrown by onLine
 * (a bad value) is reported against its line. fail(index, msg) prints
 * "FILE:LINE: msg" and exits 1. Returns { fail, count } for checks after the
 * last line.
 */
function readConfigLines(file, onLine) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const fail = (i, msg) => {
    process.stderr.write(`${file}:${i + 1}: ${msg}\n`);
    process.exit(1);
  };
  lines.forEach((raw, i) => {
    const line = raw.replace(/(^|\s)#.*/, '').trim();
    if (!line) return;
    try {
      onLine(line, i, fail);
    } catch (e) {
      fail(i, e.message);
    }
  });
  return { fail, count: lines.length };
}

/** The engine.io Server for the Engine.IO settings of cfg. */
function engineServer(cfg) {
  return new engine.Server({
    transports: cfg.transports,
    allowUpgrades: cfg.allowUpgrades,
    pingInterval: cfg.pingInterval,
    pingTimeout: cfg.pingTimeout,
    upgradeTimeout: cfg.upgradeTimeout,
    maxHttpBufferSize: cfg.maxPayload,
    cors: cfg.cors ? { origin: cfg.cors, credentials: true } : undefined,
  });
}

/**
 * Listens on every cfg.listen address, attaches eio at cfg.path once all
 * listen, and serves /healthz (`ok\n` + health()) and /metrics (metrics()
 * returns extra lines); SIGTERM/SIGINT run onStop() (closing what the
 * caller owns), close everything and exit 0. Returns a promise that
 * resolves once every address listens.
 */
function serve(cfg, eio, { name, metrics = () => '', health = () => '', onStop = () => {} }) {
  let listening;
  const listened = new Promise((resolve) => { listening = resolve; });
  let connections = 0;
  const servers = [];
  const onRequest = (req, res) => {
    const url = req.url.split('?')[0];
    if (req.method === 'GET' && url === '/healthz') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(`ok\n${health()}`);
    } else if (req.method === 'GET' && url === '/metrics') {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
      res.end(`# TYPE roomcast_connections_current gauge\nroomcast_connections_current ${connections}\n` +
        `# TYPE roomcast_sessions_current gauge\nroomcast_sessions_current ${eio.clientsCount}\n${metrics()}`);
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
        // attach after listening: attach() re-runs init() on "listening"
        for (const s of servers) eio.attach(s, { path: cfg.path });
        const line = `roomcast ${name} started, listening on ${cfg.listen.join(' ')}\n`;
        if (cfg.logFile) fs.appendFileSync(cfg.logFile, line);
        process.stderr.write(line);
        listening();
      }
    });
    servers.push(srv);
  }

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const s of servers) s.close();
    onStop();
    eio.close();
    setImmediate(() => {
      for (const s of servers) s.closeAllConnections();
      setTimeout(() => process.exit(0), 50);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return listened;
}

module.exports = {
  modules, parseDuration, parseSize, parseBool, configArg,
  engineDefaults, engineKey, readConfigLines, engineServer, serve,
  redisDefaults, parseRedisAddress, redisKey, redisClientOptions,
};
