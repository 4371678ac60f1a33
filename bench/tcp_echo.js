// tcp_echo, Node.js: n round trips of a 64-byte message over loopback TCP
// with `net`, over conns connections at once, the same structure as
// bench/tcp_echo_future.c: the server writes back each 64 bytes it has
// read; each client writes 64 bytes, waits for the 64 to come back, and
// writes again. Nagle is left as it is, as in the C programs.
//
// Usage: node tcp_echo.js [n [conns]]   (default n 100000, conns 1)
'use strict';
const net = require('net');
const b = require('./bench_common.js');

const MSG = 64;
const conns = process.argv.length > 3 ? Number(process.argv[3]) : 1;
let n = b.argN(100000);
b.check(Number.isInteger(conns) && conns > 0 && conns <= n, 'conns');
n -= n % conns;
const message = Buffer.alloc(MSG);
for (let i = 0; i < MSG; i++) message[i] = 97 + (i % 26);

const server = net.createServer((sock) => {
  let pending = Buffer.alloc(0);
  sock.on('data', (d) => {
    pending = pending.length ? Buffer.concat([pending, d]) : d;
    while (pending.length >= MSG) {
      sock.write(pending.subarray(0, MSG));
      pending = pending.subarray(MSG);
    }
  });
  sock.on('error', b.fail);
});

function client(port, rounds) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = 0;
    let chunks = [];
    sock.on('connect', () => sock.write(message));
    sock.on('data', (d) => {
      got += d.length;
      chunks.push(d);
      if (got < MSG) return;
      const back = Buffer.concat(chunks);
      b.check(back.length === MSG && back.equals(message), 'the echo differs');
      got = 0;
      chunks = [];
      if (--rounds === 0) {
        sock.end();
        resolve();
      } else {
        sock.write(message);
      }
    });
    sock.on('error', reject);
  });
}

server.listen(0, '127.0.0.1', async () => {
  const port = server.address().port;
  const baseline = b.rssKiB();
  const c0 = process.cpuUsage();
  const t0 = b.wall();
  const all = [];
  for (let i = 0; i < conns; i++) all.push(client(port, n / conns));
  try {
    await Promise.all(all);
  } catch (err) {
    b.fail(err);
  }
  const wall = b.wall() - t0;
  const cpu = b.cpuSince(c0);
  const created = b.maxrssKiB();
  server.close();
  b.print({ workload: conns > 1 ? 'tcp_echo_100' : 'tcp_echo', impl: 'node',
            n, wall, cpu, baseline, created, perOpCpu: false });
});
