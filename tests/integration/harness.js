// harness.js - shared helpers for the roomcastd integration tests (not a test
// file itself). It starts a daemon on a free port with a config written to a
// fresh temp dir and waits for /healthz, and stop() checks that SIGTERM (or
// SIGINT) makes it exit 0 within 5 s. Around that: a raw HTTP client over
// `net` (exact bytes in, status/headers/body out, pending requests and
// pipelining), a raw RFC 6455 client over `net` (any opcode/fin/rsv, masked or
// not, fragmentation, close codes), Engine.IO helpers on top of both, the
// official engine.io-client, and /metrics, /proc fd count and VmRSS readers.
//
// Binaries: ROOMCAST_BIN (default build/roomcastd) and ROOMCAST_ECHO_BIN
// (default build/tests/roomcast-echo), relative to the repository root.
// ROOMCAST_TARGET=reference runs tests/integration/reference-echo.js (the Node
// reference server) instead; tests that only make sense for roomcastd check
// `REFERENCE` and skip. startDaemon({ sio: true }) starts roomcastd itself,
// or tests/integration/reference-sio.js (socket.io 4.8.1 with roomcastd's
// namespace/room/relay policy) in reference mode; `target` picks one for a
// single start, `raw` appends config text (namespace blocks). The sio*
// helpers wrap socket.io-client 4.8.1 and raw Socket.IO over polling/WS;
// trackedClients(), endTests() and friends are what the sio-*.test.js files
// (one shared daemon each) have in common. For the cluster-*.test.js files:
// startRedis() (a redis-server per test file, killable and restartable on
// its port), startClusterDaemon() (roomcastd, or reference-sio.js, on that
// Redis, once /healthz says redis up), startNodeCluster() (a Node socket.io
// server with the redis adapter, node-cluster-server.js, driven over IPC),
// redisEmitter() and startEmitterProcess() (@socket.io/redis-emitter in this
// process or in another one), and clusterFence() (an emit to everyone that
// every client must see before "did not receive" is asserted).
'use strict';

