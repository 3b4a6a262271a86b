#!/usr/bin/env node
// bench.js - `make bench`: roomcastd against the Node reference server
// (node-server.js: socket.io 4.8.1 + @socket.io/redis-adapter 8.3.0) and
// against the ceiling program, printed as one table and written to
// tests/bench/results/YYYY-MM-DD.md (and .json with every step's raw data).
//
// Owns the orchestration only: the load comes from the C tools built from
// this directory (build/bench/loadgen, publisher, ceiling; their options
// and JSON lines are described at the top of each .c file). It starts one redis-server for the whole run, then
// for each scenario group a fresh server process, Node first and roomcastd
// second (the fan-out group needs Node's maximum rate before it can run the
// "50% of Node's maximum" step on both). Placement: the server under test
// and the ceiling's writer on CPU 0; loadgen, publisher and Redis on CPU 1.
// Server CPU is utime+stime from /proc/PID/stat sampled around each step,
// RSS is VmRSS from /proc/PID/status, kernel socket memory the TCP "mem"
// pages of /proc/net/sockstat, and write syscalls (for frames per write)
// syscw from /proc/PID/io.
//
// Scenarios (README.md says what each measures): ceiling, idle, fanout,
// relay, forward, churn, route, multicore. Two place processes otherwise:
// route runs two routed roomcastd instances (A and B) both on CPU 0 and its
// polling client (pollrtt) on CPU 1, roomcastd alone (Node has no session
// routing); multicore runs two reuseport roomcastd processes against
// node-cluster2.js (a node:cluster primary and two workers), each server's
// processes free to use CPUs 0 and 1, which the loadgen, the publisher and
// Redis (CPU 1) share. Server CPU, write calls and RSS are then summed over
// the server's processes. Every step has a timeout; a scenario that fails
// records "error: ..." in its cells and the run goes on. Every child is
// killed on exit, error, SIGINT and SIGTERM.
//
// Environment: BENCH_QUICK=1 (fewer, shorter steps, for development),
// BENCH_ONLY=idle,fanout,... (a subset), BENCH_TOOLS=DIR (loadgen, publisher,
// ceiling and pollrtt from DIR instead of build/bench), ROOMCAST_BIN (the daemon, as
// for the integration tests; default build/roomcastd). Option --readme:
// also replace the section between <!-- bench:begin --> and
// <!-- bench:end --> of the repository's README.md with this run's tables.
'use strict';

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
const TOOLS = path.resolve(REPO, process.env.BENCH_TOOLS || path.join('build', 'bench'));
const BIN = {
  roomcastd: path.resolve(REPO, process.env.ROOMCAST_BIN || path.join('build', 'roomcastd')),
  loadgen: path.join(TOOLS, 'loadgen'),
  publisher: path.join(TOOLS, 'publisher'),
  ceiling: path.join(TOOLS, 'ceiling'),
  pollrtt: path.join(TOOLS, 'pollrtt'),
};
const NODE_SERVER = path.join(__dirname, 'node-server.js');
const NODE_CLUSTER2 = path.join(__dirname, 'node-cluster2.js');
const CONF_TEMPLATE = path.join(__dirname, 'roomcast-bench.conf');
const RESULTS_DIR = path.join(__dirname, 'results');
const README = path.join(REPO, 'README.md');

const SERVER_CPU = 0;
const CLIENT_CPU = 1;
// multicore: each server's processes on both CPUs (taskset's list syntax)
const MULTICORE_CPUS = '0,1';
const FRAME_BYTES = 100;
const REDIS_PORT = 6390;
const SERVERS = ['node', 'roomcastd']; // run order: see the header comment
const SCENARIOS = ['ceiling', 'idle', 'fanout', 'relay', 'forward', 'churn', 'route', 'multicore'];
const QUICK = process.env.BENCH_QUICK === '1';

// A step is sustained when this much of what was sent arrived, this fast.
const SUSTAIN_DELIVERED = 0.95;
const SUSTAIN_P99_US = 1e6;
// CPU 1 (loadgen, publisher, Redis) this busy means the clients' side, not
// the server, may be what limited a step.
const CLIENT_CPU_BUSY = 0.95;
// Frames per write up to this still count as one broadcast per loop turn
// (the odd write that carries a pong or two frames).
const ONE_FRAME_PER_WRITE = 1.1;
// Rounds/s of the paced ceiling when the servers share no rate to pace it
// like: slow enough that the reader sleeps between rounds.
const PACED_CEILING_RATE = 2;

// What the run does; BENCH_QUICK shrinks it to a couple of minutes.
const PLAN = QUICK ? {
  stepSeconds: 2,
  idleWs: [1000],
  idlePolling: [1000],
  fanout: [{ clients: 1000, ladder: [10, 50, 200, 1000, 4000], single: 1 }],
  flush: { clients: 1000, rate: 1000, delay: '5ms' },
  relay: { clients: 1000, rooms: 10, ladder: [200, 1000, 5000] },
  forward: { clients: 1000, rooms: 10, ladder: [1000, 5000] },
  churnSeconds: 2,
  ceiling: { clients: [1000], batches: [1, 4, 16], seconds: 1 },
  route: { sequential: 1000, concurrent: 100, seconds: 2, warmup: 20 },
  multicore: { idleClients: 2000, clients: 2000, warmup: 20, ladder: [5, 20, 100, 400] },
} : {
  stepSeconds: 4,
  idleWs: [1000, 10000, 19000],
  idlePolling: [1000, 10000],
  // broadcasts/s; the same rates for both servers so that they share steps
  fanout: [
    { clients: 1000, ladder: [10, 20, 50, 100, 250, 500, 1000, 2000, 4000, 8000], single: 0 },
    { clients: 10000, ladder: [1, 2, 5, 10, 25, 50, 100, 200, 400, 800], single: 5 },
  ],
  flush: { clients: 1000, rate: 1000, delay: '5ms' },
  // events/s emitted by all clients together; each reaches 99 others
  relay: { clients: 1000, rooms: 10, ladder: [100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000] },
  // events/s emitted by all clients together, each added to the stream
  forward: { clients: 1000, rooms: 10, ladder: [1000, 2000, 5000, 10000, 20000, 50000, 100000] },
  churnSeconds: 5,
  ceiling: { clients: [1000, 10000], batches: [1, 4, 16], seconds: 3 },
  // sequential round trips of one client; then concurrent clients for
  // seconds; warmup round trips per concurrent client first (each variant)
  route: { sequential: 3000, concurrent: 100, seconds: 4, warmup: 50 },
  // broadcasts/s at 10,000 clients, as the single-core fan-out's ladder;
  // warmup: clients that connect and leave before the idle baseline, so
  // that every process has served some
  multicore: { idleClients: 10000, clients: 10000, warmup: 20, ladder: [1, 2, 5, 10, 25, 50, 100, 200, 400, 800] },
};

const ONLY = (process.env.BENCH_ONLY || '').split(',').map((s) => s.trim()).filter(Boolean);
for (const s of ONLY) {
  if (!SCENARIOS.includes(s)) {
    process.stderr.write(`bench: BENCH_ONLY: unknown scenario "${s}" (known: ${SCENARIOS.join(', ')})\n`);
    process.exit(2);
  }
}
const wanted = (s) => ONLY.length === 0 || ONLY.includes(s);

const T0 = Date.now();
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

