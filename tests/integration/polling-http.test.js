// polling-http.test.js - Engine.IO over raw HTTP, byte by byte against the
// reference captures (doc/protocol.md, "Handshake and open packet", "Engine
// packets", "Polling", "Closing a session" and "Error answers"; in
// tests/vectors/ eio-http-errors.txt,
// eio-polling-concurrent-get.txt, eio-polling-concurrent-post.txt,
// eio-polling-close.txt, eio-maxpayload.txt, eio-parser-vectors.json):
// the open packet; error codes 0 (unknown and missing transport), 1 (unknown
// sid on GET and POST), 2 (POST and OPTIONS handshake), 3 (websocket without
// Upgrade, transport mismatch, EIO mismatch with a sid), 5 (EIO=3, EIO=5, EIO
// missing); PUT with a valid sid -> 500; concurrent GET and concurrent POST;
// POST of max_payload bytes passes and max_payload+1 gets 413 with the session
// kept; application/octet-stream -> 400 and the session closed; client `1`
// answers the pending GET with `6`; a dropped pending GET ends the session;
// parse errors (`9`, empty body, trailing 0x1e) and a client ping `2` close
// the session; code 3 on a POST leaves the session usable; invalid UTF-8 in a
// POST comes back as U+FFFD, never as invalid UTF-8; batching with 0x1e and
// base64 binary; keep-alive and pipelined requests; /healthz and 404 (also for
// the path without its trailing slash). After every test two well-behaved bystanders
// (a polling and a WebSocket session opened at the start) must still echo.
// Response framing (chunked vs Content-Length) is not asserted.
'use strict';

