// Shared helpers of the Node.js benchmark programs (the counterpart of
// bench/bench.h): clocks, memory figures, the argument n, and the one
// machine-readable line each program prints.
//
// Memory: the baseline is process.memoryUsage().rss before anything is
// created; the figure after creating is the peak resident set so far
// (process.resourceUsage().maxRSS, KiB), as getrusage gives the C programs.
'use strict';

function wall() { return Number(process.hrtime.bigint()) / 1e9; }

// CPU time (user + system, every thread) since `start`, seconds.
function cpuSince(start) {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1e6;
}

function rssKiB() { return Math.round(process.memoryUsage().rss / 1024); }
function maxrssKiB() { return process.resourceUsage().maxRSS; }

function argN(def) {
  if (process.argv.length < 3) return def;
  const v = Number(process.argv[2]);
  if (!Number.isInteger(v) || v <= 0) {
    console.error(`usage: node ${process.argv[1]} [n]  (n > 0)`);
    process.exit(2);
  }
  return v;
}

function fail(err) {
  console.error('bench: ' + (err && err.stack ? err.stack : err));
  process.exit(1);
}

function check(cond, msg) {
  if (!cond) fail('check failed: ' + msg);
}

// r: {workload, impl, n, wall, cpu, baseline, created, perOpCpu}
function print(r) {
  const per = r.perOpCpu ? r.cpu : r.wall;
  const grown = Math.max(0, r.created - r.baseline);
  console.log(`workload=${r.workload} impl=${r.impl} n=${r.n} ` +
              `wall_s=${r.wall.toFixed(4)} cpu_s=${r.cpu.toFixed(4)} ` +
              `maxrss_kib=${maxrssKiB()} ` +
              `ns_per_op=${(per * 1e9 / r.n).toFixed(1)} ` +
              `bytes_per_op=${Math.round(grown * 1024 / r.n)}`);
}

module.exports = { wall, cpuSince, rssKiB, maxrssKiB, argN, fail, check,
                   print };
