// A private memcached on a free loopback port, for the demo and the benchmark (plain
// JavaScript, so that both run without a build step of their own; the tests use
// test/harness/memcached.ts, which adds UNIX sockets and UDP).
'use strict';
const { spawn } = require('node:child_process');
const net = require('node:net');

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, ms = 10000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const up = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

/** Starts `memcached` with `args` on a free port; resolves once it accepts connections. */
async function startMemcached(args = []) {
  const port = await freePort();
  // memcached refuses to run as root without -u.
  const user = process.getuid && process.getuid() === 0 ? ['-u', 'nobody'] : [];
  const child = spawn('memcached', [...user, '-l', '127.0.0.1', '-p', String(port), '-U', '0', ...args], {
    stdio: 'ignore',
  });
  try {
    await waitForPort(port);
  } catch (error) {
    child.kill();
    throw error;
  }
  return { host: '127.0.0.1', port, spec: `127.0.0.1:${port}`, stop: () => child.kill() };
}

module.exports = { freePort, waitForPort, startMemcached };
