// cluster-bad-input.test.js - what roomcastd does with bad bytes on the
// adapter's channels. Only two roomcastd instances A and B (redis_max_message
// 1K) are on this redis-server: a Node server with the redis adapter dies on
// a non-msgpack message on socket.io#... (doc/protocol.md, "Poison on
// broadcast channels"), which is why
// roomcastd must not. Raw PUBLISHes from a node-redis client, then a valid
// @socket.io/redis-emitter broadcast on the same connection (so it is
// handled after them) that every client must receive: roomcastd is still up
// and still subscribed, none of the bad messages reached a client or changed
// a room, and on both instances roomcast_cluster_bad_messages_total grew by
// exactly the number of malformed (not msgpack, truncated, trailing bytes,
// absurd lengths, nesting past the limit, not a 3-element array), wrong-typed
// (uid a number, rooms/except not arrays, packet or data of the wrong type)
// or unknown-type messages (packet type 99; request type 42, -1, 10;
// malformed or wrong-typed JSON and msgpack requests, which must not join,
// leave or disconnect anyone), and roomcast_cluster_oversized_total by
// exactly the number of messages longer than redis_max_message (on the
// broadcast, room, request and JSON emit channels, a few KB: small enough to
// arrive whole, so the link stays up; a message refused while it arrives,
// which drops the link, is in hostile-redis.test.js); a message of exactly
// redis_max_message bytes is delivered. Also, as a Node server
// would deliver them (this one runs in reference mode too): valid messages
// in the forms other emitters write (no nsp, no flags, keys in another
// order, map16/array16/str8/str16/bin8/bin16, every integer and float
// width, timestamps 32/64/96, fixext undefined). Ends with SIGTERM exits 0.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const h = require('./harness');

const mp = require(path.join(__dirname, '..', 'node_modules', 'notepack.io'));

const RAW = h.CLUSTER_RAW;
const MAX = 1024;
const NODE_SKIP = h.REFERENCE && 'roomcastd only: bad input kills a Node server with the redis adapter';

let r;
let A;
let B;
let em;
before(async () => {
  r = await h.startRedis();
  [A, B] = await h.startAll([0, 1].map(() => h.startClusterDaemon(r, { raw: RAW, config: { redis_max_message: '1K' } })));
  em = await h.redisEmitter(r);
});
after(async () => {
  for (const x of [A, B]) if (x) x.kill();
  if (r) await r.close();
});

const open = h.trackedClients();

/** a1, b1 (chat:1 on A and B), aa, ba (/admin, room x), a2 (A, no room). */
async function clients() {
  const c = async (d, nsp, rooms) => {
    const s = await h.sioRecorded(open, d.port, 'websocket', nsp);
    await h.sioJoinAll(s, rooms);
    return h.sioWatchDisconnect(s);
  };
  return {
    a1: await c(A, '/', ['chat:1']),
    b1: await c(B, '/', ['chat:1']),
    aa: await c(A, '/admin', ['x']),
    ba: await c(B, '/admin', ['x']),
    a2: await c(A, '/', []),
  };
}

const fence = (list) => h.clusterFence(async (nsp, n) => {
  em.emitter.of(nsp).emit('fence', n);
  await em.sync();
}, list);

const BC = 'socket.io#/#';
const ROOM = 'socket.io#/#chat:1#';
const ADMIN = 'socket.io#/admin#';
const REQ = 'socket.io-request#/#';
const EMIT = 'roomcast-emit';

/** A broadcast as the emitter writes it. */
const bcast = (data, opts = {}, uid = 'hand', nsp = '/') => mp.encode([uid, { type: 2, data, nsp }, { rooms: [], except: [], flags: {}, ...opts }]);

const metrics = () => Promise.all([A.metrics(), B.metrics()]);
const delta = (m0, m1, k) => (m1[k] || 0) - (m0[k] || 0);

/**
 * Publishes `messages` ([channel, payload]) on the emitter's connection,
 * then probes the rooms a bad request could have touched and fences every
 * client: nobody got anything, nobody was disconnected, both instances are
 * up, and the counters moved by exactly `bad` and `oversized`.
 */
