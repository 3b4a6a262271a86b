// routing-common.js - what routing.test.js and routing-soak.test.js share
// (issue #14): a cluster secret in a file of its own, routed roomcastd
// instances on one Redis (each with an admin port for its own metrics,
// optionally all on one port with reuseport) resolved once every one has
// heard all the others, and a cleanup list run by the file's after().
'use strict';

const { after } = require('node:test');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const RAW = 'namespace / {\n    client_join *\n    relay yes\n}\n';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-route-'));
const SECRET = crypto.randomBytes(32).toString('base64');
const SECRET_FILE = path.join(tmp, 'cluster.secret');
fs.writeFileSync(SECRET_FILE, `${SECRET}\n`, { mode: 0o600 });
const ROUTED = { cluster_listen: '127.0.0.1:0', cluster_secret_file: SECRET_FILE, drain_timeout: '0ms' };

const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const metricsAt = async (port) => h.parseMetrics((await h.request(port, { path: '/metrics', waitClose: true })).text);

/** Waits until every daemon's peer table holds all the others. */
async function meshed(adminPorts) {
  await h.waitFor(async () => {
    for (const p of adminPorts) if ((await metricsAt(p)).roomcast_route_peers !== adminPorts.length - 1) return false;
    return true;
  }, { what: `${adminPorts.length} instances announced to each other`, timeout: 10000 });
}

/** <n> routed instances on Redis r; each has an admin port for its own metrics. */
async function instances(r, n, { port, reuseport = false, config = {} } = {}) {
  const admins = [];
  for (let i = 0; i < n; i++) admins.push(await h.freePort());
  const shared = reuseport ? port || await h.freePort() : undefined;
  const ds = await h.startAll(admins.map((admin) => h.startClusterDaemon(r, {
    raw: RAW,
    port: shared,
    config: {
      ...ROUTED, admin_listen: `127.0.0.1:${admin}`, ...config,
      ...(reuseport ? { listen: `127.0.0.1:${shared} reuseport` } : {}),
    },
  })));
  ds.forEach((d, i) => { d.admin = admins[i]; d.metrics = () => metricsAt(d.admin); });
  cleanups.push(() => ds.forEach((d) => d.kill()));
  await meshed(admins);
  return ds;
}

/** A fresh Redis, gone with the file. */
async function redis() {
  const r = await h.startRedis();
  cleanups.push(() => r.close());
  return r;
}

module.exports = { SECRET, RAW, ROUTED, tmp, cleanups, instances, redis, metricsAt };