const { test, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
const REFERENCE = process.env.ROOMCAST_TARGET === 'reference';
const BIN = path.resolve(REPO, process.env.ROOMCAST_BIN || 'build/roomcastd');
const ECHO_BIN = path.resolve(REPO, process.env.ROOMCAST_ECHO_BIN || 'build/tests/roomcast-echo');
const REFERENCE_SCRIPT = path.join(__dirname, 'reference-echo.js');
const REFERENCE_SIO_SCRIPT = path.join(__dirname, 'reference-sio.js');
const EIO_PATH = '/socket.io/';
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const DEFAULT_WAIT = 10000; // only a guard against hanging; never asserted

// ---------------------------------------------------------------- utilities

/** Printable form of bytes for assertion messages: \r\n, \xNN like the vectors. */
function show(buf) {
  if (typeof buf === 'string') buf = Buffer.from(buf);
  let s = '';
  for (const b of buf.subarray(0, 600)) {
    if (b === 0x0d) s += '\\r';
    else if (b === 0x0a) s += '\\n';
    else if (b === 0x5c) s += '\\\\';
    else if (b >= 0x20 && b < 0x7f) s += String.fromCharCode(b);
    else s += '\\x' + b.toString(16).padStart(2, '0');
  }
  if (buf.length > 600) s += `... (${buf.length} bytes)`;
  return s;
}

/**
 * Polls fn() (sync or async) until it returns a truthy value; short retries,
 * used to wait for an event the server gives no push notification for.
 */
async function waitFor(fn, { timeout = DEFAULT_WAIT, interval = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      if (e && e.fatal) throw e;
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** Resolves with the event's first argument; rejects on any `failOn` event. */
function once(emitter, event, { failOn = [], timeout = DEFAULT_WAIT } = {}) {
  return new Promise((resolve, reject) => {
    const cleanups = [];
    const done = (fn, v) => { cleanups.forEach((c) => c()); fn(v); };
    const on = (ev, h) => { emitter.on(ev, h); cleanups.push(() => emitter.off(ev, h)); };
    on(event, (v) => done(resolve, v));
    for (const ev of failOn) on(ev, (v) => done(reject, new Error(`got "${ev}" (${v && v.message ? v.message : v}) while waiting for "${event}"`)));
    const t = setTimeout(() => done(reject, new Error(`timed out waiting for "${event}"`)), timeout);
    cleanups.push(() => clearTimeout(t));
  });
}

function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ----------------------------------------------------------- raw HTTP client

/**
 * One TCP connection with a byte buffer. Everything received is kept in
 * `this.buf` until a reader consumes it.
 */
class RawConn {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.total = Buffer.alloc(0); // everything ever received
    this.ended = false;
    this.error = null;
    this._wake = [];
    sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.total = Buffer.concat([this.total, d]);
      this._notify();
    });
    sock.on('error', (e) => { this.error = e; });
    sock.on('close', () => { this.ended = true; this._notify(); });
    this.closedPromise = new Promise((r) => sock.once('close', r));
  }

  /** `localAddress`: the address to connect from (127.0.0.2: another client). */
  static connect(port, host = '127.0.0.1', localAddress = undefined) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port, host, localAddress });
      sock.once('connect', () => { sock.removeListener('error', reject); resolve(new RawConn(sock)); });
      sock.once('error', reject);
    });
  }

  _notify() {
    const w = this._wake;
    this._wake = [];
    w.forEach((f) => f());
  }

  write(bytes) {
    if (!this.sock.destroyed) this.sock.write(bytes);
  }

  /**
   * Waits until parse(this.buf) returns a result {value, used}; consumes
   * `used` bytes. Rejects if the connection closes first.
   */
  async read(parse, { timeout = DEFAULT_WAIT, what = 'data' } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const r = parse(this.buf, this.ended);
      if (r) {
        this.buf = this.buf.subarray(r.used);
        return r.value;
      }
      if (this.ended) {
        throw new Error(`connection closed while waiting for ${what}; unread bytes: "${show(this.buf)}"`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; unread bytes: "${show(this.buf)}"`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this._wake.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  /** Next HTTP response. `head: true` for a HEAD request or a 101 (no body). */
  response(opts = {}) {
    return this.read((buf, ended) => parseResponse(buf, ended, opts), { what: 'an HTTP response', ...opts });
  }

  /** Resolves when the peer has closed (or reset) the connection; returns unread bytes. */
  async closed({ timeout = DEFAULT_WAIT } = {}) {
    let t;
    await Promise.race([
      this.closedPromise,
      new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`connection not closed by the server; unread bytes: "${show(this.buf)}"`)), timeout); }),
    ]);
    clearTimeout(t);
    return this.buf;
  }

  end() { this.sock.end(); }

  destroy() { this.sock.destroy(); }
}

/** Parses one HTTP/1.1 response at the start of buf; undefined if incomplete. */
function parseResponse(buf, ended, { head = false } = {}) {
  const hend = buf.indexOf('\r\n\r\n');
  if (hend < 0) return undefined;
  const headText = buf.subarray(0, hend).toString('latin1');
  const [statusLine, ...lines] = headText.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!m) throw new Error(`bad status line: "${show(statusLine)}"`);
  const status = Number(m[1]);
  const headers = {};
  const rawHeaders = [];
  for (const l of lines) {
    const i = l.indexOf(':');
    const name = l.slice(0, i).trim();
    const value = l.slice(i + 1).trim();
    rawHeaders.push([name, value]);
    const k = name.toLowerCase();
    headers[k] = k in headers ? `${headers[k]}, ${value}` : value;
  }
  let pos = hend + 4;
  let body;
  if (head || status === 101 || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    body = Buffer.alloc(0);
  } else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
    const parts = [];
    for (;;) {
      const le = buf.indexOf('\r\n', pos);
      if (le < 0) return undefined;
      const size = parseInt(buf.subarray(pos, le).toString('latin1'), 16);
      if (Number.isNaN(size)) throw new Error(`bad chunk size in "${show(buf)}"`);
      if (buf.length < le + 2 + size + 2) return undefined;
      parts.push(buf.subarray(le + 2, le + 2 + size));
      pos = le + 2 + size + 2;
      if (size === 0) break;
    }
    body = Buffer.concat(parts);
  } else if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    if (buf.length < pos + n) return undefined;
    body = buf.subarray(pos, pos + n);
    pos += n;
  } else {
    // no framing: the body runs until the server closes the connection
    if (!ended) return undefined;
    body = buf.subarray(pos);
    pos = buf.length;
  }
  const value = {
    status, reason: m[2] || '', statusLine, headers, rawHeaders,
    body: Buffer.from(body), text: body.toString('utf8'), raw: Buffer.from(buf.subarray(0, pos)),
  };
  return { value, used: pos };
}

/** Builds the exact bytes of a request. */
function buildRequest({ method = 'GET', path: p = '/', headers = {}, body, port = 0 }) {
  let s = `${method} ${p} HTTP/1.1\r\n`;
  const names = Object.keys(headers).map((h) => h.toLowerCase());
  if (!names.includes('host')) s += `Host: 127.0.0.1:${port}\r\n`;
  for (const [k, v] of Object.entries(headers)) s += `${k}: ${v}\r\n`;
  const b = body === undefined ? undefined : Buffer.from(body);
  if (b && !names.includes('content-length')) s += `Content-Length: ${b.length}\r\n`;
  s += '\r\n';
  return b ? Buffer.concat([Buffer.from(s, 'latin1'), b]) : Buffer.from(s, 'latin1');
}

/** One request on a fresh connection (Connection: close unless given). */
async function request(port, opts = {}) {
  const conn = await RawConn.connect(port, opts.host);
  try {
    const headers = { Connection: 'close', ...(opts.headers || {}) };
    conn.write(opts.raw ? Buffer.from(opts.raw) : buildRequest({ ...opts, headers, port }));
    const res = await conn.response({ head: opts.method === 'HEAD' });
    // waitClose: the server must close after answering Connection: close
    if (opts.waitClose) await conn.closed();
    return res;
  } finally {
    conn.destroy();
  }
}

// ------------------------------------------------------ raw WebSocket client

function wsAccept(key) {
  return crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
}

/** Encodes one frame. The client masks by default (RFC 6455 5.3). */
function encodeFrame({ opcode = 1, payload = Buffer.alloc(0), fin = true, rsv = 0, mask = true, maskKey, lengthForm }) {
  payload = Buffer.from(payload);
  const len = payload.length;
  const head = [(fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f)];
  const mbit = mask ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  const form = lengthForm || (len < 126 ? 7 : len < 65536 ? 16 : 64);
  if (form === 7) head.push(mbit | len);
  else if (form === 16) { head.push(mbit | 126); ext = Buffer.alloc(2); ext.writeUInt16BE(len); }
  else { head.push(mbit | 127); ext = Buffer.alloc(8); ext.writeBigUInt64BE(BigInt(len)); }
  if (!mask) return Buffer.concat([Buffer.from(head), ext, payload]);
  const key = maskKey ? Buffer.from(maskKey) : crypto.randomBytes(4);
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = payload[i] ^ key[i & 3];
  return Buffer.concat([Buffer.from(head), ext, key, masked]);
}

/** Parses one (server) frame at the start of buf. */
function parseFrame(buf) {
  if (buf.length < 2) return undefined;
  const fin = (buf[0] & 0x80) !== 0;
  const rsv = (buf[0] >> 4) & 7;
  const opcode = buf[0] & 0x0f;
  const masked = (buf[1] & 0x80) !== 0;
  let len = buf[1] & 0x7f;
  let pos = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2); pos = 4;
  } else if (len === 127) {
    if (buf.length < 10) return undefined;
    len = Number(buf.readBigUInt64BE(2)); pos = 10;
  }
  let key;
  if (masked) {
    if (buf.length < pos + 4) return undefined;
    key = buf.subarray(pos, pos + 4); pos += 4;
  }
  if (buf.length < pos + len) return undefined;
  let payload = Buffer.from(buf.subarray(pos, pos + len));
  if (masked) for (let i = 0; i < len; i++) payload[i] ^= key[i & 3];
  const frame = { fin, rsv, opcode, masked, payload, raw: Buffer.from(buf.subarray(0, pos + len)) };
  if (opcode === 8) {
    frame.code = len >= 2 ? payload.readUInt16BE(0) : undefined;
    frame.reason = len > 2 ? payload.subarray(2).toString('utf8') : '';
  }
  if (opcode === 1) frame.text = payload.toString('utf8');
  return { value: frame, used: pos + len };
}

class WsConn {
  constructor(conn, handshake) {
    this.conn = conn;
    this.handshake = handshake; // the parsed HTTP response to the upgrade
  }

  /**
   * Opens a TCP connection and sends an Upgrade request for `p`. Resolves with
   * a WsConn whatever the answer; check `ws.handshake.status`.
   */
  static async connect(port, p, { headers = {}, key = 'dGhlIHNhbXBsZSBub25jZQ==', host, localAddress } = {}) {
    const conn = await RawConn.connect(port, host, localAddress);
    conn.write(buildRequest({
      path: p, port,
      headers: { Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': '13', ...headers },
    }));
    const res = await conn.response({ head: false });
    const ws = new WsConn(conn, res);
    ws.expectedAccept = wsAccept(key);
    return ws;
  }

  get ok() { return this.handshake.status === 101; }

  send(opts) { this.conn.write(encodeFrame(opts)); }
  sendText(s, opts = {}) { this.send({ opcode: 1, payload: Buffer.from(s), ...opts }); }
  sendBinary(b, opts = {}) { this.send({ opcode: 2, payload: b, ...opts }); }
  sendClose(code, reason = '') {
    let payload = Buffer.alloc(0);
    if (code !== undefined) {
      payload = Buffer.alloc(2 + Buffer.byteLength(reason));
      payload.writeUInt16BE(code);
      payload.write(reason, 2);
    }
    this.send({ opcode: 8, payload });
  }

  frame(opts = {}) { return this.conn.read((buf) => parseFrame(buf), { what: 'a WebSocket frame', ...opts }); }

  /** Next text frame's payload as a string (asserts it is a text frame). */
  async text() {
    const f = await this.frame();
    assert.equal(f.opcode, 1, `expected a text frame, got opcode ${f.opcode} "${show(f.raw)}"`);
    return f.text;
  }

  closed(opts) { return this.conn.closed(opts); }
  destroy() { this.conn.destroy(); }
}

// ----------------------------------------------------------- Engine.IO helpers

const q = (extra = '') => `${EIO_PATH}?EIO=4&transport=polling${extra}`;
const pollPath = (sid, t = crypto.randomBytes(3).toString('hex')) => q(`&t=${t}&sid=${sid}`);

const JSON_ERR = {
  0: '{"code":0,"message":"Transport unknown"}',
  1: '{"code":1,"message":"Session ID unknown"}',
  2: '{"code":2,"message":"Bad handshake method"}',
  3: '{"code":3,"message":"Bad request"}',
  5: '{"code":5,"message":"Unsupported protocol version"}',
};

/** Asserts an Engine.IO JSON error answer: 400, application/json, exact body. */
function assertEioError(res, code, ctx = '') {
  assert.equal(res.status, 400, `${ctx} status; got "${show(res.raw)}"`);
  assert.equal(res.headers['content-type'], 'application/json', `${ctx} content-type; got "${show(res.raw)}"`);
  assert.equal(res.text, JSON_ERR[code], `${ctx} body`);
}

/** Asserts a polling GET answer carrying `payload`. */
function assertPollBody(res, payload, ctx = '') {
  assert.equal(res.status, 200, `${ctx} status; got "${show(res.raw)}"`);
  assert.equal(res.headers['content-type'], 'text/plain; charset=UTF-8', `${ctx} content-type`);
  assert.equal(res.text, payload, `${ctx} body`);
}

/** Asserts a POST answer `ok`. */
function assertPostOk(res, ctx = '') {
  assert.equal(res.status, 200, `${ctx} status; got "${show(res.raw)}"`);
  assert.equal(res.headers['content-type'], 'text/html', `${ctx} content-type`);
  assert.equal(res.text, 'ok', `${ctx} body`);
}

/** Polling handshake; returns {sid, open (parsed JSON), res}. */
async function handshake(port, extraHeaders = {}) {
  const res = await request(port, { path: q('&t=Pabc123'), headers: extraHeaders });
  assert.equal(res.status, 200, `handshake status; got "${show(res.raw)}"`);
  assert.equal(res.headers['content-type'], 'text/plain; charset=UTF-8');
  assert.equal(res.text[0], '0', `open packet expected, got "${show(res.body)}"`);
  const open = JSON.parse(res.text.slice(1));
  assert.match(open.sid, /^[A-Za-z0-9_-]{20}$/);
  return { sid: open.sid, open, res };
}

const poll = (port, sid, headers) => request(port, { path: pollPath(sid), headers });
const post = (port, sid, body, headers = {}) =>
  request(port, { method: 'POST', path: pollPath(sid), headers: { 'Content-Type': 'text/plain;charset=UTF-8', ...headers }, body });

/** POSTs `body` (answered ok); the next GET must carry exactly `payload`. */
async function postPoll(port, sid, body, payload, ctx = '') {
  assertPostOk(await post(port, sid, body));
  assertPollBody(await poll(port, sid), payload, ctx);
}

/**
 * Sends a GET on its own connection and returns {conn, response} where
 * response is a promise for the answer. Call barrier() before relying on the
 * server having registered it.
 */
async function pendingGet(port, sid) {
  const conn = await RawConn.connect(port);
  conn.write(buildRequest({ path: pollPath(sid), port, headers: { Connection: 'close' } }));
  const response = conn.response();
  response.catch(() => {});
  return { conn, response };
}

/**
 * A full request/response round trip on a new connection. Bytes written on
 * other connections before the call are read by the server before it reads
 * this request (loopback delivers on write; the event loop reads ready
 * connections in turn), so after barrier() resolves an earlier pending GET or
 * partial POST has been seen.
 */
async function barrier(port) {
  const res = await request(port, { path: '/healthz' });
  assert.equal(res.status, 200);
}

/** Waits until `sid` answers code 1 (session gone); probes without side effects. */
async function waitSessionGone(port, sid, { websocket = false } = {}) {
  await waitFor(async () => {
    // a websocket session answers a polling GET with code 3 while it lives;
    // a polling session answers a POST of a lone pong "3" (ignored) with ok
    const res = websocket ? await poll(port, sid) : await post(port, sid, '3');
    return res.status === 400 && res.text === JSON_ERR[1];
  }, { what: `session ${sid} to be gone` });
}

/** WebSocket-only session: returns {ws, sid, open}. */
async function wsSession(port, { headers, localAddress } = {}) {
  const ws = await WsConn.connect(port, `${EIO_PATH}?EIO=4&transport=websocket`, { headers, localAddress });
  assert.equal(ws.handshake.status, 101, `expected 101, got "${show(ws.handshake.raw)}"`);
  assert.equal(ws.handshake.headers['sec-websocket-accept'], ws.expectedAccept);
  const t = await ws.text();
  assert.equal(t[0], '0', `open packet expected, got "${t}"`);
  const open = JSON.parse(t.slice(1));
  return { ws, sid: open.sid, open };
}

// --------------------------------------------------------- engine.io-client

function eioClient(port, opts = {}) {
  const { Socket } = require(path.join(__dirname, '..', 'node_modules', 'engine.io-client'));
  return new Socket(`http://127.0.0.1:${port}`, { path: EIO_PATH, ...opts });
}

// ---------------------------------------------------------------- Socket.IO

function sioModule() {
  return require(path.join(__dirname, '..', 'node_modules', 'socket.io-client'));
}

/**
 * An official socket.io-client socket for namespace `nsp` on its own engine
 * session (forceNew, no reconnection); it starts connecting at once.
 * opts: transports, auth, and any other client option.
 */
function sioClient(port, nsp = '/', opts = {}) {
  return sioModule().io(`http://127.0.0.1:${port}${nsp}`, { path: EIO_PATH, forceNew: true, reconnection: false, ...opts });
}

/** sioClient() once connected; rejects with the connect_error (socket closed). */
async function sioConnect(port, nsp = '/', opts = {}) {
  const s = sioClient(port, nsp, opts);
  try {
    await once(s, 'connect', { failOn: ['connect_error'] });
  } catch (e) {
    s.disconnect();
    throw e;
  }
  return s;
}

/** A Manager (one engine session) for several namespaces: m.socket(nsp, {auth}). */
function sioManager(port, opts = {}) {
  const { Manager } = sioModule();
  return new Manager(`http://127.0.0.1:${port}`, { path: EIO_PATH, reconnection: false, ...opts });
}

/** Resolves once s is connected; rejects with the connect_error. */
async function sioConnected(s) {
  if (!s.connected) await once(s, 'connect', { failOn: ['connect_error'] });
  return s;
}

/** Resolves with the connect_error (an Error) s gets; rejects on connect. */
function sioConnectError(s) {
  return once(s, 'connect_error', { failOn: ['connect'] });
}

/**
 * JSON-comparable form of event arguments: binary (Buffer, ArrayBuffer,
 * typed arrays) becomes {$bin: hex}, recursively, as in the vectors.
 */
function sioNormalize(v) {
  if (Buffer.isBuffer(v)) return { $bin: v.toString('hex') };
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString('hex') };
  if (ArrayBuffer.isView(v)) return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') };
  if (Array.isArray(v)) return v.map(sioNormalize);
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = sioNormalize(x);
    return o;
  }
  return v;
}

