// realip.test.js - the client's own address behind trusted balancers
// (issue 19), on raw sockets: what a balancer sends, byte for byte, and
// what a client may forge. One roomcastd with Redis (connect records carry
// the session's address), a plain listener and a proxy_protocol one,
// trusted_proxies 127.0.0.1, max_connections_per_ip 2. Clients are told
// apart by source address (127.0.0.2 is not trusted; on Linux all of
// 127/8 is loopback). Covers: PROXY v1 and v2 headers name the client of
// the connection (connect record, per-address count: the third connection
// of one client gets 503 while another client and the balancer itself are
// served), LOCAL keeps the balancer's address, headers at their limits
// (107 and 4096 bytes) pass and one byte past is closed, a malformed
// header and a silent connection are closed and counted, an untrusted
// peer is closed at accept; X-Forwarded-For from the trusted peer names
// the client of each request (connect record, the per-address count held
// while a request is handled and given back when it is done, a 1500-byte
// header still names its rightmost client), an invalid entry leaves the
// balancer's address and is counted, and from an untrusted peer a forged
// header changes nothing and is counted. Sessions are bounded per real
// client too: one keep-alive balancer connection asks for sessions for two
// clients (X-Forwarded-For, then a PROXY header), and only the one past
// the limit is refused. The nginx and HAProxy runs are in
// balancers.test.js.
// roomcastd only: Node has no trusted proxies.
'use strict';

const net = require('node:net');
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const skip = h.REFERENCE && 'Node has no trusted proxies';
const STREAM = 'rc:realip';
const LIMIT = 2;

let r;
let d;
let redis;
let pp; // the proxy_protocol listener's port
before(async () => {
  if (skip) return;
  r = await h.startRedis();
  const port = await h.freePort();
  pp = await h.freePort();
  d = await h.startClusterDaemon(r, {
    port,
    config: {
      listen: [`127.0.0.1:${port}`, `127.0.0.1:${pp} proxy_protocol`],
      trusted_proxies: '127.0.0.1',
      max_connections_per_ip: LIMIT,
      header_timeout: '1s',
      backend_stream: STREAM,
    },
  });
  redis = await r.client();
});
after(async () => {
  if (d) d.kill();
  if (redis) await redis.disconnect();
  if (r) await r.close();
});

/** A raw connection to <port> from <from> (a loopback address). */
function connectFrom(port, from = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1', localAddress: from });
    sock.once('connect', () => { sock.removeListener('error', reject); resolve(new h.RawConn(sock)); });
    sock.once('error', reject);
  });
}

const v1 = (client) => `PROXY TCP4 ${client} 127.0.0.1 40000 3000\r\n`;

/** A v2 header: PROXY TCP4 from <client>, or LOCAL; <tlv> bytes of TLVs. */
function v2(client, { local = false, tlv = 0 } = {}) {
  const block = Buffer.alloc(local ? tlv : 12 + tlv);
  if (!local) {
    client.split('.').forEach((x, i) => { block[i] = Number(x); });
    block.writeUInt16BE(40000, 8);
    block.writeUInt16BE(3000, 10);
  }
  const head = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
    local ? 0x20 : 0x21, local ? 0x00 : 0x11, block.length >> 8, block.length & 0xff]);
  return Buffer.concat([head, block]);
}

const metric = async (name) => (await d.metrics())[`roomcast_${name}`] || 0;

/** Opens a Socket.IO session on <conn> (keep-alive): handshake, CONNECT; its connect record. */
async function sessionAddress(conn, port, headers = {}) {
  const before = (await redis.sendCommand(['XLEN', STREAM])) || 0;
  conn.write(h.buildRequest({ port, path: h.q(), headers }));
  const hs = await conn.response();
  assert.equal(hs.status, 200, hs.text);
  const { sid } = JSON.parse(hs.text.slice(1));
  conn.write(h.buildRequest({ method: 'POST', port, path: h.pollPath(sid), headers, body: '40' }));
  assert.equal((await conn.response()).text, 'ok');
  let rec;
  await h.waitFor(async () => {
    rec = h.streamEntries(await redis.sendCommand(['XRANGE', STREAM, '-', '+'])).slice(before)
      .find((f) => f.type === 'connect');
    return rec;
  }, { what: 'the connect record' });
  return rec.address;
}

/** GET /healthz on <conn>, kept alive: 200, or 503 and closed. */
async function healthz(conn, port, headers = {}) {
  conn.write(h.buildRequest({ port, path: '/healthz', headers }));
  const res = await conn.response();
  if (res.status === 503) await conn.closed();
  return res.status;
}