async function sendBad(messages, { bad = 0, oversized = 0 }) {
  const c = await clients();
  const all = Object.values(c);
  const m0 = await metrics();
  for (const [channel, payload] of messages) await em.client.publish(channel, payload);
  em.emitter.to('chat:bad').emit('probe', 'a bad join happened');
  em.emitter.to('chat:1').except('chat:2').emit('probe2', 'after the bad messages');
  await em.sync();
  await h.sioWaitGot(c.a1, ['probe2', 'after the bad messages']);
  await h.sioWaitGot(c.b1, ['probe2', 'after the bad messages']);
  await fence(all);
  const m1 = await metrics();
  for (const [name, s] of Object.entries(c)) {
    assert.deepEqual(s.got, name[1] === '1' ? [['probe2', 'after the bad messages']] : [], `${name} got`);
    assert.deepEqual(s.disconnects, [], `${name} disconnects`);
  }
  for (const [i, d] of [A, B].entries()) {
    const n = 'AB'[i];
    assert.equal(d.exit, null, `${n} still running`);
    assert.deepEqual(await h.healthz(d.port), { status: 200, text: 'ok\nredis up\n' }, `${n} /healthz`);
    assert.equal(delta(m0[i], m1[i], 'roomcast_cluster_bad_messages_total'), bad, `${n} roomcast_cluster_bad_messages_total`);
    assert.equal(delta(m0[i], m1[i], 'roomcast_cluster_oversized_total'), oversized, `${n} roomcast_cluster_oversized_total`);
  }
  for (const s of all) s.got.length = 0;
  return c;
}

test('malformed msgpack on the broadcast, room and /admin channels: ignored, counted, roomcastd stays up', { skip: NODE_SKIP }, async () => {
  const valid = bcast(['x', 'valid']);
  const list = [
    Buffer.from('{"foo":1}'), // JSON text: a fixint then trailing bytes
    valid.subarray(0, valid.length - 3), // truncated
    Buffer.concat([valid, Buffer.from([0x00])]), // trailing byte
    Buffer.from([0xc1]), // never used
    Buffer.alloc(0),
    Buffer.from('93', 'hex'), // array of 3, nothing in it
    Buffer.from('ddffffffff', 'hex'), // array32 of 4294967295
    Buffer.concat([Buffer.from('93a468616e64', 'hex'), Buffer.from('dbffffffff41', 'hex')]), // str32 of 4 GB
    Buffer.concat([Buffer.from('93a468616e6482a474797065', 'hex'), Buffer.from([0x02, 0xa4]), Buffer.from('data'),
      Buffer.alloc(1000, 0x91), Buffer.from([0xc0])]), // data nested 1000 deep
    mp.encode({ uid: 'hand', type: 2, data: ['x'] }), // a map, not [uid, packet, opts]
    mp.encode(['hand', { type: 2, data: ['x'], nsp: '/' }]), // 2 elements
  ];
  await sendBad([
    ...list.map((p) => [BC, p]),
    [ROOM, Buffer.from('{"foo":1}')],
    [ROOM, valid.subarray(0, 10)],
    [ADMIN, Buffer.from('not msgpack')],
  ], { bad: list.length + 3 });
});

test('wrong-typed fields and unknown packet types on the broadcast channels: ignored, counted', { skip: NODE_SKIP }, async () => {
  const packet = { type: 2, data: ['x', 'wrong'], nsp: '/' };
  const opts = { rooms: [], except: [], flags: {} };
  const list = [
    mp.encode([5, packet, opts]), // uid a number
    mp.encode(['hand', packet, { ...opts, rooms: 'chat:1' }]), // rooms not an array
    mp.encode(['hand', packet, { ...opts, except: 5 }]), // except not an array
    mp.encode(['hand', 'packet', opts]), // packet not a map
    mp.encode(['hand', { ...packet, data: 'x' }, opts]), // data not an array
    mp.encode(['hand', { ...packet, data: [] }, opts]), // no event name
    mp.encode(['hand', { ...packet, nsp: 7 }, opts]), // nsp not a string
    mp.encode(['hand', packet, 'opts']), // opts not a map
    mp.encode(['hand', { ...packet, type: 99 }, opts]), // unknown packet type
    mp.encode(['hand', { ...packet, type: '2' }, opts]), // type a string
  ];
  await sendBad([
    ...list.map((p) => [BC, p]),
    [ROOM, mp.encode([5, packet, { ...opts, rooms: ['chat:1'] }])],
  ], { bad: list.length + 1 });
});

