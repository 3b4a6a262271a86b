#!/usr/bin/env node
// backend.js - a roomcastd backend worker in Node, with node-redis (npm install redis).
//
// It reads the client events roomcastd adds to its Redis Stream, as one worker of a
// consumer group, and acts on them with nothing but Redis commands:
//   echo(...args, ack)       answers the ack with the same arguments, bytes included
//   subscribe(room, ack)     joins the sender's socket to <room>, answers "ok"
//   say(room, text)          emits said({from, text}) to everyone in <room> (text may be bytes)
//   whisper(user, text)      emits whisper({from, text}) to every device of <user>
// A connect record with an ack comes from a namespace with `auth backend`: it is
// accepted when its cookie header (backend_headers cookie) holds session=<name>, with
// user <name>, else refused with "not signed in" (a real app looks the session up).
// Binary: a client's bytes arrive as fields bin0, bin1, ... (raw bytes, so the stream is
// read as Buffers) and stand in `args` as {"_placeholder":true,"num":N}; the worker puts
// them back. An answer holding bytes goes as msgpack (notepack.io), an emit holding bytes
// in the redis-emitter's msgpack format on <REDIS_KEY>#<nsp># (the JSON channel has no
// bytes). Acks are answered on the record's reply channel; other joins and emits go
// through roomcastd's JSON channel (redis_emit_channel). Each entry is acknowledged
// (XACK) once handled, also one whose handling failed (logged: an entry that throws
// would throw again in every worker that claims it); entries another worker left
// pending for CLAIM_IDLE_MS are claimed (XAUTOCLAIM) at start and then every few
// seconds, so a worker that dies mid-way loses nothing. Run several to share the load:
//
//   npm install redis notepack.io
//   REDIS_URL=redis://127.0.0.1:6379 CONSUMER=w1 node examples/backend.js
//
// Environment: REDIS_URL (redis://127.0.0.1:6379), STREAM (roomcast:events), GROUP
// (workers), CONSUMER (worker-<pid>), EMIT_CHANNEL (roomcast-emit), REDIS_KEY (socket.io,
// as redis_key), CLAIM_IDLE_MS (60000), CRASH_ON (an event name: exit without handling
// it, to see another worker claim it).
'use strict';

const { createClient, commandOptions } = require('redis');
const msgpack = require('notepack.io');

const env = (name, fallback) => process.env[name] || fallback;
const REDIS_URL = env('REDIS_URL', 'redis://127.0.0.1:6379');
const STREAM = env('STREAM', 'roomcast:events');
const GROUP = env('GROUP', 'workers');
const CONSUMER = env('CONSUMER', `worker-${process.pid}`);
const EMIT_CHANNEL = env('EMIT_CHANNEL', 'roomcast-emit');
const REDIS_KEY = env('REDIS_KEY', 'socket.io');
const CLAIM_IDLE_MS = Number(env('CLAIM_IDLE_MS', '60000'));
const CRASH_ON = env('CRASH_ON', '');

const reader = createClient({ url: REDIS_URL }); // blocks in XREADGROUP
const writer = createClient({ url: REDIS_URL }); // publishes and acknowledges meanwhile

/** Whether <v> holds bytes anywhere. */
const hasBytes = (v) => Buffer.isBuffer(v) || (v !== null && typeof v === 'object' &&
  Object.values(v).some(hasBytes));

/** <v> with each {"_placeholder":true,"num":N} replaced by attachment N (field binN). */
function withBytes(v, record) {
  if (v === null || typeof v !== 'object') return v;
  if (v._placeholder === true && Number.isInteger(v.num)) return record[`bin${v.num}`];
  if (Array.isArray(v)) return v.map((x) => withBytes(x, record));
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withBytes(x, record)]));
}

/** Joins, leaves or disconnects through roomcastd's JSON channel; emits there too,
 * unless the data holds bytes: then as @socket.io/redis-emitter does, which every
 * roomcastd (and Node server) of the cluster reads. */
function act(message) {
  if (!message.data || !hasBytes(message.data)) return writer.publish(EMIT_CHANNEL, JSON.stringify(message));
  const packet = { type: 2, data: message.data, nsp: message.nsp };
  const opts = { rooms: message.rooms, except: [], flags: {} };
  return writer.publish(`${REDIS_KEY}#${message.nsp}#`, msgpack.encode(['emitter', packet, opts]));
}

