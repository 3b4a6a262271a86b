// balancers.test.js - the README's load-balancer setups, for real (issue
// #13): conf/nginx.conf.example and conf/haproxy.cfg.example, as shipped
// but for their addresses, run by Debian's nginx and HAProxy on loopback in
// front of two roomcastd instances sharing one Redis. Through each: a
// polling-only, a WebSocket-only and a polling-then-upgrade official client
// (the upgrade reaches the instance that holds the session); a relay
// between clients on different instances; a backend broadcast (the JSON
// channel) reaching both; then one instance drained with SIGTERM, its
// clients reconnecting through the balancer to the other, where they
// receive the next broadcast. Clients pick their instance by their source
// address (127.0.0.x), since both balancers hash it.
// roomcastd only: the drain and the JSON channel are roomcastd's.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const skip = h.REFERENCE && 'roomcastd\'s drain and JSON channel';
const RAW = 'namespace / {\n    client_join *\n    relay yes\n}\n';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-lb-'));
const children = new Set();
after(() => {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
});

const example = (name) => fs.readFileSync(path.join(h.REPO, 'conf', name), 'utf8');

/** The example with its instances on <a> and <b> and the site on <port>. */
function addressed(text, a, b, port, listen) {
  const out = text.replaceAll('127.0.0.1:3001', `127.0.0.1:${a}`).replaceAll('127.0.0.1:3002', `127.0.0.1:${b}`)
    .replace(listen, (m) => m.replace(/:?80\b/, `127.0.0.1:${port}`));
  assert.notEqual(out, text);
  assert.ok(out.includes(`127.0.0.1:${port}`), 'the site address was replaced');
  return out;
}

function spawnChild(cmd, args, what) {
  const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  c.stdout.on('data', (x) => { out += x; });
  c.stderr.on('data', (x) => { out += x; });
  children.add(c);
  c.output = () => out;
  c.on('exit', (code) => { children.delete(c); c.exitCode = code; });
  c.what = what;
  return c;
}

const BALANCERS = {
  async nginx(a, b, port) {
    return h.startNginx(addressed(example('nginx.conf.example'), a, b, port, /listen 80;/));
  },
  async haproxy(a, b, port) {
    const file = path.join(tmp, `haproxy-${port}.cfg`);
    fs.writeFileSync(file, addressed(example('haproxy.cfg.example'), a, b, port, /bind :80/));
    return spawnChild('haproxy', ['-f', file, '-db'], 'haproxy');
  },
};

/** An official client from source address <ip> through the balancer on <port>. */
function client(port, ip, transports) {
  const agent = new http.Agent({ localAddress: ip, keepAlive: true });
  const s = h.sioClient(port, '/', { transports, agent, reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 500 });
  s.got = [];
  s.onAny((...args) => s.got.push(args));
  // rooms are the server's: join again after each reconnect
  s.joins = 0;
  s.on('connect', () => s.emit('join', 'r', () => { s.joins++; }));
  return s;
}

async function connected(s) {
  const n = s.joins;
  await h.waitFor(() => s.connected && s.joins > n, { what: 'connected and in room r' });
  return s;
}

const sockets = async (d) => (await d.metrics()).roomcast_sockets_current;

/** A source address the balancer sends to <d>: tried until a probe lands there. */
async function ipFor(port, d, taken) {
  for (let i = 2; i < 60; i++) {
    const ip = `127.0.0.${i}`;
    if (taken.includes(ip)) continue;
    const before = await sockets(d);
    const probe = await connected(client(port, ip, ['websocket']));
    const landed = (await sockets(d)) > before;
    probe.disconnect();
    await h.waitFor(async () => (await sockets(d)) === before, { what: 'the probe gone' });
    if (landed) return ip;
  }
  throw new Error('no source address reaches this instance');
}

const gotEvent = (s, name, value) => h.waitFor(() => s.got.some(([n, v]) => n === name && v === value),
  { what: `${name} ${value} at a ${s.io.engine.transport.name} client` });