function log(msg) {
  process.stderr.write(`[${((Date.now() - T0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------ /proc readers

/** utime + stime of every thread of pid, in seconds (CLK_TCK granularity). */
function procCpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // comm may hold spaces and parentheses: fields start after the last ')'
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // fields 14 and 15
}

function procStatusKiB(pid, field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Write-like syscalls of pid so far (write, writev, ...): frames per write. */
function procSyscw(pid) {
  try {
    return Number(/^syscw:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))[1]);
  } catch (e) {
    return NaN;
  }
}

function procOpenFilesLimit(pid) {
  const m = /^Max open files\s+(\d+)\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** The server's processes: several for the multicore scenario's servers. */
const serverPids = (server) => server.pids || [server.pid];
const serverCpuSeconds = (server) => serverPids(server).reduce((a, pid) => a + procCpuSeconds(pid), 0);
const serverSyscw = (server) => serverPids(server).reduce((a, pid) => a + procSyscw(pid), 0);
const serverRssKiB = (server) => serverPids(server).reduce((a, pid) => a + procStatusKiB(pid, 'VmRSS'), 0);

/** Open descriptors of pid (clients per process, give or take a few). */
function procFdCount(pid) {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch (e) {
    return NaN;
  }
}

/** Kernel TCP memory in bytes (the "mem" pages of /proc/net/sockstat). */
function sockstatTcpBytes() {
  const m = /^TCP:.* mem (\d+)/m.exec(fs.readFileSync('/proc/net/sockstat', 'utf8'));
  return m ? Number(m[1]) * 4096 : NaN;
}

/** Busy and total jiffies of each CPU, from /proc/stat. */
function cpuJiffies() {
  const out = {};
  for (const line of fs.readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const v = m[2].trim().split(/\s+/).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // guest is inside user
    out[m[1]] = { busy: total - v[3] - v[4], total };
  }
  return out;
}

function cpuBusyFraction(a, b, cpu) {
  const total = b[cpu].total - a[cpu].total;
  return total > 0 ? (b[cpu].busy - a[cpu].busy) / total : NaN;
}

// --------------------------------------------------------------- processes

const children = new Set();

function killAll() {
  for (const c of children) {
    try { process.kill(c.pid, 'SIGKILL'); } catch (e) { /* already gone */ }
  }
  children.clear();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    process.stderr.write(`\nbench: ${sig}: killing every child and exiting\n`);
    killAll();
    process.exit(130);
  });
}

/**
 * A child pinned to one CPU with its soft open-file limit raised to the
 * hard one: sh execs taskset, which execs the program, so pid is the
 * program's own (what /proc is read for). stdout is split into lines;
 * JSON lines are parsed. Lines are queued until a waitLine() takes them.
 */
class Proc {
  constructor(name, argv, { cpu, stdin = false }) {
    this.name = name;
    const script = 'ulimit -Sn "$(ulimit -Hn)" && exec taskset -c "$0" "$@"';
    this.child = spawn('sh', ['-c', script, String(cpu), ...argv.map(String)], {
      stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    this.pid = this.child.pid;
    children.add(this.child);
    this.queue = [];
    this.waiters = [];
    this.stderrTail = '';
    this.exit = null;
    let partial = '';
    this.child.stdout.on('data', (d) => {
      const parts = (partial + d).split('\n');
      partial = parts.pop();
      for (const line of parts) if (line.trim()) this.onLine(line.trim());
    });
    this.child.stderr.on('data', (d) => { this.stderrTail = (this.stderrTail + d).slice(-4000); });
    if (stdin) this.child.stdin.on('error', () => {}); // EPIPE once it exited
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => {
      children.delete(this.child);
      this.exit = { code, signal };
      const err = new Error(`${this.name} exited (${signal || `code ${code}`})${this.stderrHint()}`);
      for (const w of this.waiters.splice(0)) w.reject(err);
      resolve(this.exit);
    }));
    this.child.on('error', (e) => { this.stderrTail += `\nspawn: ${e.message}`; });
  }

  stderrHint() {
    const t = this.stderrTail.trim().split('\n').slice(-3).join(' | ');
    return t ? `: ${t}` : '';
  }

  onLine(line) {
    let item = { text: line };
    if (line[0] === '{') {
      try { item = JSON.parse(line); } catch (e) { /* keep as text */ }
    }
    const i = this.waiters.findIndex((w) => w.pred(item));
    if (i < 0) {
      this.queue.push(item);
      return;
    }
    const [w] = this.waiters.splice(i, 1);
    w.resolve(item);
  }

  /** Resolves with the first line (parsed) for which pred is true. */
  waitLine(pred, timeoutMs, what) {
    const i = this.queue.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    if (this.exit) return Promise.reject(new Error(`${this.name} exited before ${what}${this.stderrHint()}`));
    return new Promise((resolve, reject) => {
      const w = { pred };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`${this.name}: no ${what} within ${(timeoutMs / 1000).toFixed(0)} s${this.stderrHint()}`));
      }, timeoutMs);
      w.resolve = (v) => { clearTimeout(t); resolve(v); };
      w.reject = (e) => { clearTimeout(t); reject(e); };
      this.waiters.push(w);
    });
  }

  waitEvent(event, timeoutMs) {
    return this.waitLine((x) => x.event === event, timeoutMs, `{"event":"${event}"}`);
  }

  send(line) {
    if (!this.exit) this.child.stdin.write(`${line}\n`);
  }

  alive() {
    if (this.exit) throw new Error(`${this.name} died (${this.exit.signal || `code ${this.exit.code}`})${this.stderrHint()}`);
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves once it is gone. */
  async stop(graceMs = 3000) {
    if (this.exit) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

/** Runs argv to completion on cpu; resolves with its last JSON line. */
async function runJson(name, argv, { cpu, timeoutMs }) {
  const p = new Proc(name, argv, { cpu });
  const t = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const exit = await p.exited;
  clearTimeout(t);
  const last = p.queue.filter((x) => x.event).pop();
  if (exit.code !== 0 || !last) {
    const why = exit.signal === 'SIGKILL' ? `timed out after ${timeoutMs / 1000} s` : `exited ${exit.signal || exit.code}`;
    throw new Error(`${name} ${why}${last ? '' : ' without a JSON line'}${p.stderrHint()}`);
  }
  // not enumerable: kept out of the results file, there for error messages
  return Object.defineProperty(last, 'stderrHint', { value: p.stderrHint() });
}

function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Retries fn() every intervalMs until it returns a truthy value. */
async function poll(fn, { timeoutMs, intervalMs = 50, what }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

function httpGet(port, p) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false, timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', () => resolve(null));
    req.on('timeout', () => req.destroy());
  });
}

// ------------------------------------------------------------------- redis

const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-bench-'));
process.on('exit', () => fs.rmSync(tmpDir, { recursive: true, force: true }));

function redisPing(port) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    let got = '';
    s.setTimeout(500, () => { s.destroy(); resolve(false); });
    s.on('error', () => resolve(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      got += d;
      if (got.includes('\r\n')) { s.destroy(); resolve(got.startsWith('+PONG')); }
    });
  });
}

/** The bench's redis-server on CPU 1: port 6390 if free, else any free port. */
async function startRedis() {
  const port = (await portFree(REDIS_PORT)) ? REDIS_PORT : await freePort();
  const p = new Proc('redis-server', [
    'redis-server', '--port', port, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', tmpDir,
    // a server that falls behind a publisher shows a backlog, not Redis
    // cutting its subscription (default pubsub limit 32mb 8mb 60)
    '--client-output-buffer-limit', 'pubsub 0 0 0',
  ], { cpu: CLIENT_CPU });
  await poll(async () => { p.alive(); return redisPing(port); }, { timeoutMs: 5000, what: `redis-server on ${port}` });
  p.port = port;
  return p;
}

let redis = null;

// ----------------------------------------------------------------- servers

// The churn scenario's token namespaces: the keys both servers verify with,
// written once, and one token of each kind (every connect verifies it anew:
// neither server caches a verdict).
const JWT = (() => {
  const crypto = require('node:crypto');
  const jwt = require(path.join(__dirname, '..', 'node_modules', 'jsonwebtoken'));
  const secret = crypto.randomBytes(32).toString('hex');
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  fs.writeFileSync(path.join(tmpDir, 'jwt.secret'), secret);
  fs.writeFileSync(path.join(tmpDir, 'jwt-es.pem'), ec.publicKey.export({ type: 'spki', format: 'pem' }));
  const claims = { sub: 'bench' };
  return {
    dir: tmpDir,
    hs256: jwt.sign(claims, secret, { algorithm: 'HS256', expiresIn: '1h' }),
    es256: jwt.sign(claims, ec.privateKey, { algorithm: 'ES256', expiresIn: '1h' }),
  };
})();
const JWT_CONF = `
namespace /jwt-hs {
    auth                  jwt
    jwt_secret_file       ${path.join(tmpDir, 'jwt.secret')}
    user_room             none
}
namespace /jwt-es {
    auth                  jwt
    jwt_public_key_file   ${path.join(tmpDir, 'jwt-es.pem')}
    user_room             none
}
`;

/** The secret the routed instances share (route, multicore), made once. */
let clusterSecret = null;
function clusterSecretFile() {
  if (!clusterSecret) {
    clusterSecret = path.join(tmpDir, 'cluster.secret');
    fs.writeFileSync(clusterSecret, require('node:crypto').randomBytes(32).toString('base64'));
  }
  return clusterSecret;
}

/**
 * roomcast-bench.conf with this run's ports, flush_delay if given, the token
 * namespaces, and with forward "/" relaying nothing: its events go to the
 * backend stream instead (forward unrelayed, the default). With routed,
 * session routing on (cluster_listen on a port the kernel picks, the run's
 * secret); reuseport on the listen line; adminPort: /metrics and /healthz
 * there (apart from the clients' port, which reuseport processes share).
 */
function writeConf(port, { flushDelay, forward, routed, reuseport, adminPort } = {}) {
  let top = `redis               127.0.0.1:${redis.port}`;
  if (routed) top += `\ncluster_listen      127.0.0.1:0\ncluster_secret_file ${clusterSecretFile()}`;
  if (adminPort) top += `\nadmin_listen        127.0.0.1:${adminPort}`;
  let text = fs.readFileSync(CONF_TEMPLATE, 'utf8')
    .replace(/^listen\s+\S+/m, `listen              127.0.0.1:${port}${reuseport ? ' reuseport' : ''}`)
    .replace(/^redis\s+\S+/m, top) + JWT_CONF;
  if (flushDelay) text = text.replace(/^(namespace \/ \{\n)/m, `$1    flush_delay           ${flushDelay}\n`);
  if (forward) text = text.replace(/^(\s+relay\s+)yes$/m, '$1no');
  const file = path.join(tmpDir, `roomcast-${port}${adminPort ? `-${adminPort}` : ''}.conf`);
  fs.writeFileSync(file, text);
  return file;
}

/** roomcastd with conf on cpu, once /healthz on healthPort says "redis up". */
async function startRoomcastd(conf, healthPort, cpu) {
  const p = new Proc('roomcastd', [BIN.roomcastd, '-c', conf], { cpu });
  await poll(async () => {
    p.alive();
    const res = await httpGet(healthPort, '/healthz');
    return res && res.status === 200 && /redis up/.test(res.body);
  }, { timeoutMs: 10000, what: 'roomcastd /healthz "redis up"' }).catch((e) => { p.child.kill('SIGKILL'); throw e; });
  return p;
}

/**
 * Starts the server under test on CPU 0 and resolves once it serves
 * clients with its Redis subscriptions in place: roomcastd's /healthz says
 * "redis up", node-server.js prints "listening".
 */
async function startServer(kind, { flushDelay, forward } = {}) {
  const port = await freePort();
  let p;
  if (kind === 'roomcastd') {
    p = await startRoomcastd(writeConf(port, { flushDelay, forward }), port, SERVER_CPU);
  } else {
    const argv = [process.execPath, NODE_SERVER, '--port', port, '--redis', `127.0.0.1:${redis.port}`, '--jwt-dir', JWT.dir];
    if (forward) argv.push('--forward', FORWARD_STREAM);
    p = new Proc('node-server', argv, { cpu: SERVER_CPU });
    await p.waitLine((x) => x.text === 'listening', 15000, '"listening"').catch((e) => { p.child.kill('SIGKILL'); throw e; });
  }
  p.port = port;
  p.kind = kind;
  return p;
}

/** Runs fn(server) on a fresh server; the server is stopped however fn ends. */
async function withServer(kind, opts, fn) {
  const server = await startServer(kind, opts);
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

// ----------------------------------------------------------------- loadgen

/** N clients connected and joined (the loadgen's "ready"); see the contract. */
async function startLoadgen(server, { clients, transport = 'websocket', rooms = 1 }) {
  const argv = [BIN.loadgen, '--host', '127.0.0.1', '--port', server.port, '--clients', clients,
    '--transport', transport, '--frame-bytes', FRAME_BYTES];
  if (rooms > 1) argv.push('--rooms', rooms, '--room-prefix', 'r');
  const lg = new Proc('loadgen', argv, { cpu: CLIENT_CPU, stdin: true });
  try {
    // past its own 60 s connect timeout the loadgen reports the clients that
    // never joined as failed (the Node cluster of multicore loses a few)
    lg.ready = await lg.waitEvent('ready', Math.max(65000, 30000 + clients * 4));
    lg.joined = lg.ready.clients - lg.ready.failed;
    lg.closed = 0; // connections the server has closed so far (from "stats")
    if (lg.joined <= 0) throw new Error(`loadgen: no client joined (${JSON.stringify(lg.ready)})`);
  } catch (e) {
    lg.child.kill('SIGKILL');
    throw e;
  }
  lg.cmd = (line, event, timeoutMs = 15000) => {
    lg.send(line);
    return lg.waitEvent(event, timeoutMs);
  };
  lg.quit = async () => {
    if (lg.exit) return;
    lg.send('quit');
    const t = setTimeout(() => lg.child.kill('SIGKILL'), 10000);
    await lg.exited;
    clearTimeout(t);
  };
  return lg;
}

async function withLoadgen(server, opts, fn) {
  const lg = await startLoadgen(server, opts);
  try {
    return await fn(lg);
  } finally {
    await lg.quit();
  }
}

/**
 * Waits until the loadgen's received_total has not grown for quietMs
 * (giving up after maxMs): what the server still had queued has arrived.
 */
async function drain(lg, { quietMs = 300, maxMs = 2000 } = {}) {
  const start = Date.now();
  let last = -1;
  let since = Date.now();
  for (;;) {
    const st = await lg.cmd('stats', 'stats');
    lg.closed = st.closed;
    if (st.received_total !== last) {
      last = st.received_total;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return st;
    }
    if (Date.now() - start >= maxMs) return st;
    await sleep(50);
  }
}

// ------------------------------------------------------------------- steps

/**
 * Samples the server around fn() (which runs the load and drains): CPU,
 * write syscalls (both summed over its processes), wall time, and CPU 1's
 * busy share while the load ran.
 */
async function measured(server, fn) {
  server.alive();
  const c0 = serverCpuSeconds(server);
  const w0 = serverSyscw(server);
  const j0 = cpuJiffies();
  const t0 = Date.now();
  const out = await fn(() => cpuJiffies());
  server.alive();
  const c1 = serverCpuSeconds(server);
  const w1 = serverSyscw(server);
  const wallS = (Date.now() - t0) / 1000;
  return {
    ...out,
    cpuS: c1 - c0,
    writes: w1 - w0,
    wallS,
    cpu0Busy: out.j1 ? cpuBusyFraction(j0, out.j1, SERVER_CPU) : NaN,
    cpu1Busy: out.j1 ? cpuBusyFraction(j0, out.j1, CLIENT_CPU) : NaN,
    serverBusy: (c1 - c0) / wallS,
  };
}

/**
 * The figures of one step from what was sent and the loadgen's report.
 * behind: null, or what could not keep the sending schedule. sharedCpu:
 * the server runs on CPU 1 too (multicore), so CPU 1 full does not point
 * at the clients.
 */
function stepFigures(m, { sent, expected, sendSeconds, rep, behind, closed, sharedCpu }) {
  const received = rep.received;
  const delivered = expected > 0 ? received / expected : NaN;
  const st = {
    sent,
    expected,
    received,
    delivered,
    deliveriesPerS: received / sendSeconds,
    cpuS: m.cpuS,
    usPerDelivery: received > 0 ? (m.cpuS * 1e6) / received : NaN,
    deliveriesPerCpuS: m.cpuS > 0 ? received / m.cpuS : NaN,
    framesPerWrite: m.writes > 0 ? received / m.writes : NaN,
    serverBusy: m.serverBusy,
    cpu0Busy: m.cpu0Busy,
    cpu1Busy: m.cpu1Busy,
    p50Ms: rep.p50_us / 1000,
    p99Ms: rep.p99_us / 1000,
    maxMs: rep.max_us / 1000,
    spreadMs: (rep.last_us - rep.first_us) / 1000,
    loadgenCpu: rep.wall_s > 0 ? rep.cpu_s / rep.wall_s : NaN,
    sockstatBytes: m.sockstatBytes,
    closed, // connections the server closed during the step (slow consumers cut off)
  };
  st.sustained = delivered >= SUSTAIN_DELIVERED && rep.p99_us <= SUSTAIN_P99_US;
  // a bound step measured the clients' side, not the server: the ladder
  // stops there, and a failure with CPU 1 full is not the server's either
  if (rep.saturated) st.bound = 'loadgen';
  else if (behind) st.bound = behind;
  else if (!st.sustained && !sharedCpu && m.cpu1Busy > CLIENT_CPU_BUSY) st.bound = 'client CPU';
  return st;
}

let stepId = 0;

/**
 * One ladder step: send() makes the traffic (the publisher, or the clients'
 * emits) and returns what should arrive; the server's CPU is measured over
 * it and the drain that follows, then the loadgen reports the step.
 */
async function runStep(server, lg, rate, seconds, send) {
  const step = ++stepId;
  const closed0 = lg.closed;
  let sent;
  const m = await measured(server, async (jiffies) => {
    sent = await send(step);
    const j1 = jiffies();
    const sockstatBytes = sockstatTcpBytes();
    await drain(lg);
    return { j1, sockstatBytes };
  });
  const rep = await lg.cmd(`report ${step}`, 'report');
  return { rate, seconds, ...stepFigures(m, { ...sent, rep, closed: lg.closed - closed0, sharedCpu: !!server.sharesClientCpu }) };
}

/** One fan-out step: the publisher broadcasts to room bench at rate for seconds. */
function fanoutStep(server, lg, rate, seconds) {
  return runStep(server, lg, rate, seconds, async (step) => {
    const pub = await runJson('publisher', [BIN.publisher, '--redis', `127.0.0.1:${redis.port}`, '--room', 'bench',
      '--rate', rate, '--seconds', seconds, '--step', step, '--frame-bytes', FRAME_BYTES],
    { cpu: CLIENT_CPU, timeoutMs: seconds * 1000 + 20000 });
    return {
      sent: pub.sent,
      expected: pub.sent * lg.joined,
      sendSeconds: pub.seconds || seconds,
      behind: pub.behind ? 'publisher' : null,
    };
  });
}

/** One relay step: the clients emit rate events/s to their rooms. */
function relayStep(server, lg, rate, seconds, perRoom) {
  return runStep(server, lg, rate, seconds, async (step) => {
    const em = await lg.cmd(`emit ${step} ${rate} ${seconds}`, 'emitted', seconds * 1000 + 20000);
    return {
      sent: em.sent,
      expected: em.sent * (perRoom - 1),
      sendSeconds: seconds,
      behind: em.sent < rate * seconds * 0.99 ? 'emitting' : null, // the loadgen fell behind its rate
    };
  });
}

function describeStep(st) {
  const pct = (x) => `${(x * 100).toFixed(1)}%`;
  return `${st.rate}/s: delivered ${pct(st.delivered)} (${fmtInt(st.deliveriesPerS)}/s), p50 ${st.p50Ms.toFixed(2)} ms, ` +
    `p99 ${st.p99Ms.toFixed(2)} ms, ${st.usPerDelivery.toFixed(2)} µs CPU/delivery, ${st.framesPerWrite.toFixed(1)} frames/write, ` +
    `server CPU ${pct(st.serverBusy)}, CPU0 ${pct(st.cpu0Busy)}, CPU1 ${pct(st.cpu1Busy)}, loadgen ${pct(st.loadgenCpu)}` +
    `${st.closed ? `, ${st.closed} connections closed by the server` : ''}` +
    `${st.sustained ? '' : ' -> NOT SUSTAINED'}${st.bound ? ` [${st.bound}-bound]` : ''}`;
}

/**
 * Climbs rates until a step is not sustained or is bound by the clients'
 * side; after a failure, one step at the geometric mean of the last
 * sustained and the failed rate narrows the maximum down.
 */
async function ladder(server, lg, rates, runStep, label) {
  const steps = [];
  // a step that throws ends the ladder; the steps before it still count
  const run = async (rate, what = '') => {
    try {
      const st = await runStep(rate);
      steps.push(st);
      log(`  ${label} ${describeStep(st)}${what}`);
      return st;
    } catch (e) {
      steps.stepError = `at ${rate}/s: ${e.message}`;
      log(`  ${label} error ${steps.stepError}`);
      return null;
    }
  };
  for (const rate of rates) {
    const st = await run(rate);
    if (!st || !st.sustained || st.bound) break;
  }
  const top = steps.length === rates.length && steps.every((s) => s.sustained && !s.bound);
  const last = steps[steps.length - 1];
  const passed = steps.filter((s) => s.sustained);
  const best = passed[passed.length - 1];
  if (last && !last.sustained && !last.bound && best && !steps.stepError) {
    const mid = Math.round(Math.sqrt(best.rate * last.rate) * 10) / 10;
    if (mid > best.rate && mid < last.rate) {
      await settle(lg);
      const st = await run(mid, ' (refine)');
      if (st) st.refine = true;
    }
  }
  const L = summarizeLadder(steps);
  // every rate sustained: the server's maximum lies above the ladder
  if (top) L.boundBy = 'ladder top';
  return L;
}

function summarizeLadder(steps) {
  if (!steps.length) throw new Error(steps.stepError || 'no step ran');
  const ok = steps.filter((s) => s.sustained);
  const max = ok.reduce((a, s) => (!a || s.rate > a.rate ? s : a), null);
  // a bound step at or above the maximum: the server was not shown to
  // fail there, so its maximum is at least what was measured
  const bound = steps.find((s) => s.bound && (!max || s.rate >= max.rate));
  return {
    steps: [...steps],
    max,
    boundBy: bound ? bound.bound : null,
    stepError: steps.stepError,
  };
}

/** After an overloaded step: waits until the server's backlog has arrived. */
function settle(lg) {
  return drain(lg, { quietMs: 1000, maxMs: 20000 });
}

// --------------------------------------------------------------- scenarios

/**
 * One ceiling run: back to back rounds, or with rate paced like broadcasts
 * at that rate reaching an idle server (each round wakes a sleeping reader).
 */
async function runCeiling(clients, batch, seconds, rate = 0) {
  const argv = [BIN.ceiling, '--clients', clients, '--frame-bytes', FRAME_BYTES, '--batch', batch, '--seconds', seconds];
  if (rate) argv.push('--rate', rate);
  const r = await runJson('ceiling', argv, { cpu: SERVER_CPU, timeoutMs: seconds * 1000 + 60000 });
  log(`  ceiling ${clients} sockets, batch ${batch}, ${rate ? `paced ${rate}/s` : 'back to back'}: ` +
    `${fmtInt(r.frames_per_cpu_s)} frames/CPU-s, ${r.us_per_frame.toFixed(3)} µs/frame, round p50 ${r.round_ms_p50} ms, eagain ${r.eagain}`);
  return { ...r, clients, batch, rate };
}

async function scenarioCeiling() {
  const out = [];
  for (const clients of PLAN.ceiling.clients) {
    for (const batch of PLAN.ceiling.batches) out.push(await runCeiling(clients, batch, PLAN.ceiling.seconds));
  }
  return out;
}

/** RSS growth per connection for N idle clients, on a fresh server. */
async function idleOne(kind, clients, transport) {
  return withServer(kind, {}, async (server) => {
    // the first client loads what every later one shares (lazy modules, JIT)
    await withLoadgen(server, { clients: 1, transport }, async () => {});
    await sleep(1000);
    const rss0 = procStatusKiB(server.pid, 'VmRSS');
    const sock0 = sockstatTcpBytes();
    return withLoadgen(server, { clients, transport }, async (lg) => {
      await sleep(2000); // both servers get the same time to settle
      const rss1 = procStatusKiB(server.pid, 'VmRSS');
      const sock1 = sockstatTcpBytes();
      const r = {
        clients,
        joined: lg.joined,
        failed: lg.ready.failed,
        connectS: lg.ready.seconds,
        rssBaseKiB: rss0,
        rssKiB: rss1,
        bytesPerConn: ((rss1 - rss0) * 1024) / lg.joined,
        // system-wide and usually 0 for idle sockets (no queued bytes): the
        // total is shown, a per-connection delta would be noise
        kernelBytes: sock1,
        kernelBaseBytes: sock0,
        openFilesLimit: procOpenFilesLimit(server.pid),
      };
      log(`  idle ${transport} ${kind} ${clients}: ${fmtInt(r.bytesPerConn)} B RSS/connection ` +
        `(${fmtInt(rss0)} -> ${fmtInt(rss1)} KiB), connected in ${r.connectS.toFixed(1)} s, failed ${r.failed}`);
      return r;
    });
  });
}

async function scenarioIdle() {
  const out = { websocket: {}, polling: {} };
  for (const [transport, counts] of [['websocket', PLAN.idleWs], ['polling', PLAN.idlePolling]]) {
    for (const n of counts) {
      out[transport][n] = {};
      for (const kind of SERVERS) out[transport][n][kind] = await attempt(() => idleOne(kind, n, transport));
    }
  }
  return out;
}

/** Single broadcasts to every client: how long until the last one has it. */
async function singleBroadcasts(server, lg, count) {
  const out = [];
  for (let i = 0; i < count; i++) out.push(await fanoutStep(server, lg, 1, 1));
  const med = (k) => median(out.map((s) => s[k]));
  const r = { steps: out, maxMs: med('maxMs'), spreadMs: med('spreadMs'), delivered: med('delivered') };
  log(`  single broadcast to ${fmtInt(lg.joined)}: last client after ${r.maxMs.toFixed(2)} ms ` +
    `(first to last ${r.spreadMs.toFixed(2)} ms), median of ${count}`);
  return r;
}

/** One fan-out group (one client count) on one server. */
async function fanoutGroup(kind, group, nodeMax, ctx) {
  return withServer(kind, {}, (server) => withLoadgen(server, { clients: group.clients }, async (lg) => {
    const label = `fanout ${kind} ${group.clients}`;
    const r = { clients: group.clients, joined: lg.joined };
    if (group.single) r.single = await attempt(() => singleBroadcasts(server, lg, group.single));
    const L = await ladder(server, lg, group.ladder, (rate) => fanoutStep(server, lg, rate, PLAN.stepSeconds), label);
    Object.assign(r, L);
    // p50/p99 at half of Node's maximum (Node runs first and sets it)
    const max = kind === 'node' && r.max ? r.max.rate : nodeMax;
    if (max) {
      const half = Math.round((max / 2) * 10) / 10;
      r.half = r.steps.find((s) => s.rate === half) || await attempt(async () => {
        await settle(lg);
        const st = await fanoutStep(server, lg, half, PLAN.stepSeconds);
        log(`  ${label} ${describeStep(st)} (50% of Node's maximum)`);
        return st;
      });
    }
    // the flush_delay 0 side of the coalescing comparison
    if (kind === 'roomcastd' && group.clients === ctx.flush.clients) {
      r.flushBase = r.steps.find((s) => s.rate === ctx.flush.rate) || await attempt(async () => {
        await settle(lg);
        const st = await fanoutStep(server, lg, ctx.flush.rate, PLAN.stepSeconds);
        log(`  ${label} ${describeStep(st)} (flush_delay 0)`);
        return st;
      });
    }
    r.rssKiB = procStatusKiB(server.pid, 'VmRSS');
    return r;
  }));
}

