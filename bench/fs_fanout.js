// fs_fanout, Node.js: read n files of 4 KiB fully, all started at once
// (fs.promises.readFile for each, gathered with Promise.all), from a warm
// page cache; check that every file gave 4096 bytes. Same timed region
// and memory figure as bench/fs_fanout_future.c.
//
// fs.promises.readFile is the obvious choice and a slow one for small
// files (it opens a FileHandle and awaits each of its steps, a promise
// each); bench/fs_fanout_cb.js runs the same workload with the
// callback fs.readFile wrapped in a promise (impl=node_cb), which takes
// about half the time, so that the comparison with Node is not
// flattering. Both use run() below.
//
// Usage: node fs_fanout.js [n [dir]]   (default n 10000; without dir, the
// program makes the files in a temporary directory and removes them)
'use strict';
const fs = require('fs');
const fsp = require('fs/promises');
const os = require('os');
const path = require('path');
const b = require('./bench_common.js');

const SIZE = 4096;
const n = b.argN(10000);
let dir = process.argv[3];
let ownDir = false;

const name = (i) => path.join(dir, 'f' + String(i).padStart(5, '0'));

function makeFiles() {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'libfuture-bench-'));
  ownDir = true;
  const block = Buffer.alloc(SIZE, 'abcdefghijklmnopqrstuvwxyz');
  for (let i = 0; i < n; i++) fs.writeFileSync(name(i), block);
  for (let i = 0; i < n; i++) fs.readFileSync(name(i));
}

// Read the files with readFile(path), a function returning a promise of
// the contents, and print the result line as implementation `impl`.
async function run(impl, readFile) {
  if (dir === undefined) makeFiles();
  const paths = [];
  for (let i = 0; i < n; i++) paths.push(name(i));

  const baseline = b.rssKiB();
  const w0 = b.wall();
  const c0 = process.cpuUsage();
  const bufs = await Promise.all(paths.map((p) => readFile(p)));
  let ok = 0;
  for (const buf of bufs) if (buf.length === SIZE) ok++;
  const wall = b.wall() - w0;
  const cpu = b.cpuSince(c0);

  if (ownDir) fs.rmSync(dir, { recursive: true });
  b.check(ok === n, `${ok} of ${n} files read with ${SIZE} bytes`);
  b.print({ workload: 'fs_fanout', impl, n, wall, cpu, baseline,
            created: b.maxrssKiB() });
}

module.exports = { run };

if (require.main === module)
  run('node', (p) => fsp.readFile(p)).catch(b.fail);