/** Answers the client's ack, when the record asked for one: as msgpack when the
 * arguments hold bytes (the client gets them in a BINARY_ACK), else as JSON. */
async function answer(record, args) {
  if (!record.reply) return;
  const reply = { sid: record.sid, ack: Number(record.ack), args };
  await writer.publish(record.reply, hasBytes(args) ? msgpack.encode(reply) : JSON.stringify(reply));
}

async function handleEvent(record) {
  const args = withBytes(JSON.parse(record.args), record);
  const from = record.user || record.sid;
  switch (record.event) {
    case 'echo':
      return answer(record, args);
    case 'subscribe':
      await act({ nsp: record.nsp, rooms: [record.sid], join: [String(args[0])] });
      return answer(record, ['ok']);
    case 'say':
      return act({ nsp: record.nsp, rooms: [String(args[0])], data: ['said', { from, text: args[1] }] });
    case 'whisper':
      return act({ nsp: record.nsp, rooms: [`user:${args[0]}`], data: ['whisper', { from, text: args[1] }] });
    default:
      return answer(record, [{ error: `unknown event ${record.event}` }]);
  }
}

/** The decision on a CONNECT to an `auth backend` namespace. */
function decideConnect(record) {
  const headers = JSON.parse(record.headers || '{}');
  const m = /(?:^|;\s*)session=([^;\s]+)/.exec(headers.cookie || '');
  return m ? { accept: true, user: m[1] } : { accept: false, message: 'not signed in' };
}

/** A stream entry's fields as read (Buffers): text, but for the bytes of binN. */
const fields = (message) => Object.fromEntries(Object.entries(message).map(([k, v]) =>
  [k, /^bin\d+$/.test(k) ? v : v.toString('utf8')]));

async function handle(entryId, message) {
  const id = String(entryId);
  const record = fields(message);
  if (record.type === 'event' && record.event === CRASH_ON) {
    console.log(`${CONSUMER}: crashing on ${id} (${record.event}), not acknowledged`);
    process.exit(1);
  }
  try {
    if (record.type === 'event') await handleEvent(record);
    else if (record.type === 'connect' && record.ack) await answer(record, [decideConnect(record)]);
    else console.log(`${CONSUMER}: ${record.type} ${record.nsp} ${record.sid}`);
  } catch (e) {
    console.error(`${CONSUMER}: ${id} failed, acknowledged all the same: ${e.message}`);
  }
  await writer.xAck(STREAM, GROUP, id);
  console.log(`${CONSUMER}: handled ${id} ${record.type} ${record.event || ''}`);
}

/** Takes over what workers that died left pending for CLAIM_IDLE_MS. */
async function claim() {
  let cursor = '0-0';
  do {
    const r = await writer.xAutoClaim(commandOptions({ returnBuffers: true }), STREAM, GROUP, CONSUMER,
      CLAIM_IDLE_MS, cursor, { COUNT: 100 });
    for (const m of r.messages) if (m) await handle(m.id, m.message);
    cursor = String(r.nextId);
  } while (cursor !== '0-0');
}

async function main() {
  await Promise.all([reader.connect(), writer.connect()]);
  try {
    await writer.xGroupCreate(STREAM, GROUP, '$', { MKSTREAM: true });
  } catch (e) {
    if (!String(e.message).startsWith('BUSYGROUP')) throw e;
  }
  await claim();
  setInterval(() => claim().catch((e) => console.error(e)), Math.min(CLAIM_IDLE_MS, 5000));
  console.log(`${CONSUMER}: reading ${STREAM} as ${GROUP}`);
  for (;;) {
    const res = await reader.xReadGroup(commandOptions({ returnBuffers: true }), GROUP, CONSUMER,
      { key: STREAM, id: '>' }, { COUNT: 100, BLOCK: 5000 });
    for (const stream of res || []) {
      for (const m of stream.messages) await handle(m.id, m.message);
    }
  }
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => process.exit(0));
}
main().catch((e) => {
  console.error(`${CONSUMER}: ${e.message}`);
  process.exit(1);
});