test('PROXY v1 and v2 name the connection\'s client: connect records, max_connections_per_ip', { skip }, async () => {
  const a = await connectFrom(pp);
  a.write(v1('198.51.100.7'));
  assert.equal(await sessionAddress(a, pp), '198.51.100.7');
  const b = await connectFrom(pp);
  b.write(v2('198.51.100.8', { tlv: 40 }));
  assert.equal(await sessionAddress(b, pp), '198.51.100.8');

  // two connections of 198.51.100.7 (a is one): the third is refused
  const rejected = await metric('connections_rejected_per_ip_total');
  const a2 = await connectFrom(pp);
  a2.write(v2('198.51.100.7'));
  assert.equal(await healthz(a2, pp), 200);
  const a3 = await connectFrom(pp);
  a3.write(v1('198.51.100.7'));
  assert.equal(await healthz(a3, pp), 503, 'the third connection of one client');
  assert.equal(await metric('connections_rejected_per_ip_total'), rejected + 1);
  // another client, and the balancer's own connections, are served
  const others = [];
  for (const c of ['198.51.100.9', '198.51.100.10', '198.51.100.11']) {
    const o = await connectFrom(pp);
    o.write(v1(c));
    assert.equal(await healthz(o, pp), 200, c);
    others.push(o);
  }
  // a LOCAL header (a balancer's health check) keeps the balancer's address
  const l = await connectFrom(pp);
  l.write(v2('', { local: true }));
  assert.equal(await sessionAddress(l, pp), '127.0.0.1');
  // a slot given back is usable again
  a2.destroy();
  await h.waitFor(async () => {
    const c = await connectFrom(pp);
    c.write(v1('198.51.100.7'));
    const ok = (await healthz(c, pp)) === 200;
    c.destroy();
    return ok;
  }, { what: 'the slot of the closed connection back' });
  for (const c of [a, b, l, ...others]) c.destroy();
});

