// tree_walk, Node.js: the total size of a tree, as du -s -B1 gives it, the
// way one writes it with fs.promises: readdir a directory, lstat every
// entry at once (Promise.all), recurse into the subdirectories at once; a
// file with several hard links counted once. bench/tree.h says what is
// counted; the tree is made by bench/tree_walk_make (run.sh) or, without
// dir, by the C helper's rules here.
//
// Usage: node tree_walk.js [n [dir]]   (default n 100000; without dir, a
// tree of n entries is made in a temporary directory, checked and removed)
'use strict';
const fs = require('fs');
const fsp = require('fs/promises');
const os = require('os');
const path = require('path');
const b = require('./bench_common.js');

const n = b.argN(100000);
let dir = process.argv[3];
let ownDir = false;

// bench/tree.h's bench_tree_make.
function makeTree() {
  dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'libfuture-tree-')),
                  't');
  ownDir = true;
  let leaves = Math.max(1, Math.floor(n / 100)), tops = 1;
  while ((tops + 1) * (tops + 1) <= leaves) tops++;
  fs.mkdirSync(dir);
  for (let i = 0; i < tops && i < n; i++)
    fs.mkdirSync(path.join(dir, 't' + String(i).padStart(3, '0')));
  if (n <= tops) return;
  if (leaves > n - tops) leaves = n - tops;
  const leaf = (i) => path.join(dir, 't' + String(i % tops).padStart(3, '0'),
                                'l' + String(i).padStart(4, '0'));
  for (let i = 0; i < leaves; i++) fs.mkdirSync(leaf(i));
  const files = n - tops - leaves;
  for (let k = 0; k < files; k++)
    fs.writeFileSync(path.join(leaf(k % leaves),
                               'f' + String(k).padStart(6, '0')),
                     Buffer.alloc((k % 4) * 100));
}

const seen = new Set();
let entries = 0;

async function walk(p) {
  const names = await fsp.readdir(p);
  entries += names.length;
  const sizes = await Promise.all(names.map(async (name) => {
    const q = path.join(p, name);
    const st = await fsp.lstat(q);
    if (st.isDirectory()) return st.blocks * 512 + await walk(q);
    if (st.nlink > 1) {
      const key = st.dev + ':' + st.ino;
      if (seen.has(key)) return 0;
      seen.add(key);
    }
    return st.blocks * 512;
  }));
  return sizes.reduce((a, v) => a + v, 0);
}

async function main() {
  if (dir === undefined) makeTree();
  const baseline = b.rssKiB();
  const w0 = b.wall();
  const c0 = process.cpuUsage();
  const root = await fsp.lstat(dir);
  let bytes = root.blocks * 512;
  if (root.isDirectory()) bytes += await walk(dir);
  const wall = b.wall() - w0;
  const cpu = b.cpuSince(c0);
  if (ownDir) {
    fs.rmSync(path.dirname(dir), { recursive: true });
    b.check(entries === n, `${entries} entries of ${n}`);
  }
  const r = { workload: 'tree_walk', impl: 'node', n: entries || 1, wall, cpu,
              baseline, created: b.maxrssKiB() };
  const line = [];
  const log = console.log;
  console.log = (s) => line.push(s);
  b.print(r);
  console.log = log;
  console.log(line[0].replace(/bytes_per_op=\d+/, 'bytes_per_op=0') +
              ` entries=${entries} bytes=${bytes}`);
}

main().catch(b.fail);
