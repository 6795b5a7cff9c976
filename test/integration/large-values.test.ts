/**
 * Large values, which the addon hands to JavaScript without a copy (src/core/value_pool.h; an
 * external Buffer, or text as an external string): every size around the thresholds, every
 * kind of value, every way of reading, read back whole, and each value read its own memory.
 * Both protocols.
 */
import { randomBytes } from 'node:crypto';

import { Client } from '../../lib';
import { MemcachedServer, PROTOCOLS, startMemcached } from '../harness/memcached';

let server: MemcachedServer;
beforeAll(async () => {
  server = await startMemcached();
});
afterAll(() => server?.stop());

// Around the pooling threshold (32 KiB), the external-string one (128 KiB), and well past both.
const SIZES = [32 * 1024 - 1, 32 * 1024, 128 * 1024 - 1, 128 * 1024, 300 * 1024 + 3, 900 * 1024];

/** Text of `size` UTF-8 bytes: ASCII, or with two- and four-byte characters spread through it. */
function text(size: number, ascii: boolean): string {
  if (ascii) return 'abcdefghij'.repeat(Math.ceil(size / 10)).slice(0, size);
  const unit = 'aé🙂b'; // 1 + 2 + 4 + 1 bytes
  const s = unit.repeat(Math.floor(size / 8)) + 'x'.repeat(size % 8);
  expect(Buffer.byteLength(s)).toBe(size);
  return s;
}

/** Whether `got` is `want` (Buffers compared with equals: jest's toEqual walks them byte by byte). */
function same(got: unknown, want: unknown): boolean {
  if (Buffer.isBuffer(want)) return Buffer.isBuffer(got) && got.equals(want);
  return typeof want === 'object' ? JSON.stringify(got) === JSON.stringify(want) : got === want;
}

describe.each(PROTOCOLS)('%s protocol', (name, binary) => {
  let mc: Client;
  let n = 0;
  const key = (label: string) => `${name}:large:${label}:${++n}`;

  beforeAll(() => {
    mc = new Client([server.spec], { binary });
  });
  afterAll(() => mc.close());

  test.each(SIZES)('%d bytes of ASCII text, of UTF-8 text, of bytes and of JSON come back whole by get, gets and getMulti', async (size) => {
    const values: Array<[string, unknown]> = [
      [key('ascii'), text(size, true)],
      [key('utf8'), text(size, false)],
      [key('bytes'), randomBytes(size)],
      [key('json'), { body: text(size, true), n: size }],
    ];
    for (const [k, v] of values) expect(await mc.set(k, v)).toBe(true);
    for (const [k, v] of values) {
      expect(same(await mc.get(k), v)).toBe(true);
      const [value, cas] = (await mc.gets(k)) as [unknown, bigint];
      expect(same(value, v)).toBe(true);
      expect(typeof cas).toBe('bigint');
    }
    // Large and small values, and a miss, in one multi-get.
    const small = key('small');
    await mc.set(small, 'tiny');
    const got = await mc.getMulti([small, ...values.map(([k]) => k), key('missing')]);
    expect(Object.keys(got).sort()).toEqual([small, ...values.map(([k]) => k)].sort());
    expect(got[small]).toBe('tiny');
    for (const [k, v] of values) expect(same(got[k], v)).toBe(true);
  });

  test('large text arrives as a string, large bytes as a Buffer of exactly their length', async () => {
    const t = key('text');
    const b = key('bytes');
    await mc.set(t, text(200 * 1024, true));
    await mc.set(b, Buffer.alloc(200 * 1024, 1));
    expect(typeof (await mc.get(t))).toBe('string');
    const bytes = (await mc.get(b)) as Buffer;
    expect(Buffer.isBuffer(bytes)).toBe(true);
    expect(bytes.length).toBe(200 * 1024);
    expect(bytes.buffer.byteLength).toBe(200 * 1024);
  });

  test('values of one key read by several calls at once are each their own memory', async () => {
    const k = key('shared');
    const original = Buffer.alloc(256 * 1024, 5);
    await mc.set(k, original);
    // Same tick: the gets share one multi-get, whose one value is handed to each of them.
    const reads = (await Promise.all([mc.get(k), mc.get(k), mc.getMulti([k])])) as [Buffer, Buffer, Record<string, Buffer>];
    const all = [reads[0], reads[1], reads[2][k]];
    for (const v of all) expect(v.equals(original)).toBe(true);
    all[0].fill(0);
    all[1][1000] = 9;
    expect(all[2].equals(original)).toBe(true);
    expect(all[0][1000]).toBe(0);
    expect(all[1][0]).toBe(5);
    // And later reads are not disturbed by what was done to earlier ones.
    expect(((await mc.get(k)) as Buffer).equals(original)).toBe(true);
  });

  test('compressed large text and a custom deserializer get the bytes, not a string', async () => {
    const k = key('zlib');
    const value = text(400 * 1024, true);
    await mc.set(k, value, { minCompressLen: 1 });
    expect(await mc.get(k)).toBe(value);

    const seen: Array<[boolean, number, number]> = [];
    const custom = new Client([server.spec], {
      binary,
      deserialize: (bytes: Buffer, flags: number) => {
        seen.push([Buffer.isBuffer(bytes), bytes.length, flags]);
        return bytes.toString('latin1');
      },
    });
    const plain = key('custom');
    await mc.set(plain, value);
    expect(await custom.get(plain)).toBe(value);
    expect(seen).toEqual([[true, value.length, 16]]);
    await custom.close();
  });

  test('values read stay whole after the client is closed and after garbage collection pressure', async () => {
    const c = new Client([server.spec], { binary });
    const k1 = key('kept-text');
    const k2 = key('kept-bytes');
    const t = text(300 * 1024, true);
    const b = randomBytes(300 * 1024);
    await c.set(k1, t);
    await c.set(k2, b);
    const kept = [await c.get(k1), await c.get(k2)];
    await c.close();
    // Churn: many more large values read and dropped by another client.
    for (let i = 0; i < 50; i++) await mc.get(k1);
    expect(kept[0]).toBe(t);
    expect((kept[1] as Buffer).equals(b)).toBe(true);
  });
});
