/**
 * Real memcached servers for tests: started on free loopback ports (or UNIX sockets in a
 * private temporary folder), waited for until they accept connections, stopped by pid. The
 * starting and stopping is scripts/lib/memcached-server.js, shared with the demo and the
 * benchmark; this adds the tests' settings, SASL and a server that never answers.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { MemcachedServer, StartOptions, startMemcached as start } from '../../scripts/lib/memcached-server';

/** The two protocols every operation is tested in: [name, the `binary` option]. */
export const PROTOCOLS: Array<[name: string, binary: boolean]> = [
  ['text', false],
  ['binary', true],
];

export type { MemcachedServer, StartOptions } from '../../scripts/lib/memcached-server';
export { freePort } from '../../scripts/lib/memcached-server';

/**
 * memcached with the tests' settings (64 MB, 1024 connections, 2 threads: the machine has two
 * cores), then `options.args`, which may override them.
 */
export function startMemcached(options: StartOptions = {}): Promise<MemcachedServer> {
  return start({ ...options, args: ['-m', '64', '-c', '1024', '-t', '2', ...(options.args ?? [])] });
}

export interface SaslServer extends MemcachedServer {
  username: string;
  password: string;
}

/**
 * A memcached that requires SASL (PLAIN, from a private sasldb; docs/libmemcached-notes.md, SASL).
 * Debian's memcached reads its SASL configuration from SASL_CONF_PATH.
 */
export async function startSaslMemcached(options: StartOptions = {}): Promise<SaslServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lmc-sasl-'));
  fs.chmodSync(dir, 0o755);
  const db = path.join(dir, 'sasldb2');
  fs.writeFileSync(path.join(dir, 'memcached.conf'), `mech_list: plain\nsasldb_path: ${db}\n`);
  const username = 'testuser';
  const password = 'test-password';
  const saslpasswd = spawnSync('saslpasswd2', ['-p', '-a', 'memcached', '-c', '-f', db, username], { input: password });
  if (saslpasswd.status !== 0) throw new Error(`saslpasswd2 failed: ${saslpasswd.stderr} (install sasl2-bin)`);
  fs.chmodSync(db, 0o644); // memcached runs as nobody when the tests run as root
  // `options` may name another memcached and add arguments (TLS: test/harness/tls.ts).
  const server = await startMemcached({
    ...options,
    args: ['-S', ...(options.args ?? [])],
    env: { ...(options.env ?? process.env), SASL_CONF_PATH: dir },
  });
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
