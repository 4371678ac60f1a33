// chain_built, Node.js: n continuations attached up front to a pending
// root promise (root.then(add1).then(add1)...), each adding 1; then the
// root resolves with 0 and the chain runs to n. Same timed region and
// memory figure as bench/chain_built_future.c.
//
// Usage: node chain_built.js [n]   (default 1000000)
'use strict';
const b = require('./bench_common.js');

const n = b.argN(1000000);
const add1 = (v) => v + 1;

async function main() {
  const baseline = b.rssKiB();
  const w0 = b.wall();
  const c0 = process.cpuUsage();
  let resolveRoot;
  const root = new Promise((resolve) => { resolveRoot = resolve; });
  let tail = root;
  for (let i = 0; i < n; i++) tail = tail.then(add1);
  const created = b.maxrssKiB();
  resolveRoot(0);
  const v = await tail;
  const wall = b.wall() - w0;
  const cpu = b.cpuSince(c0);
  b.check(v === n, `chain value ${v}, expected ${n}`);
  b.print({ workload: 'chain_built', impl: 'node', n, wall, cpu,
            baseline, created });
}

main().catch(b.fail);
