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
// The config reader and the HTTP side are in reference-common.js.
'use strict';

const common = require('./reference-common');

function parseConfig(file) {
  const cfg = common.engineDefaults();
  common.readConfigLines(file, (line, i, fail) => {
    const [key, ...vals] = line.split(/\s+/);
    if (!common.engineKey(cfg, key, vals)) fail(i, `unknown key "${key}"`);
  });
  return cfg;
}

function main() {
  const cfg = parseConfig(common.configArg('reference-echo.js'));
  const eio = common.engineServer(cfg);
  eio.on('connection', (socket) => {
    socket.on('message', (data) => socket.send(data));
  });
  common.serve(cfg, eio, { name: 'reference-echo' });
}

main();
