// A TCP proxy in front of one memcached, for the benchmark's slow- and hung-server rows: it runs
// in a process of its own (so that its work never lands on the measured client's event loop) and
// takes its mode on standard input, one line at a time: `pass`, `latency <ms>` (every chunk from
// the server delayed, in order) or `hang` (nothing forwarded in either direction, sockets kept).
//
//   node bench/fault-proxy.js <listen port> <target port>
// It prints `ready` once it listens, and `ok` after each mode change.
'use strict';
const net = require('node:net');
const readline = require('node:readline');

const [listenPort, targetPort] = process.argv.slice(2).map(Number);
let mode = { kind: 'pass', ms: 0 };

net
  .createServer((client) => {
    const server = net.connect(targetPort, '127.0.0.1');
    client.setNoDelay(true);
    server.setNoDelay(true);
    // Chunks leave in the order they came, each no earlier than its own deadline.
    let released = 0;
    const forward = (from, to, delayed) =>
      from.on('data', (chunk) => {
        if (mode.kind === 'hang') return;
        if (!delayed || mode.kind !== 'latency') {
          to.write(chunk);
          return;
        }
        const due = Math.max(Date.now() + mode.ms, released);
        released = due;
        setTimeout(() => to.destroyed || to.write(chunk), due - Date.now());
      });
    forward(client, server, false);
    forward(server, client, true);
    const close = () => {
      client.destroy();
      server.destroy();
    };
    client.on('error', close).on('close', close);
    server.on('error', close).on('close', close);
  })
  .listen(listenPort, '127.0.0.1', () => console.log('ready'));

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const [kind, ms] = line.trim().split(/\s+/);
  mode = { kind, ms: Number(ms ?? 0) };
  console.log('ok');
});
process.stdin.on('end', () => process.exit(0));
