// await_loop, Node.js: n sequential awaits of an already resolved promise
// in one async function, summing the values, the same structure as
// bench/await_loop_future.c:
//
//     for (let i = 1; i <= n; i++) sum += await Promise.resolve(i);
//
// Each await of a native promise is one trip through V8's microtask queue
// (since V8 7.2 / Node 12, an await of a native promise takes one tick).
//
// Usage: node await_loop.js [n]   (default 1000000)
'use strict';
const b = require('./bench_common.js');

const n = b.argN(1000000);

async function loop() {
  let sum = 0;
  for (let i = 1; i <= n; i++) sum += await Promise.resolve(i);
  return sum;
}

async function main() {
  const baseline = b.rssKiB();
  const w0 = b.wall();
  const c0 = process.cpuUsage();
  const v = await loop();
  const wall = b.wall() - w0;
  const cpu = b.cpuSince(c0);
  const expected = n * (n + 1) / 2;
  b.check(v === expected, `sum ${v}, expected ${expected}`);
  b.print({ workload: 'await_loop', impl: 'node', n, wall, cpu, baseline,
            created: b.maxrssKiB() });
}

main().catch(b.fail);