for (const name of Object.keys(BALANCERS)) {
  test(`${name}: polling, WebSocket and upgrading clients on two instances; relay, broadcast, drain`, { skip, timeout: 120000 }, async (t) => {
    const r = await h.startRedis();
    const config = { drain_timeout: '1s' };
    const [A, B] = await h.startAll([h.startClusterDaemon(r, { raw: RAW, config }), h.startClusterDaemon(r, { raw: RAW, config })]);
    const port = await h.freePort();
    const lb = await BALANCERS[name](A.port, B.port, port);
    const redis = await r.client();
    const open = [];
    try {
      await h.waitFor(async () => (await h.request(port, { path: '/healthz', waitClose: true }).catch(() => null))?.status === 200,
        { what: `${name} serving on ${port} (${lb.output()})`, timeout: 15000 });
      const ipA = await ipFor(port, A, []);
      const ipB = await ipFor(port, B, [ipA]);
      t.diagnostic(`${name}: ${ipA} -> A, ${ipB} -> B`);

      const polling = await connected(client(port, ipA, ['polling']));
      const ws = await connected(client(port, ipB, ['websocket']));
      const upgrading = client(port, ipA, ['polling', 'websocket']);
      open.push(polling, ws, upgrading);
      await connected(upgrading);
      await h.waitFor(() => upgrading.io.engine.transport.name === 'websocket', { what: 'the upgrade through the balancer' });
      assert.equal(polling.io.engine.transport.name, 'polling');
      assert.equal(await sockets(A), 2, 'polling and upgrading on A');
      assert.equal(await sockets(B), 1, 'ws on B');

      polling.emit('said', 'from A');
      await gotEvent(ws, 'said', 'from A');
      await gotEvent(upgrading, 'said', 'from A');
      ws.emit('said', 'from B');
      await gotEvent(polling, 'said', 'from B');
      await gotEvent(upgrading, 'said', 'from B');

      await redis.publish('roomcast-emit', JSON.stringify({ rooms: ['r'], data: ['news', 1] }));
      for (const s of open) await gotEvent(s, 'news', 1);

      // drain A: its clients come back through the balancer, on B
      A.child.kill('SIGTERM');
      assert.deepEqual(await A.exited, { code: 0, signal: null }, A.stderr());
      await h.waitFor(async () => (await sockets(B)) === 3 && open.every((s) => s.connected && s.joins >= 2 || s === ws),
        { what: 'A\'s clients reconnected to B', timeout: 20000 });
      await redis.publish('roomcast-emit', JSON.stringify({ rooms: ['r'], data: ['news', 2] }));
      for (const s of open) await gotEvent(s, 'news', 2);
      assert.equal(ws.joins, 1, 'B\'s client never moved');
    } finally {
      for (const s of open) s.disconnect();
      // nginx: graceful stop, its worker with it; HAProxy: its hard stop
      await (name === 'nginx' ? lb.stop() : h.stopChild(lb, 'SIGTERM'));
      A.kill();
      B.kill();
      await redis.disconnect();
      await r.close();
    }
  });
}

// Behind the balancers, the client's own address (issue 19): one roomcastd
// with trusted_proxies 127.0.0.1 and max_connections_per_ip 2, a plain
// listener behind the shipped example (nginx's X-Forwarded-For, HAProxy's
// option forwardfor) and a proxy_protocol listener behind a TCP proxy
// (nginx's stream proxy_protocol on, HAProxy's send-proxy-v2). Through
// each path: official clients from 127.0.0.x (polling and WebSocket) have
// their own address in their connect records, even with an
// X-Forwarded-For of their own (forged: the balancer appends the real one,
// and only the rightmost untrusted hop counts); one address's third
// WebSocket is refused (503, counted) while another address connects.
const REAL_STREAM = 'rc:lb-realip';

const TCP_PROXIES = {
  nginx: (from, to) => `server {\n    listen 127.0.0.1:${from};\n    proxy_pass 127.0.0.1:${to};\n    proxy_protocol on;\n}\n`,
  haproxy: (from, to) => `\nfrontend roomcast_tcp\n    bind 127.0.0.1:${from}\n    mode tcp\n    default_backend roomcast_pp\n` +
    `\nbackend roomcast_pp\n    mode tcp\n    server a 127.0.0.1:${to} send-proxy-v2\n`,
};

