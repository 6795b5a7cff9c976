// Private memcached servers for the tests, the demo and the benchmark: started on a free loopback
// port (or a UNIX socket in a private temporary folder), waited for until they accept
// connections, stopped by pid. Plain JavaScript, so that the demo and the benchmark run without a
// build step; memcached-server.d.ts types it for the tests (test/harness/memcached.ts).
//
// The binary is $MEMCACHED_BIN, else the first `memcached` on PATH; when there is none, starting a
// server throws at once, naming what to install (scripts/test-unit-isolated.sh relies on that:
// a unit test must never start one). A caller may name another binary with `executable` (the TLS
// tests run a newer memcached: test/harness/tls.ts).
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

/** The memcached to run: $MEMCACHED_BIN, else the first one on PATH; throws when there is none. */
function memcachedBinary() {
  const given = process.env.MEMCACHED_BIN;
  if (given) {
    if (!fs.existsSync(given)) throw new Error(`MEMCACHED_BIN=${given} does not exist`);
    return given;
  }
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, 'memcached');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  throw new Error('memcached not found on PATH: install it (apt-get install -y memcached) or set MEMCACHED_BIN');
}

/** A TCP port nothing listens on at the moment, on `host`. */
function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Whether a connection to `options` (net.connect's) succeeds now. */
function canConnect(options) {
  return new Promise((resolve) => {
    const socket = net.connect(options);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Resolves once something accepts connections on host:port; rejects after `ms`. */
async function waitForPort(port, host = '127.0.0.1', ms = 10_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await canConnect({ host, port })) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`nothing listens on ${host}:${port} after ${ms} ms`);
}

const exited = (child) => child.exitCode !== null || child.signalCode !== null;

/** Waits until memcached `child` accepts connections at `options`; throws if it exits first. */
async function waitUntilListening(child, options, what) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (exited(child)) throw new Error(`memcached (${what}) exited with ${child.exitCode ?? child.signalCode}`);
    if (await canConnect(options)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGKILL');
  throw new Error(`memcached (${what}) did not start listening within 10 s`);
}

/** SIGTERM, then SIGKILL after 2 s; resolves once the process is gone (and `cleanup` ran). */
function stopper(child, cleanup) {
  return () =>
    new Promise((resolve) => {
      const done = () => {
        if (cleanup) cleanup();
        resolve();
      };
      if (exited(child)) return done();
      child.once('exit', done);
      process.kill(child.pid, 'SIGTERM');
      setTimeout(() => {
        if (!exited(child)) process.kill(child.pid, 'SIGKILL');
      }, 2000).unref();
    });
}

/** SIGKILL, as a crash; resolves once the process is gone. */
function killer(child) {
  return () =>
    new Promise((resolve) => {
      if (exited(child)) return resolve();
      child.once('exit', () => resolve());
      process.kill(child.pid, 'SIGKILL');
    });
}

function spawnMemcached(args, env, executable) {
  // memcached refuses to run as root without -u.
  const user = process.getuid && process.getuid() === 0 ? ['-u', 'nobody'] : [];
  if (executable && !fs.existsSync(executable)) throw new Error(`memcached executable ${executable} does not exist`);
  const child = spawn(executable || memcachedBinary(), [...user, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: env || process.env });
  // Drained, not shown: memcached's complaints would interleave with the caller's output. A
  // server that fails to start says so through its exit code (waitUntilListening).
  child.stderr.resume();
  return child;
}

/**
 * Starts memcached with `options.args` (nothing else but the address and, as root, `-u nobody`:
 * memory, connections and threads are the caller's choice) and resolves once it accepts
 * connections (a plain connect, so a TLS listener, -Z, is waited for the same way).
 * `options.executable` is the binary to run, memcachedBinary() by default.
 */
async function startMemcached(options = {}) {
  const args = options.args || [];
  if (options.unix || options.socket) {
    // options.socket: a path of the caller's, which stays (to start a server there again).
    const dir = options.socket ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'lmc-'));
    if (dir) fs.chmodSync(dir, 0o777); // memcached may run as nobody
    else fs.chmodSync(path.dirname(options.socket), 0o777);
    const socket = options.socket || path.join(dir, 'memcached.sock');
    const child = spawnMemcached(['-s', socket, '-a', '0777', ...args], options.env, options.executable);
    await waitUntilListening(child, { path: socket }, socket);
    return {
      spec: socket,
      host: socket,
      port: 0,
      socket,
      pid: child.pid,
      stop: stopper(child, () => fs.rmSync(dir || socket, { recursive: true, force: true })),
      kill: killer(child),
    };
  }
  const host = options.host || '127.0.0.1';
  for (let attempt = 0; ; attempt++) {
    const port = options.port || (await freePort(host));
    const child = spawnMemcached(['-l', host, '-p', String(port), '-U', options.udp ? String(port) : '0', ...args], options.env, options.executable);
    try {
      await waitUntilListening(child, { host, port }, `${host}:${port}`);
    } catch (error) {
      // Another process may have taken the port between probing and binding: try another.
      if (attempt < 4) continue;
      throw error;
    }
    const spec = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    return { spec, host, port, pid: child.pid, stop: stopper(child), kill: killer(child) };
  }
}

module.exports = { memcachedBinary, freePort, canConnect, waitForPort, startMemcached };