/**
 * Records every event a socket receives as [name, ...normalized args]
 * (onAny: reserved events such as connect/disconnect are not included).
 */
function sioRecord(s) {
  const got = [];
  s.onAny((ev, ...args) => got.push(sioNormalize([ev, ...args])));
  return got;
}

/**
 * Emits ev with args and an ack callback; resolves with the array of ack
 * arguments (so an ack with no arguments gives []). The client-side timeout
 * is only a guard against hanging (rejects with socket.io's timeout error).
 */
function sioAck(s, ev, ...args) {
  return new Promise((resolve, reject) => {
    s.timeout(DEFAULT_WAIT).emit(ev, ...args, (err, ...ackArgs) => (err ? reject(err) : resolve(ackArgs.map(sioNormalize))));
  });
}

/**
 * Round trip through the server that changes nothing: a join of "" (acked
 * "invalid room name"). The server handles a socket's packets in order and
 * queues its output in order, so once this resolves every event the server
 * relayed to `s` before it handled the fence has been received, and every
 * packet `s` sent before has been handled.
 */
async function sioFence(s, joinEvent = 'join') {
  assert.deepEqual(await sioAck(s, joinEvent, ''), ['invalid room name'], 'fence (join "") answer');
}

const SIO_CONNECT_REPLY = /^40(\/[^,]*,)?\{"sid":"([A-Za-z0-9_-]{20})"\}$/;

