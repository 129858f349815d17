// Node.js peers of the casyncio micro benchmarks, written with async/await
// and Promises.
//
//   node micro.js WHICH [N]   WHICH: switch spawn sleepers queue lock executor
//
// Prints lines in the suite's format ("name ops/s ns/op [key=value]").
// Every figure but sleepers is the best of 3 runs, as in bench/bench_*.c.
'use strict';
const fs = require('fs');
const { Worker } = require('worker_threads');

const REPS = 3;
const now = () => process.hrtime.bigint();

function report(name, ops, ns, extra = '') {
  const nsOp = Number(ns) / ops;
  console.log(`${name} ${(1e9 / nsOp).toFixed(0)} ops/s ${nsOp.toFixed(2)} ns/op${extra}`);
}

async function bestOf(run) {
  let best = Infinity;
  for (let r = 0; r < REPS; r++) best = Math.min(best, Number(await run()));
  return best;
}

// A turn of the event loop: what asyncio.sleep(0) is to Python.
const yieldTurn = () => new Promise(setImmediate);

// Two async functions each give way to the other n times: 2n switches.
async function benchSwitch(n) {
  const yielder = async () => { for (let i = 0; i < n; i++) await yieldTurn(); };
  const ns = await bestOf(async () => {
    const t0 = now();
    await Promise.all([yielder(), yielder()]);
    return now() - t0;
  });
  report('switch/node', 2 * n, ns);
  // The same through the microtask queue alone: cheaper, but such a task
  // never lets timers or I/O run, so it is not a yield to the loop.
  const microYielder = async () => { for (let i = 0; i < n; i++) await null; };
  const nsMicro = await bestOf(async () => {
    const t0 = now();
    await Promise.all([microYielder(), microYielder()]);
    return now() - t0;
  });
  report('switch/node-microtask', 2 * n, nsMicro);
}

// Spawn = call an async function (it runs until its first await), join =
// await its promise; in batches of 1000 like bench_spawn.
async function benchSpawn(n) {
  const BATCH = 1000;
  const task = async (i) => i;
  const ns = await bestOf(async () => {
    const t0 = now();
    for (let done = 0; done < n; done += BATCH) {
      const k = Math.min(BATCH, n - done), tasks = new Array(k);
      for (let i = 0; i < k; i++) tasks[i] = task(i);
      for (let i = 0; i < k; i++) await tasks[i];
    }
    return now() - t0;
  });
  report('spawn/node', n, ns);
}

function peakKiB() {
  const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : -1;
}

// n async functions each await a one-second timer.
async function benchSleepers(n) {
  const base = peakKiB();
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const sleeper = async () => { await sleep(1000); };
  const t0 = now();
  const tasks = new Array(n);
  for (let i = 0; i < n; i++) tasks[i] = sleeper();
  const spawned = now() - t0;
  await Promise.all(tasks);
  const ns = now() - t0, kib = peakKiB() - base;
  report('sleepers/node', n, ns,
    ` tasks=${n} wall_s=${(Number(ns) / 1e9).toFixed(3)}` +
    ` spawn_s=${(Number(spawned) / 1e9).toFixed(3)} peak_kib=${kib}` +
    ` kib_per_task=${(kib / n).toFixed(2)}`);
}

// Node has no async queue; this is the usual small one: items in an
// array, waiting getters and putters as promise resolvers.
class BoundedQueue {
  constructor(maxsize) {
    this.maxsize = maxsize;
    this.items = [];
    this.getters = [];
    this.putters = [];
  }
  async put(item) {
    while (this.items.length >= this.maxsize)
      await new Promise((resolve) => this.putters.push(resolve));
    this.items.push(item);
    if (this.getters.length) this.getters.shift()();
  }
  async get() {
    while (this.items.length === 0)
      await new Promise((resolve) => this.getters.push(resolve));
    const item = this.items.shift();
    if (this.putters.length) this.putters.shift()();
    return item;
  }
}

async function benchQueue(n) {
  const ns = await bestOf(async () => {
    const q = new BoundedQueue(100);
    const t0 = now();
    const producer = (async () => { for (let i = 1; i <= n; i++) await q.put(i); })();
    let sum = 0;
    for (let i = 0; i < n; i++) sum += await q.get();
    await producer;
    if (sum !== n * (n + 1) / 2) throw new Error('lost items');
    return now() - t0;
  });
  report('queue/node', n, ns);
}

// A FIFO async mutex, also the usual small one.
class Mutex {
  constructor() { this.locked = false; this.waiters = []; }
  async acquire() {
    if (!this.locked) { this.locked = true; return; }
    await new Promise((resolve) => this.waiters.push(resolve));
  }
  release() {
    if (this.waiters.length) this.waiters.shift()(); /* hand off */
    else this.locked = false;
  }
}

// Four tasks: acquire, yield inside the critical section, release.
async function benchLock(n) {
  const TASKS = 4;
  const ns = await bestOf(async () => {
    const mu = new Mutex();
    let counter = 0;
    const contender = async () => {
      for (let i = 0; i < n; i++) {
        await mu.acquire();
        const tmp = counter;
        await yieldTurn();
        counter = tmp + 1;
        mu.release();
      }
    };
    const t0 = now();
    await Promise.all(Array.from({ length: TASKS }, contender));
    if (counter !== TASKS * n) throw new Error('lost updates');
    return now() - t0;
  });
  report('lock/node', TASKS * n, ns);
}

// A job posted to a worker thread and its answer awaited, one at a time.
async function benchExecutor(n) {
  const worker = new Worker(
    "require('worker_threads').parentPort.on('message', (m) => " +
    "require('worker_threads').parentPort.postMessage(m));", { eval: true });
  const call = (m) => new Promise((resolve) => {
    worker.once('message', resolve);
    worker.postMessage(m);
  });
  const ns = await bestOf(async () => {
    const t0 = now();
    for (let i = 0; i < n; i++) await call(i);
    return now() - t0;
  });
  report('executor/node', n, ns);
  await worker.terminate();
}

const benches = {
  switch: benchSwitch, spawn: benchSpawn, sleepers: benchSleepers,
  queue: benchQueue, lock: benchLock, executor: benchExecutor,
};
const which = process.argv[2], n = Number(process.argv[3] || 1000000);
if (!benches[which] || !(n > 0)) {
  console.error('usage: node micro.js WHICH [N]');
  process.exit(2);
}
benches[which](n);
