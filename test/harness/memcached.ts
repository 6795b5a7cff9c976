/**
 * Real memcached servers for tests: started on free loopback ports (or UNIX sockets in a
 * private temporary folder), waited for until they accept connections, stopped by pid.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** The two protocols every operation is tested in: [name, the `binary` option]. */
export const PROTOCOLS: Array<[name: string, binary: boolean]> = [
  ['text', false],
  ['binary', true],
];

export interface MemcachedServer {
  /** The spec to hand a Client: 'host:port' or the socket path. */
  spec: string;
  host: string;
  port: number;
  socket?: string;
  pid: number;
  stop(): Promise<void>;
  /** SIGKILL, as a crash: no goodbye to the clients. Resolves once the process is gone. */
  kill(): Promise<void>;
}

export interface StartOptions {
  /** Listen on a UNIX socket instead of TCP. */
  unix?: boolean;
  /** Also listen for UDP on the same port number. */
  udp?: boolean;
  /** Extra command-line arguments for memcached. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  host?: string;
  /** A fixed port (to bring a stopped server back where it was); otherwise a free one. */
  port?: number;
}

const MEMCACHED = process.env.MEMCACHED_BIN ?? '/usr/bin/memcached';

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function canConnect(options: net.NetConnectOpts): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(options);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitUntilListening(child: ChildProcess, options: net.NetConnectOpts, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`memcached (${what}) exited with ${child.exitCode ?? child.signalCode}`);
    }
    if (await canConnect(options)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGKILL');
  throw new Error(`memcached (${what}) did not start listening within 10 s`);
}

function stopper(child: ChildProcess, cleanup?: () => void): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      const done = () => {
        cleanup?.();
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', done);
      process.kill(child.pid as number, 'SIGTERM');
      setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) process.kill(child.pid as number, 'SIGKILL');
      }, 2000).unref();
    });
}

function killer(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      process.kill(child.pid as number, 'SIGKILL');
    });
}

function spawnMemcached(args: string[], env?: NodeJS.ProcessEnv): ChildProcess {
  if (!fs.existsSync(MEMCACHED)) {
    throw new Error(`${MEMCACHED} not found: install memcached (apt-get install -y memcached)`);
  }
  // memcached refuses to run as root without -u.
  const user = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  const child = spawn(MEMCACHED, [...user, '-m', '64', '-c', '1024', '-t', '2', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: env ?? process.env,
  });
  child.stderr?.resume();
  return child;
}

export async function startMemcached(options: StartOptions = {}): Promise<MemcachedServer> {
  if (options.unix) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lmc-'));
    fs.chmodSync(dir, 0o777);
    const socket = path.join(dir, 'memcached.sock');
    const child = spawnMemcached(['-s', socket, '-a', '0777', ...(options.args ?? [])], options.env);
    await waitUntilListening(child, { path: socket }, socket);
    return {
      spec: socket,
      host: socket,
      port: 0,
      socket,
      pid: child.pid as number,
      stop: stopper(child, () => fs.rmSync(dir, { recursive: true, force: true })),
      kill: killer(child),
    };
  }
  const host = options.host ?? '127.0.0.1';
  for (let attempt = 0; ; attempt++) {
    const port = options.port ?? (await freePort(host));
    const child = spawnMemcached(
      ['-l', host, '-p', String(port), '-U', options.udp ? String(port) : '0', ...(options.args ?? [])],
      options.env,
    );
    try {
      await waitUntilListening(child, { host, port }, `${host}:${port}`);
    } catch (error) {
      // Another process may have taken the port between probing and binding: try another.
      if (attempt < 4) continue;
      throw error;
    }
    const spec = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    return { spec, host, port, pid: child.pid as number, stop: stopper(child), kill: killer(child) };
  }
}

export interface SaslServer extends MemcachedServer {
  username: string;
  password: string;
}

/**
 * A memcached that requires SASL (PLAIN, from a private sasldb; docs/libmemcached-notes.md, SASL).
 * Debian's memcached reads its SASL configuration from SASL_CONF_PATH.
 */
export async function startSaslMemcached(): Promise<SaslServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lmc-sasl-'));
  fs.chmodSync(dir, 0o755);
  const db = path.join(dir, 'sasldb2');
  fs.writeFileSync(path.join(dir, 'memcached.conf'), `mech_list: plain\nsasldb_path: ${db}\n`);
  const username = 'testuser';
  const password = 'test-password';
  const saslpasswd = spawnSync('saslpasswd2', ['-p', '-a', 'memcached', '-c', '-f', db, username], { input: password });
  if (saslpasswd.status !== 0) throw new Error(`saslpasswd2 failed: ${saslpasswd.stderr} (install sasl2-bin)`);
  fs.chmodSync(db, 0o644); // memcached runs as nobody when the tests run as root
  const server = await startMemcached({ args: ['-S'], env: { ...process.env, SASL_CONF_PATH: dir } });
  const stop = server.stop;
  return {
    ...server,
    username,
    password,
    stop: async () => {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface HungServer {
  /** 'host:port', for a Client. */
  spec: string;
  stop(): Promise<void>;
}

/**
 * A server that accepts connections and never answers (the hung memcached of
 * docs/libmemcached-notes.md, Failure handling), in this process: its sockets are paused, never read or written.
 */
export async function startHungServer(): Promise<HungServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.pause();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    spec: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