/**
 * Raw polling session with a Socket.IO socket on `nsp`: handshake, POST the
 * CONNECT (with `auth` if given), GET the reply and check it is exactly
 * `40[/nsp,]{"sid":"<20 chars>"}`. Returns {sid, socketId}.
 */
async function sioPolling(port, { nsp = '/', auth } = {}) {
  const { sid } = await handshake(port);
  const prefix = nsp === '/' ? '' : `${nsp},`;
  assertPostOk(await post(port, sid, `40${prefix}${auth ? JSON.stringify(auth) : ''}`), 'CONNECT POST');
  const res = await poll(port, sid);
  assert.equal(res.status, 200, `CONNECT reply: "${show(res.raw)}"`);
  const m = SIO_CONNECT_REPLY.exec(res.text);
  assert.ok(m && (m[1] || '') === prefix, `CONNECT reply for ${nsp}: got "${show(res.body)}"`);
  return { sid, socketId: m[2] };
}

/** Raw WebSocket-only session with a Socket.IO socket on `nsp`: {ws, sid, socketId}. */
async function sioWs(port, { nsp = '/', auth } = {}) {
  const { ws, sid } = await wsSession(port);
  const prefix = nsp === '/' ? '' : `${nsp},`;
  ws.sendText(`40${prefix}${auth ? JSON.stringify(auth) : ''}`);
  const t = await ws.text();
  const m = SIO_CONNECT_REPLY.exec(t);
  assert.ok(m && (m[1] || '') === prefix, `CONNECT reply for ${nsp}: got "${show(t)}"`);
  return { ws, sid, socketId: m[2] };
}

/** A raw WebSocket Socket.IO client on <nsp> that joined <room> (its join acked "ok"). */
async function sioRoomMember(port, { nsp = '/', room = 'r' } = {}) {
  const c = await sioWs(port, { nsp });
  const prefix = nsp === '/' ? '' : `${nsp},`;
  c.ws.sendText(`42${prefix}1["join",${JSON.stringify(room)}]`);
  assert.equal(await c.ws.text(), `43${prefix}1["ok"]`);
  return c;
}

// ------------------------------------------------------- sio test files

/**
 * The official clients a test file opens: add them to the returned Set and
 * every one still there is disconnected after each test (so a failed test
 * leaves none behind) and by endTests().
 */
function trackedClients() {
  const open = new Set();
  afterEach(() => {
    for (const s of open) s.disconnect();
    open.clear();
  });
  return open;
}

/**
 * An official client with one transport on `nsp`, added to `open`,
 * connected, recording every event it receives in s.got (sioRecord).
 */
async function sioRecorded(open, port, transport = 'websocket', nsp = '/', opts = {}) {
  const s = sioClient(port, nsp, { transports: [transport], ...opts });
  open.add(s);
  await sioConnected(s);
  s.got = sioRecord(s);
  return s;
}

/** Joins every room of `rooms` (each acked "ok"). */
async function sioJoinAll(s, rooms) {
  for (const r of rooms) assert.deepEqual(await sioAck(s, 'join', r), ['ok'], `join ${r}`);
}

/** Namespace blocks for `names` where any room may be joined and events are relayed. */
const openNamespaces = (...names) => names.map((n) => `
namespace ${n} {
    client_join           *
    relay                 yes
}`).join('') + '\n';

/**
 * The tests a file that shares one daemon (daemon() returns it) ends with:
 * unless idle is false, once `clients` (official clients, or a function
 * returning them, disconnected here; a Set is cleared too) are gone the daemon reports
 * roomcast_sessions_current 0 (test `idleName`); then SIGTERM makes it exit 0.
 */