test('malformed, wrong-typed and unknown requests: ignored, counted, nobody joins, leaves or is disconnected', { skip: NODE_SKIP }, async () => {
  const json = (o) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o));
  const opts = { rooms: [], except: [] };
  const list = [
    json('{"uid":'), json('{'), json('{"type":2,"opts":{"rooms":[],"except":[]},"rooms":["chat:bad"]}}'),
    Buffer.from([0xc1]), Buffer.from('hello'), mp.encode({ uid: 'hand', type: 2, opts, rooms: ['chat:bad'] }).subarray(0, 20),
    json({ uid: 'hand', requestId: 'req004', type: 42 }), // unknown type
    json({ uid: 'hand', requestId: 'req005', type: -1 }),
    json({ uid: 'hand', requestId: 'req006', type: 10 }),
    mp.encode({ uid: 'hand', requestId: 'req007', type: 77 }),
    json({ type: '2', opts, rooms: ['chat:bad'] }), // type a string
    json({ type: 2, opts: { rooms: 'chat:1', except: [] }, rooms: ['chat:bad'] }),
    json({ type: 2, opts, rooms: 'chat:bad' }),
    json({ type: 2, opts }), // nothing to join
    json({ type: 3, opts: { rooms: ['chat:1'], except: 'x' }, rooms: ['chat:1'] }),
    json({ type: 4, opts: { rooms: ['chat:1'], except: [] }, close: 'yes' }),
    json({ type: 4, opts: 'chat:1', close: false }),
    json({ uid: 'hand', requestId: 7, type: 5, opts }), // requestId a number
    json({ uid: 'hand', type: 6, data: 'x' }), // data not an array
    json('[2]'), json('{"type":null}'),
  ];
  // (sendBad's probes: the chat:1 members are still in chat:1, nobody in chat:bad)
  await sendBad(list.map((p) => [REQ, p]), { bad: list.length });
});

test(`messages longer than redis_max_message (${MAX}) are dropped and counted on every channel; exactly ${MAX} bytes is delivered`, { skip: NODE_SKIP }, async () => {
  // a broadcast of exactly `len` bytes
  const sized = (len, ev) => {
    const base = bcast([ev, '']).length;
    for (let k = len - base - 4; k <= len; k++) {
      const m = bcast([ev, 'x'.repeat(k)]);
      if (m.length === len) return m;
    }
    throw new Error(`no message of ${len} bytes`);
  };
  const atMax = sized(MAX, 'at-max');
  const overMax = sized(MAX + 1, 'over-max');
  assert.equal(atMax.length, MAX);
  assert.equal(overMax.length, MAX + 1);
  const join = JSON.stringify({ type: 2, opts: { rooms: [], except: [] }, rooms: Array.from({ length: 200 }, (_, i) => `chat:bad${i}`).concat('chat:bad') });
  assert.ok(join.length > MAX);
  const c = await sendBad([
    [BC, overMax],
    [BC, bcast(['big', 'x'.repeat(2048)])],
    [ROOM, bcast(['big', 'x'.repeat(2048)], { rooms: ['chat:1'] })],
    [REQ, Buffer.from(join)],
    [EMIT, Buffer.from(JSON.stringify({ data: ['big', 'x'.repeat(2048)] }))],
  ], { oversized: 5 });

  await em.client.publish(BC, atMax);
  await fence(Object.values(c));
  const text = h.sioNormalize(mp.decode(atMax)[1].data);
  for (const s of [c.a1, c.b1, c.a2]) assert.deepEqual(s.got, [text], 'the message of exactly redis_max_message bytes');
});

// ------------------------------------------------- valid, unusual encodings

