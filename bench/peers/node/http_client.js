// Node's fetch (undici) under load, the peer of bench/bench_http_client.c:
// N GETs of a small body, C async loops at a time, keep-alive (undici's
// global agent keeps connections to an origin alive and reuses them).
//
//   node http_client.js URL [N [C]]      (N = 20000, C = 100)
//
// Each request reads its body to the end.  Prints bench/run's line with
// this process's user and system CPU microseconds per request.
'use strict';

const url = process.argv[2];
const n = Number(process.argv[3] || 20000);
const c = Number(process.argv[4] || 100);
if (!url || !(n > 0) || !(c > 0)) {
  console.error('usage: node http_client.js URL [N [C]]');
  process.exit(2);
}

let left = n;
let failed = 0;

async function worker() {
  while (left > 0) {
    left--;
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status !== 200) failed++;
    } catch (e) {
      if (failed++ === 0) console.error(e);
    }
  }
}

async function main() {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({length: c}, worker));
  const ns = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  if (failed > 0) {
    console.error(`http_client: ${failed} of ${n} requests failed`);
    process.exit(1);
  }
  const nsOp = ns / n;
  console.log(`http_client/node ${(1e9 / nsOp).toFixed(0)} ops/s ` +
              `${nsOp.toFixed(2)} ns/op user_us=${(cpu.user / n).toFixed(3)} ` +
              `sys_us=${(cpu.system / n).toFixed(3)}`);
}

main();