/** roomcastd with flush_delay at the flush rate, after a short warm-up. */
async function flushVariant() {
  const f = PLAN.flush;
  return withServer('roomcastd', { flushDelay: f.delay }, (server) => withLoadgen(server, { clients: f.clients }, async (lg) => {
    await fanoutStep(server, lg, Math.min(100, f.rate), 1);
    await settle(lg);
    const st = await fanoutStep(server, lg, f.rate, PLAN.stepSeconds);
    log(`  fanout roomcastd flush_delay ${f.delay} ${f.clients}: ${describeStep(st)}`);
    return st;
  }));
}

async function scenarioFanout() {
  const out = { groups: {} };
  for (const group of PLAN.fanout) {
    const g = {};
    for (const kind of SERVERS) {
      const nodeMax = g.node && g.node.max ? g.node.max.rate : null;
      g[kind] = await attempt(() => fanoutGroup(kind, group, nodeMax, PLAN));
    }
    // the ceiling paced like the common rate's broadcasts (also the round
    // time of a single broadcast to a sleeping reader)
    const common = commonStep(g.roomcastd, g.node, { oneFramePerWrite: true });
    const rate = common && common[0].framesPerWrite <= ONE_FRAME_PER_WRITE ? common[0].rate : PACED_CEILING_RATE;
    g.ceilingPaced = await attempt(() => runCeiling(group.clients, 1, PLAN.stepSeconds, rate));
    out.groups[group.clients] = g;
  }
  if (PLAN.fanout.some((g) => g.clients === PLAN.flush.clients)) out.flush = await attempt(flushVariant);
  return out;
}

