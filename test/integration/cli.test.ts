/**
 * bin `libmemcached` run as a user runs it, a child process (dist/cli/index.js, what npx runs)
 * against real memcached servers: every command, its output with and without --json, its exit
 * status (0 done, 1 missing, 2 error), stdin for set, the environment, SASL and TLS.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from '../../lib';
import { MemcachedServer, freePort, startMemcached, startSaslMemcached } from '../harness/memcached';
import { TlsServer, removeTlsCertificates, startTlsMemcached, tlsCertificates } from '../harness/tls';

const cli = path.join(__dirname, '..', '..', 'dist', 'cli', 'index.js');

interface Run {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs the CLI with `args`; `input` is its stdin; MEMCACHED_* variables only as given. */
function libmemcached(args: string[], options: { input?: Buffer | string; env?: Record<string, string> } = {}): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MEMCACHED_')));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin.end(options.input ?? '');
  });
}

let servers: MemcachedServer[];
let list: string;
let mc: Client;
beforeAll(async () => {
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run npm run build:ts (or npm run build)`);
  servers = await Promise.all([startMemcached(), startMemcached()]);
  list = servers.map((s) => s.spec).join(',');
  mc = new Client(servers.map((s) => s.spec));
});
afterAll(async () => {
  await mc?.close();
  await Promise.all(servers.map((s) => s.stop()));
});

describe('get, set, delete', () => {
  test('set then get: the raw value on stdout, exit 0', async () => {
    expect(await libmemcached(['set', 'cli:a', 'hello world', '--servers', list])).toMatchObject({ status: 0, stderr: '' });
    const run = await libmemcached(['get', 'cli:a', '--servers', list]);
    expect(run).toMatchObject({ status: 0, stderr: '' });
    expect(run.stdout.toString()).toBe('hello world');
    // Stored as text, as pylibmc stores a str: this library reads it back as a string.
    expect(await mc.get('cli:a')).toBe('hello world');
  });

  test('set KEY - stores stdin as bytes, exactly; get writes them back', async () => {
    const bytes = Buffer.from([0, 1, 2, 255, 10, 13, 0x80]);
    expect((await libmemcached(['set', 'cli:bin', '-', '--servers', list], { input: bytes })).status).toBe(0);
    expect(await mc.get('cli:bin')).toEqual(bytes);
    expect((await libmemcached(['get', 'cli:bin', '--servers', list])).stdout).toEqual(bytes);
  });

  test('a compressed value is printed inflated', async () => {
    const text = 'compressible '.repeat(1000);
    await mc.set('cli:z', text, { minCompressLen: 1 });
    expect((await libmemcached(['get', 'cli:z', '--servers', list])).stdout.toString()).toBe(text);
  });

  test('--ttl: the value expires', async () => {
    // 3 s: memcached's clock ticks once a second, so the item lives 2 to 3 s, long enough to be
    // read after the child process has exited on a slow machine.
    expect((await libmemcached(['set', 'cli:ttl', 'v', '--ttl', '3', '--servers', list])).status).toBe(0);
    expect(await mc.get('cli:ttl')).toBe('v');
    await new Promise((r) => setTimeout(r, 3200));
    expect(await mc.get('cli:ttl')).toBeUndefined();
  });

  test("a key named like an object's own property is a key like any other", async () => {
    const run = await libmemcached(['get', 'constructor', '--servers', list]);
    expect({ status: run.status, stdout: run.stdout.toString(), stderr: run.stderr }).toEqual({ status: 1, stdout: '', stderr: 'libmemcached: constructor: not found\n' });
    const asJson = await libmemcached(['get', 'toString', 'hasOwnProperty', '--servers', list, '--json']);
    expect(asJson.status).toBe(1);
    expect(JSON.parse(asJson.stdout.toString())).toEqual({});
  });

  test('a miss exits 1 with a message on stderr; several keys: each value and a newline', async () => {
    await mc.setMulti({ 'cli:m1': 'one', 'cli:m2': 'two' });
    const miss = await libmemcached(['get', 'cli:none', '--servers', list]);
    expect(miss.status).toBe(1);
    expect(miss.stdout.length).toBe(0);
    expect(miss.stderr).toBe('libmemcached: cli:none: not found\n');
    const several = await libmemcached(['get', 'cli:m1', 'cli:none', 'cli:m2', '--servers', list]);
    expect(several.status).toBe(1);
    expect(several.stdout.toString()).toBe('one\ntwo\n');
    expect(several.stderr).toBe('libmemcached: cli:none: not found\n');
  });

  test('--json: values, flags and sizes; bytes that are not UTF-8 as base64', async () => {
    await mc.set('cli:j', Buffer.from([0xff, 0xfe]));
    const run = await libmemcached(['get', 'cli:a', 'cli:j', 'cli:none', '--servers', list, '--json']);
    expect(run.status).toBe(1);
    expect(JSON.parse(run.stdout.toString())).toEqual({
      'cli:a': { value: 'hello world', flags: 16, bytes: 11 },
      'cli:j': { base64: '//4=', flags: 0, bytes: 2 },
    });
  });

  test('delete: exit 0 when every key was there, 1 naming the missing ones', async () => {
    await mc.setMulti({ 'cli:d1': 1, 'cli:d2': 2 });
    expect(await libmemcached(['delete', 'cli:d1', 'cli:d2', '--servers', list])).toMatchObject({ status: 0, stderr: '' });
    expect(await mc.getMulti(['cli:d1', 'cli:d2'])).toEqual({});
    const again = await libmemcached(['delete', 'cli:d1', '--servers', list, '--json']);
    expect(again.status).toBe(1);
    expect(JSON.parse(again.stdout.toString())).toEqual({ 'cli:d1': false });
  });
});

describe('stats, flush, ping, hash, bench', () => {
  test('stats: every server, STAT lines; --json; a group', async () => {
    const run = await libmemcached(['stats', '--servers', list]);
    expect(run.status).toBe(0);
    const text = run.stdout.toString();
    for (const s of servers) expect(text).toContain(`${s.host}:${s.port}`);
    expect(text).toMatch(/^ {2}STAT pid \d+$/m);
    const asJson = JSON.parse((await libmemcached(['stats', 'settings', '--servers', list, '--json'])).stdout.toString());
    expect(Object.keys(asJson)).toHaveLength(2);
    expect(Object.values(asJson)[0]).toHaveProperty('maxconns');
  });

  test('flush empties every server', async () => {
    await mc.setMulti({ 'cli:f1': 1, 'cli:f2': 2, 'cli:f3': 3 });
    expect(await libmemcached(['flush', '--servers', list])).toMatchObject({ status: 0, stderr: '' });
    expect(await mc.getMulti(['cli:f1', 'cli:f2', 'cli:f3'])).toEqual({});
  });

  test('ping: each server ok with a time; a dead one FAILED and exit 2', async () => {
    const run = await libmemcached(['ping', '--servers', list]);
    expect(run.status).toBe(0);
    expect(run.stdout.toString()).toMatch(new RegExp(`^127\\.0\\.0\\.1:${servers[0].port} ok \\d+\\.\\d+ ms\\n127\\.0\\.0\\.1:${servers[1].port} ok`));
    const dead = await freePort();
    const failed = await libmemcached(['ping', '--servers', `${servers[0].spec},127.0.0.1:${dead}`, '--timeout', '300', '--json']);
    expect(failed.status).toBe(2);
    const results = JSON.parse(failed.stdout.toString());
    expect(results[0]).toMatchObject({ ok: true });
    expect(results[1]).toMatchObject({ server: `127.0.0.1:${dead}`, ok: false });
    expect(results[1].error).toMatch(/CONNECTION FAILURE|connect/i);
  });

  test('hash names the server a key maps to, as the library places it', async () => {
    const keys = ['alpha', 'beta', 'gamma', 'delta'];
    const run = await libmemcached(['hash', ...keys, '--servers', list, '--json']);
    expect(run.status).toBe(0);
    const placed = JSON.parse(run.stdout.toString());
    for (const k of keys) {
      const index = await mc.hash(k);
      expect(placed[k]).toEqual({ server: `127.0.0.1:${servers[index].port}`, index });
    }
  });

  test('bench: a short load with ops/s and latency percentiles', async () => {
    const run = await libmemcached(['bench', '--seconds', '1', '--concurrency', '16', '--keys', '100', '--servers', list, '--json']);
    expect(run).toMatchObject({ status: 0, stderr: '' });
    const result = JSON.parse(run.stdout.toString());
    expect(result.operations).toBeGreaterThan(100);
    expect(result.failures).toBe(0);
    expect(result.gets + result.sets).toBe(result.operations);
    expect(result.latencyMs.p50).toBeGreaterThan(0);
    expect(result.latencyMs.p50).toBeLessThanOrEqual(result.latencyMs.p99);
    const text = await libmemcached(['bench', '--seconds', '1', '--servers', list]);
    expect(text.stdout.toString()).toMatch(/^\d+ operations in [\d.]+ s .*: \d+ ops\/s\nlatency ms: p50 [\d.]+, p90 [\d.]+, p99 [\d.]+, max [\d.]+\n$/);
  });
});

describe('servers, errors, help', () => {
  test('MEMCACHED_SERVERS when --servers is not given', async () => {
    await mc.set('cli:env', 'from env');
    const run = await libmemcached(['get', 'cli:env'], { env: { MEMCACHED_SERVERS: list } });
    expect(run.stdout.toString()).toBe('from env');
  });

  test('an unreachable server: exit 2 with the error; --json gives it as JSON', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const run = await libmemcached(['get', 'k', '--servers', dead, '--timeout', '300']);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^libmemcached: get\(k\): MEMCACHED_CONNECTION_FAILURE .*\[127\.0\.0\.1:\d+\]\n$/);
    const asJson = await libmemcached(['set', 'k', 'v', '--servers', dead, '--timeout', '300', '--json']);
    expect(asJson.status).toBe(2);
    expect(JSON.parse(asJson.stdout.toString()).error).toMatchObject({ name: 'ConnectionError', code: 'MEMCACHED_CONNECTION_FAILURE' });
  });

  test('usage mistakes exit 2 and say what is wrong', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /Usage: libmemcached COMMAND/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['get'], /get: give at least one key/],
      [['set', 'k'], /set: give KEY and VALUE/],
      [['set', 'k', 'v', '--ttl', 'soon'], /--ttl must be a whole number of seconds/],
      [['get', 'k', '--bogus'], /Unknown option '--bogus'/],
      [['get', 'k', '--servers', 'host:99999'], /port 99999 out of range/],
      [['get', 'k', '--username', 'u'], /--username and --password go together/],
    ];
    for (const [args, message] of cases) {
      const run = await libmemcached(args);
      expect({ args, status: run.status }).toEqual({ args, status: 2 });
      expect(run.stdout.toString() + run.stderr).toMatch(message);
    }
  });

  test('--help: the commands, and each command', async () => {
    const top = await libmemcached(['--help']);
    expect(top.status).toBe(0);
    for (const name of ['get', 'set', 'delete', 'stats', 'flush', 'ping', 'bench', 'hash']) expect(top.stdout.toString()).toMatch(new RegExp(`^  ${name} `, 'm'));
    const set = await libmemcached(['set', '--help']);
    expect(set.status).toBe(0);
    expect(set.stdout.toString()).toMatch(/^Usage: libmemcached set KEY VALUE \[--ttl SECONDS\]/);
    expect(set.stdout.toString()).toMatch(/--servers LIST/);
  });
});

describe('SASL and TLS', () => {
  test('--username/--password (or the environment) authenticate; a wrong password is exit 2', async () => {
    const sasl = await startSaslMemcached();
    try {
      const auth = ['--servers', sasl.spec];
      const env = { MEMCACHED_USERNAME: sasl.username, MEMCACHED_PASSWORD: sasl.password };
      expect((await libmemcached(['set', 'cli:s', 'secret', ...auth, '--username', sasl.username, '--password', sasl.password])).status).toBe(0);
      expect((await libmemcached(['get', 'cli:s', ...auth], { env })).stdout.toString()).toBe('secret');
      const wrong = await libmemcached(['get', 'cli:s', ...auth, '--username', sasl.username, '--password', 'wrong']);
      expect(wrong.status).toBe(2);
      expect(wrong.stderr).toMatch(/AUTH/);
    } finally {
      await sasl.stop();
    }
  });

  test('--tls-ca verifies; without the CA, exit 2 with the TLS reason', async () => {
    const certs = tlsCertificates();
    let tlsServer: TlsServer | undefined;
    try {
      tlsServer = await startTlsMemcached();
      const args = ['--servers', tlsServer.spec];
      expect((await libmemcached(['set', 'cli:t', 'sealed', ...args, '--tls-ca', certs.ca.certPath])).status).toBe(0);
      expect((await libmemcached(['get', 'cli:t', ...args, '--tls-ca', certs.ca.certPath])).stdout.toString()).toBe('sealed');
      const unverified = await libmemcached(['get', 'cli:t', ...args, '--tls']);
      expect(unverified.status).toBe(2);
      expect(unverified.stderr).toMatch(/TLS: .*certificate verify failed/);
    } finally {
      await tlsServer?.stop();
      removeTlsCertificates();
    }
  }, 600_000);
});
