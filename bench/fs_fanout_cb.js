// fs_fanout, Node.js with the callback fs.readFile wrapped in a promise
// (impl=node_cb): the same workload, timed region and checks as
// bench/fs_fanout.js, whose run() this uses. fs.readFile makes the four
// requests of a whole-file read (open, fstat, read, close) with
// callbacks, without fs.promises' FileHandle and chunked reads, and takes
// about half the time of fs.promises.readFile on 4 KiB files: this is the
// faster way a Node.js user can get a promise of a file's contents.
//
// Usage: node fs_fanout_cb.js [n [dir]]   (default n 10000; without dir,
// the program makes the files in a temporary directory and removes them)
'use strict';
const fs = require('fs');
const b = require('./bench_common.js');
const { run } = require('./fs_fanout.js');

const readFile = (p) => new Promise((resolve, reject) => {
  fs.readFile(p, (err, buf) => (err ? reject(err) : resolve(buf)));
});

run('node_cb', readFile).catch(b.fail);
