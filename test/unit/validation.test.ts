/**
 * Bad input gets a clear, typed error and causes no I/O. The client points at a port where
 * nothing listens: had any of these reached libmemcached, they would fail with a
 * ConnectionError instead of the validation error asserted here.
 */
import { BadKeyProvided, Client, ClientClosedError, ConnectionError, ServerDown } from '../../lib';
import { freePort } from '../harness/memcached';

let mc: Client;
let binaryMc: Client;

beforeAll(async () => {
  const spec = `127.0.0.1:${await freePort()}`;
  mc = new Client([spec]);
  binaryMc = new Client([spec], { binary: true });
});
afterAll(async () => {
  await mc.close();
  await binaryMc.close();
});

const longKey = 'k'.repeat(251);

/** Asserts that an operation got as far as the (absent) server: ConnectionError, then ServerDown. */
async function reachedTheNetwork(attempt: Promise<unknown>): Promise<void> {
  const error = await attempt.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  expect([ConnectionError.retcode, ServerDown.retcode]).toContain((error as { rc?: number }).rc);
}

describe('keys', () => {
  test.each([
    ['empty string', ''],
    ['empty Buffer', Buffer.alloc(0)],
    ['251 bytes', longKey],
    ['126 two-byte characters (252 bytes)', 'é'.repeat(126)],
    ['a space', 'a b'],
    ['CR LF', 'a\r\nset x 0 0 1'],
    ['a tab', 'a\tb'],
    ['NUL', 'a\u0000b'],
    ['DEL', 'a\u007fb'],
    ['a control byte in a Buffer', Buffer.from([0x61, 0x0a])],
  ])('text protocol rejects %s with BadKeyProvided', async (_label, key) => {
    for (const attempt of [
      mc.get(key),
      mc.set(key, 'v'),
      mc.add(key, 'v'),
      mc.replace(key, 'v'),
      mc.append(key, 'v'),
      mc.prepend(key, 'v'),
      mc.delete(key),
      mc.touch(key, 1),
      mc.incr(key),
      mc.decr(key),
      mc.gets(key),
      mc.cas(key, 'v', 1n),
      mc.getMulti(['ok', key]),
      mc.setMulti({ ok: 'v', [key.toString()]: 'v' }),
      mc.deleteMulti([key]),
      mc.incrMulti([key]),
    ]) {
      await expect(attempt).rejects.toBeInstanceOf(BadKeyProvided);
    }
  });

  test('250 bytes is the limit, counted with the key prefix', async () => {
    await expect(mc.getMulti(['k'.repeat(248)], { keyPrefix: 'abc' })).rejects.toBeInstanceOf(BadKeyProvided);
    await reachedTheNetwork(mc.getMulti(['k'.repeat(247)], { keyPrefix: 'abc' }));
    await reachedTheNetwork(mc.get('é'.repeat(125)));
  });

  test('a key prefix with forbidden bytes is rejected', async () => {
    await expect(mc.getMulti(['k'], { keyPrefix: 'a b' })).rejects.toBeInstanceOf(BadKeyProvided);
    await expect(mc.getMulti(['k'], { keyPrefix: 5 as unknown as string })).rejects.toBeInstanceOf(TypeError);
  });

  test('the binary protocol accepts any byte but still enforces the length', async () => {
    await reachedTheNetwork(binaryMc.get('a b\r\n'));
    await expect(binaryMc.get(longKey)).rejects.toBeInstanceOf(BadKeyProvided);
    await expect(binaryMc.get('')).rejects.toBeInstanceOf(BadKeyProvided);
  });

  test.each([
    ['a number', 42],
    ['null', null],
    ['undefined', undefined],
    ['an object', { key: 'k' }],
    ['a symbol', Symbol('k')],
  ])('a key that is %s is a TypeError', async (_label, key) => {
    await expect(mc.get(key as unknown as string)).rejects.toBeInstanceOf(TypeError);
    await expect(mc.set(key as unknown as string, 'v')).rejects.toBeInstanceOf(TypeError);
    await expect(mc.getMulti([key as unknown as string])).rejects.toBeInstanceOf(TypeError);
  });

  test('keys must come in an iterable', async () => {
    await expect(mc.getMulti(42 as unknown as string[])).rejects.toBeInstanceOf(TypeError);
    await expect(mc.deleteMulti(null as unknown as string[])).rejects.toBeInstanceOf(TypeError);
    await expect(mc.setMulti([['a', 'b']] as unknown as Record<string, string>)).rejects.toBeInstanceOf(TypeError);
  });
});