function endTests(daemon, { clients = [], idle = true, idleName = 'after every client closed, roomcast_sessions_current returns to 0' } = {}) {
  if (idle) {
    test(idleName, async () => {
      const list = typeof clients === 'function' ? clients() : clients;
      for (const s of list) s.disconnect();
      if (list instanceof Set) list.clear();
      const m = await daemon().waitIdle();
      assert.equal(m.roomcast_sessions_current, 0);
    });
  }
  test('SIGTERM: daemon exits 0', async () => {
    await daemon().stop('SIGTERM');
  });
}

// ------------------------------------------------------------------ daemon

/** Parses Prometheus text into {name(with labels): Number}. */
function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^(\S+)\s+(\S+)/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

function writeConfig(dir, port, config, raw) {
  let text;
  if (typeof config === 'string') {
    text = config.replaceAll('{PORT}', String(port)).replaceAll('{DIR}', dir);
  } else {
    // drain_timeout 0ms: SIGTERM closes every session at once, as the tests
    // that stop a daemon with clients on it expect (drain.test.js sets its own)
    const c = { listen: `127.0.0.1:${port}`, path: EIO_PATH, log_level: 'info', drain_timeout: '0ms', ...config };
    text = '# written by tests/integration/harness.js\n';
    for (const [k, v] of Object.entries(c)) {
      if (v === undefined || v === null) continue;
      for (const one of Array.isArray(v) ? v : [v]) text += `${k} ${one}\n`;
    }
  }
  // raw: literal text appended (namespace blocks), with the same placeholders
  if (raw) text += `${text.endsWith('\n') ? '' : '\n'}${raw.replaceAll('{PORT}', String(port)).replaceAll('{DIR}', dir)}\n`;
  const file = path.join(dir, 'roomcast.conf');
  fs.writeFileSync(file, text);
  return file;
}

// Daemons still running when this test process ends (a cancelled test, a
// crash, a signal from the runner) are killed so none outlives its file:
// with SIGKILL, or with the child's exitSignal where a SIGKILL would leave
// its own children behind (nginx's master: its workers live on).
const running = new Set();
function killRunning() {
  for (const child of running) {
    try { child.kill(child.exitSignal || 'SIGKILL'); } catch (e) { /* already gone */ }
  }
  running.clear();
}

/** Kills <child> with the daemons if this test process ends first (see killRunning). */
function track(child) {
  running.add(child);
  child.on('exit', () => running.delete(child));
  return child;
}

/**
 * Stops <child> the way its manual says: <signal>, then waits for it to
 * exit (and with it the processes it owns), SIGKILL after <timeout> ms.
 * Resolves with its exit code, or null if it was already gone.
 */
async function stopChild(child, signal, { timeout = 10000 } = {}) {
  if (child.exitCode !== null || child.signalCode !== null) return null;
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill(signal);
  let t;
  const code = await Promise.race([exited, new Promise((resolve) => { t = setTimeout(() => resolve(undefined), timeout); })]);
  clearTimeout(t);
  if (code === undefined) {
    child.kill('SIGKILL');
    return exited;
  }
  return code;
}
process.on('exit', killRunning);
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.once(sig, () => { killRunning(); process.kill(process.pid, sig); });
}

/**
 * Command line for a binary, honouring ROOMCAST_TARGET=reference. With sio
 * the reference is reference-sio.js (the Socket.IO policy) instead of
 * reference-echo.js; target ('reference' or 'roomcastd') overrides the
 * environment for one start (the differential test runs both).
 */
function command(echo, args, { sio = false, target } = {}) {
  const reference = target ? target === 'reference' : REFERENCE;
  if (reference) return [process.execPath, [sio ? REFERENCE_SIO_SCRIPT : REFERENCE_SCRIPT, ...args]];
  return [echo && !sio ? ECHO_BIN : BIN, args];
}

/** Runs the binary to completion (for -t, --version, -h); env replaces the environment. */
function runOnce(args, { echo = false, timeout = 10000, env = process.env } = {}) {
  const [cmd, argv] = command(echo, args);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${cmd} ${argv.join(' ')} did not exit`)); }, timeout);
    child.on('error', reject);
    child.on('exit', (code, signal) => { clearTimeout(t); resolve({ code, signal, stdout, stderr }); });
  });
}

/**
 * Starts the daemon. Options: echo (default true: roomcast-echo), config
 * (object of key -> value or array of values, merged over listen/path/
 * log_level; or a full config string with {PORT} and {DIR} placeholders),
 * port (default: a free one), raw (literal text appended to the config
 * file, e.g. namespace blocks), sio (true: roomcastd itself, or
 * reference-sio.js in reference mode; implies echo false), target
 * ('reference' or 'roomcastd': overrides ROOMCAST_TARGET for this start).
 */
async function startDaemon({ echo = true, config = {}, port, raw, sio = false, target, env } = {}) {
  port = port || await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-it-'));
  const configFile = writeConfig(dir, port, config, raw);
  const [cmd, argv] = command(echo, ['-c', configFile], { sio, target });
  const reference = target ? target === 'reference' : REFERENCE;
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: env ? { ...process.env, ...env } : process.env });
  running.add(child);
  child.on('exit', () => running.delete(child));
  const d = {
    port, dir, configFile, child, pid: child.pid, exit: null, stderrText: '', stdoutText: '', reference,
    stderr() { return d.stderrText; },
  };
  child.stdout.on('data', (x) => { d.stdoutText += x; });
  child.stderr.on('data', (x) => { d.stderrText += x; });
  d.exited = new Promise((resolve) => child.on('exit', (code, signal) => { d.exit = { code, signal }; resolve(d.exit); }));
  child.on('error', (e) => { d.exit = { code: null, signal: null, error: e }; });

  d.metrics = async () => {
    const res = await request(port, { path: '/metrics', waitClose: true });
    assert.equal(res.status, 200, `/metrics: "${show(res.raw)}"`);
    return parseMetrics(res.text);
  };
  // an ASan build keeps freed memory in quarantine: RSS comparisons mean nothing there
  d.sanitized = !reference && fs.readFileSync(cmd).includes('AddressSanitizer');
  d.fdCount = () => fs.readdirSync(`/proc/${d.pid}/fd`).length;
  d.rssKiB = () => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${d.pid}/status`, 'utf8'))[1]);
  /** Waits until the daemon reports no session and no connection but the scrape's own. */
  d.waitIdle = async () => {
    let last;
    try {
      return await waitFor(async () => {
        last = await d.metrics();
        return last.roomcast_sessions_current === 0 && last.roomcast_connections_current <= 1 ? last : false;
      }, { what: 'roomcast_sessions_current 0 and roomcast_connections_current 0 (+ the scrape)' });
    } catch (e) {
      throw new Error(`${e.message}; last metrics ${JSON.stringify(last)}`);
    }
  };
  /** Sends `signal`, asserts exit 0 within 5 s; returns stderr. */
  d.stop = async (signal = 'SIGTERM') => {
    if (d.exit) assert.fail(`daemon already exited ${JSON.stringify(d.exit)}; stderr:\n${d.stderrText}`);
    child.kill(signal);
    let t;
    const res = await Promise.race([d.exited, new Promise((r) => { t = setTimeout(() => r(null), 5000); })]);
    clearTimeout(t);
    if (!res) {
      child.kill('SIGKILL');
      assert.fail(`daemon did not exit within 5 s of ${signal}; stderr:\n${d.stderrText}`);
    }
    assert.deepEqual(res, { code: 0, signal: null }, `exit after ${signal}; stderr:\n${d.stderrText}`);
    return d.stderrText;
  };
  /** Cleanup for after(): kills the daemon if a test left it running. */
  d.kill = () => {
    if (!d.exit) child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  };

  // wait for /healthz 200 (short retries), failing fast if the process exits
  await waitFor(async () => {
    if (d.exit) throw Object.assign(new Error(`daemon exited ${JSON.stringify(d.exit)}; stderr:\n${d.stderrText}`), { fatal: true });
    const res = await request(port, { path: '/healthz' });
    return res.status === 200;
  }, { what: `/healthz on port ${port} (${cmd})`, interval: 25 }).catch((e) => {
    child.kill('SIGKILL');
    throw new Error(`${e.message}; stderr:\n${d.stderrText}`);
  });
  return d;
}