/** The shipped example on <port> in front of <a>, with a TCP proxy from <tcp> to <pp> beside it. */
async function startBalancer(name, a, port, tcp, pp) {
  if (name === 'nginx') {
    return h.startNginx(addressed(example('nginx.conf.example'), a, a, port, /listen 80;/),
      { stream: TCP_PROXIES.nginx(tcp, pp) });
  }
  const file = path.join(tmp, `haproxy-realip-${port}.cfg`);
  fs.writeFileSync(file, addressed(example('haproxy.cfg.example'), a, a, port, /bind :80/) + TCP_PROXIES.haproxy(tcp, pp));
  return spawnChild('haproxy', ['-f', file, '-db'], 'haproxy');
}

for (const name of Object.keys(BALANCERS)) {
  test(`${name}: the client's own address through X-Forwarded-For and the PROXY protocol`, { skip, timeout: 120000 }, async (t) => {
    const r = await h.startRedis();
    const [port, pp] = [await h.freePort(), await h.freePort()];
    const d = await h.startClusterDaemon(r, {
      port,
      raw: RAW,
      config: {
        listen: [`127.0.0.1:${port}`, `127.0.0.1:${pp} proxy_protocol`],
        trusted_proxies: '127.0.0.1', max_connections_per_ip: 2, backend_stream: REAL_STREAM,
      },
    });
    const [web, tcp] = [await h.freePort(), await h.freePort()];
    const lb = await startBalancer(name, port, web, tcp, pp);
    const redis = await r.client();
    const open = [];
    const agents = [];
    const from = (site, ip, transports, extra = {}) => {
      const agent = new http.Agent({ localAddress: ip, keepAlive: true });
      const s = h.sioClient(site, '/', { transports, agent, reconnection: false, ...extra });
      open.push(s);
      agents.push(agent);
      return s;
    };
    const recordOf = async (s) => {
      let rec;
      await h.waitFor(async () => {
        rec = h.streamEntries(await redis.sendCommand(['XRANGE', REAL_STREAM, '-', '+']))
          .find((f) => f.type === 'connect' && f.sid === s.id);
        return rec;
      }, { what: `the connect record of ${s.id}` });
      return rec;
    };
    try {
      await h.waitFor(async () => (await h.request(web, { path: '/healthz', waitClose: true }).catch(() => null))?.status === 200,
        { what: `${name} serving on ${web} (${lb.output()})`, timeout: 15000 });
      // each client from an address of its own: a polling client's
      // keep-alive connections hold its address's slots until they close
      const paths = [[web, 'X-Forwarded-For', ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']],
        [tcp, 'PROXY protocol', ['127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9']]];
      for (const [site, path_, [ipPolling, ipWs, ipTwo, ipOther]] of paths) {
        for (const [transports, ip] of [[['polling'], ipPolling], [['websocket'], ipWs]]) {
          const s = from(site, ip, transports, { extraHeaders: { 'X-Forwarded-For': '6.6.6.6' } });
          await h.sioConnected(s);
          assert.equal((await recordOf(s)).address, ip, `${path_}, ${transports}: the client's address, not 6.6.6.6`);
          s.disconnect();
        }
        // two WebSockets of one address, then 503; another address still connects
        const rejected = (await d.metrics()).roomcast_connections_rejected_per_ip_total;
        const two = [from(site, ipTwo, ['websocket']), from(site, ipTwo, ['websocket'])];
        for (const s of two) await h.sioConnected(s);
        const third = from(site, ipTwo, ['websocket']);
        await h.sioConnectError(third);
        assert.equal((await d.metrics()).roomcast_connections_rejected_per_ip_total, rejected + 1, `${path_}: the third refused`);
        const other = from(site, ipOther, ['websocket']);
        await h.sioConnected(other);
        assert.equal((await recordOf(other)).address, ipOther);
        for (const s of [...two, other]) s.disconnect();
        await h.waitFor(async () => (await d.metrics()).roomcast_sockets_current === 0, { what: `${path_}: every socket gone` });
        t.diagnostic(`${name}: ${path_} ok`);
      }
    } finally {
      for (const s of open) s.disconnect();
      for (const a of agents) a.destroy();
      lb.kill('SIGTERM');
      d.kill();
      await redis.disconnect();
      await r.close();
    }
  });
}
