/**
 * Values: the default serializer's round trips and exact wire format (read back with a raw
 * socket, not with the client), compression thresholds, decoding of what other writers store,
 * and the serialize/deserialize hooks. Both protocols.
 */
import * as zlib from 'node:zlib';

// Spies on the synchronous zlib calls, to show which sizes stay off the JavaScript thread.
jest.mock('node:zlib', () => {
  const actual = jest.requireActual<typeof import('node:zlib')>('node:zlib');
  return { ...actual, deflateSync: jest.fn(actual.deflateSync), inflateSync: jest.fn(actual.inflateSync) };
});

import { CacheMiss, Client, DeserializationError, FLAG_JSON } from '../../lib';
import { MemcachedServer, PROTOCOLS, startMemcached } from '../harness/memcached';
import { rawGet, rawSet } from '../harness/raw';

let server: MemcachedServer;
beforeAll(async () => {
  server = await startMemcached();
});
afterAll(() => server?.stop());

describe.each(PROTOCOLS)('%s protocol', (name, binary) => {
  let mc: Client;
  let n = 0;
  const key = (label: string) => `${name}:values:${label}:${++n}`;

  beforeAll(() => {
    mc = new Client([server.spec], { binary });
  });
  afterAll(() => mc.close());

  const roundTrips: Array<[string, unknown]> = [
    ['a Buffer', Buffer.from([0, 1, 2, 0xff])],
    ['an empty Buffer', Buffer.alloc(0)],
    ['ASCII text', 'hello'],
    ['non-ASCII text', 'åäö€ 🙂'],
    ['empty text', ''],
    ['true', true],
    ['false', false],
    ['0', 0],
    ['-7', -7],
    ['2^53 - 1', Number.MAX_SAFE_INTEGER],
    ['-(2^53 - 1)', -Number.MAX_SAFE_INTEGER],
    ['1.5', 1.5],
    ['-0', -0],
    ['5e-324', 5e-324],
    ['1.7976931348623157e308', Number.MAX_VALUE],
    ['2^60 as a number', 2 ** 60],
    ['0n', 0n],
    ['5n', 5n],
    ['-5n', -5n],
    ['2n^64', 2n ** 64n],
    ['-(2n^70)', -(2n ** 70n)],
    ['null', null],
    ['an array', [1, 'a', null, [true, 2.5]]],
    ['an object', { a: 1, b: { c: [1, 2] }, d: 'é' }],
    ['an object with a __proto__ key', JSON.parse('{"__proto__": {"x": 1}}')],
  ];

  test.each(roundTrips)('%s round-trips exactly', async (_label, value) => {
    const k = key('rt');
    expect(await mc.set(k, value)).toBe(true);
    const back = await mc.get(k);
    expect(back).toStrictEqual(value);
    if (typeof value === 'number') expect(Object.is(back, value)).toBe(true);
    // The same through every read path.
    expect((await mc.getMulti([k]))[k]).toStrictEqual(value);
    expect((await mc.gets(k))[0]).toStrictEqual(value);
  });

  test('a Uint8Array is stored as bytes and reads back as a Buffer', async () => {
    const k = key('u8');
    await mc.set(k, new Uint8Array([1, 2, 3]).subarray(1));
    expect(await mc.get(k)).toStrictEqual(Buffer.from([2, 3]));
  });

  test.each([
    ['a Buffer', Buffer.from('raw'), 0, 'raw'],
    ['text', 'åäö', 16, 'åäö'],
    ['true', true, 2 | 64, '1'],
    ['false', false, 2 | 64, '0'],
    ['an integer', -42, 4, '-42'],
    ['a bigint', 18446744073709551616n, 4 | 64, '18446744073709551616'],
    ['a float', 1.5, 32, '1.5'],
    ['null', null, 32, 'null'],
    ['an object', { a: [1, 'x'] }, 32, '{"a":[1,"x"]}'],
  ])('%s is stored in pylibmc\'s format: flags %p, bytes %p', async (_label, value, flags, bytes) => {
    const k = key('wire');
    await mc.set(k, value);
    const raw = await rawGet(server.port, k);
    expect(raw).toEqual({ flags, bytes: Buffer.from(bytes) });
  });

  test('small Buffers read back do not pin the memory of a whole delivery', async () => {
    // 100 values of 1000 bytes arrive in one delivery of about 100 KB.
    const keys = Array.from({ length: 100 }, (_, i) => key(`own${i}`));
    await mc.setMulti(new Map(keys.map((k, i) => [k, Buffer.alloc(1000, i)])));
    const got = (await mc.getMulti(keys)) as Record<string, Buffer>;
    keys.forEach((k, i) => {
      expect(got[k].equals(Buffer.alloc(1000, i))).toBe(true);
      // Copied into memory of its own (at most Node's 8 KiB Buffer pool), not a view of it.
      expect(got[k].buffer.byteLength).toBeLessThanOrEqual(8192);
    });
  });

  describe('reading what other writers store', () => {
    test.each([
      ['flags 4 padded by a decr ("9 ")', 4, '9 ', 9],
      ['flags 2 (a pylibmc bool) as an integer', 2, '1', 1],
      ['flags 2 with this client\'s mark as a boolean', 66, '0', false],
      ['flags 4 beyond 2^53 as a bigint', 4, '-1180591620717411303424', -1180591620717411303424n],
      ['flags 4 with "_" separators', 4, '1_000', 1000],
      ['unknown high bits ignored: 256 is bytes', 256, 'x', Buffer.from('x')],
      ['unknown high bits ignored: 48 is text', 48, 'x', 'x'],
      ['flag 8 inflated whoever wrote it', 8 | 16, zlib.deflateSync('inflated'), 'inflated'],
      ['flag 8 with trailing bytes (an append) ignored', 8, Buffer.concat([zlib.deflateSync('z'), Buffer.from('tail')]), Buffer.from('z')],
    ])('%s', async (_label, flags, bytes, expected) => {
      const k = key('other');
      await rawSet(server.port, k, flags, bytes);
      expect(await mc.get(k)).toStrictEqual(expected);
    });

    test.each([
      ['unknown type bits (3)', 3, 'x', /flags 3/],
      ['flags 4 that is not a number', 4, 'abc', /flags 4: "abc" is not an integer/],
      ['bad JSON', FLAG_JSON, '{', /flags 32 \(JSON\)/],
      ['flag 8 that does not inflate', 8, 'not zlib', /flags 8: the value is marked zlib-compressed/],
      ['a pickle of a class instance', 1, Buffer.from('80049517000000000000008c085f5f6d61696e5f5f948c03466f6f9493942981942e', 'hex'), /flags 1 \(Python pickle\): refusing __main__\.Foo/],
      ['a pickle with an unknown opcode', 1, Buffer.from('8005ff2e', 'hex'), /flags 1 \(Python pickle\): unsupported pickle opcode 0xff/],
    ])('%s rejects with a DeserializationError naming the flags', async (_label, flags, bytes, message) => {
      const k = key('bad');
      await rawSet(server.port, k, flags, bytes);
      const error = await mc.get(k).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DeserializationError);
      expect((error as DeserializationError).flags).toBe(flags);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).toContain(k);
      await expect(mc.getMulti([k])).rejects.toBeInstanceOf(DeserializationError);
      await expect(mc.gets(k)).rejects.toBeInstanceOf(DeserializationError);
    });
  });

  describe('compression', () => {
    const text = 'a'.repeat(100);

    test('at minCompressLen and above, zlib with flag 8; below it, none', async () => {
      const [at, below] = [key('z'), key('z')];
      await mc.set(at, text, { minCompressLen: 100 });
      await mc.set(below, text, { minCompressLen: 101 });
      const raw = await rawGet(server.port, at);
      expect(raw?.flags).toBe(16 | 8);
      expect(zlib.inflateSync(raw!.bytes).toString()).toBe(text);
      expect((await rawGet(server.port, below))?.flags).toBe(16);
      expect(await mc.get(at)).toBe(text);
    });

    test('level 0 disables; levels set zlib\'s header; default -1 is zlib\'s 6', async () => {
      const k = key('z');
      await mc.set(k, text, { minCompressLen: 1, compressLevel: 0 });
      expect((await rawGet(server.port, k))?.flags).toBe(16);
      await mc.set(k, text, { minCompressLen: 1, compressLevel: 1 });
      expect((await rawGet(server.port, k))?.bytes.subarray(0, 2)).toEqual(Buffer.from([0x78, 0x01]));
      await mc.set(k, text, { minCompressLen: 1, compressLevel: 9 });
      expect((await rawGet(server.port, k))?.bytes.subarray(0, 2)).toEqual(Buffer.from([0x78, 0xda]));
      await mc.set(k, text, { minCompressLen: 1 });
      expect((await rawGet(server.port, k))?.bytes.subarray(0, 2)).toEqual(Buffer.from([0x78, 0x9c]));
    });

    test('kept only when strictly smaller', async () => {
      const k = key('z');
      await mc.set(k, Buffer.from('abc'), { minCompressLen: 1 });
      expect(await rawGet(server.port, k)).toEqual({ flags: 0, bytes: Buffer.from('abc') });
    });

    test('every typed value compresses and reads back (flags 9-style combinations)', async () => {
      const values: unknown[] = ['x'.repeat(200), Buffer.alloc(300, 7), { list: Array.from({ length: 100 }, () => 'same') }, 10n ** 200n];
      for (const value of values) {
        const k = key('zt');
        await mc.set(k, value, { minCompressLen: 1 });
        expect(((await rawGet(server.port, k))?.flags ?? 0) & 8).toBe(8);
        expect(await mc.get(k)).toStrictEqual(value);
      }
    });

    test('client-wide defaults apply to set, add, replace, setMulti, addMulti and cas; a call overrides them', async () => {
      const c = new Client([server.spec], { binary, minCompressLen: 10, compressLevel: 9 });
      const [a, b, r, m1, m2, cs] = ['a', 'b', 'r', 'm1', 'm2', 'cs'].map(key);
      await c.set(a, text);
      await c.add(b, text);
      await c.set(r, 'x');
      await c.replace(r, text);
      await c.setMulti({ [m1]: text });
      await c.addMulti({ [m2]: text });
      await c.set(cs, 'x');
      const [, token] = await c.gets(cs);
      expect(await c.cas(cs, text, token as bigint)).toBe(true);
      for (const k of [a, b, r, m1, m2, cs]) {
        expect((await rawGet(server.port, k))?.flags).toBe(24);
        expect(await c.get(k)).toBe(text);
      }
      await c.set(a, text, { compressLevel: 0 });
      expect((await rawGet(server.port, a))?.flags).toBe(16);
      await c.setMulti({ [m1]: text }, { minCompressLen: 0 });
      expect((await rawGet(server.port, m1))?.flags).toBe(16);
      await c.close();
    });

    test('append and prepend are never compressed', async () => {
      const c = new Client([server.spec], { binary, minCompressLen: 1 });
      const k = key('ap');
      await c.set(k, Buffer.from('middle'), { minCompressLen: 0 });
      await c.append(k, text);
      await c.prepend(k, 'start-');
      expect(await c.get(k)).toStrictEqual(Buffer.from(`start-middle${text}`));
      await c.close();
    });

    test('large values are compressed and inflated off the JavaScript thread, in order', async () => {
      const big = JSON.stringify(Array.from({ length: 20000 }, (_, i) => ({ i, tag: 'value' })));
      const deflateSync = zlib.deflateSync as jest.Mock;
      const inflateSync = zlib.inflateSync as jest.Mock;
      deflateSync.mockClear();
      inflateSync.mockClear();
      {
        const k = key('big');
        // Issued back to back: the get and the second set wait for the first set's compression.
        const first = mc.set(k, big, { minCompressLen: 1 });
        const read = mc.get(k);
        const second = mc.set(k, 'small');
        const afterSecond = mc.get(k);
        expect(await first).toBe(true);
        expect((await read) === big).toBe(true);
        expect(await second).toBe(true);
        expect(await afterSecond).toBe('small');
        await mc.set(k, big, { minCompressLen: 1 });
        expect(((await rawGet(server.port, k))?.flags ?? 0) & 8).toBe(8);
        expect((await mc.getMulti([k]))[k] === big).toBe(true);
        expect(deflateSync).not.toHaveBeenCalled();
        expect(inflateSync).not.toHaveBeenCalled();
        // Small values still take the synchronous path (no thread-pool round trip).
        await mc.set(k, 'y'.repeat(200), { minCompressLen: 1 });
        expect(await mc.get(k)).toBe('y'.repeat(200));
        expect(deflateSync).toHaveBeenCalled();
        expect(inflateSync).toHaveBeenCalled();
      }
    });

    test('close waits for a value still being compressed', async () => {
      const c = new Client([server.spec], { binary });
      const k = key('closing');
      const stored = c.set(k, 'q'.repeat(100_000), { minCompressLen: 1 });
      await c.close();
      expect(await stored).toBe(true);
      const back = await mc.get(k);
      expect(typeof back === 'string' ? back.length : back).toBe(100_000);
    });
  });

  describe('serialize and deserialize hooks', () => {
    class JsonClient extends Client {
      override serialize(value: unknown): [Buffer, number] {
        return [Buffer.from(JSON.stringify(value)), 0x100];
      }

      override deserialize(bytes: Buffer, flags: number): unknown {
        if (flags !== 0x100) throw new CacheMiss();
        return JSON.parse(bytes.toString());
      }
    }

    test('a subclass overrides them: its bytes and flags are stored verbatim', async () => {
      const c = new JsonClient([server.spec], { binary });
      const k = key('hook');
      expect(await c.set(k, { tuple: [1, 2] })).toBe(true);
      expect(await rawGet(server.port, k)).toEqual({ flags: 0x100, bytes: Buffer.from('{"tuple":[1,2]}') });
      expect(await c.get(k)).toEqual({ tuple: [1, 2] });
      await c.close();
    });

    test('options override them, and compression still applies to what serialize returns', async () => {
      const seen: Array<[string, number]> = [];
      const c = new Client([server.spec], {
        binary,
        serialize: (value) => [Buffer.from(String(value).repeat(50)), 7 << 8],
        deserialize: (bytes, flags) => {
          seen.push([bytes.toString().slice(0, 3), flags]);
          return bytes.toString().slice(0, 3);
        },
      });
      const k = key('opt');
      await c.set(k, 'abc', { minCompressLen: 1 });
      expect((await rawGet(server.port, k))?.flags).toBe((7 << 8) | 8);
      expect(await c.get(k)).toBe('abc');
      // deserialize gets inflated bytes and the flags as stored.
      expect(seen).toEqual([['abc', (7 << 8) | 8]]);
      await c.close();
    });

    test('CacheMiss makes get return the default, getMulti omit the key and gets a miss', async () => {
      const c = new JsonClient([server.spec], { binary });
      const [mine, foreign] = [key('mine'), key('foreign')];
      await c.set(mine, [1]);
      await mc.set(foreign, 'written with other flags');
      expect(await c.get(foreign, 'default')).toBe('default');
      expect(await c.getMulti([mine, foreign])).toEqual({ [mine]: [1] });
      expect(await c.gets(foreign)).toEqual([undefined, undefined]);
      expect(await c.has(foreign)).toBe(false);
      await c.close();
    });

    test('any other error from deserialize rejects the read with that error', async () => {
      const boom = new Error('boom');
      const c = new Client([server.spec], { binary, deserialize: () => { throw boom; } });
      const k = key('boom');
      await c.set(k, 'x');
      await expect(c.get(k)).rejects.toBe(boom);
      await expect(c.getMulti([k])).rejects.toBe(boom);
      // The client is still fine afterwards.
      expect(await c.set(k, 'y')).toBe(true);
      await c.close();
    });

    test("the README's subclass that decodes text itself reads every value as the default does", async () => {
      class TextDecodingClient extends Client {
        override deserialize(bytes: Buffer, flags: number): unknown {
          return (flags & ~8) === 16 ? bytes.toString() : super.deserialize(bytes, flags);
        }
      }
      const c = new TextDecodingClient([server.spec], { binary, minCompressLen: 64 * 1024 });
      const values: unknown[] = ['short', 'é'.repeat(100), 'a'.repeat(256 * 1024), 'ü'.repeat(200 * 1024), 7, 2n ** 70n, true, { x: [1] }, Buffer.from('raw')];
      const keys = values.map((_, i) => key(`decode${i}`));
      for (let i = 0; i < values.length; i++) await c.set(keys[i], values[i]);
      // The 256 KiB text was stored compressed (flags 16 | 8): the subclass still decodes it.
      expect((await rawGet(server.port, keys[2]))?.flags).toBe(16 | 8);
      for (let i = 0; i < values.length; i++) expect(await c.get(keys[i])).toEqual(await mc.get(keys[i]));
      expect(await c.getMulti(keys)).toEqual(await mc.getMulti(keys));
      await c.close();
    });

    test('a deserialize hook that keeps its Buffer keeps the right bytes', async () => {
      const kept: Buffer[] = [];
      const c = new Client([server.spec], { binary, deserialize: (bytes) => kept.push(bytes) });
      const keys = Array.from({ length: 20 }, (_, i) => key(`keep${i}`));
      await c.setMulti(Object.fromEntries(keys.map((k) => [k, k])));
      await c.getMulti(keys);
      await c.getMulti(keys.map((k) => k).reverse());
      expect(kept.slice(0, 20).map(String).sort()).toEqual([...keys].sort());
      await c.close();
    });
  });
});
