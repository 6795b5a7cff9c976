/**
 * A bad call rejects alone and truthfully: it never disturbs the calls issued beside it, never
 * throws synchronously, and a value or number memcached would not honour is refused before
 * anything is sent. Each case here failed before its fix (see the comments).
 */
import { BadKeyProvided, Client } from '../../lib';
import { MemcachedServer, PROTOCOLS, startMemcached } from '../harness/memcached';
import { rawGet } from '../harness/raw';

let server: MemcachedServer;
const uncaught: unknown[] = [];
const onUncaught = (error: unknown) => uncaught.push(error);

beforeAll(async () => {
  server = await startMemcached();
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
});
afterAll(async () => {
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
  await server?.stop();
});
afterEach(() => {
  expect(uncaught).toEqual([]);
});

const settled = (p: Promise<unknown>) =>
  p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );

/** An array whose element 1 throws when read. */
function throwingArray(): string[] {
  const list = ['a', 'b', 'c'];
  Object.defineProperty(list, 1, {
    get() {
      throw new Error('index getter');
    },
  });
  return list;
}

describe.each(PROTOCOLS)('%s protocol', (name, binary) => {
  let mc: Client;
  beforeAll(() => {
    mc = new Client([server.spec], { binary });
  });
  afterAll(() => mc.close());

  // Before: list.map(checkKey) skipped the hole, a header for three keys was written and the
  // hole then threw mid-batch, so the flush threw "item headers out of range" as an uncaught
  // exception and the calls queued in the same tick never settled (or got another key's error).
  test.each([
    ['getMulti with a hole', (c: Client) => c.getMulti([, 'k'] as unknown as string[])],
    ['incrMulti with a hole', (c: Client) => c.incrMulti(['a', , 'b'] as unknown as string[])],
    ['deleteMulti of an array whose getter throws', (c: Client) => c.deleteMulti(throwingArray())],
    ['setMulti of a Map with a non-key', (c: Client) => c.setMulti(new Map<unknown, unknown>([['a', 1], [undefined, 2]]) as never)],
  ])('%s rejects alone; the calls beside it get their own answers', async (_label, bad) => {
    const tag = `${name}:${_label.replace(/\W+/g, '-')}`;
    const before = [mc.set(`${tag}:1`, 'one'), mc.set(`${tag}:2`, 'two')];
    const rejected = settled(bad(mc));
    const after = [mc.get(`${tag}:1`), mc.getMulti([`${tag}:1`, `${tag}:2`]), mc.set(`${tag}:3`, 'three')];
    expect(await Promise.all(before)).toEqual([true, true]);
    const outcome = await rejected;
    expect(outcome).toHaveProperty('error');
    expect((outcome as { error: Error }).error).toBeInstanceOf(Error);
    expect(await Promise.all(after)).toEqual(['one', { [`${tag}:1`]: 'one', [`${tag}:2`]: 'two' }, true]);
    expect(await mc.get(`${tag}:3`)).toBe('three');
  });

  // Before: behind a value being compressed (the gate), the throw happened while draining the
  // gate: an unhandled rejection, and every later call on the client hung.
  test('a bad multi-key call queued behind a value being compressed rejects alone', async () => {
    const squeezing = new Client([server.spec], { binary, minCompressLen: 1 });
    try {
      const big = 'compressible '.repeat(10_000); // past the size zlib takes off the event loop
      const stored = squeezing.set(`${name}:gate`, big);
      const rejected = settled(squeezing.getMulti([, 'k'] as unknown as string[]));
      const later = squeezing.get(`${name}:gate`);
      expect(await stored).toBe(true);
      expect(await rejected).toHaveProperty('error');
      expect(await later).toBe(big);
      expect(await squeezing.set(`${name}:gate:after`, 'x')).toBe(true);
    } finally {
      await squeezing.close();
    }
  });

  // Before: options.keyPrefix was read before the promise existed.
  test('getMulti and deleteMulti reject, never throw, on options whose getter throws or a revoked Proxy', async () => {
    const throwing = {
      get keyPrefix(): string {
        throw new Error('getter');
      },
    };
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    for (const options of [throwing, proxy]) {
      let getMulti!: Promise<unknown>;
      let deleteMulti!: Promise<unknown>;
      expect(() => {
        getMulti = mc.getMulti(['k'], options as never);
        deleteMulti = mc.deleteMulti(['k'], options as never);
      }).not.toThrow();
      await expect(getMulti).rejects.toBeInstanceOf(Error);
      await expect(deleteMulti).rejects.toBeInstanceOf(Error);
    }
    const { proxy: keys, revoke: revokeKeys } = Proxy.revocable(['k'], {});
    revokeKeys();
    await expect(mc.getMulti(keys)).rejects.toBeInstanceOf(TypeError);
  });

  // Before: serialize() returned [undefined, 32] and append sent zero bytes, resolving true.
  test('a value that serializes to nothing is refused in every write, and sends nothing', async () => {
    const nothing = { toJSON: () => undefined };
    const key = `${name}:nothing`;
    expect(await mc.set(key, 'base')).toBe(true);
    for (const write of [
      () => mc.append(key, nothing),
      () => mc.prepend(key, nothing),
      () => mc.set(key, nothing),
      () => mc.setMulti({ [key]: nothing }),
      () => mc.cas(key, nothing, 1n),
    ]) {
      await expect(write()).rejects.toBeInstanceOf(TypeError);
    }
    expect(() => mc.serialize(nothing)).toThrow(TypeError);
    expect((await rawGet(server.port, key))?.bytes.toString()).toBe('base');
  });

  // memcached reads the text protocol's expiration as a signed 32-bit number (2^31 and above
  // are negative: expired at once) and the binary protocol's as unsigned.
  test(`expiration times: ${binary ? 'up to 2^32 - 1 (unsigned)' : 'up to 2^31 - 1; 2^31 is refused'}`, async () => {
    const key = `${name}:exptime`;
    expect(await mc.set(key, 'v', 2 ** 31 - 1)).toBe(true);
    expect(await mc.get(key)).toBe('v');
    if (binary) {
      for (const time of [2 ** 31, 2 ** 32 - 1]) {
        expect(await mc.set(key, `v${time}`, time)).toBe(true);
        expect(await mc.get(key)).toBe(`v${time}`);
      }
      await expect(mc.set(key, 'v', 2 ** 32)).rejects.toBeInstanceOf(RangeError);
    } else {
      // Before: resolved true, and the next get missed.
      for (const call of [() => mc.set(key, 'v', 2 ** 31), () => mc.touch(key, 2 ** 31), () => mc.setMulti({ [key]: 'v' }, { time: 2 ** 31 })]) {
        await expect(call()).rejects.toBeInstanceOf(RangeError);
      }
      await expect(mc.flushAll(2 ** 31)).rejects.toBeInstanceOf(RangeError);
    }
  });

  // Before: the pipelined chunks assumed libmemcached's default watermarks, so its own purge
  // read replies and threw them away: 29 of 30 writes failed, and a delete of a missing key
  // resolved true.
  test('pipelined writes stay truthful under low IO watermarks', async () => {
    const low = new Client([server.spec], { binary, behaviors: { _io_msg_watermark: 10, _io_bytes_watermark: 4096 } });
    try {
      const keys = Array.from({ length: 30 }, (_, i) => `${name}:wm:${i}`);
      const value = 'w'.repeat(500);
      expect(await Promise.all(keys.map((k) => low.set(k, value)))).toEqual(keys.map(() => true));
      expect(await Promise.all(keys.map((k) => low.delete(`${k}:missing`)))).toEqual(keys.map(() => false));
      expect(await Promise.all([...keys.map((k) => low.delete(k)), ...keys.map((k) => low.delete(k))])).toEqual([
        ...keys.map(() => true),
        ...keys.map(() => false),
      ]);
      await low.setBehaviors({ _io_msg_watermark: 3 });
      expect(await low.setMulti(Object.fromEntries(keys.map((k) => [k, value])))).toEqual([]);
      expect(await low.getMulti(keys)).toEqual(Object.fromEntries(keys.map((k) => [k, value])));
    } finally {
      await low.close();
    }
  });

  // Before: values up to 16 KiB were copied at the call, larger ones at the next microtask (and
  // compressed ones later still, on the thread pool), so filling the Buffer after set() changed
  // what was stored, depending on its size.
  test.each([
    ['1 KB', 1024, 0],
    ['20 KB', 20 * 1024, 0],
    ['20 KB, compressed', 20 * 1024, 1],
  ])('a Buffer of %s is captured by the call', async (_label, size, minCompressLen) => {
    const key = `${name}:capture:${size}:${minCompressLen}`;
    const buffer = Buffer.alloc(size, 'a');
    const stored = mc.set(key, buffer, { minCompressLen });
    buffer.fill(0);
    expect(await stored).toBe(true);
    expect(await mc.get(key)).toEqual(Buffer.alloc(size, 'a'));
  });

  // Before: libmemcached formatted the token into a buffer one byte short, and every token of
  // 10^19 or more failed with an AllocationError.
  test('cas with the largest token is sent (and is stale)', async () => {
    const key = `${name}:largest-cas`;
    expect(await mc.set(key, 'v')).toBe(true);
    expect(await mc.cas(key, 'w', 2n ** 64n - 1n)).toBe(false);
    expect(await mc.cas(key, 'w', 10n ** 19n)).toBe(false);
    expect(await mc.get(key)).toBe('v');
  });

  // Before: a key checked when the call was made was sent as it was when the compression ahead
  // of it finished: a Buffer the caller rewrote meanwhile went out unchecked (in the text
  // protocol, a command of the caller's choosing).
  test('a Buffer key is captured by the call, even when sent after a compression', async () => {
    const squeezing = new Client([server.spec], { binary, minCompressLen: 1 });
    try {
      void squeezing.set(`${name}:ahead`, 'compressible '.repeat(10_000));
      const key = Buffer.from(`${name}:captured-key`);
      const multiKey = Buffer.from(`${name}:captured-multi`);
      const stored = squeezing.set(key, 'original');
      const multi = squeezing.setMulti(new Map([[multiKey, 'm']]));
      key.write('\r\nset INJ 0 0 1\r\nX\r\n');
      multiKey.write('\r\nset INJ 0 0 1\r\nX\r\n');
      expect(await stored).toBe(true);
      expect(await multi).toEqual([]);
      expect(await squeezing.get(`${name}:captured-key`)).toBe('original');
      expect(await squeezing.get(`${name}:captured-multi`)).toBe('m');
      expect(await rawGet(server.port, 'INJ')).toBeUndefined();
    } finally {
      await squeezing.close();
    }
  });
});

describe('verify_keys (text protocol)', () => {
  // libmemcached then refuses any key byte outside printable ASCII, and in a multi-get it
  // refuses the whole batch. Before, a UTF-8 key the client had accepted failed every get
  // batched with it.
  test('a key outside printable ASCII is refused alone, before anything is sent', async () => {
    const strict = new Client([server.spec], { behaviors: { verify_keys: 1 } });
    try {
      expect(await strict.set('plain', 'p')).toBe(true);
      const bad = settled(strict.get('clé'));
      const good = strict.get('plain');
      expect(((await bad) as { error: Error }).error).toBeInstanceOf(BadKeyProvided);
      expect(await good).toBe('p');
      await expect(strict.getMulti(['plain'], { keyPrefix: 'é' })).rejects.toBeInstanceOf(BadKeyProvided);
      await expect(strict.set(Buffer.from([0x6b, 0xff]), 'v')).rejects.toBeInstanceOf(BadKeyProvided);
      await strict.setBehaviors({ verify_keys: 0 });
      expect(await strict.set('clé', 'accented')).toBe(true);
      expect(await strict.get('clé')).toBe('accented');
    } finally {
      await strict.close();
    }
  });
});