/** msgpack pieces in a chosen form. */
const mpk = {
  str8: (s) => { const b = Buffer.from(s); return Buffer.concat([Buffer.from([0xd9, b.length]), b]); },
  str16: (s) => { const b = Buffer.from(s); const hd = Buffer.from([0xda, 0, 0]); hd.writeUInt16BE(b.length, 1); return Buffer.concat([hd, b]); },
  fix: (s) => { const b = Buffer.from(s); return Buffer.concat([Buffer.from([0xa0 | b.length]), b]); },
  arr16: (items) => { const hd = Buffer.from([0xdc, 0, 0]); hd.writeUInt16BE(items.length, 1); return Buffer.concat([hd, ...items]); },
  map16: (pairs) => { const hd = Buffer.from([0xde, 0, 0]); hd.writeUInt16BE(pairs.length, 1); return Buffer.concat([hd, ...pairs.flat()]); },
  arr: (items) => Buffer.concat([Buffer.from([0x90 | items.length]), ...items]),
  map: (pairs) => Buffer.concat([Buffer.from([0x80 | pairs.length]), ...pairs.flat()]),
  hex: (x) => Buffer.from(x.replace(/\s+/g, ''), 'hex'),
};

test('valid messages in the forms other emitters write are delivered as a Node server delivers them', async () => {
  const c = await clients();
  const { fix, str8, str16, arr16, map16, arr, map, hex } = mpk;
  const empty = arr([]);
  const msgs = [
    // no nsp in the packet, no flags in opts
    mp.encode(['hand', { type: 2, data: ['u', 'no nsp, no flags'] }, { rooms: [], except: [] }]),
    // opts keys in another order, to one room with except
    mp.encode(['hand', { nsp: '/', data: ['u', 'keys reordered'], type: 2 }, { flags: {}, except: ['chat:2'], rooms: ['chat:1'] }]),
    // 16-bit map/array headers, str8/str16 strings
    arr16([str8('hand'), map16([[str8('type'), hex('02')], [str16('data'), arr16([str8('u'), str16('str16 ✓')])], [fix('nsp'), fix('/')]]),
      map16([[fix('rooms'), arr16([])], [fix('except'), empty], [fix('flags'), map([])]])]),
    // every integer and float width, nil, booleans
    arr([fix('hand'), map([[fix('type'), hex('02')], [fix('data'), arr16([fix('n'),
      hex('ca 3fc00000'), hex('cb 3fb999999999999a'), hex('cc c8'), hex('cd 1234'), hex('ce 89abcdef'), hex('cf 1000000000000000'),
      hex('d0 9c'), hex('d1 8000'), hex('d2 80000000'), hex('d3 fffffeffffffffff'), hex('fb'), hex('7f'), hex('c0'), hex('c3'), hex('c2')])],
    [fix('nsp'), fix('/')]]), map([[fix('rooms'), empty], [fix('except'), empty]])]),
    // timestamps 32/64/96, fixext undefined in an array and in a map, bin8/bin16
    arr([fix('hand'), map([[fix('type'), hex('02')], [fix('data'), arr([fix('t'),
      hex('d6ff 00000001'), hex('d7ff 77359400 00000002'), hex('c70cff 00000000 000000006553f100'),
      arr([hex('d400 00'), hex('01')]), map([[fix('u'), hex('d400 00')], [fix('k'), hex('02')]]),
      hex('c4 02 0102'), hex('c5 0003 ffeedd')])],
    [fix('nsp'), fix('/')]]), map([[fix('rooms'), empty], [fix('except'), empty]])]),
  ];
  for (const m of msgs) await em.client.publish(BC, m);
  await fence(Object.values(c));
  const all = [
    ['u', 'no nsp, no flags'],
    ['u', 'str16 ✓'],
    ['n', 1.5, 0.1, 200, 0x1234, 0x89abcdef, 1152921504606846976, -100, -32768, -2147483648, -1099511627777, -5, 127, null, true, false],
    ['t', '1970-01-01T00:00:01.000Z', '1970-01-01T00:00:02.500Z', '2023-11-14T22:13:20.000Z', [null, 1], { k: 2 },
      { $bin: '0102' }, { $bin: 'ffeedd' }],
  ];
  assert.deepEqual(c.a1.got, [all[0], ['u', 'keys reordered'], ...all.slice(1)]);
  assert.deepEqual(c.b1.got, [all[0], ['u', 'keys reordered'], ...all.slice(1)]);
  assert.deepEqual(c.a2.got, all);
  assert.deepEqual(c.aa.got, []);
});

test('SIGTERM: both instances exit 0', async () => {
  for (const s of open) s.disconnect();
  open.clear();
  await Promise.all([A.stop('SIGTERM'), B.stop('SIGTERM')]);
});
