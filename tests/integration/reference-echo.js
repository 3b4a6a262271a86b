#!/usr/bin/env node
// reference-echo.js - a stand-in for build/tests/roomcast-echo built from the
// Node reference implementation (engine.io 6.6.12 as bundled with socket.io
// 4.8.1). It reads the same config file syntax as roomcastd (`key value`
// lines, `#` comments) and maps the keys onto engine.io options; every message
// a client sends is sent straight back to it. It also answers GET /healthz,
// GET /metrics (roomcast_connections_current, roomcast_sessions_current) and
// 404 elsewhere, and exits 0 on SIGTERM/SIGINT after closing the sessions.
//
// It exists only so the integration tests can be checked against the real
// reference server (ROOMCAST_TARGET=reference). Keys with no engine.io
// equivalent (max_output_buffer, log_level, ...) are accepted and ignored;
// max_connections maps to Node's maxConnections, which drops the connection
// instead of answering 503, so that test is skipped in reference mode.
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
  const m = /^(\d+)([KM]?)$/.exec(v);
  if (!m) throw new Error(`bad size ${v}`);
  return Number(m[1]) * { '': 1, K: 1024, M: 1024 * 1024 }[m[2]];
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
  };
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines.forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const [key, ...vals] = line.split(/\s+/);
    const v = vals[0];
    switch (key) {
      case 'listen': cfg.listen.push(v); break;
      case 'path': cfg.path = v; break;
      case 'transports': cfg.transports = vals; break;
      case 'allow_upgrades': cfg.allowUpgrades = v === 'yes'; break;
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
      default:
        process.stderr.write(`${file}:${i + 1}: unknown key "${key}"\n`);
        process.exit(1);
    }
  });
  return cfg;
}

function main() {
  const ci = process.argv.indexOf('-c');
  if (ci < 0) {
    process.stderr.write('usage: reference-echo.js -c FILE\n');
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
  eio.on('connection', (socket) => {
    socket.on('message', (data) => socket.send(data));
  });

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
        `# TYPE roomcast_sessions_current gauge\nroomcast_sessions_current ${eio.clientsCount}\n`);
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
        const line = `roomcast reference-echo started, listening on ${cfg.listen.join(' ')}\n`;
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