// ------------------------------------------------------------------ cluster

const NODE_CLUSTER_SCRIPT = path.join(__dirname, 'node-cluster-server.js');

function redisModule() {
  return require(path.join(__dirname, '..', 'node_modules', 'redis'));
}

/** Resolves true once something answers a Redis PING on port (+PONG, or -NOAUTH with a password). */
async function redisAnswers(port) {
  let conn;
  try {
    conn = await RawConn.connect(port);
    conn.write('PING\r\n');
    const line = await conn.read((buf) => {
      const i = buf.indexOf('\r\n');
      return i < 0 ? undefined : { value: buf.subarray(0, i).toString(), used: i + 2 };
    }, { timeout: 2000, what: 'a PING answer' });
    return line === '+PONG' || line.startsWith('-NOAUTH');
  } catch (e) {
    return false;
  } finally {
    if (conn) conn.destroy();
  }
}

/**
 * Starts /usr/bin/redis-server (REDIS_SERVER overrides) on a free port with
 * no persistence, bound to 127.0.0.1; options: password (requirepass),
 * unixsocket (true: a socket file in a temp dir). Resolves once it answers
 * PING. Returns r: port, addr (127.0.0.1:PORT, the `redis` config value),
 * unixPath, url (redis://[:password@]127.0.0.1:PORT), kill() (SIGKILL,
 * resolves at exit), restart() (same port and options, resolves once it
 * answers), client() (a connected node-redis client, closed by r.close()),
 * close() for after(): closes the clients, stops the server (SIGTERM).
 */
