/**
 * Transports against real servers: a UNIX socket, IPv6, UDP (what libmemcached supports over it,
 * and a clear refusal without I/O for the rest) and SASL.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { AuthFailure, Client, NotSupportedError, supportSasl } from '../../lib';
import { MemcachedServer, SaslServer, startMemcached, startSaslMemcached } from '../harness/memcached';
import { rawGet } from '../harness/raw';

describe('UNIX socket', () => {
  let server: MemcachedServer;
  beforeAll(async () => {
    server = await startMemcached({ unix: true });
  });
  afterAll(() => server?.stop());

  test.each([false, true])('binary %p: every kind of operation works', async (binary) => {
    const mc = new Client([server.spec], { binary });
    expect(mc.servers).toEqual([server.socket]);
    expect(await mc.set('u:k', 'v')).toBe(true);
    expect(await mc.get('u:k')).toBe('v');
    expect(await mc.setMulti({ 'u:a': 1, 'u:b': 2 })).toEqual([]);
    expect(await mc.getMulti(['u:a', 'u:b', 'u:c'])).toEqual({ 'u:a': 1, 'u:b': 2 });
    expect(await mc.incr('u:a', 5)).toBe(6);
    const stats = await mc.getStats();
    expect(stats[0][0]).toBe(`${server.socket}:0 (0)`);
    await mc.close();
  });
});

describe('TCP and a UNIX socket in one client', () => {
  let tcp: MemcachedServer;
  let unix: MemcachedServer;
  beforeAll(async () => {
    [tcp, unix] = await Promise.all([startMemcached(), startMemcached({ unix: true })]);
  });
  afterAll(() => Promise.all([tcp?.stop(), unix?.stop()]));

  // libmemcached keeps the transport per server, so these mix (pylibmc allows it too); only UDP
  // is per client, and mixing it is refused (operations.test.ts).
  test('keys spread over both, each found on its own server', async () => {
    const mc = new Client([tcp.spec, unix.spec]);
    const keys = Array.from({ length: 40 }, (_, i) => `mix:${i}`);
    expect(await mc.setMulti(Object.fromEntries(keys.map((k) => [k, k])))).toEqual([]);
    const home = await Promise.all(keys.map((k) => mc.hash(k)));
    expect(new Set(home)).toEqual(new Set([0, 1]));
    const onTcp = await Promise.all(keys.map((k) => rawGet(tcp.port, k)));
    keys.forEach((k, i) => expect(onTcp[i] !== undefined).toBe(home[i] === 0));
    expect(await mc.getMulti(keys)).toEqual(Object.fromEntries(keys.map((k) => [k, k])));
    await mc.close();
  });
});

describe('IPv6', () => {
  let server: MemcachedServer;
  beforeAll(async () => {
    server = await startMemcached({ host: '::1' });
  });
  afterAll(() => server?.stop());

  test.each([false, true])('binary %p: [::1]:port works', async (binary) => {
    expect(server.spec).toMatch(/^\[::1\]:\d+$/);
    const mc = new Client([server.spec], { binary });
    expect(await mc.set('v6:k', 'v')).toBe(true);
    expect(await mc.get('v6:k')).toBe('v');
    expect(await mc.getMulti(['v6:k'])).toEqual({ 'v6:k': 'v' });
    await mc.close();
  });
});

describe('UDP', () => {
  let server: MemcachedServer;
  let mc: Client;
  beforeAll(async () => {
    server = await startMemcached({ udp: true });
    mc = new Client([`udp:${server.spec}`]);
  });
  afterAll(async () => {
    await mc.close();
    await server?.stop();
  });

  test('set, setMulti, delete and deleteMulti are sent (fire and forget), and arrive', async () => {
    expect(await mc.set('udp:k', 'over udp')).toBe(true);
    expect(await mc.setMulti({ 'udp:a': 'A', 'udp:b': 'B' })).toEqual([]);
    // UDP gives no answer: check on the server, over TCP, once the datagrams have landed.
    const arrived = async (key: string) => {
      for (let i = 0; i < 50; i++) {
        const item = await rawGet(server.port, key);
        if (item) return item.bytes.toString();
        await new Promise((r) => setTimeout(r, 20));
      }
      return undefined;
    };
    expect([await arrived('udp:k'), await arrived('udp:a'), await arrived('udp:b')]).toEqual(['over udp', 'A', 'B']);
    expect(await mc.delete('udp:k')).toBe(true);
    expect(await mc.deleteMulti(['udp:a', 'udp:b'])).toBe(true);
    for (let i = 0; i < 50 && (await rawGet(server.port, 'udp:b')) !== undefined; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await rawGet(server.port, 'udp:b')).toBeUndefined();
  });

  test.each([
    ['get', (c: Client) => c.get('k')],
    ['getMulti', (c: Client) => c.getMulti(['k'])],
    ['gets', (c: Client) => c.gets('k')],
    ['add', (c: Client) => c.add('k', 'v')],
    ['replace', (c: Client) => c.replace('k', 'v')],
    ['append', (c: Client) => c.append('k', 'v')],
    ['cas', (c: Client) => c.cas('k', 'v', 1n)],
    ['incr', (c: Client) => c.incr('k')],
    ['touch', (c: Client) => c.touch('k', 10)],
    ['getStats', (c: Client) => c.getStats()],
    ['flushAll', (c: Client) => c.flushAll()],
  ])('%s rejects with NotSupportedError, without I/O', async (name, call) => {
    // A UDP "server" with nothing behind it: had anything been sent, nothing would notice, so
    // the proof of "no I/O" is that the refusal names UDP and comes from this client.
    const error = await call(mc).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotSupportedError);
    expect((error as Error).message).toMatch(new RegExp(`^${name}: not supported over UDP`));
  });
});

describe('SASL', () => {
  let server: SaslServer;
  beforeAll(async () => {
    server = await startSaslMemcached();
  });
  afterAll(() => server?.stop());

  test('the shipped build supports SASL', () => {
    expect(supportSasl).toBe(true);
  });

  test('the right credentials work, and imply the binary protocol', async () => {
    const mc = new Client([server.spec], { username: server.username, password: server.password });
    expect(mc.binary).toBe(true);
    expect(await mc.set('sasl:k', 'secret')).toBe(true);
    expect(await mc.get('sasl:k')).toBe('secret');
    expect(await mc.getMulti(['sasl:k'])).toEqual({ 'sasl:k': 'secret' });
    // A clone authenticates with the same credentials.
    const copy = mc.clone();
    expect(await copy.get('sasl:k')).toBe('secret');
    await copy.close();
    await mc.close();
  });

  test('a wrong password rejects with AuthFailure', async () => {
    const mc = new Client([server.spec], { username: server.username, password: 'wrong' });
    await expect(mc.set('sasl:x', 'v')).rejects.toBeInstanceOf(AuthFailure);
    await mc.close();
  });

  test('a client without credentials cannot read or write', async () => {
    const writer = new Client([server.spec], { username: server.username, password: server.password });
    await writer.set('sasl:guarded', 'secret');
    const anonymous = new Client([server.spec], { binary: true });
    await expect(anonymous.set('sasl:y', 'v')).rejects.toBeInstanceOf(AuthFailure);
    // libmemcached reports the refused get as a miss (docs/libmemcached-notes.md, SASL): no value either way.
    const read = await anonymous.get('sasl:guarded').catch((e: unknown) => e);
    expect(read).not.toBe('secret');
    expect(read === undefined || read instanceof Error).toBe(true);
    await anonymous.close();
    await writer.close();
  });

  test('SASL with binary: false is refused', () => {
    expect(() => new Client([server.spec], { username: 'u', password: 'p', binary: false })).toThrow(/binary protocol/);
  });

  // A machine without libsasl2 (node:*-slim, Alpine): the addon opens it only when a client
  // asks for SASL, so everything else works there. Simulated in a child process whose loader is
  // pointed at a library that does not exist (LIBMEMCACHED_SASL_LIBRARY).
  test('without libsasl2 the package loads and works; a SASL client is refused, naming the package', async () => {
    const plain = await startMemcached();
    try {
      const script = `
        const { Client, NotSupportedError, supportSasl } = require('.');
        (async () => {
          const out = { supportSasl };
          const mc = new Client([process.argv[1]]);
          out.set = await mc.set('nosasl:k', 'v');
          out.get = await mc.get('nosasl:k');
          out.getMulti = { ...(await mc.getMulti(['nosasl:k'])) };
          await mc.close();
          try {
            new Client([process.argv[1]], { username: 'u', password: 'p' });
            out.sasl = 'constructed';
          } catch (error) {
            out.sasl = { notSupported: error instanceof NotSupportedError, message: error.message };
          }
          console.log(JSON.stringify(out));
        })().catch((error) => { console.error(error); process.exit(1); });
      `;
      const child = spawnSync(process.execPath, ['-e', script, plain.spec], {
        cwd: path.join(__dirname, '..', '..'),
        encoding: 'utf8',
        timeout: 20_000,
        env: { ...process.env, LIBMEMCACHED_SASL_LIBRARY: 'libsasl2-missing-for-this-test.so.2' },
      });
      // (stderr shown only when the child failed: Node may warn about the environment there.)
      expect({ status: child.status, stderr: child.status === 0 ? '' : child.stderr }).toEqual({ status: 0, stderr: '' });
      const out = JSON.parse(child.stdout);
      expect(out).toMatchObject({ supportSasl: false, set: true, get: 'v', getMulti: { 'nosasl:k': 'v' } });
      expect(out.sasl.notSupported).toBe(true);
      expect(out.sasl.message).toMatch(/Cyrus SASL library .*libsasl2-missing-for-this-test\.so\.2.*apt-get install libsasl2-2/);
    } finally {
      await plain.stop();
    }
  });
});
