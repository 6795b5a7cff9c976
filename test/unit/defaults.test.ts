/**
 * What a user gets without saying: the servers of `new Client()`, and a TypeError naming the
 * options for any option name a call does not take (from JavaScript it would be ignored).
 */
import { Client } from '../../lib';
import { freePort } from '../harness/memcached';

describe('servers left out', () => {
  const saved = process.env.MEMCACHED_SERVERS;
  afterEach(() => {
    if (saved === undefined) delete process.env.MEMCACHED_SERVERS;
    else process.env.MEMCACHED_SERVERS = saved;
  });

  test('127.0.0.1:11211 when MEMCACHED_SERVERS is unset or blank', async () => {
    for (const value of [undefined, '', '  ']) {
      if (value === undefined) delete process.env.MEMCACHED_SERVERS;
      else process.env.MEMCACHED_SERVERS = value;
      const mc = new Client();
      expect(mc.servers).toEqual(['127.0.0.1:11211']);
      await mc.close();
    }
  });

  test('MEMCACHED_SERVERS, comma-separated, read when the client is made', async () => {
    process.env.MEMCACHED_SERVERS = 'cache-a:11311, cache-b, /run/memcached.sock';
    const mc = new Client(undefined, { binary: true });
    expect(mc.servers).toEqual(['cache-a:11311', 'cache-b:11211', '/run/memcached.sock']);
    expect(mc.binary).toBe(true);
    await mc.close();
    process.env.MEMCACHED_SERVERS = 'udp:10.0.0.1';
    const udp = new Client();
    expect(udp.servers).toEqual(['udp:10.0.0.1:11211']);
    await udp.close();
  });

  test('a bad MEMCACHED_SERVERS is the same error as bad servers given', () => {
    process.env.MEMCACHED_SERVERS = 'host:99999';
    expect(() => new Client()).toThrow(RangeError);
  });

  test('servers given win over MEMCACHED_SERVERS', async () => {
    process.env.MEMCACHED_SERVERS = 'elsewhere:1';
    const mc = new Client(['127.0.0.1:11311']);
    expect(mc.servers).toEqual(['127.0.0.1:11311']);
    await mc.close();
  });
});

describe('unknown option names', () => {
  let mc: Client;
  beforeAll(async () => {
    // Nothing listens there: a call that got past its checks would fail with a ConnectionError.
    mc = new Client([`127.0.0.1:${await freePort()}`]);
  });
  afterAll(() => mc.close());

  test('a Client option is a TypeError listing the options', () => {
    expect(() => new Client(['127.0.0.1:1'], { timeout: 100 } as object)).toThrow(
      /^Client: unknown option "timeout"; the options are binary, username, password, behaviors, failover, connections, maxValueSize, minCompressLen, compressLevel, namespace, tls, serialize, deserialize$/,
    );
    // Undefined counts as absent, as for the options themselves (spreading partial configs).
    expect(() => new Client(['127.0.0.1:1'], { timeout: undefined } as object).close()).not.toThrow();
  });

  test.each([
    ['set', () => mc.set('k', 'v', { ttl: 60 } as object), /^set: unknown option "ttl"; the options are time, minCompressLen, compressLevel$/],
    ['add', () => mc.add('k', 'v', { expires: 1 } as object), /^add: unknown option "expires"/],
    ['cas', () => mc.cas('k', 'v', 1n, { ttl: 1 } as object), /^cas: unknown option "ttl"/],
    ['setMulti', () => mc.setMulti({ k: 'v' }, { prefix: 'p:' } as object), /^setMulti: unknown option "prefix"; the options are time, minCompressLen, compressLevel, keyPrefix$/],
    ['getMulti', () => mc.getMulti(['k'], { prefix: 'p:' } as object), /^getMulti: unknown option "prefix"; the options are keyPrefix$/],
    ['deleteMulti', () => mc.deleteMulti(['k'], { time: 1 } as object), /^deleteMulti: unknown option "time"/],
    ['incrMulti', () => mc.incrMulti(['k'], { by: 2 } as object), /^incrMulti: unknown option "by"; the options are keyPrefix, delta$/],
  ])('%s rejects with a TypeError and no I/O', async (_name, call, message) => {
    const error = await call().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(message);
  });
});
