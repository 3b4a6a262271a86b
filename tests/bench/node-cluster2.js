#!/usr/bin/env node
// node-cluster2.js - the Node side of `make bench`'s multicore scenario:
// socket.io 4.8.1 on two node:cluster workers, set up as the socket.io
// docs' recipe for Node's cluster ("Using Node.js Cluster", the README of
// @socket.io/sticky), with the versions pinned in tests/package.json:
//
// - the primary holds the port; @socket.io/sticky 2.0.1's setupMaster with
//   loadBalancingMethod "least-connection" hands each new connection to a
//   worker (a request carrying a sid goes to the worker that made it), and
//   @socket.io/cluster-adapter 0.3.0's setupPrimary relays the workers'
//   adapter messages; cluster.setupPrimary({ serialization: "advanced" });
// - each worker is a socket.io Server on an http server that never listens
//   (setupWorker injects the connections), whose adapter is the cluster
//   adapter (NodeClusterAdapter, what createAdapter() makes).
//
// One addition, because the bench's publisher broadcasts through Redis in
// @socket.io/redis-emitter's format, which only a Redis adapter hears: a
// namespace has a single adapter, so each worker's is NodeClusterAdapter
// with @socket.io/redis-adapter 8.3.0's receiving half added. It
// psubscribes to socket.io#/#* on its own node-redis 4.7.0 connection, as
// the Redis adapter does, and hands each message to the Redis adapter's
// own handler (RedisAdapter.prototype.onmessage), whose broadcast is the
// in-memory one: a publisher broadcast reaches each worker once, through
// Redis, and its local clients. What the workers broadcast themselves
// (relay) goes to the other worker over IPC through the primary, as in the
// recipe. The policy is node-server.js's: `join` any room (acked "ok"),
// every other event relayed to the sender's rooms.
//
// Args: --port P --redis HOST:PORT. Prints
// {"event":"listening","pids":[primary, worker, worker]} on stdout once both
// workers have their Redis subscription and the port is open. Exits 0 on
// SIGTERM or SIGINT (the workers with it); a worker that dies ends the
// primary with code 1 (none is forked again: a bench must not hide it).
'use strict';

const cluster = require('node:cluster');
const http = require('node:http');
const path = require('node:path');
const { onConnection } = require('./node-server');

const MODULES = path.join(__dirname, '..', 'node_modules');
const WORKERS = 2;

function parseArgs(argv) {
  const args = { port: 0, redis: '' };
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (k === '--port') args.port = Number(v);
    else if (k === '--redis') args.redis = v;
    else throw new Error(`unknown argument ${k}`);
  }
  if (!(args.port > 0) || !/^[^:]+:\d+$/.test(args.redis)) {
    throw new Error('usage: node-cluster2.js --port P --redis HOST:PORT');
  }
  return args;
}

async function primary(args) {
  const { setupMaster } = require(path.join(MODULES, '@socket.io', 'sticky'));
  const { setupPrimary } = require(path.join(MODULES, '@socket.io', 'cluster-adapter'));

  const httpServer = http.createServer();
  setupMaster(httpServer, { loadBalancingMethod: 'least-connection' });
  setupPrimary();
  cluster.setupPrimary({ serialization: 'advanced' });

  let stopping = false;
  const workers = [];
  const ready = [];
  for (let i = 0; i < WORKERS; i++) {
    const w = cluster.fork();
    workers.push(w);
    ready.push(new Promise((resolve, reject) => {
      w.on('message', (m) => { if (m && m.type === 'bench:ready') resolve(); });
      w.once('exit', () => reject(new Error(`worker ${w.process.pid} exited before it was ready`)));
    }));
  }
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    process.stderr.write(`node-cluster2.js: worker ${w.process.pid} died (${signal || `code ${code}`})\n`);
    for (const x of workers) x.process.kill('SIGKILL');
    process.exit(1);
  });
  await Promise.all(ready);
  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(args.port, '127.0.0.1', resolve);
  });
  process.stdout.write(`${JSON.stringify({ event: 'listening', pids: [process.pid, ...workers.map((w) => w.process.pid)] })}\n`);

  const stop = () => {
    stopping = true;
    httpServer.close();
    let left = workers.filter((w) => !w.isDead()).length;
    if (!left) process.exit(0);
    for (const w of workers) {
      w.once('exit', () => { if (--left === 0) process.exit(0); });
      w.process.kill('SIGTERM');
    }
    setTimeout(() => {
      for (const w of workers) w.process.kill('SIGKILL');
      process.exit(0);
    }, 2000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

async function worker(args) {
  const { Server } = require(path.join(MODULES, 'socket.io'));
  const { setupWorker } = require(path.join(MODULES, '@socket.io', 'sticky'));
  const { NodeClusterAdapter } = require(path.join(MODULES, '@socket.io', 'cluster-adapter'));
  const { RedisAdapter } = require(path.join(MODULES, '@socket.io', 'redis-adapter'));
  const msgpack = require(path.join(MODULES, 'notepack.io'));
  const { createClient } = require(path.join(MODULES, 'redis'));

  const sub = createClient({ url: `redis://${args.redis}` });
  await sub.connect();

  /** The cluster adapter, hearing emitter broadcasts as the Redis adapter does. */
  class ClusterAdapterWithRedisIn extends NodeClusterAdapter {
    constructor(nsp) {
      super(nsp);
      // what RedisAdapter's onmessage reads of its instance
      this.channel = `socket.io#${nsp.name}#`;
      this.parser = msgpack;
      this.subscribed = sub.pSubscribe(`${this.channel}*`,
        (msg, channel) => RedisAdapter.prototype.onmessage.call(this, null, channel, msg), true);
    }

    hasRoom(room) {
      return RedisAdapter.prototype.hasRoom.call(this, room);
    }
  }

  const httpServer = http.createServer();
  const io = new Server(httpServer);
  // a factory called with new, as createAdapter()'s is
  io.adapter(function adapter(nsp) { return new ClusterAdapterWithRedisIn(nsp); });
  setupWorker(io);
  io.of('/').on('connection', onConnection);
  await io.of('/').adapter.subscribed;
  process.send({ type: 'bench:ready' });
}

const args = parseArgs(process.argv.slice(2));
(cluster.isPrimary ? primary(args) : worker(args)).catch((e) => {
  process.stderr.write(`node-cluster2.js: ${e.stack || e}\n`);
  process.exit(1);
});