async function scenarioRelay() {
  const R = PLAN.relay;
  const out = {};
  for (const kind of SERVERS) {
    out[kind] = await attempt(() => withServer(kind, {}, (server) => withLoadgen(server, { clients: R.clients, rooms: R.rooms }, async (lg) => {
      const perRoom = lg.joined / R.rooms;
      const L = await ladder(server, lg, R.ladder, (rate) => relayStep(server, lg, rate, PLAN.stepSeconds, perRoom), `relay ${kind}`);
      return { clients: R.clients, rooms: R.rooms, joined: lg.joined, ...L };
    })));
  }
  return out;
}

// The stream both servers add forwarded events to: roomcastd's default
// backend_stream, and node-server.js --forward's XADD key.
const FORWARD_STREAM = 'roomcast:events';

/**
 * Reads FORWARD_STREAM from now on, in this process: the records of each
 * step, and the latency from the loadgen's timestamp in the event ("t",
 * CLOCK_MONOTONIC µs) to this read (process.hrtime, the same clock).
 */
async function streamReader() {
  const { createClient } = require(path.join(__dirname, '..', 'node_modules', 'redis'));
  const c = createClient({ url: `redis://127.0.0.1:${redis.port}` });
  await c.connect();
  const steps = new Map(); // step -> latencies in µs
  let stopped = false;
  let last = '$';
  const loop = (async () => {
    while (!stopped) {
      const res = await c.xRead({ key: FORWARD_STREAM, id: last }, { BLOCK: 100, COUNT: 5000 });
      const now = Number(process.hrtime.bigint() / 1000n);
      for (const m of (res && res[0] && res[0].messages) || []) {
        last = m.id;
        const st = /"s":(\d+),"t":(\d+)/.exec(m.message.args || '');
        if (!st) continue;
        if (!steps.has(+st[1])) steps.set(+st[1], []);
        steps.get(+st[1]).push(now - Number(st[2]));
      }
    }
  })();
  return {
    latencies: (step) => steps.get(step) || [],
    async stop() {
      stopped = true;
      await loop;
      await c.disconnect();
    },
  };
}

/** One forward step: the clients emit rate events/s; each must reach the stream. */
async function forwardStep(server, lg, reader, rate, seconds) {
  const step = ++stepId;
  let sent;
  const m = await measured(server, async (jiffies) => {
    sent = (await lg.cmd(`emit ${step} ${rate} ${seconds}`, 'emitted', seconds * 1000 + 20000)).sent;
    const j1 = jiffies();
    await poll(() => reader.latencies(step).length >= sent, { timeoutMs: 3000, what: 'the stream' }).catch(() => {});
    return { j1 };
  });
  const lat = reader.latencies(step).slice().sort((a, b) => a - b);
  const pct = (q) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] / 1000 : NaN);
  const st = {
    rate, seconds, sent, stored: lat.length, storedFrac: sent ? lat.length / sent : NaN,
    cpuS: m.cpuS, perCpuS: m.cpuS > 0 ? lat.length / m.cpuS : NaN,
    writesPerEvent: lat.length ? m.writes / lat.length : NaN,
    serverBusy: m.serverBusy, cpu1Busy: m.cpu1Busy, p50Ms: pct(0.5), p99Ms: pct(0.99),
  };
  st.sustained = st.storedFrac >= SUSTAIN_DELIVERED && st.p99Ms * 1000 <= SUSTAIN_P99_US;
  return st;
}

async function scenarioForward() {
  const F = PLAN.forward;
  const out = {};
  for (const kind of SERVERS) {
    out[kind] = await attempt(() => withServer(kind, { forward: true }, (server) => withLoadgen(server, { clients: F.clients, rooms: F.rooms }, async (lg) => {
      const reader = await streamReader();
      const steps = [];
      try {
        for (const rate of F.ladder) {
          const st = await forwardStep(server, lg, reader, rate, PLAN.stepSeconds);
          steps.push(st);
          log(`  forward ${kind} ${rate}/s: stored ${(st.storedFrac * 100).toFixed(1)}%, ${fmtInt(st.perCpuS)} events per server CPU-s, ` +
            `${st.writesPerEvent.toFixed(3)} writes/event, stream latency p50 ${fmt(st.p50Ms)} ms p99 ${fmt(st.p99Ms)} ms, ` +
            `server CPU ${(st.serverBusy * 100).toFixed(0)}%${st.sustained ? '' : ' -> NOT SUSTAINED'}`);
          if (!st.sustained) break;
        }
      } finally {
        await reader.stop();
      }
      return { steps, max: steps.filter((x) => x.sustained).pop() || null };
    })));
  }
  return out;
}

/** The churn modes: loadgen's --churn, and the CONNECT packet (a token for the jwt ones). */
const CHURN_MODES = {
  websocket: { churn: 'websocket', label: 'WebSocket + Socket.IO connect' },
  upgrade: { churn: 'upgrade', label: 'polling, then upgrade' },
  'jwt-hs256': { churn: 'websocket', connect: `40/jwt-hs,${JSON.stringify({ token: JWT.hs256 })}`, label: 'WebSocket + connect with an HS256 token' },
  'jwt-es256': { churn: 'websocket', connect: `40/jwt-es,${JSON.stringify({ token: JWT.es256 })}`, label: 'WebSocket + connect with an ES256 token' },
};

async function scenarioChurn() {
  const out = {};
  for (const kind of SERVERS) {
    out[kind] = await attempt(() => withServer(kind, {}, async (server) => {
      const r = {};
      for (const [mode, how] of Object.entries(CHURN_MODES)) {
        r[mode] = await attempt(async () => {
          let c;
          const argv = [BIN.loadgen, '--host', '127.0.0.1', '--port', server.port,
            '--churn', how.churn, '--seconds', PLAN.churnSeconds];
          if (how.connect) argv.push('--connect', how.connect);
          const m = await measured(server, async () => {
            c = await runJson('loadgen churn', argv, { cpu: CLIENT_CPU, timeoutMs: PLAN.churnSeconds * 1000 + 60000 });
            return {};
          });
          if (!c.completed) {
            throw new Error(`no handshake completed in ${c.wall_s} s (${c.failed} failed; ` +
              `server CPU ${m.cpuS.toFixed(2)} s)${c.stderrHint}`);
          }
          const x = { ...c, serverCpuS: m.cpuS, perCpuS: c.completed / m.cpuS, serverBusy: m.cpuS / c.wall_s, loadgenBusy: c.cpu_s / c.wall_s };
          log(`  churn ${mode} ${kind}: ${fmtInt(c.per_s)}/s, ${fmtInt(x.perCpuS)} per server CPU-s ` +
            `(server CPU ${(x.serverBusy * 100).toFixed(0)}%), failed ${c.failed}, p99 ${c.p99_ms} ms` +
            `${c.saturated ? ' [loadgen-bound]' : ''}`);
          return x;
        });
        await sleep(500);
      }
      return r;
    }));
  }
  return out;
}

// ------------------------------------------------------------------- route

/** A metric's value (the first series of that name) from GET /metrics on port; NaN if absent. */
async function metricValue(port, name) {
  const res = await httpGet(port, '/metrics');
  const m = res && res.status === 200 && new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(res.body);
  return m ? Number(m[1]) : NaN;
}

/** Waits until every port's roomcast_route_peers counts the others (announcements come once a second). */
function routePeersUp(procs, ports) {
  return poll(async () => {
    for (const p of procs) p.alive();
    const peers = await Promise.all(ports.map((port) => metricValue(port, 'roomcast_route_peers')));
    return peers.every((n) => n >= ports.length - 1);
  }, { timeoutMs: 10000, intervalMs: 100, what: `roomcast_route_peers ≥ ${ports.length - 1} on every instance` });
}

/** Two routed roomcastd instances, A and B, each on its own port, both on CPU 0. */
async function startRoutedPair() {
  const procs = [];
  try {
    for (const name of ['A', 'B']) {
      const port = await freePort();
      const p = await startRoomcastd(writeConf(port, { routed: true }), port, SERVER_CPU);
      p.name = `roomcastd ${name}`;
      p.port = port;
      procs.push(p);
    }
    await routePeersUp(procs, procs.map((p) => p.port));
  } catch (e) {
    for (const p of procs) p.child.kill('SIGKILL');
    throw e;
  }
  return procs;
}

/**
 * One pollrtt run: handshakes on A, then every request on A (direct) or on
 * B (forwarded), sequential round trips (count) or for seconds. A's and
 * B's CPU are sampled between "go" and "done"; B's forwarded requests and
 * A's accepted connections (B's new upstreams) around the whole run.
 */