async function startRedis({ password, unixsocket = false } = {}) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-redis-'));
  const unixPath = unixsocket ? path.join(dir, 'redis.sock') : null;
  const args = ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', '--dir', dir];
  if (password) args.push('--requirepass', password);
  if (unixPath) args.push('--unixsocket', unixPath, '--unixsocketperm', '700');
  const clients = new Set();
  const r = {
    port, host: '127.0.0.1', addr: `127.0.0.1:${port}`, unixPath, password, dir,
    url: `redis://${password ? `:${encodeURIComponent(password)}@` : ''}127.0.0.1:${port}`,
    child: null, exited: null, output: '',
  };
  const alive = (c) => c && c.exitCode === null && c.signalCode === null;
  r.start = async () => {
    if (alive(r.child)) throw new Error(`redis-server on port ${port} is already running`);
    const child = spawn(process.env.REDIS_SERVER || '/usr/bin/redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    r.child = child;
    running.add(child);
    child.stdout.on('data', (x) => { r.output += x; });
    child.stderr.on('data', (x) => { r.output += x; });
    r.exited = new Promise((resolve) => child.on('exit', (code, signal) => { running.delete(child); resolve({ code, signal }); }));
    let exit = null;
    r.exited.then((e) => { exit = e; });
    await waitFor(async () => {
      if (exit) throw Object.assign(new Error(`redis-server exited ${JSON.stringify(exit)}: ${r.output}`), { fatal: true });
      return redisAnswers(port);
    }, { what: `redis-server on port ${port}`, interval: 25 });
  };
  r.kill = async () => {
    if (alive(r.child)) r.child.kill('SIGKILL');
    await r.exited;
  };
  r.restart = async () => {
    await r.kill();
    await r.start();
  };
  r.client = async () => {
    const c = redisModule().createClient({ url: r.url });
    c.on('error', () => {});
    await c.connect();
    clients.add(c);
    return c;
  };
  r.close = async () => {
    for (const c of clients) await c.disconnect().catch(() => {});
    clients.clear();
    // a shutdown as redis-server's manual says (kill() is the outage)
    if (alive(r.child)) await stopChild(r.child, 'SIGTERM');
    await r.exited;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  await r.start();
  return r;
}

/**
 * An @socket.io/redis-emitter 5.1.0 Emitter in this process on its own
 * node-redis client (opts: key, and whatever Emitter takes). Returns
 * { emitter, client, sync }: sync() resolves once Redis has handled every
 * command this client sent before (a PING round trip on the same
 * connection), so what was published has been handed to every subscriber.
 */
async function redisEmitter(r, opts = {}) {
  const { Emitter } = require(path.join(__dirname, '..', 'node_modules', '@socket.io', 'redis-emitter'));
  const client = await r.client();
  return { emitter: new Emitter(client, opts), client, sync: () => client.ping() };
}

/** GET /healthz: {status, text}. */
async function healthz(port) {
  const res = await request(port, { path: '/healthz' });
  return { status: res.status, text: res.text };
}

/** Waits until /healthz on d.port answers 200 `ok\nredis up\n` (want 'up') or `ok\nredis down\n`. */
async function waitRedis(d, want = 'up', { timeout = DEFAULT_WAIT } = {}) {
  let last;
  try {
    await waitFor(async () => {
      if (d.exit) throw Object.assign(new Error(`daemon exited ${JSON.stringify(d.exit)}; stderr:\n${d.stderr()}`), { fatal: true });
      last = await healthz(d.port);
      return last.status === 200 && last.text === `ok\nredis ${want}\n`;
    }, { timeout, what: `/healthz "redis ${want}" on port ${d.port}` });
  } catch (e) {
    throw new Error(`${e.message}; last answer ${JSON.stringify(last)}`);
  }
}

/**
 * startDaemon({ sio: true }) on Redis r (config key `redis` set to r.addr,
 * merged under opts.config), resolved once its /healthz says redis up.
 */
async function startClusterDaemon(r, opts = {}) {
  const d = await startDaemon({ ...opts, sio: true, config: { redis: r.addr, ...(opts.config || {}) } });
  try {
    await waitRedis(d, 'up');
  } catch (e) {
    d.kill();
    throw e;
  }
  return d;
}

/**
 * Forks tests/integration/node-cluster-server.js with `args` (IPC with the
 * advanced serialization, so Buffers and Dates cross as they are) and
 * resolves once it sends {ready}. The returned controller has call(cmd,
 * fields) (resolves with the command's result, rejects with its error),
 * stop() (SIGTERM, asserts exit 0 within 5 s), kill() and stderr().
 */
async function forkControlled(args, what) {
  const { fork } = require('node:child_process');
  const child = fork(NODE_CLUSTER_SCRIPT, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'advanced' });
  running.add(child);
  const c = { child, pid: child.pid, exit: null, stderrText: '', stderr: () => c.stderrText };
  child.stdout.on('data', (x) => { c.stderrText += x; });
  child.stderr.on('data', (x) => { c.stderrText += x; });
  c.exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    running.delete(child);
    c.exit = { code, signal };
    for (const p of pending.values()) p.reject(new Error(`${what} exited ${JSON.stringify(c.exit)}; output:\n${c.stderrText}`));
    pending.clear();
    resolve(c.exit);
  }));
  const pending = new Map();
  let nextId = 0;
  let ready;
  const readyP = new Promise((resolve, reject) => {
    ready = resolve;
    c.exited.then((e) => reject(new Error(`${what} exited ${JSON.stringify(e)} before it was ready; output:\n${c.stderrText}`)));
  });
  child.on('message', (m) => {
    if (m.ready) return ready(m);
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error) p.reject(new Error(`${what} ${p.cmd}: ${m.error}`));
    else p.resolve(m.result);
  });
  c.call = (cmd, fields = {}) => new Promise((resolve, reject) => {
    if (c.exit) return reject(new Error(`${what} already exited ${JSON.stringify(c.exit)}; output:\n${c.stderrText}`));
    const id = ++nextId;
    pending.set(id, { resolve, reject, cmd });
    child.send({ id, cmd, ...fields });
  });
  c.stop = async () => {
    if (c.exit) assert.fail(`${what} already exited ${JSON.stringify(c.exit)}; output:\n${c.stderrText}`);
    child.kill('SIGTERM');
    let t;
    const res = await Promise.race([c.exited, new Promise((r) => { t = setTimeout(() => r(null), 5000); })]);
    clearTimeout(t);
    if (!res) {
      child.kill('SIGKILL');
      assert.fail(`${what} did not exit within 5 s of SIGTERM; output:\n${c.stderrText}`);
    }
    assert.deepEqual(res, { code: 0, signal: null }, `${what} exit; output:\n${c.stderrText}`);
  };
  c.kill = () => { if (!c.exit) child.kill('SIGKILL'); };
  const guard = setTimeout(() => child.kill('SIGKILL'), DEFAULT_WAIT);
  try {
    c.readyInfo = await readyP;
  } finally {
    clearTimeout(guard);
  }
  return c;
}

/**
 * A Node socket.io 4.8.1 server on Redis r with @socket.io/redis-adapter
 * 8.3.0 and reference-sio.js's policy (namespace blocks in `raw`, keys in
 * `config`), but without the JSON emit channel, run by
 * node-cluster-server.js and driven over IPC: n.call('emit', {nsp, rooms,
 * except, volatile, compress, args}), 'emitWithAck' ({..., timeout}: {err,
 * responses}), 'fetchSockets', 'allRooms', 'serverSideEmit' ({args, ack}),
 * 'socketsJoin'/'socketsLeave' ({in, except, rooms}), 'disconnectSockets'
 * ({in, except, close}), 'serverSideEvents' (what other servers sent it),
 * 'localSockets'. Every command answers once Redis has handled what it
 * published. Resolves once it listens and its subscriptions are confirmed.
 */