const { test, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const MAX = 1000;
let d;
let port;
const bystander = {};
let round = 0;

before(async () => {
  d = await h.startDaemon({ echo: true, config: { max_payload: MAX } });
  port = d.port;
  bystander.polling = (await h.handshake(port)).sid;
  bystander.ws = await h.wsSession(port);
});
after(() => d && d.kill());

afterEach(async () => {
  if (d.exit) return;
  round++;
  const sid = bystander.polling;
  h.assertPostOk(await h.post(port, sid, `4bystander ${round}`), 'bystander polling POST');
  h.assertPollBody(await h.poll(port, sid), `4bystander ${round}`, 'bystander polling GET');
  bystander.ws.ws.sendText(`4bystander ${round}`);
  assert.equal(await bystander.ws.ws.text(), `4bystander ${round}`, 'bystander websocket echo');
});

test('GET /healthz is 200; unknown paths are 404', async () => {
  assert.equal((await h.request(port, { path: '/healthz' })).status, 200);
  assert.equal((await h.request(port, { path: '/nope' })).status, 404);
  assert.equal((await h.request(port, { path: '/favicon.ico' })).status, 404);
});

test('the Engine.IO path needs its trailing slash: /socket.io?EIO=4... is 404', async () => {
  const r = await h.request(port, { path: '/socket.io?EIO=4&transport=polling' });
  assert.equal(r.status, 404, `"${h.show(r.raw)}"`);
});

test('handshake: open packet with keys in order, text/plain, no-store', async () => {
  const { res, open } = await h.handshake(port);
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.equal(res.text, `0{"sid":"${open.sid}","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":${MAX}}`);
  assert.equal(Number(res.headers['content-length'] ?? res.body.length), res.body.length);
});

test('code 0: unknown and missing transport', async () => {
  h.assertEioError(await h.request(port, { path: '/socket.io/?EIO=4&transport=foo' }), 0, 'transport=foo');
  h.assertEioError(await h.request(port, { path: '/socket.io/?EIO=4' }), 0, 'no transport');
  h.assertEioError(await h.request(port, { path: '/socket.io/?EIO=4&transport=webtransport' }), 0, 'transport=webtransport');
});

test('code 1: unknown sid on GET and on POST', async () => {
  h.assertEioError(await h.request(port, { path: '/socket.io/?EIO=4&transport=polling&sid=doesnotexist' }), 1, 'GET');
  h.assertEioError(await h.request(port, {
    method: 'POST', path: '/socket.io/?EIO=4&transport=polling&sid=doesnotexist',
    headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, body: '40',
  }), 1, 'POST');
});

test('code 2: handshake with POST or OPTIONS', async () => {
  h.assertEioError(await h.request(port, {
    method: 'POST', path: '/socket.io/?EIO=4&transport=polling',
    headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, body: '40',
  }), 2, 'POST');
  h.assertEioError(await h.request(port, { method: 'OPTIONS', path: '/socket.io/?EIO=4&transport=polling' }), 2, 'OPTIONS');
});

test('code 3: transport=websocket without Upgrade and without sid', async () => {
  h.assertEioError(await h.request(port, { path: '/socket.io/?EIO=4&transport=websocket' }), 3);
});

test('code 5: EIO=3, EIO=5 and EIO missing', async () => {
  h.assertEioError(await h.request(port, { path: '/socket.io/?EIO=3&transport=polling' }), 5, 'EIO=3');
  h.assertEioError(await h.request(port, { path: '/socket.io/?EIO=5&transport=polling' }), 5, 'EIO=5');
  h.assertEioError(await h.request(port, { path: '/socket.io/?transport=polling' }), 5, 'no EIO');
});

test('code 3 with a live sid: transport mismatch and EIO mismatch; PUT gets 500; the session survives', async () => {
  const { sid } = await h.handshake(port);
  h.assertEioError(await h.request(port, { path: `/socket.io/?EIO=4&transport=websocket&sid=${sid}` }), 3, 'websocket GET without Upgrade');
  h.assertEioError(await h.request(port, { path: `/socket.io/?EIO=3&transport=polling&sid=${sid}` }), 3, 'EIO=3 with an EIO=4 sid');
  const put = await h.request(port, {
    method: 'PUT', path: `/socket.io/?EIO=4&transport=polling&sid=${sid}`,
    headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, body: '40',
  });
  assert.equal(put.status, 500, `PUT: "${h.show(put.raw)}"`);
  assert.equal(put.body.length, 0, 'PUT answer has an empty body');
  await h.postPoll(port, sid, '4still open', '4still open');
});

test('code 3 on POSTs with a live sid (transport mismatch, EIO mismatch) leaves the session usable', async () => {
  const { sid } = await h.handshake(port);
  const hdr = { 'Content-Type': 'text/plain;charset=UTF-8' };
  h.assertEioError(await h.request(port, { method: 'POST', path: `/socket.io/?EIO=4&transport=websocket&sid=${sid}`, headers: hdr, body: '4x' }), 3, 'POST transport=websocket');
  h.assertPostOk(await h.post(port, sid, '4one'), 'POST after the first code 3');
  h.assertEioError(await h.request(port, { method: 'POST', path: `/socket.io/?EIO=3&transport=polling&sid=${sid}`, headers: hdr, body: '4x' }), 3, 'POST EIO=3');
  h.assertPostOk(await h.post(port, sid, '4two'), 'POST after the second code 3');
  h.assertPollBody(await h.poll(port, sid), '4one\x1e4two');
});

test('text, UTF-8 and binary over polling; packets buffered without a GET come in one payload', async () => {
  const { sid } = await h.handshake(port);
  h.assertPostOk(await h.post(port, sid, '4a\x1e4é€😀\x1ebAQID\x1eb/w=='));
  const res = await h.poll(port, sid);
  h.assertPollBody(res, '4a\x1e4é€😀\x1ebAQID\x1eb/w==');
  if (res.headers['content-length'] !== undefined) assert.equal(Number(res.headers['content-length']), Buffer.byteLength('4a\x1e4é€😀\x1ebAQID\x1eb/w=='));
  // a pending GET is answered as soon as something arrives
  const g = await h.pendingGet(port, sid);
  await h.barrier(port);
  h.assertPostOk(await h.post(port, sid, '4x'));
  h.assertPollBody(await g.response, '4x');
});

test('invalid UTF-8 in a POSTed text packet is not echoed as invalid UTF-8 (U+FFFD, as the reference)', async () => {
  const { sid } = await h.handshake(port);
  h.assertPostOk(await h.post(port, sid, Buffer.from([0x34, 0xff, 0x41])));
  const res = await h.poll(port, sid);
  assert.equal(res.status, 200);
  assert.equal(res.body.toString('hex'), '34efbfbd41', `GET body "${h.show(res.body)}"`);
});

test('concurrent GET: the second gets 400 empty, the pending one gets "1", the session is gone', async () => {
  const { sid } = await h.handshake(port);
  const a = await h.pendingGet(port, sid);
  await h.barrier(port);
  const b = await h.poll(port, sid);
  assert.equal(b.status, 400, `second GET: "${h.show(b.raw)}"`);
  assert.equal(b.body.length, 0, 'second GET body is empty');
  h.assertPollBody(await a.response, '1', 'pending GET');
  h.assertEioError(await h.poll(port, sid), 1, 'GET after');
});

test('concurrent POST: the second gets 400 empty, the first is dropped unanswered, the session is gone', async () => {
  const { sid } = await h.handshake(port);
  const a = await h.RawConn.connect(port);
  a.write(h.buildRequest({
    method: 'POST', path: h.pollPath(sid), port,
    headers: { 'Content-Type': 'text/plain;charset=UTF-8', 'Content-Length': '10' },
  }));
  a.write('4ab'); // 3 of 10 bytes
  await h.barrier(port);
  const b = await h.post(port, sid, '3');
  assert.equal(b.status, 400, `second POST: "${h.show(b.raw)}"`);
  assert.equal(b.body.length, 0, 'second POST body is empty');
  const rest = await a.closed();
  assert.equal(a.total.length, 0, `first POST must get no answer, got "${h.show(rest)}"`);
  h.assertEioError(await h.poll(port, sid), 1, 'GET after');
});

test(`POST of exactly max_payload (${MAX}) bytes passes; ${MAX + 1} gets 413 and the session stays`, async () => {
  const { sid } = await h.handshake(port);
  const fits = '4' + 'x'.repeat(MAX - 1);
  h.assertPostOk(await h.post(port, sid, fits), 'POST of max_payload bytes');
  h.assertPollBody(await h.poll(port, sid), fits);
  const big = await h.post(port, sid, '4' + 'y'.repeat(MAX));
  assert.equal(big.status, 413, `POST of max_payload+1: "${h.show(big.raw)}"`);
  assert.equal(big.body.length, 0, '413 body is empty');
  await h.postPoll(port, sid, '4after 413', '4after 413');
});

test('POST with Content-Type application/octet-stream gets 400 and closes the session', async () => {
  const { sid } = await h.handshake(port);
  const res = await h.post(port, sid, Buffer.from([4, 1, 2]), { 'Content-Type': 'application/octet-stream' });
  assert.equal(res.status, 400, `"${h.show(res.raw)}"`);
  assert.equal(res.body.length, 0);
  h.assertEioError(await h.poll(port, sid), 1, 'GET after');
});

test('client close "1" answers the pending GET with "6"; the sid is then unknown', async () => {
  const { sid } = await h.handshake(port);
  const g = await h.pendingGet(port, sid);
  await h.barrier(port);
  h.assertPostOk(await h.post(port, sid, '1'));
  h.assertPollBody(await g.response, '6', 'pending GET');
  h.assertEioError(await h.poll(port, sid), 1, 'GET after');
});

test('dropping the TCP connection of a pending GET ends the session', async () => {
  const { sid } = await h.handshake(port);
  const g = await h.pendingGet(port, sid);
  await h.barrier(port);
  g.conn.destroy();
  await h.waitSessionGone(port, sid);
});

for (const [name, body] of [['unknown type "9"', '9'], ['empty body', ''], ['trailing 0x1e', '4a\x1e'], ['client ping "2"', '2']]) {
  test(`${name} in a POST closes the session (answer ok, then code 1)`, async () => {
    const { sid } = await h.handshake(port);
    h.assertPostOk(await h.post(port, sid, body), 'the POST itself');
    h.assertEioError(await h.post(port, sid, '3'), 1, 'POST after');
    h.assertEioError(await h.poll(port, sid), 1, 'GET after');
  });
}

test('keep-alive: several requests on one TCP connection, errors included', async () => {
  const c = await h.RawConn.connect(port);
  const send = (opts) => { c.write(h.buildRequest({ port, ...opts })); return c.response(); };
  assert.equal((await send({ path: '/healthz' })).status, 200);
  const hs = await send({ path: h.q('&t=k1') });
  assert.equal(hs.status, 200);
  const sid = JSON.parse(hs.text.slice(1)).sid;
  h.assertEioError(await send({ path: '/socket.io/?EIO=4&transport=polling&sid=nope' }), 1);
  h.assertPostOk(await send({ method: 'POST', path: h.pollPath(sid), headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, body: '4k' }));
  h.assertPollBody(await send({ path: h.pollPath(sid) }), '4k');
  assert.equal((await send({ path: '/nope' })).status, 404);
  assert.equal((await send({ path: '/healthz' })).status, 200);
  assert.equal(c.ended, false, 'connection still open');
  c.destroy();
});

test('pipelining: two and three requests in one write get their responses in order', async () => {
  const c = await h.RawConn.connect(port);
  c.write(Buffer.concat([
    h.buildRequest({ port, path: h.q('&t=p1') }),
    h.buildRequest({ port, path: '/socket.io/?EIO=4&transport=polling&sid=nope' }),
  ]));
  const r1 = await c.response();
  assert.equal(r1.status, 200);
  assert.equal(r1.text[0], '0');
  const sid = JSON.parse(r1.text.slice(1)).sid;
  h.assertEioError(await c.response(), 1);
  c.write(Buffer.concat([
    h.buildRequest({ port, method: 'POST', path: h.pollPath(sid), headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, body: '4pipelined' }),
    h.buildRequest({ port, path: h.pollPath(sid) }),
    h.buildRequest({ port, path: '/healthz', headers: { Connection: 'close' } }),
  ]));
  h.assertPostOk(await c.response(), 'pipelined POST');
  h.assertPollBody(await c.response(), '4pipelined', 'pipelined GET');
  assert.equal((await c.response()).status, 200, 'pipelined healthz');
  await c.closed();
});

test('SIGTERM: daemon exits 0; the held bystanders are closed cleanly', async () => {
  const g = await h.pendingGet(port, bystander.polling);
  await h.barrier(port);
  const ws = bystander.ws.ws;
  const stopped = d.stop('SIGTERM');
  h.assertPollBody(await g.response, '1', 'pending GET at shutdown');
  const f = await ws.frame();
  assert.equal(f.opcode, 8, `WebSocket at shutdown: "${h.show(f.raw)}"`);
  await stopped;
});