async function routeRun(a, b, variant, { clients, count, seconds }) {
  const argv = [BIN.pollrtt, '--port-a', a.port, '--port-b', variant === 'forwarded' ? b.port : a.port, '--clients', clients];
  argv.push(...(count ? ['--count', count] : ['--seconds', seconds]));
  const fwd0 = await metricValue(b.port, 'roomcast_route_forwarded_total');
  const acc0 = await metricValue(a.port, 'roomcast_connections_accepted_total');
  const pr = new Proc('pollrtt', argv, { cpu: CLIENT_CPU, stdin: true });
  const t = setTimeout(() => pr.child.kill('SIGKILL'), (seconds || 30) * 1000 + 60000);
  try {
    await pr.waitEvent('ready', 30000);
    a.alive();
    b.alive();
    const c0 = [a, b].map((p) => procCpuSeconds(p.pid));
    const j0 = cpuJiffies();
    pr.send('go');
    const done = await pr.waitEvent('done', (seconds || 30) * 1000 + 30000);
    const j1 = cpuJiffies();
    a.alive();
    b.alive();
    const [cpuA, cpuB] = [a, b].map((p, i) => procCpuSeconds(p.pid) - c0[i]);
    await pr.exited; // it closed its sessions: one forwarded POST each
    const fwd = (await metricValue(b.port, 'roomcast_route_forwarded_total')) - fwd0;
    // less the clients' own connections to A and this function's second /metrics request
    const upstreamsOpened = (await metricValue(a.port, 'roomcast_connections_accepted_total')) - acc0 - clients - 1;
    const n = done.round_trips;
    const r = {
      variant, clients, roundTrips: n, wallS: done.wall_s, perS: done.per_s,
      p50Us: done.p50_us, p99Us: done.p99_us, maxUs: done.max_us, meanUs: done.mean_us,
      getsPerRoundTrip: done.gets_per_round_trip,
      cpuS: cpuA + cpuB, cpuAS: cpuA, cpuBS: cpuB,
      usCpuPerRoundTrip: n > 0 ? ((cpuA + cpuB) * 1e6) / n : NaN,
      serverBusy: (cpuA + cpuB) / done.wall_s,
      cpu1Busy: cpuBusyFraction(j0, j1, CLIENT_CPU),
      clientBusy: done.cpu_s / done.wall_s,
      // the set-up's requests and the closes are in it: about 2 per round trip
      forwardedRequests: fwd,
      upstreamsOpened,
    };
    // the client, not the servers, set the pace
    if (done.saturated || r.cpu1Busy > CLIENT_CPU_BUSY) r.bound = 'client';
    log(`  route ${variant} ${clients} client${clients > 1 ? 's' : ''}: ${fmtInt(n)} round trips, ${fmtInt(r.perS)}/s, ` +
      `p50 ${r.p50Us} µs, p99 ${r.p99Us} µs, ${fmt(r.usCpuPerRoundTrip, 1)} µs server CPU per round trip ` +
      `(A ${fmt(cpuA, 2)} s, B ${fmt(cpuB, 2)} s), CPU0 ${((r.serverBusy) * 100).toFixed(0)}%, CPU1 ${(r.cpu1Busy * 100).toFixed(0)}%, ` +
      `${fmtInt(fwd)} forwarded, ${fmtInt(upstreamsOpened)} upstreams opened${r.bound ? ' [client-bound]' : ''}`);
    return r;
  } finally {
    clearTimeout(t);
    pr.child.kill('SIGKILL');
  }
}

