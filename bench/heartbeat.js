// heartbeat, Node.js: a 10 ms heartbeat (setInterval) while 400 ms of CPU
// work runs, started 50 ms in,
//
//   loop: on the main thread, which freezes the event loop;
//   pool: in a worker thread (worker_threads), which leaves it free;
//
// and the heartbeat runs on until 50 ms after the work. Prints the largest
// gap between two beats for each variant, as bench/heartbeat_future.c.
//
// Usage: node heartbeat.js [work_ms]   (default 400)
'use strict';
const { Worker } = require('worker_threads');
const { setTimeout: delay } = require('timers/promises');
const b = require('./bench_common.js');

const BEAT_MS = 10;
const MARGIN_MS = 50;
const workMs = b.argN(400);

// The work of bench_spin() in bench/bench.h: rounds of 4096 xorshift steps
// (32-bit here) for `ms` milliseconds; returns the number of rounds.
const SPIN_SRC = `
function spin(ms) {
  const end = process.hrtime.bigint() + BigInt(ms) * 1000000n;
  let x = 2463534242, rounds = 0;
  do {
    for (let k = 0; k < 4096; k++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    }
    rounds++;
  } while (process.hrtime.bigint() < end);
  return rounds + (x & 0);
}`;
const spin = new Function(SPIN_SRC + '; return spin;')();

function onPool(ms) {
  return new Promise((resolve, reject) => {
    const w = new Worker(
      SPIN_SRC + `
      const { parentPort, workerData } = require('worker_threads');
      parentPort.postMessage(spin(workerData));`,
      { eval: true, workerData: ms });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

async function run(pool) {
  let beats = 0, last = 0, maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    if (beats++ > 0 && now - last > maxGap) maxGap = now - last;
    last = now;
  }, BEAT_MS);
  await delay(MARGIN_MS);
  const rounds = pool ? await onPool(workMs) : spin(workMs);
  await delay(MARGIN_MS);
  clearInterval(timer);
  b.check(rounds > 0, 'the work ran');
  b.check(beats >= 3, `${beats} beats`);
  return { gap: maxGap, beats };
}

async function main() {
  const w0 = b.wall();
  const c0 = process.cpuUsage();
  const loop = await run(false);
  const pool = await run(true);
  console.log(`workload=heartbeat impl=node work_ms=${workMs} ` +
              `loop_gap_ms=${loop.gap.toFixed(1)} ` +
              `pool_gap_ms=${pool.gap.toFixed(1)} ` +
              `loop_ticks=${loop.beats} pool_ticks=${pool.beats} ` +
              `wall_s=${(b.wall() - w0).toFixed(4)} ` +
              `cpu_s=${b.cpuSince(c0).toFixed(4)} ` +
              `maxrss_kib=${b.maxrssKiB()}`);
}

main().catch(b.fail);
