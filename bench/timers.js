// timers, Node.js: n timers pending at once, timer i due after i % 1000 ms
// (the promise form of setTimeout, from timers/promises), each with a
// continuation that counts it; check that every one fired. As in
// bench/timers_future.c, ns_per_op is CPU time per timer and bytes_per_op
// the resident memory per pending timer once all n are pending.
//
// Usage: node timers.js [n]   (default 1000000)
'use strict';
const { setTimeout: delay } = require('timers/promises');
const b = require('./bench_common.js');

const n = b.argN(1000000);

async function main() {
  let fired = 0;
  let allFired;
  const done = new Promise((resolve) => { allFired = resolve; });
  const count = () => { if (++fired === n) allFired(); };
  const baseline = b.rssKiB();
  const w0 = b.wall();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) delay(i % 1000).then(count);
  const created = b.maxrssKiB();
  await done;
  const wall = b.wall() - w0;
  const cpu = b.cpuSince(c0);
  b.check(fired === n, `${fired} of ${n} timers fired`);
  b.print({ workload: 'timers', impl: 'node', n, wall, cpu, baseline,
            created, perOpCpu: true });
}

main().catch(b.fail);
