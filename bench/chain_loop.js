// chain_loop, Node.js: n hops, each continuation chaining the next one
// (hop(v) attaches hop to Promise.resolve(v + 1)), the same structure as
// bench/chain_loop_future.c; memory stays constant.
//
// With "adopt" as the second argument, each hop instead returns
// Promise.resolve(v + 1).then(hop), which the previous link adopts (the
// links stay pending until the last one settles), as chain_loop_future's
// "adopt" form.
//
// Usage: node chain_loop.js [n [adopt]]   (default n 1000000)
'use strict';
const b = require('./bench_common.js');

const n = b.argN(1000000);
const adopt = process.argv[3] === 'adopt';

function loop() {
  return new Promise((resolve) => {
    function hop(v) {
      if (v >= n) resolve(v);
      else Promise.resolve(v + 1).then(hop);
    }
    Promise.resolve(0).then(hop);
  });
}

function hopAdopt(v) {
  return v >= n ? v : Promise.resolve(v + 1).then(hopAdopt);
}

async function main() {
  const baseline = b.rssKiB();
  const w0 = b.wall();
  const c0 = process.cpuUsage();
  const v = adopt ? await Promise.resolve(0).then(hopAdopt) : await loop();
  const wall = b.wall() - w0;
  const cpu = b.cpuSince(c0);
  b.check(v === n, `loop value ${v}, expected ${n}`);
  b.print({ workload: 'chain_loop', impl: adopt ? 'node_adopt' : 'node', n,
            wall, cpu, baseline, created: b.maxrssKiB() });
}

main().catch(b.fail);