async function scenarioRoute() {
  const R = PLAN.route;
  const [a, b] = await startRoutedPair();
  try {
    // the first forwarded requests open B's upstreams to A: warm both paths
    for (const variant of ['direct', 'forwarded']) {
      await routeRun(a, b, variant, { clients: R.concurrent, count: R.warmup });
    }
    const out = { direct: {}, forwarded: {} };
    for (const [load, opts] of [['sequential', { clients: 1, count: R.sequential }],
      ['concurrent', { clients: R.concurrent, seconds: R.seconds }]]) {
      for (const variant of ['direct', 'forwarded']) out[variant][load] = await attempt(() => routeRun(a, b, variant, opts));
    }
    return out;
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
}

// --------------------------------------------------------------- multicore

/** Several processes measured as one server: CPU, write calls and RSS summed over pids. */
function serverGroup(kind, port, procs, pids) {
  return {
    kind,
    port,
    procs,
    pids,
    sharesClientCpu: true, // on CPUs 0 and 1: see stepFigures
    alive() { for (const p of procs) p.alive(); },
    async stop() { await Promise.all(procs.map((p) => p.stop())); },
  };
}

/**
 * The multicore server: two roomcastd processes with reuseport on one port
 * (routing on, each its own admin port for /healthz and /metrics), or
 * node-cluster2.js (a primary and two workers); all on CPUs 0 and 1.
 */
async function startMulticore(kind) {
  const port = await freePort();
  if (kind === 'roomcastd') {
    const procs = [];
    try {
      for (let i = 0; i < 2; i++) {
        const adminPort = await freePort();
        const p = await startRoomcastd(writeConf(port, { routed: true, reuseport: true, adminPort }), adminPort, MULTICORE_CPUS);
        p.adminPort = adminPort;
        procs.push(p);
      }
      await routePeersUp(procs, procs.map((p) => p.adminPort));
    } catch (e) {
      for (const p of procs) p.child.kill('SIGKILL');
      throw e;
    }
    return serverGroup(kind, port, procs, procs.map((p) => p.pid));
  }
  const p = new Proc('node-cluster2', [process.execPath, NODE_CLUSTER2, '--port', port, '--redis', `127.0.0.1:${redis.port}`],
    { cpu: MULTICORE_CPUS });
  const l = await p.waitEvent('listening', 20000).catch((e) => { p.child.kill('SIGKILL'); throw e; });
  return serverGroup(kind, port, [p], l.pids);
}

async function withMulticore(kind, fn) {
  const server = await startMulticore(kind);
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

/** RSS of every server process with N idle WebSocket clients, against the same after a warm-up. */
function multicoreIdle(kind, clients) {
  return withMulticore(kind, async (server) => {
    // warm-up clients reach every process (least connections, or the
    // kernel's reuseport hash), which loads what later connections share
    await withLoadgen(server, { clients: PLAN.multicore.warmup }, async () => {});
    await sleep(1000);
    const rss0 = server.pids.map((pid) => procStatusKiB(pid, 'VmRSS'));
    const fd0 = server.pids.map(procFdCount);
    return withLoadgen(server, { clients }, async (lg) => {
      await sleep(2000); // both servers get the same time to settle
      const rss1 = server.pids.map((pid) => procStatusKiB(pid, 'VmRSS'));
      const sum = (xs) => xs.reduce((x, y) => x + y, 0);
      const r = {
        clients,
        joined: lg.joined,
        failed: lg.ready.failed,
        connectS: lg.ready.seconds,
        rssBaseKiB: sum(rss0),
        rssKiB: sum(rss1),
        rssPerProcessKiB: rss1,
        // descriptors each process gained: how the clients were spread
        fdsPerProcess: server.pids.map((pid, i) => procFdCount(pid) - fd0[i]),
        bytesPerConn: ((sum(rss1) - sum(rss0)) * 1024) / lg.joined,
      };
      log(`  multicore idle ${kind} ${clients}: RSS ${fmtInt(r.rssBaseKiB)} -> ${fmtInt(r.rssKiB)} KiB ` +
        `(${r.rssPerProcessKiB.map(fmtInt).join(' + ')}), ${fmtInt(r.bytesPerConn)} B/connection, ` +
        `clients per process ${r.fdsPerProcess.join(' / ')}, connected in ${r.connectS.toFixed(1)} s, failed ${r.failed}`);
      return r;
    });
  });
}

/** The fan-out ladder, as the fanout scenario's, on the multicore server. */
function multicoreFanout(kind) {
  const M = PLAN.multicore;
  return withMulticore(kind, (server) => withLoadgen(server, { clients: M.clients }, async (lg) => {
    const L = await ladder(server, lg, M.ladder, (rate) => fanoutStep(server, lg, rate, PLAN.stepSeconds), `multicore fanout ${kind} ${M.clients}`);
    return { clients: M.clients, joined: lg.joined, ...L, rssKiB: serverRssKiB(server) };
  }));
}

async function scenarioMulticore() {
  const out = { idle: {}, fanout: {} };
  for (const kind of SERVERS) out.idle[kind] = await attempt(() => multicoreIdle(kind, PLAN.multicore.idleClients));
  for (const kind of SERVERS) out.fanout[kind] = await attempt(() => multicoreFanout(kind));
  return out;
}

/** Runs fn; a failure becomes {error} so the run goes on. */
async function attempt(fn) {
  try {
    return await fn();
  } catch (e) {
    const msg = (e && e.message ? e.message : String(e)).replace(/\s+/g, ' ');
    log(`  error: ${msg}`);
    return { error: msg };
  }
}

// ------------------------------------------------------------- formatting

function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

function fmtInt(x) {
  return Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—';
}

function fmt(x, digits = 2) {
  if (!Number.isFinite(x)) return '—';
  if (Math.abs(x) >= 1000) return fmtInt(x);
  return x.toFixed(digits);
}

function fmtRatio(a, b) {
  if (!Number.isFinite(a) || !Number.isFinite(b) || a < 0 || b <= 0) return '—';
  const r = a / b;
  return r >= 10 ? r.toFixed(1) : r >= 0.1 ? r.toFixed(2) : r.toFixed(3);
}

const errCell = (e) => `error: ${e.length > 70 ? `${e.slice(0, 70)}…` : e}`;

/**
 * One summary row. rc and node are {value, text, error, note}; met is
 * true/false/null (no target, or data missing).
 */
function row(scenario, metric, rc, node, target = '', met = null, ratio) {
  const cell = (c) => {
    if (!c) return '—';
    if (c.error) return errCell(c.error);
    return `${c.text !== undefined ? c.text : fmt(c.value)}${c.note ? ` (${c.note})` : ''}`;
  };
  const r = ratio !== undefined ? ratio : (rc && node && !rc.error && !node.error ? fmtRatio(rc.value, node.value) : '—');
  return [scenario, metric, cell(rc), cell(node), r, target || '—', met === null ? (target ? 'n/a' : '—') : met ? 'yes' : '**no**'];
}

function mdTable(head, rows) {
  const esc = (s) => String(s).replace(/\|/g, '\\|');
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

/** A cell from a result that may be missing or an {error}. */
const cellOf = (x, f) => (!x ? null : x.error ? { error: x.error } : f(x));
const boundText = (b) => (b === 'ladder top' ? 'top of the ladder' : `${b}-bound`);
const boundNote = (L) => (L && L.boundBy ? boundText(L.boundBy) : undefined);

/** The back-to-back ceiling run for clients and batch, if it ran. */
function ceilingFor(res, clients, batch) {
  const c = res.ceiling;
  if (!Array.isArray(c)) return null;
  return c.find((x) => x.clients === clients && x.batch === batch) || null;
}

function summaryRows(res) {
  const rows = [];
  if (res.idle && !res.idle.error) {
    for (const transport of ['websocket', 'polling']) {
      for (const [n, g] of Object.entries(res.idle[transport])) {
        const name = `idle ${transport === 'websocket' ? 'WebSocket' : 'polling'} ${fmtInt(Number(n))}`;
        const perConn = (x) => ({ value: x.bytesPerConn, text: fmtInt(x.bytesPerConn), note: x.failed ? `${x.failed} failed` : undefined });
        const rc = cellOf(g.roomcastd, perConn);
        const nd = cellOf(g.node, perConn);
        let target = '';
        let met = null;
        if (transport === 'websocket' && Number(n) >= 10000) {
          target = '≤ 1,024 B and ≥ 12x less than Node';
          if (rc && !rc.error && nd && !nd.error) met = rc.value <= 1024 && nd.value / rc.value >= 12;
        }
        rows.push(row(name, 'RSS growth per connection (B)', rc, nd, target, met));
        const kernel = (x) => ({ value: x.kernelBytes / 1024, text: fmtInt(x.kernelBytes / 1024) });
        rows.push(row(name, 'kernel TCP buffers, all sockets (KiB, sockstat)', cellOf(g.roomcastd, kernel), cellOf(g.node, kernel)));
        const crc = cellOf(g.roomcastd, (x) => ({ value: x.connectS }));
        const cnd = cellOf(g.node, (x) => ({ value: x.connectS }));
        rows.push(row(name, 'time to connect and join all (s)', crc, cnd));
      }
    }
  } else if (res.idle) rows.push(row('idle', 'all', { error: res.idle.error }, { error: res.idle.error }));

  if (res.fanout && !res.fanout.error) {
    for (const [n, g] of Object.entries(res.fanout.groups)) {
      const clients = Number(n);
      const name = `fan-out ${fmtInt(clients)} clients`;
      const rcL = g.roomcastd;
      const ndL = g.node;
      const maxCell = (L) => cellOf(L, (x) => (x.max
        ? { value: x.max.deliveriesPerS, text: `${fmtInt(x.max.deliveriesPerS)} (${x.max.rate}/s)`, note: boundNote(x) }
        : { value: NaN, text: 'none sustained' }));
      const rcMax = maxCell(rcL);
      const ndMax = maxCell(ndL);
      let met = null;
      if (rcMax && ndMax && !rcMax.error && !ndMax.error && Number.isFinite(rcMax.value) && Number.isFinite(ndMax.value)) {
        met = rcMax.value >= 10 * ndMax.value ? true : rcL.boundBy ? null : false;
      }
      rows.push(row(name, 'max sustained deliveries/s (broadcasts/s)', rcMax, ndMax,
        met === null && rcL && rcL.boundBy ? `≥ 10x Node (roomcastd's maximum not reached: ${boundText(rcL.boundBy)})` : '≥ 10x Node', met));

      // the highest rate both sustained with one broadcast per loop turn,
      // against the ceiling paced at that rate (back to back beside it)
      const common = commonStep(rcL, ndL, { oneFramePerWrite: true });
      const ceil1 = ceilingFor(res, clients, 1);
      const paced = g.ceilingPaced && !g.ceilingPaced.error ? g.ceilingPaced : null;
      if (common) {
        const [a, b] = common;
        const single = a.framesPerWrite <= ONE_FRAME_PER_WRITE;
        let ref = null;
        if (single && paced && paced.rate === a.rate) {
          ref = { rate: paced.frames_per_cpu_s, name: `b1 paced at ${a.rate}/s` };
        } else {
          // past one frame per write, the fair ceiling is the one at as many frames per writev
          const at = ceilingAt([1, 4, 16].map((k) => ceilingFor(res, clients, k)), a.framesPerWrite);
          if (at) ref = { rate: 1e6 / at.us, name: single ? 'b1' : `at ${a.framesPerWrite.toFixed(1)} frames/write` };
        }
        const m = ref ? a.deliveriesPerCpuS >= 0.9 * ref.rate : null;
        rows.push(row(name, `deliveries per server CPU-s at ${a.rate}/s (both sustain)`,
          { value: a.deliveriesPerCpuS, text: fmtInt(a.deliveriesPerCpuS), note: `${a.framesPerWrite.toFixed(1)} frames/write` },
          { value: b.deliveriesPerCpuS, text: fmtInt(b.deliveriesPerCpuS) },
          ref ? `roomcastd ≥ 90% of ceiling ${ref.name} (${fmtInt(ref.rate)})` : 'roomcastd ≥ 90% of ceiling (no ceiling)', m));
        if (ref) {
          const pct = (x) => `${((a.deliveriesPerCpuS / x) * 100).toFixed(0)}%`;
          const also = ceil1 && ref.name !== 'b1' && single ? ` (${pct(ceil1.frames_per_cpu_s)} of b1 back to back)` : '';
          rows.push(row(name, `roomcastd at ${a.rate}/s as a fraction of the ceiling (${ref.name})`,
            { value: a.deliveriesPerCpuS / ref.rate, text: `${pct(ref.rate)}${also}` }, null, '≥ 90%', m, '—'));
        }
      } else {
        rows.push(noCommonRow(name, rcL, ndL));
      }
      const halfCell = (L) => cellOf(L, (x) => cellOf(x.half, (h) => ({ value: h.p99Ms, text: `${fmt(h.p50Ms)} / ${fmt(h.p99Ms)}` })));
      const half = ndL && !ndL.error && ndL.half && !ndL.half.error ? ndL.half.rate : null;
      rows.push(row(name, `p50 / p99 latency (ms) at 50% of Node's max${half ? ` (${half}/s)` : ''}`, halfCell(rcL), halfCell(ndL)));

      if (clients === 1000) {
        const at50 = (L) => cellOf(L, (x) => {
          const s = x.steps.find((y) => y.rate === 50);
          return s ? { value: s.p99Ms } : { text: 'not run', value: NaN };
        });
        const c = at50(rcL);
        rows.push(row(name, 'p99 latency (ms) at 50 broadcasts/s', c, at50(ndL), 'roomcastd ≤ 2 ms',
          c && Number.isFinite(c.value) ? c.value <= 2 : null));
      }
      const single = (L) => cellOf(L, (x) => (!x.single ? null : x.single.error ? { error: x.single.error }
        : { value: x.single.maxMs, note: `first to last ${fmt(x.single.spreadMs)}` }));
      const srx = single(rcL);
      if (srx || single(ndL)) {
        // a single broadcast wakes sleeping readers: the paced round is its ceiling
        const ref = paced && Number.isFinite(paced.round_ms_p50) ? { ms: paced.round_ms_p50, name: `paced (${paced.rate}/s)` }
          : ceil1 && Number.isFinite(ceil1.round_ms_p50) ? { ms: ceil1.round_ms_p50, name: 'back to back' } : null;
        const also = ref && ceil1 && ref.name !== 'back to back' ? `; back to back ${fmt(ceil1.round_ms_p50)} ms` : '';
        const target = ref
          ? `roomcastd ≤ 1.2 × ceiling b1 round, ${ref.name} ${fmt(ref.ms)} ms = ${fmt(1.2 * ref.ms)}${also}`
          : '≤ 1.2 × ceiling round (no ceiling)';
        rows.push(row(name, 'one broadcast: last client reached after (ms, from publish)', srx, single(ndL), target,
          srx && !srx.error && ref ? srx.value <= 1.2 * ref.ms : null));
      }
    }
    const f = res.fanout.flush;
    const fb = res.fanout.groups[PLAN.flush.clients] && res.fanout.groups[PLAN.flush.clients].roomcastd;
    if (f) {
      const name = `flush_delay ${PLAN.flush.delay}, ${fmtInt(PLAN.flush.clients)} clients, ${PLAN.flush.rate}/s`;
      const base = fb && !fb.error && fb.flushBase && !fb.flushBase.error ? fb.flushBase : null;
      const cell = (s) => (!s ? '—'
        : `${fmt(s.usPerDelivery, 3)} µs, p99 ${fmt(s.p99Ms)} ms, ${(s.delivered * 100).toFixed(1)}%${s.bound ? `, ${s.bound}-bound` : ''}`);
      const metric = `CPU µs per delivery, p99, delivered: flush_delay 0 → ${PLAN.flush.delay}`;
      if (f.error) rows.push(row(name, metric, { error: f.error }, null, 'p99 ≤ delay + 2 ms', null, '—'));
      else {
        const delayMs = parseFloat(PLAN.flush.delay);
        rows.push(row(name, metric,
          { text: `${cell(base)} → ${cell(f)}` }, null, `p99 ≤ ${delayMs + 2} ms`, f.p99Ms <= delayMs + 2, '—'));
        if (base) {
          rows.push(row(name, 'CPU per delivery with flush_delay, relative to none',
            { text: fmtRatio(f.usPerDelivery, base.usPerDelivery) }, null, '', null, '—'));
        }
      }
    }
  } else if (res.fanout) rows.push(row('fan-out', 'all', { error: res.fanout.error }, { error: res.fanout.error }));

  if (res.relay && !res.relay.error) {
    const name = `relay ${fmtInt(PLAN.relay.clients)} clients, ${PLAN.relay.rooms} rooms`;
    const rcL = res.relay.roomcastd;
    const ndL = res.relay.node;
    const common = commonStep(rcL, ndL);
    if (common) {
      const [a, b] = common;
      rows.push(row(name, `deliveries per server CPU-s at ${a.rate} events/s (both sustain)`,
        { value: a.deliveriesPerCpuS, text: fmtInt(a.deliveriesPerCpuS) }, { value: b.deliveriesPerCpuS, text: fmtInt(b.deliveriesPerCpuS) },
        '≥ 5x Node', a.deliveriesPerCpuS >= 5 * b.deliveriesPerCpuS));
    } else {
      rows.push(noCommonRow(name, rcL, ndL));
    }
    const maxCell = (L) => cellOf(L, (x) => (x.max
      ? { value: x.max.deliveriesPerS, text: `${fmtInt(x.max.deliveriesPerS)} (${x.max.rate} ev/s)`, note: boundNote(x) }
      : { value: NaN, text: 'none sustained' }));
    rows.push(row(name, 'max sustained deliveries/s (events/s)', maxCell(rcL), maxCell(ndL)));
  } else if (res.relay) rows.push(row('relay', 'all', { error: res.relay.error }, { error: res.relay.error }));

  if (res.forward && !res.forward.error) rows.push(...forwardRows(res.forward));
  else if (res.forward) rows.push(row('forward', 'all', { error: res.forward.error }, { error: res.forward.error }));

  if (res.churn && !res.churn.error) {
    for (const [mode, { label }] of Object.entries(CHURN_MODES)) {
      const get = (kind, f) => cellOf(res.churn[kind], (x) => cellOf(x[mode], f));
      const note = (x) => (x.saturated ? 'loadgen-bound' : x.failed ? `${fmtInt(x.failed)} failed` : undefined);
      const rc = get('roomcastd', (x) => ({ value: x.perCpuS, text: fmtInt(x.perCpuS), note: note(x) }));
      const nd = get('node', (x) => ({ value: x.perCpuS, text: fmtInt(x.perCpuS), note: note(x) }));
      rows.push(row(`churn: ${label}`, 'handshakes per server CPU-s', rc, nd, '≥ 5x Node',
        rc && nd && !rc.error && !nd.error ? rc.value >= 5 * nd.value : null));
      rows.push(row(`churn: ${label}`, 'handshakes per second (p99 ms)',
        get('roomcastd', (x) => ({ value: x.per_s, text: `${fmtInt(x.per_s)} (${fmt(x.p99_ms)})` })),
        get('node', (x) => ({ value: x.per_s, text: `${fmtInt(x.per_s)} (${fmt(x.p99_ms)})` }))));
    }
  } else if (res.churn) rows.push(row('churn', 'all', { error: res.churn.error }, { error: res.churn.error }));
  if (res.route) rows.push(...routeRows(res.route));
  if (res.multicore) rows.push(...multicoreRows(res.multicore));
  return rows;
}

// Node has no session routing: the route rows are roomcastd's alone.
const NO_ROUTING = { text: 'n/a: Node has no session routing' };

/** forwarded / direct of f(run), as a cell (value and text). */
function routeRatio(direct, forwarded, f) {
  if (!direct || !forwarded) return { text: 'not run' };
  if (direct.error || forwarded.error) return { error: direct.error || forwarded.error };
  const v = f(forwarded) / f(direct);
  return { value: v, text: fmtRatio(f(forwarded), f(direct)) };
}

/**
 * The route rows: p50/p99 of one client's round trips, round trips per
 * second and server CPU (A + B) per round trip of the concurrent clients,
 * direct and forwarded, and forwarded / direct. The targets are the issue's
 * "at most about one extra loopback hop": a direct request crosses one
 * loopback connection (client to A) and a forwarded one two (client to B,
 * B to A), so its latency is at most about double; in server CPU a direct
 * request pays one connection end (A reads, and its write runs the
 * client's receive too, on loopback) and a forwarded one three (B's two
 * and A's), the extra hop having both ends on CPU 0: at most about triple.
 */
function routeRows(r) {
  if (r.error) return [row('route', 'all', { error: r.error }, NO_ROUTING, '', null, '—')];
  const R = PLAN.route;
  const rows = [];
  const add = (name, metric, cell, target = '', met = null) => rows.push(row(name, metric, cell, NO_ROUTING, target, met, '—'));
  const label = { direct: 'direct (every request to A)', forwarded: 'forwarded (handshake on A, then every request to B)' };
  const rttTarget = '≤ 2 (one more loopback hop per request)';
  // about triple: 3.0 is the kernel's share alone; B also parses and
  // writes one more HTTP request and answer
  const cpuTarget = 'about 3, ≤ 3.5 (three loopback connection ends against one)';
  const metOf = (c, max) => (c && Number.isFinite(c.value) ? c.value <= max : null);
  const cpuText = (x) => `${fmt(x.usCpuPerRoundTrip, 1)}${x.variant === 'forwarded' ? ` (A ${fmt((x.cpuAS * 1e6) / x.roundTrips, 1)} + B ${fmt((x.cpuBS * 1e6) / x.roundTrips, 1)})` : ''}`;

  const seq = `route: 1 client, ${fmtInt(R.sequential)} sequential round trips`;
  for (const v of ['direct', 'forwarded']) {
    add(seq, `round trip p50 / p99 µs, ${label[v]}`, cellOf(r[v].sequential, (x) => ({ value: x.p50Us, text: `${fmtInt(x.p50Us)} / ${fmtInt(x.p99Us)}` })));
  }
  const p50 = routeRatio(r.direct.sequential, r.forwarded.sequential, (x) => x.p50Us);
  add(seq, 'forwarded / direct, p50 round trip', p50, rttTarget, metOf(p50, 2));
  const seqCpu = (v) => cellOf(r[v].sequential, (x) => ({ text: cpuText(x) }));
  const dc = seqCpu('direct');
  const fc = seqCpu('forwarded');
  add(seq, 'server CPU µs per round trip (A + B), direct; forwarded',
    { text: `${dc ? (dc.error ? errCell(dc.error) : dc.text) : '—'}; ${fc ? (fc.error ? errCell(fc.error) : fc.text) : '—'}` });

  const con = `route: ${R.concurrent} clients for ${R.seconds} s`;
  for (const v of ['direct', 'forwarded']) {
    add(con, `round trips/s (p50 / p99 µs), ${label[v]}`, cellOf(r[v].concurrent, (x) => ({
      value: x.perS, text: `${fmtInt(x.perS)} (${fmtInt(x.p50Us)} / ${fmtInt(x.p99Us)})`, note: x.bound ? `${x.bound}-bound` : undefined,
    })));
  }
  for (const v of ['direct', 'forwarded']) {
    add(con, `server CPU µs per round trip (A + B), ${v}`, cellOf(r[v].concurrent, (x) => ({ value: x.usCpuPerRoundTrip, text: cpuText(x) })));
  }
  const cpu = routeRatio(r.direct.concurrent, r.forwarded.concurrent, (x) => x.usCpuPerRoundTrip);
  add(con, 'forwarded / direct, server CPU per round trip', cpu, cpuTarget, metOf(cpu, 3.5));
  add(con, 'forwarded: upstream connections B opened per 1,000 forwarded requests', cellOf(r.forwarded.concurrent, (x) => ({
    value: (x.upstreamsOpened * 1000) / x.forwardedRequests, text: fmt((x.upstreamsOpened * 1000) / x.forwardedRequests, 1),
  })));
  return rows;
}

/** The multicore rows: idle memory of all processes, and the fan-out ladder's maximum and cost. */
function multicoreRows(m) {
  const name = 'multicore: 2 processes (CPUs 0+1, shared with the load)';
  if (m.error) return [row(name, 'all', { error: m.error }, { error: m.error })];
  const rows = [];
  const idle = `idle ${fmtInt(PLAN.multicore.idleClients)} WebSockets`;
  const procs = (x) => `${x.rssPerProcessKiB.length} processes`;
  const cells = (f) => [cellOf(m.idle.roomcastd, f), cellOf(m.idle.node, f)];
  rows.push(row(name, `${idle}: RSS of all server processes (MiB)`, ...cells((x) => ({ value: x.rssKiB / 1024, text: fmt(x.rssKiB / 1024, 1), note: procs(x) }))));
  rows.push(row(name, `${idle}: RSS growth per connection (B)`, ...cells((x) => ({
    value: x.bytesPerConn, text: fmtInt(x.bytesPerConn), note: x.failed ? `${x.failed} failed` : undefined,
  }))));
  // a client that never joined holds the loadgen's "ready" until its 60 s connect timeout
  rows.push(row(name, `${idle}: clients per process; time to connect and join all (s)`, ...cells((x) => ({
    value: x.connectS, text: `${x.fdsPerProcess.join(' / ')}; ${fmt(x.connectS)}`,
    note: x.failed ? `${x.failed} never joined: the time is the loadgen's connect timeout` : undefined,
  }))));

  const fan = `fan-out ${fmtInt(PLAN.multicore.clients)} clients`;
  const rcL = m.fanout.roomcastd;
  const ndL = m.fanout.node;
  const maxCell = (L) => cellOf(L, (x) => (x.max
    ? { value: x.max.deliveriesPerS, text: `${fmtInt(x.max.deliveriesPerS)} (${x.max.rate}/s)`, note: boundNote(x) }
    : { value: NaN, text: 'none sustained' }));
  rows.push(row(name, `${fan}: max sustained deliveries/s (broadcasts/s)`, maxCell(rcL), maxCell(ndL)));
  const common = commonStep(rcL, ndL);
  if (common) {
    const [a, b] = common;
    const c = (s) => ({ value: s.usPerDelivery, text: fmt(s.usPerDelivery, 3) });
    rows.push(row(name, `${fan}: server CPU µs per delivery at ${a.rate}/s (both sustain)`, c(a), c(b)));
    const l = (s) => ({ value: s.p99Ms, text: `${fmt(s.p50Ms)} / ${fmt(s.p99Ms)}` });
    rows.push(row(name, `${fan}: p50 / p99 latency (ms) at ${a.rate}/s`, l(a), l(b)));
  } else {
    rows.push(row(name, `${fan}: server CPU µs per delivery at a rate both sustain`, cellOf(rcL, () => ({ text: 'no common rate' })),
      cellOf(ndL, () => ({ text: 'no common rate' }))));
  }
  const atMax = (L) => cellOf(L, (x) => (x.max ? { value: x.max.usPerDelivery, text: `${fmt(x.max.usPerDelivery, 3)} (${x.max.rate}/s)` }
    : { value: NaN, text: 'none sustained' }));
  rows.push(row(name, `${fan}: server CPU µs per delivery at its maximum`, atMax(rcL), atMax(ndL)));
  return rows;
}

/** The forward rows: at the highest rate both sustained, and each one's maximum. */
function forwardRows(f) {
  const name = 'forward: client events to a Redis Stream';
  const ok = (x) => x && !x.error;
  const rows = [];
  const both = ok(f.roomcastd) && ok(f.node)
    ? f.roomcastd.steps.filter((a) => a.sustained && f.node.steps.some((b) => b.sustained && b.rate === a.rate)).pop()
    : null;
  if (both) {
    const nd = f.node.steps.find((b) => b.rate === both.rate);
    rows.push(row(name, `events per server CPU-s at ${both.rate} events/s (both sustain)`,
      { value: both.perCpuS, text: fmtInt(both.perCpuS) }, { value: nd.perCpuS, text: fmtInt(nd.perCpuS) },
      '≥ 5x Node', both.perCpuS >= 5 * nd.perCpuS));
    rows.push(row(name, `stream latency p50 / p99 ms at ${both.rate} events/s`,
      { value: both.p99Ms, text: `${fmt(both.p50Ms)} / ${fmt(both.p99Ms)}` }, { value: nd.p99Ms, text: `${fmt(nd.p50Ms)} / ${fmt(nd.p99Ms)}` }));
    rows.push(row(name, `write syscalls per event at ${both.rate} events/s`,
      { value: both.writesPerEvent, text: both.writesPerEvent.toFixed(3) }, { value: nd.writesPerEvent, text: nd.writesPerEvent.toFixed(3) },
      '≪ 1 (roomcastd)', both.writesPerEvent < 0.1));
  } else {
    rows.push(row(name, 'events per server CPU-s at a rate both sustain', { text: 'no common rate' }, { text: 'no common rate' }));
  }
  const maxCell = (x) => cellOf(x, (y) => (y.max ? { value: y.max.rate, text: `${fmtInt(y.max.rate)} events/s` } : { value: NaN, text: 'none sustained' }));
  rows.push(row(name, 'max sustained (all stored, p99 ≤ 1 s)', maxCell(f.roomcastd), maxCell(f.node)));
  return rows;
}

function noCommonRow(name, rcL, ndL) {
  const none = () => ({ text: 'no common rate' });
  return row(name, 'deliveries per server CPU-s at a rate both sustain', cellOf(rcL, none), cellOf(ndL, none));
}

/**
 * [roomcastd step, node step] at the highest rate both sustained; with
 * oneFramePerWrite, the highest such rate at which roomcastd still wrote
 * one frame per write (each broadcast in a loop turn of its own, what the
 * ceiling's batch 1 measures), if there is one.
 */
function commonStep(rcL, ndL, { oneFramePerWrite = false } = {}) {
  if (!rcL || !ndL || rcL.error || ndL.error) return null;
  const pairs = [];
  for (const a of rcL.steps) {
    if (!a.sustained || a.bound) continue;
    const b = ndL.steps.find((s) => s.rate === a.rate && s.sustained && !s.bound);
    if (b) pairs.push([a, b]);
  }
  pairs.sort((x, y) => y[0].rate - x[0].rate);
  if (oneFramePerWrite) {
    const single = pairs.find(([a]) => a.framesPerWrite <= ONE_FRAME_PER_WRITE);
    if (single) return single;
  }
  return pairs[0] || null;
}

function ladderRows(res) {
  const rows = [];
  const pct = (x) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '—');
  const cells = (s) => (!s ? ['', '', '', '']
    : [fmt(s.usPerDelivery, 3), fmt(s.framesPerWrite, 1), `${pct(s.delivered)}${s.closed ? ` (${s.closed} cut off)` : ''}`, fmt(s.p99Ms)]);
  const same = (ceil, s) => {
    if (!s) return '';
    const x = ceilingAt(ceil, s.framesPerWrite);
    return x ? `${fmt(x.us, 3)}${x.clamped ? ' (b16)' : ''}` : '—';
  };
  const add = (label, clients, unit, rcL, ndL) => {
    const rs = rcL && !rcL.error ? rcL.steps : [];
    const ns = ndL && !ndL.error ? ndL.steps : [];
    const rates = [...new Set([...rs, ...ns].map((s) => s.rate))].sort((a, b) => a - b);
    const ceil = [1, 4, 16].map((b) => ceilingFor(res, clients, b));
    for (const rate of rates) {
      const a = rs.find((s) => s.rate === rate);
      const b = ns.find((s) => s.rate === rate);
      const mark = (s, who) => (s && (!s.sustained || s.bound) ? [`${who} ${s.bound ? `${s.bound}-bound` : 'not sustained'}`] : []);
      const marks = [...mark(a, 'roomcastd'), ...mark(b, 'node')];
      rows.push([label, `${rate} ${unit}${marks.length ? ` (${marks.join('; ')})` : ''}`, ...cells(a), same(ceil, a), ...cells(b),
        ...ceil.map((c) => (c ? fmt(c.us_per_frame, 3) : '—'))]);
    }
  };
  if (res.fanout && !res.fanout.error) {
    for (const [n, g] of Object.entries(res.fanout.groups)) add(`fan-out ${fmtInt(Number(n))}`, Number(n), '/s', g.roomcastd, g.node);
  }
  if (res.relay && !res.relay.error) {
    add(`relay ${fmtInt(PLAN.relay.clients)}/${PLAN.relay.rooms} rooms`, PLAN.relay.clients, 'ev/s', res.relay.roomcastd, res.relay.node);
  }
  if (res.multicore && !res.multicore.error) {
    const M = PLAN.multicore;
    add(`multicore fan-out ${fmtInt(M.clients)} (2 processes, CPUs 0+1)`, M.clients, '/s', res.multicore.fanout.roomcastd, res.multicore.fanout.node);
  }
  return rows;
}

/**
 * The ceiling's µs per frame at k frames per writev, interpolated between
 * its batches (log-log, so a constant per-write cost plus a per-frame cost
 * reads right); past the largest batch, the largest batch's figure.
 */
function ceilingAt(ceil, k) {
  const pts = ceil.filter(Boolean).map((c) => [c.batch, c.us_per_frame]).sort((p, q) => p[0] - q[0]);
  if (!pts.length || !Number.isFinite(k)) return null;
  if (k <= pts[0][0]) return { us: pts[0][1] };
  for (let i = 1; i < pts.length; i++) {
    const [b0, u0] = pts[i - 1];
    const [b1, u1] = pts[i];
    if (k <= b1) {
      const f = Math.log(k / b0) / Math.log(b1 / b0);
      return { us: Math.exp(Math.log(u0) + f * (Math.log(u1) - Math.log(u0))) };
    }
  }
  return { us: pts[pts.length - 1][1], clamped: true };
}

const LADDER_HEAD = ['scenario', 'rate', 'roomcastd µs/delivery', 'frames/write', 'delivered', 'p99 ms', 'ceiling µs/frame at those frames/write',
  'node µs/delivery', 'frames/write', 'delivered', 'p99 ms', 'ceiling µs/frame b1', 'b4', 'b16'];

function ceilingRows(res) {
  const runs = Array.isArray(res.ceiling) ? [...res.ceiling] : [];
  for (const g of Object.values(res.fanout && res.fanout.groups ? res.fanout.groups : {})) {
    if (g.ceilingPaced && !g.ceilingPaced.error) runs.push(g.ceilingPaced);
  }
  return runs.map((c) => [fmtInt(c.clients), c.batch, c.rate ? `paced ${c.rate}/s` : 'back to back', fmtInt(c.frames_per_cpu_s),
    fmt(c.us_per_frame, 3), fmt(c.us_per_write, 3), fmt(c.round_ms_p50, 3), fmt(c.round_ms_min, 3), fmtInt(c.eagain)]);
}

function machineFacts() {
  const sh = (cmd, args) => {
    try { return execFileSync(cmd, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim(); } catch (e) { return null; }
  };
  const model = (/^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8')) || [])[1] || '?';
  return {
    commit: sh('git', ['rev-parse', '--short', 'HEAD']) || '?',
    dirty: !!sh('git', ['status', '--porcelain', '--untracked-files=no']),
    nproc: os.cpus().length,
    kernel: os.release(),
    cpu: model.trim(),
    memGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    redis: (/v=(\S+)/.exec(sh('redis-server', ['--version']) || '') || [])[1] || '?',
    roomcastd: sh(BIN.roomcastd, ['--version']) || '?',
    openFiles: sh('sh', ['-c', 'ulimit -Hn']) || '?',
  };
}

function report(res, facts, elapsed, date) {
  const parts = [];
  const mode = `${QUICK ? 'BENCH_QUICK=1' : 'full'}${ONLY.length ? `, BENCH_ONLY=${ONLY.join(',')}` : ''}`;
  parts.push(`# roomcast benchmark, ${date}\n`);
  const perScenario = Object.entries(elapsed.scenarios).map(([k, s]) => `${k} ${s.toFixed(0)} s`).join(', ');
  parts.push(`Commit ${facts.commit}${facts.dirty ? ' (with uncommitted changes)' : ''}, ${facts.roomcastd}; run ${mode}; ` +
    `wall time ${(elapsed.total / 60).toFixed(1)} min (${perScenario}).\n`);
  parts.push(`Machine: ${facts.nproc} CPUs (${facts.cpu}), kernel ${facts.kernel}, ${facts.memGiB} GiB, open files ${facts.openFiles} per process; ` +
    `Node ${facts.node}, redis-server ${facts.redis}. Server under test on CPU 0; loadgen, publisher and Redis on CPU 1. ` +
    `${res.route ? 'route: roomcastd A and B both on CPU 0, the polling client (pollrtt) on CPU 1. ' : ''}` +
    `${res.multicore ? 'multicore: every process of either server on CPUs 0 and 1, shared with the loadgen, the publisher and Redis ' +
      '(CPU 1); Node is a node:cluster primary with @socket.io/sticky and two workers (node-cluster2.js). ' : ''}` +
    `Frames of ${FRAME_BYTES} bytes; steps of ${PLAN.stepSeconds} s; a step is sustained at ` +
    `≥ ${SUSTAIN_DELIVERED * 100}% delivered and p99 ≤ ${SUSTAIN_P99_US / 1e6} s.\n`);
  const sr = summaryRows(res);
  if (sr.length) {
    parts.push('## Summary (ratio = roomcastd / node)\n');
    parts.push(mdTable(['scenario', 'metric', 'roomcastd', 'node', 'ratio roomcast/node', 'target', 'met?'], sr));
  }
  const lr = ladderRows(res);
  if (lr.length) {
    parts.push('\n## Cost per delivery by ladder step\n');
    parts.push('Server CPU µs per delivery (utime+stime over the step and its drain / frames received), frames per write ' +
      '(frames received / write syscalls of the server), beside the ceiling program\'s µs per frame with 1, 4 and 16 frames per writev ' +
      'to the same number of sockets.\n');
    parts.push(mdTable(LADDER_HEAD, lr));
  }
  const cr = ceilingRows(res);
  if (cr.length) {
    parts.push('\n## Ceiling: one pre-built frame written to open sockets with writev\n');
    const head = ['sockets', 'frames/writev', 'rounds', 'frames per CPU-s', 'µs/frame', 'µs/writev', 'round ms p50', 'round ms min', 'EAGAIN'];
    parts.push(mdTable(head, cr));
  } else if (res.ceiling && res.ceiling.error) {
    parts.push(`\nCeiling: ${errCell(res.ceiling.error)}\n`);
  }
  const notes = collectNotes(res);
  if (notes.length) parts.push(`\n## Notes\n\n${notes.map((n) => `- ${n}`).join('\n')}`);
  return `${parts.join('\n')}\n`;
}

function collectNotes(res) {
  const notes = [];
  const walk = (x, where) => {
    if (!x || typeof x !== 'object') return;
    if (typeof x.error === 'string') notes.push(`${where}: error: ${x.error}`);
    for (const [k, y] of Object.entries(x)) if (k !== 'error') walk(y, `${where} ${k}`);
  };
  for (const s of SCENARIOS) walk(res[s], s);
  const ladders = [];
  for (const [name, g] of Object.entries(res.fanout && res.fanout.groups ? res.fanout.groups : {})) {
    for (const kind of SERVERS) ladders.push([`fan-out ${name} ${kind}`, g[kind]]);
  }
  for (const kind of SERVERS) if (res.relay) ladders.push([`relay ${kind}`, res.relay[kind]]);
  for (const kind of SERVERS) if (res.multicore && res.multicore.fanout) ladders.push([`multicore fan-out ${kind}`, res.multicore.fanout[kind]]);
  for (const [where, L] of ladders) {
    if (!L) continue;
    if (L.stepError) notes.push(`${where}: the ladder ended on an error ${L.stepError}`);
    if (L.boundBy === 'ladder top') {
      notes.push(`${where}: every rate of the ladder was sustained: its maximum is above the top rate.`);
    } else if (L.boundBy) {
      notes.push(`${where}: the ladder stopped at a step bound by the ${L.boundBy}, not the server: its maximum is a lower bound.`);
    }
  }
  return notes;
}

function updateReadme(md, date) {
  if (!fs.existsSync(README)) return log('--readme: no README.md');
  const text = fs.readFileSync(README, 'utf8');
  const begin = '<!-- bench:begin -->';
  const end = '<!-- bench:end -->';
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < i) return log(`--readme: README.md has no ${begin} ... ${end} section; left alone`);
  const body = md.replace(/^# .*\n/, `From \`tests/bench/results/${date}.md\` (\`make bench\`).\n`).replace(/^## /gm, '#### ');
  fs.writeFileSync(README, `${text.slice(0, i + begin.length)}\n${body}\n${text.slice(j)}`);
  log('--readme: README.md updated');
}

// -------------------------------------------------------------------- main

function checkBinaries() {
  const missing = Object.entries(BIN).filter(([, p]) => !fs.existsSync(p)).map(([n, p]) => path.relative(REPO, p));
  if (missing.length) throw new Error(`missing ${missing.join(', ')} (run make all bench-bin)`);
}

async function main() {
  const args = process.argv.slice(2);
  for (const a of args) if (a !== '--readme') throw new Error(`unknown argument ${a} (only --readme)`);
  checkBinaries();
  const facts = machineFacts();
  const date = new Date().toISOString().slice(0, 10);
  log(`roomcast bench ${QUICK ? '(BENCH_QUICK) ' : ''}commit ${facts.commit}; scenarios: ${SCENARIOS.filter(wanted).join(', ')}`);
  redis = await startRedis();
  log(`redis-server on 127.0.0.1:${redis.port} (CPU ${CLIENT_CPU})`);

  const runners = { ceiling: scenarioCeiling, idle: scenarioIdle, fanout: scenarioFanout, relay: scenarioRelay,
    forward: scenarioForward, churn: scenarioChurn, route: scenarioRoute, multicore: scenarioMulticore };
  const res = {};
  const elapsed = { scenarios: {} };
  for (const s of SCENARIOS) {
    if (!wanted(s)) continue;
    const t = Date.now();
    log(`${s}: start`);
    res[s] = await attempt(runners[s]);
    elapsed.scenarios[s] = (Date.now() - t) / 1000;
    log(`${s}: done in ${elapsed.scenarios[s].toFixed(1)} s`);
    redis.alive();
  }
  await redis.stop();
  elapsed.total = (Date.now() - T0) / 1000;

  const md = report(res, facts, elapsed, date);
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const mdFile = path.join(RESULTS_DIR, `${date}.md`);
  fs.writeFileSync(mdFile, md);
  const raw = { date, facts, plan: PLAN, quick: QUICK, only: ONLY, elapsed, results: res };
  fs.writeFileSync(path.join(RESULTS_DIR, `${date}.json`), `${JSON.stringify(raw, null, 1)}\n`);
  process.stdout.write(`\n${md}`);
  log(`written ${path.relative(REPO, mdFile)} (and .json); wall time ${(elapsed.total / 60).toFixed(1)} min`);
  if (args.includes('--readme')) updateReadme(md, date);
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`bench: ${e.stack || e}\n`);
  killAll();
  process.exit(1);
});