describe('numbers', () => {
  test.each([-1, 1.5, 2 ** 32, NaN, Infinity])('time %p is a RangeError', async (time) => {
    await expect(mc.set('k', 'v', time)).rejects.toBeInstanceOf(RangeError);
    await expect(mc.set('k', 'v', { time })).rejects.toBeInstanceOf(RangeError);
    await expect(mc.touch('k', time)).rejects.toBeInstanceOf(RangeError);
    await expect(mc.setMulti({ k: 'v' }, { time })).rejects.toBeInstanceOf(RangeError);
    await expect(mc.flushAll(time)).rejects.toBeInstanceOf(RangeError);
  });

  test('time of the wrong type is a TypeError', async () => {
    await expect(mc.set('k', 'v', { time: '10' as unknown as number })).rejects.toBeInstanceOf(TypeError);
  });

  test.each([-1, -1n, 1.5, 2 ** 32, 2n ** 32n, 2n ** 64n])('delta %p is a RangeError', async (delta) => {
    await expect(mc.incr('k', delta)).rejects.toBeInstanceOf(RangeError);
    await expect(mc.decr('k', delta)).rejects.toBeInstanceOf(RangeError);
    await expect(mc.incrMulti(['k'], { delta })).rejects.toBeInstanceOf(RangeError);
  });

  test('a delta of the wrong type is a TypeError', async () => {
    await expect(mc.incr('k', '1' as unknown as number)).rejects.toBeInstanceOf(TypeError);
  });

  test.each([0n, -1n, 2n ** 64n])('cas token %p is a RangeError (0 would desync the text protocol)', async (token) => {
    await expect(mc.cas('k', 'v', token)).rejects.toBeInstanceOf(RangeError);
  });

  test('a cas token of the wrong type is a TypeError', async () => {
    await expect(mc.cas('k', 'v', '5' as unknown as bigint)).rejects.toBeInstanceOf(TypeError);
  });

  test.each([-2, 10, 1.5])('compressLevel %p is a RangeError', async (compressLevel) => {
    await expect(mc.set('k', 'v', { compressLevel })).rejects.toBeInstanceOf(RangeError);
    await expect(mc.setMulti({ k: 'v' }, { compressLevel })).rejects.toBeInstanceOf(RangeError);
    expect(() => new Client(['127.0.0.1'], { compressLevel })).toThrow(RangeError);
  });

  test.each([-1, 1.5])('minCompressLen %p is a RangeError', async (minCompressLen) => {
    await expect(mc.set('k', 'v', { minCompressLen })).rejects.toBeInstanceOf(RangeError);
  });

  test('connections must be an integer from 1 to 64', () => {
    for (const connections of [0, -1, 1.5, 65]) {
      expect(() => new Client(['127.0.0.1'], { connections })).toThrow(RangeError);
    }
  });

  test('maxValueSize must be an integer from 1 to 2^32 - 1 bytes', () => {
    for (const maxValueSize of [0, -1, 1.5, 2 ** 32, NaN]) {
      expect(() => new Client(['127.0.0.1'], { maxValueSize })).toThrow(RangeError);
    }
    expect(() => new Client(['127.0.0.1'], { maxValueSize: '1000' as unknown as number })).toThrow(TypeError);
  });
});

describe('values', () => {
  test.each([
    ['undefined', undefined],
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['a Map (JSON would store {})', new Map([['a', 1]])],
    ['a Set', new Set([1])],
    ['a Float64Array', new Float64Array(2)],
    ['a circular object', (() => { const o: Record<string, unknown> = {}; o.self = o; return o; })()],
    ['an object holding a bigint', { n: 1n }],
  ])('a value that is %s is a TypeError', async (_label, value) => {
    await expect(mc.set('k', value)).rejects.toBeInstanceOf(TypeError);
    await expect(mc.setMulti({ k: value })).rejects.toBeInstanceOf(TypeError);
    await expect(mc.cas('k', value, 1n)).rejects.toBeInstanceOf(TypeError);
  });

  test('a serialize hook with the wrong shape is a TypeError naming the hook', async () => {
    const spec = mc.servers[0];
    for (const bad of [() => 'text', () => [Buffer.from('x')], () => [Buffer.from('x'), -1], () => ['x', 0], () => [Buffer.from('x'), 1.5]]) {
      const c = new Client([spec], { serialize: bad as never });
      await expect(c.set('k', 1)).rejects.toThrow(/serialize\(\) must return \[Buffer, flags\]/);
      await expect(c.setMulti({ k: 1 })).rejects.toBeInstanceOf(TypeError);
      await c.close();
    }
  });

  test('namespaces are printable ASCII, up to 127 bytes', () => {
    for (const namespace of ['a b', 'x'.repeat(128), 'é', 'a\nb']) {
      expect(() => new Client(['127.0.0.1'], { namespace })).toThrow(RangeError);
    }
    expect(() => new Client(['127.0.0.1'], { namespace: 5 as never })).toThrow(TypeError);
  });

  test('the namespace counts in the 250-byte key limit', async () => {
    const c = new Client([mc.servers[0]], { namespace: 'ns:' });
    await expect(c.get('k'.repeat(248))).rejects.toBeInstanceOf(BadKeyProvided);
    await expect(c.getMulti(['k'.repeat(247)], { keyPrefix: 'p' })).rejects.toBeInstanceOf(BadKeyProvided);
    await reachedTheNetwork(c.get('k'.repeat(247)));
    await c.close();
  });
});

test('getStats rejects a group with spaces', async () => {
  await expect(mc.getStats('items x')).rejects.toBeInstanceOf(TypeError);
});

test('methods reject instead of throwing synchronously', () => {
  expect(() => mc.get(undefined as unknown as string).catch(() => undefined)).not.toThrow();
  expect(() => mc.incr('k', -1).catch(() => undefined)).not.toThrow();
});

test('a closed client rejects every method with ClientClosedError', async () => {
  const closed = new Client(['127.0.0.1:1']);
  await closed.close();
  await closed.close(); // idempotent
  for (const attempt of [closed.get('k'), closed.set('k', 'v'), closed.getMulti(['k']), closed.flushAll(), closed.hash('k')]) {
    await expect(attempt).rejects.toBeInstanceOf(ClientClosedError);
  }
  expect(() => closed.clone()).toThrow(ClientClosedError);
});
