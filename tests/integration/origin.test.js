// origin.test.js - which pages may open a socket (issue #13): the check
// against cross-site WebSocket hijacking. Covers: with cors_origin listing
// origins, a polling handshake, a WebSocket handshake and a POST or GET of
// a session whose Origin is not listed get 403 {"code":4,"message":
// "Forbidden"} (the handshake: "Forbidden" as text, as engine.io aborts an
// upgrade) and roomcast_engine_origin_refused_total; a listed origin,
// the site's own origin (Origin naming the Host) and no Origin get in;
// allowed_origins decides over cors_origin; allow_no_origin no refuses a
// request without Origin; an official client whose Origin is refused sees
// a connect_error and others are not affected; the list changes at a
// reload. Without cors_origin or allowed_origins any origin gets in
// (cors.test.js and the rest of the suite).
// roomcastd only: the Node server checks no origin unless an app adds
// allowRequest.
'use strict';

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const h = require('./harness');

const skip = h.REFERENCE && 'roomcastd\'s origin check';
const daemons = [];
after(() => daemons.forEach((x) => x.kill()));

async function start(config, sio = false) {
  const d = await h.startDaemon({ sio, echo: !sio, config });
  daemons.push(d);
  return d;
}

const handshakeAs = (port, origin) => h.request(port, {
  path: `${h.EIO_PATH}?EIO=4&transport=polling`, headers: origin ? { Origin: origin } : {}, waitClose: true,
});

function assertForbidden(res, what) {
  assert.equal(res.status, 403, `${what}: "${h.show(res.raw)}"`);
  assert.deepEqual(JSON.parse(res.text), { code: 4, message: 'Forbidden' }, what);
}

/** A refused upgrade: the message as plain text, as engine.io's abortUpgrade writes it. */
function assertUpgradeForbidden(ws, what) {
  assert.equal(ws.handshake.status, 403, `${what}: "${h.show(ws.handshake.raw)}"`);
  assert.equal(ws.handshake.text, 'Forbidden', what);
}

async function wsAs(port, origin) {
  return h.WsConn.connect(port, `${h.EIO_PATH}?EIO=4&transport=websocket`, { headers: origin ? { Origin: origin } : {} });
}

test('cors_origin\'s origins, the site itself and no Origin get in; another site gets 403 on every request', { skip }, async () => {
  const d = await start({ cors_origin: 'https://app.example http://b.example:8080' });
  const m0 = await d.metrics();
  assert.equal((await handshakeAs(d.port, 'https://app.example')).status, 200);
  assert.equal((await handshakeAs(d.port, 'http://b.example:8080')).status, 200);
  assert.equal((await handshakeAs(d.port, null)).status, 200, 'no Origin: not a browser');
  assert.equal((await handshakeAs(d.port, `http://127.0.0.1:${d.port}`)).status, 200, 'the site\'s own page');
  assertForbidden(await handshakeAs(d.port, 'https://evil.example'), 'polling handshake');
  assertForbidden(await handshakeAs(d.port, 'http://b.example'), 'another port is another origin');

  const evilWs = await wsAs(d.port, 'https://evil.example');
  assertUpgradeForbidden(evilWs, 'WebSocket handshake');
  evilWs.destroy();
  const goodWs = await wsAs(d.port, 'https://app.example');
  assert.equal(goodWs.handshake.status, 101);
  goodWs.destroy();

  // a session opened by a good page cannot be used from another site
  const { sid } = await h.handshake(d.port, { Origin: 'https://app.example' });
  assertForbidden(await h.post(d.port, sid, '4hi', { Origin: 'https://evil.example' }), 'POST');
  assertForbidden(await h.request(d.port, { path: `${h.EIO_PATH}?EIO=4&transport=polling&sid=${sid}`, headers: { Origin: 'https://evil.example' } }), 'GET');
  h.assertPostOk(await h.post(d.port, sid, '4hi', { Origin: 'https://app.example' }));
  h.assertPollBody(await h.poll(d.port, sid, { Origin: 'https://app.example' }), '4hi');

  const m1 = await d.metrics();
  assert.equal(m1.roomcast_engine_origin_refused_total - m0.roomcast_engine_origin_refused_total, 5);
  await d.stop();
});

test('allowed_origins decides over cors_origin; allow_no_origin no refuses programs', { skip }, async () => {
  const d = await start({ cors_origin: '*', allowed_origins: 'https://app.example', allow_no_origin: 'no' });
  assert.equal((await handshakeAs(d.port, 'https://app.example')).status, 200);
  assertForbidden(await handshakeAs(d.port, 'https://other.example'), 'cors_origin * lets CORS through, not the check');
  assertForbidden(await handshakeAs(d.port, null), 'no Origin');
  const ws = await wsAs(d.port, null);
  assertUpgradeForbidden(ws, 'WebSocket without Origin');
  ws.destroy();
  await d.stop();
});

test('an official client from a refused origin gets connect_error; the others keep going; a reload changes the list', { skip }, async () => {
  const d = await start({ cors_origin: 'https://app.example' }, true);
  const good = await h.sioConnect(d.port, '/', { transports: ['websocket'], extraHeaders: { Origin: 'https://app.example' } });
  const bad = h.sioClient(d.port, '/', { transports: ['polling'], extraHeaders: { Origin: 'https://evil.example' }, reconnection: false });
  const err = await h.sioConnectError(bad);
  assert.match(String(err.message), /xhr poll error|websocket error/);
  assert.ok(good.connected);
  assert.deepEqual(await h.sioAck(good, 'join', ''), ['invalid room name'], 'the good client is served');

  const text = fs.readFileSync(d.configFile, 'utf8').replace(/^cors_origin .*$/m, 'cors_origin https://app.example https://evil.example');
  fs.writeFileSync(d.configFile, text);
  d.child.kill('SIGHUP');
  await h.waitFor(async () => (await d.metrics()).roomcast_config_reloads_total === 1, { what: 'the reload' });
  const now = await h.sioConnect(d.port, '/', { transports: ['polling'], extraHeaders: { Origin: 'https://evil.example' } });
  now.disconnect();
  good.disconnect();
  await d.stop();
});
