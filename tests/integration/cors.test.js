// cors.test.js - the cors_origin key against tests/vectors/eio-cors.txt
// (doc/protocol.md, "CORS"): with `cors_origin http://example.com` a preflight OPTIONS gets 204
// with Allow-Origin/Vary/Allow-Credentials/Allow-Methods/Allow-Headers, and
// every Engine.IO response (handshake, POST, GET with another Origin or none,
// a code-1 error, the 101) carries Allow-Origin, `Vary: Origin` and
// Allow-Credentials; with no cors_origin there is no Access-Control header at
// all and OPTIONS is a code 2; with `cors_origin *` the Allow-Origin is `*`;
// with a list of origins a listed Origin is reflected and another is not.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const daemons = [];
after(() => daemons.forEach((x) => x.kill()));

// allowed_origins *: the CORS headers alone, as the reference server sends
// them; origin.test.js covers the origin check cors_origin otherwise implies.
async function start(config) {
  const d = await h.startDaemon({ echo: true, config: { allowed_origins: '*', ...config } });
  daemons.push(d);
  return d;
}

const ORIGIN = 'http://example.com';

function assertCors(res, what, origin = ORIGIN) {
  assert.equal(res.headers['access-control-allow-origin'], origin, `${what}: Allow-Origin in "${h.show(res.raw)}"`);
  assert.equal(res.headers.vary, 'Origin', `${what}: Vary`);
  assert.equal(res.headers['access-control-allow-credentials'], 'true', `${what}: Allow-Credentials`);
}

function assertNoCors(res, what) {
  const found = res.rawHeaders.filter(([k]) => /^access-control-/i.test(k));
  assert.deepEqual(found, [], `${what}: no Access-Control header expected`);
}

test('cors_origin http://example.com: preflight, every response, errors and the 101', async () => {
  const d = await start({ cors_origin: ORIGIN });
  const port = d.port;
  const pre = await h.request(port, {
    method: 'OPTIONS', path: '/socket.io/?EIO=4&transport=polling',
    headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
  });
  assert.equal(pre.status, 204, `preflight: "${h.show(pre.raw)}"`);
  assert.equal(pre.headers['access-control-allow-origin'], ORIGIN);
  assert.equal(pre.headers.vary, 'Origin, Access-Control-Request-Headers');
  assert.equal(pre.headers['access-control-allow-credentials'], 'true');
  assert.equal(pre.headers['access-control-allow-methods'], 'GET,HEAD,PUT,PATCH,POST,DELETE');
  assert.equal(pre.headers['access-control-allow-headers'], 'content-type');
  assert.equal(pre.body.length, 0);

  const { sid, res: hs } = await h.handshake(port, { Origin: ORIGIN });
  assertCors(hs, 'handshake');
  const p = await h.post(port, sid, '4cors', { Origin: ORIGIN });
  h.assertPostOk(p);
  assertCors(p, 'POST');
  const g = await h.poll(port, sid, { Origin: 'http://evil.example' });
  h.assertPollBody(g, '4cors');
  assertCors(g, 'GET with another Origin');
  const err = await h.request(port, { path: '/socket.io/?EIO=4&transport=polling&sid=nope', headers: { Origin: ORIGIN } });
  h.assertEioError(err, 1);
  assertCors(err, 'code 1 error');
  const err0 = await h.request(port, { path: '/socket.io/?EIO=4&transport=foo', headers: { Origin: ORIGIN } });
  h.assertEioError(err0, 0);
  assertCors(err0, 'code 0 error');
  const noOrigin = await h.handshake(port);
  assertCors(noOrigin.res, 'handshake without Origin');

  const ws = await h.WsConn.connect(port, `${h.EIO_PATH}?EIO=4&transport=websocket`, { headers: { Origin: ORIGIN } });
  assert.equal(ws.handshake.status, 101);
  assertCors(ws.handshake, '101');
  const open = await ws.text();
  assert.equal(open[0], '0');
  ws.destroy();
  await d.stop();
});

test('no cors_origin: no Access-Control header anywhere, OPTIONS is code 2', async () => {
  const d = await start({});
  const port = d.port;
  const { sid, res: hs } = await h.handshake(port, { Origin: ORIGIN });
  assertNoCors(hs, 'handshake');
  const p = await h.post(port, sid, '4x', { Origin: ORIGIN });
  assertNoCors(p, 'POST');
  const err = await h.request(port, { path: '/socket.io/?EIO=4&transport=polling&sid=nope', headers: { Origin: ORIGIN } });
  assertNoCors(err, 'error');
  const pre = await h.request(port, {
    method: 'OPTIONS', path: '/socket.io/?EIO=4&transport=polling',
    headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'POST' },
  });
  h.assertEioError(pre, 2, 'OPTIONS without cors');
  assertNoCors(pre, 'OPTIONS');
  const ws = await h.WsConn.connect(port, `${h.EIO_PATH}?EIO=4&transport=websocket`, { headers: { Origin: ORIGIN } });
  assert.equal(ws.handshake.status, 101);
  assertNoCors(ws.handshake, '101');
  ws.destroy();
  await d.stop();
});

test('cors_origin *: Access-Control-Allow-Origin is *', async () => {
  const d = await start({ cors_origin: '*' });
  const { res } = await h.handshake(d.port, { Origin: ORIGIN });
  assert.equal(res.headers['access-control-allow-origin'], '*', `"${h.show(res.raw)}"`);
  const pre = await h.request(d.port, {
    method: 'OPTIONS', path: '/socket.io/?EIO=4&transport=polling',
    headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers['access-control-allow-origin'], '*');
  await d.stop();
});

test('cors_origin with a list: a listed Origin is reflected, another gets no Allow-Origin', async () => {
  const d = await start({ cors_origin: 'http://a.example http://b.example' });
  const b = await h.handshake(d.port, { Origin: 'http://b.example' });
  assertCors(b.res, 'listed origin', 'http://b.example');
  const a = await h.handshake(d.port, { Origin: 'http://a.example' });
  assertCors(a.res, 'listed origin', 'http://a.example');
  const evil = await h.handshake(d.port, { Origin: 'http://evil.example' });
  assert.equal(evil.res.headers['access-control-allow-origin'], undefined, `"${h.show(evil.res.raw)}"`);
  await d.stop();
});