test('PROXY headers at their limits pass, one byte past is closed; bad and silent ones are closed', { skip }, async () => {
  const at = await connectFrom(pp);
  const line = `PROXY UNKNOWN ${'x'.repeat(107 - 16)}\r\n`;
  assert.equal(line.length, 107);
  at.write(line);
  assert.equal(await healthz(at, pp), 200, 'a 107-byte v1 line');
  at.destroy();
  const at2 = await connectFrom(pp);
  at2.write(v2('198.51.100.20', { tlv: 4096 - 28 }));
  assert.equal(await healthz(at2, pp), 200, 'a 4096-byte v2 header');
  at2.destroy();

  const bad = await metric('proxy_protocol_bad_total');
  for (const bytes of [`PROXY UNKNOWN ${'x'.repeat(108 - 16)}\r\n`, v2('198.51.100.20', { tlv: 4096 - 27 }),
    'PROXY TCP4 198.51.100.7 127.0.0.1 40000 65536\r\n', 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n']) {
    const c = await connectFrom(pp);
    c.write(bytes);
    assert.equal((await c.closed()).length, 0, `closed unanswered: ${h.show(Buffer.from(bytes).subarray(0, 40))}`);
  }
  assert.equal(await metric('proxy_protocol_bad_total'), bad + 4);

  // header_timeout 1s: half a header, then nothing
  const timeouts = await metric('proxy_protocol_timeouts_total');
  const slow = await connectFrom(pp);
  slow.write('PROXY TCP4 198.51');
  assert.equal((await slow.closed({ timeout: 5000 })).length, 0);
  assert.equal(await metric('proxy_protocol_timeouts_total'), timeouts + 1);
});

test('an untrusted peer is closed at accept on a proxy_protocol listener, whatever it sends', { skip }, async () => {
  const refused = await metric('proxy_protocol_refused_total');
  const c = await connectFrom(pp, '127.0.0.2');
  c.write(v1('198.51.100.7'));
  c.write(h.buildRequest({ port: pp, path: '/healthz' }));
  assert.equal((await c.closed()).length, 0);
  assert.equal(await metric('proxy_protocol_refused_total'), refused + 1);
  // the plain listener serves it, as itself: a PROXY header there is no header
  const p = await connectFrom(d.port, '127.0.0.2');
  p.write(v1('198.51.100.7'));
  assert.equal((await p.response()).status, 400);
  p.destroy();
  const s = await connectFrom(d.port, '127.0.0.2');
  assert.equal(await sessionAddress(s, d.port), '127.0.0.2');
  s.destroy();
});

test('X-Forwarded-For from the trusted peer names each request\'s client; counted while it is handled', { skip }, async () => {
  const xff = (client) => ({ 'X-Forwarded-For': `203.0.113.66, ${client}` });
  const c = await connectFrom(d.port);
  assert.equal(await sessionAddress(c, d.port, xff('198.51.100.30')), '198.51.100.30');
  // the same keep-alive connection, another client: each request its own
  assert.equal(await sessionAddress(c, d.port, xff('198.51.100.31')), '198.51.100.31');
  // two held long-polls of one client fill its slots; a third request is 503
  const held = [];
  for (let i = 0; i < LIMIT; i++) {
    const conn = await connectFrom(d.port);
    conn.write(h.buildRequest({ port: d.port, path: h.q(), headers: xff('198.51.100.32') }));
    const { sid } = JSON.parse((await conn.response()).text.slice(1));
    conn.write(h.buildRequest({ port: d.port, path: h.pollPath(sid), headers: xff('198.51.100.32') }));
    held.push({ conn, sid });
  }
  await h.barrier(d.port); // both long-polls are held by now
  const rejected = await metric('connections_rejected_per_ip_total');
  const third = await connectFrom(d.port);
  assert.equal(await healthz(third, d.port, xff('198.51.100.32')), 503);
  assert.equal(await metric('connections_rejected_per_ip_total'), rejected + 1);
  // the balancer's keep-alive connection carries others meanwhile
  assert.equal(await healthz(c, d.port, xff('198.51.100.33')), 200);
  // a request done gives its slot back, though its connection stays open
  const done = await connectFrom(d.port);
  for (const { sid } of held) {
    done.write(h.buildRequest({ method: 'POST', port: d.port, path: h.pollPath(sid), body: '4x' }));
    assert.equal((await done.response()).text, 'ok');
  }
  for (const { conn } of held) assert.equal((await conn.response()).status, 200, 'the long-poll answered');
  assert.equal(await healthz(done, d.port, xff('198.51.100.32')), 200, 'slots given back while connections idle');
  assert.equal(await healthz(done, d.port, xff('198.51.100.32')), 200);
  for (const x of [c, done, ...held.map((e) => e.conn)]) x.destroy();
});

test('X-Forwarded-For: 1500 bytes still name the rightmost client; a bad entry leaves the balancer', { skip }, async () => {
  const c = await connectFrom(d.port);
  const long = `${Array.from({ length: 150 }, (_, i) => `10.9.${i}.1`).join(', ')}, 198.51.100.40`;
  assert.ok(long.length > 1500);
  assert.equal(await sessionAddress(c, d.port, { 'X-Forwarded-For': long }), '198.51.100.40');
  const invalid = await metric('forwarded_for_invalid_total');
  assert.equal(await sessionAddress(c, d.port, { 'X-Forwarded-For': '198.51.100.41, unknown' }), '127.0.0.1');
  assert.equal(await metric('forwarded_for_invalid_total'), invalid + 2, 'handshake and CONNECT');
  c.destroy();
});

test('from an untrusted peer a forged X-Forwarded-For changes nothing, and is counted', { skip }, async () => {
  const ignored = await metric('forwarded_for_ignored_total');
  const c = await connectFrom(d.port, '127.0.0.2');
  assert.equal(await sessionAddress(c, d.port, { 'X-Forwarded-For': '198.51.100.50' }), '127.0.0.2');
  assert.equal(await metric('forwarded_for_ignored_total'), ignored + 2, 'handshake and CONNECT');
  // it is counted under its own address: two connections, then 503
  const more = [await connectFrom(d.port, '127.0.0.2')];
  assert.equal(await healthz(more[0], d.port, { 'X-Forwarded-For': '198.51.100.51' }), 200);
  const third = await connectFrom(d.port, '127.0.0.2');
  assert.equal(await healthz(third, d.port, { 'X-Forwarded-For': '198.51.100.52' }), 503);
  c.destroy();
  more[0].destroy();
});

/** A polling handshake on <conn> (kept alive): its status. */
async function handshake(conn, port, headers = {}) {
  conn.write(h.buildRequest({ port, path: h.q(), headers }));
  return (await conn.response()).status;
}

test('max_connections_per_ip bounds sessions per real client behind the balancer, XFF and PROXY', { skip }, async () => {
  // One keep-alive connection may ask for many sessions: they are counted
  // under the address http_client_address() gives, which must be the
  // client the balancer names, not the balancer (all of these come from
  // 127.0.0.1, so counted there the other client would be refused too).
  const sessionsRefused = await metric('sessions_rejected_per_ip_total');
  const connsRefused = await metric('connections_rejected_per_ip_total');

  // X-Forwarded-For: one balancer connection carries both clients
  const lb = await connectFrom(d.port);
  const xff = (client) => ({ 'X-Forwarded-For': client });
  for (let i = 0; i < LIMIT; i++) assert.equal(await handshake(lb, d.port, xff('198.51.100.60')), 200);
  assert.equal(await handshake(lb, d.port, xff('198.51.100.60')), 503, 'a session past the limit');
  assert.equal(await metric('sessions_rejected_per_ip_total'), sessionsRefused + 1);
  assert.equal(await handshake(lb, d.port, xff('198.51.100.61')), 200, 'another client behind the balancer');

  // PROXY protocol: one connection of one client, then another client's
  const a = await connectFrom(pp);
  a.write(v1('198.51.100.62'));
  for (let i = 0; i < LIMIT; i++) assert.equal(await handshake(a, pp), 200);
  assert.equal(await handshake(a, pp), 503, 'a session past the limit');
  assert.equal(await metric('sessions_rejected_per_ip_total'), sessionsRefused + 2);
  const b = await connectFrom(pp);
  b.write(v2('198.51.100.63'));
  assert.equal(await handshake(b, pp), 200, 'another client behind the balancer');

  // the session bound refused these, not the connection bound
  assert.equal(await metric('connections_rejected_per_ip_total'), connsRefused);
  for (const c of [lb, a, b]) c.destroy();
});

test('stops cleanly', { skip }, async () => {
  await d.stop();
});