async function startNodeCluster(r, { config = {}, raw, port } = {}) {
  port = port || await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-node-'));
  const configFile = writeConfig(dir, port, { redis: r.addr, ...config }, raw);
  const n = await forkControlled(['-c', configFile], `node-cluster-server on port ${port}`);
  n.port = port;
  n.dir = dir;
  const kill = n.kill;
  n.kill = () => {
    kill();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return n;
}

/**
 * An @socket.io/redis-emitter in a separate Node process (node-cluster-server.js
 * --emitter) on Redis r (opts.key: the emitter's key), driven over IPC:
 * e.call('emit', {nsp, rooms, except, volatile, compress, args}),
 * 'socketsJoin'/'socketsLeave' ({nsp, in, except, rooms}), 'disconnectSockets'
 * ({nsp, in, except, close}), 'serverSideEmit' ({nsp, args}), 'publish'
 * ({channel, payload}: raw bytes or text). Every command answers once Redis
 * has handled what it published.
 */
function startEmitterProcess(r, { key = 'socket.io' } = {}) {
  return forkControlled(['--emitter', r.url, key], 'emitter process');
}

/**
 * Awaits every promise of `starts` (daemons, Node servers, emitter
 * processes: anything with kill()); if one fails, kills those that started
 * (so no child keeps the test process alive) and throws the first error.
 */
async function startAll(starts) {
  const res = await Promise.allSettled(starts);
  const failed = res.find((x) => x.status === 'rejected');
  if (failed) {
    for (const x of res) if (x.status === 'fulfilled' && x.value && x.value.kill) x.value.kill();
    throw failed.reason;
  }
  return res.map((x) => x.value);
}

/** Waits until s.got (sioRecord) holds an entry deep-equal to `entry`. */
function sioWaitGot(s, entry, { timeout = DEFAULT_WAIT } = {}) {
  const { isDeepStrictEqual } = require('node:util');
  const want = sioNormalize(entry);
  return waitFor(() => s.got.some((e) => isDeepStrictEqual(e, want)), {
    timeout, what: `${JSON.stringify(want)} at client ${s.id} (got so far ${JSON.stringify(s.got)})`,
  });
}

/** Removes from s.got every entry whose event name is `name` (in place). */
function sioDropGot(s, name) {
  for (let i = s.got.length - 1; i >= 0; i--) if (s.got[i][0] === name) s.got.splice(i, 1);
}

let fenceCount = 0;

/**
 * A fence across the cluster: emit(nsp, n) must broadcast ['fence', n] to
 * every socket of namespace nsp and resolve once Redis has handled it; then
 * every client of `clients` (recorded with sioRecord) must receive it, and
 * the fence entries are removed from their s.got. Everything Redis handed
 * to the subscribers before the fence has then reached these clients.
 */
async function clusterFence(emit, clients) {
  const n = ++fenceCount;
  for (const nsp of new Set(clients.map((s) => s.nsp))) await emit(nsp, n);
  for (const s of clients) await sioWaitGot(s, ['fence', n]);
  for (const s of clients) sioDropGot(s, 'fence');
}

/** Records the reasons of s's "disconnect" events in s.disconnects; returns s. */
function sioWatchDisconnect(s) {
  s.disconnects = [];
  s.on('disconnect', (reason) => s.disconnects.push(reason));
  return s;
}

/** Waits until s (sioWatchDisconnect) disconnected; resolves with the reason. */
async function sioWaitDisconnect(s, { timeout = DEFAULT_WAIT } = {}) {
  await waitFor(() => s.disconnects.length > 0, { timeout, what: `disconnect of client ${s.nsp}` });
  return s.disconnects[0];
}

/**
 * A random HS256 secret in a file of its own, for jwt_secret_file:
 * { secret, file, remove() } (remove() in after()).
 */
function hs256SecretFile(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const secret = crypto.randomBytes(32).toString('hex');
  const file = path.join(dir, 'secret');
  fs.writeFileSync(file, secret);
  return { secret, file, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** An HS256 JWT of <claims> signed with <secret>, as an app's login would issue it. */
function hs256Token(secret, claims) {
  const b64url = (x) => Buffer.from(x).toString('base64url');
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

/** Stream entries from an XRANGE reply (strings) as {id, ...fields}. */
function streamEntries(raw) {
  return (raw || []).map(([id, kv]) => {
    const f = { id };
    for (let i = 0; i < kv.length; i += 2) f[kv[i]] = kv[i + 1];
    return f;
  });
}

/** The namespaces of the cluster-*.test.js files: / (chat:* joins) and /admin (any room), both relaying. */
const CLUSTER_RAW = `
namespace / {
    client_join           chat:*
    relay                 yes
}
namespace /admin {
    client_join           *
    relay                 yes
}
`;

/**
 * Debian's nginx in the foreground on <httpConf> (text at http{} level,
 * e.g. conf/nginx.conf.example with its addresses changed), its pid file,
 * logs and temp files in a fresh folder; with <stream>, that text goes in
 * a stream{} block (libnginx-mod-stream: TCP proxying, proxy_protocol).
 * Returns the child with output() for its stderr and stop(): SIGQUIT
 * (graceful shutdown, nginx's manual), resolved once the master has
 * exited, after its worker. Never SIGKILL the master: its worker lives on,
 * orphaned and listening. At exit it is sent SIGTERM (fast shutdown),
 * which the master passes to its worker.
 */
function startNginx(httpConf, { stream } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-nginx-'));
  fs.writeFileSync(path.join(dir, 'site.conf'), httpConf);
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `    ${k}_temp_path ${dir}/${k};`).join('\n');
  const streamConf = stream ? `stream {\n${stream}\n}\n` : '';
  fs.writeFileSync(path.join(dir, 'nginx.conf'), `${stream ? 'load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n' : ''}worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
${temps}
    include ${dir}/site.conf;
}
${streamConf}`);
  const child = spawn('nginx', ['-c', path.join(dir, 'nginx.conf'), '-p', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.exitSignal = 'SIGTERM';
  child.stop = () => stopChild(child, 'SIGQUIT');
  running.add(child);
  let err = '';
  child.stderr.on('data', (x) => { err += x; });
  child.output = () => err + (fs.existsSync(path.join(dir, 'error.log')) ? fs.readFileSync(path.join(dir, 'error.log'), 'utf8') : '');
  child.on('exit', () => { running.delete(child); fs.rmSync(dir, { recursive: true, force: true }); });
  return child;
}

/**
 * A systemd notify socket: a unix datagram socket (node has none, so a
 * python3 child binds it) whose messages are collected in order. Returns
 * { path, messages: [{ at, fields }], close() }; pass NOTIFY_SOCKET=path to
 * the daemon.
 */
async function notifySocket() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roomcast-notify-'));
  const sockPath = path.join(dir, 'notify');
  const py = [
    'import socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    `s.bind(${JSON.stringify(sockPath)})`,
    'print("bound", flush=True)',
    'while True:',
    '    m = s.recv(65536)',
    '    print(m.decode().replace("\\n", "\\\\n"), flush=True)',
  ].join('\n');
  const child = spawn('python3', ['-c', py], { stdio: ['ignore', 'pipe', 'inherit'] });
  running.add(child);
  const n = { path: sockPath, messages: [] };
  let buf = '';
  await new Promise((resolve, reject) => {
    child.on('error', reject);
    child.stdout.on('data', (x) => {
      buf += x;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line === 'bound') { resolve(); continue; }
        const fields = Object.fromEntries(line.split('\\n').filter(Boolean).map((f) => [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)]));
        n.messages.push({ at: Date.now(), fields });
      }
    });
  });
  n.close = () => {
    child.kill('SIGKILL');
    running.delete(child);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return n;
}

module.exports = {
  notifySocket, startNginx, stopChild, track, sioRoomMember,
  CLUSTER_RAW,
  REPO, REFERENCE, BIN, ECHO_BIN, EIO_PATH, JSON_ERR,
  show, waitFor, once, freePort,
  RawConn, parseResponse, buildRequest, request,
  WsConn, encodeFrame, parseFrame, wsAccept,
  q, pollPath, assertEioError, assertPollBody, assertPostOk, handshake, poll, post, postPoll, pendingGet, barrier,
  waitSessionGone, wsSession, eioClient,
  parseMetrics, startDaemon, runOnce,
  sioClient, sioConnect, sioAck, sioFence, sioManager, sioConnected, sioConnectError, sioNormalize, sioRecord,
  SIO_CONNECT_REPLY, sioPolling, sioWs,
  trackedClients, sioRecorded, sioJoinAll, openNamespaces, endTests,
  startRedis, redisEmitter, healthz, waitRedis, startClusterDaemon, startNodeCluster, startEmitterProcess, startAll,
  sioWaitGot, sioDropGot, clusterFence, sioWatchDisconnect, sioWaitDisconnect,
  hs256Token, hs256SecretFile, streamEntries,
};
