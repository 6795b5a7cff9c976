/**
 * Order and batching under load: operations on one key run in the order JavaScript issued them,
 * and concurrent reads are coalesced into multi-gets, each caller getting its own value.
 */
import { Client } from '../../lib';
import { MemcachedServer, startMemcached } from '../harness/memcached';

let server: MemcachedServer;
beforeAll(async () => {
  server = await startMemcached();
});
afterAll(() => server?.stop());

async function bytesRead(mc: Client): Promise<number> {
  return Number((await mc.getStats())[0][1].bytes_read);
}

describe.each([1, 3])('connections: %d', (connections) => {
  let mc: Client;
  beforeAll(() => {
    mc = new Client([server.spec], { connections });
  });
  afterAll(() => mc.close());

  test('a get issued after a set of the same key sees that set, under heavy concurrency', async () => {
    const keys = Array.from({ length: 200 }, (_, i) => `order:${connections}:${i}`);
    const checks: Array<Promise<void>> = [];
    for (let round = 0; round < 25; round++) {
      for (const key of keys) {
        const expected = `${key}@${round}`;
        void mc.set(key, expected);
        checks.push(mc.get(key).then((value) => expect(value).toBe(expected)));
        if (round % 5 === 0) {
          checks.push(mc.getMulti([key]).then((values) => expect(values[key]).toBe(expected)));
        }
      }
    }
    await Promise.all(checks);
    expect(checks.length).toBe(200 * 25 + 200 * 5);
  });

  test('a delete then an add then a get of one key stay in order', async () => {
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => {
        const key = `dag:${connections}:${i % 30}`;
        return Promise.all([mc.delete(key), mc.add(key, `v${i}`), mc.get(key)]).then(([, added, value]) => ({ added, value, i }));
      }),
    );
    for (const { added, value, i } of results) {
      expect(added).toBe(true);
      expect(value).toBe(`v${i}`);
    }
  });

  test('thousands of concurrent gets resolve each to its own value, coalesced into multi-gets', async () => {
    const keys = Array.from({ length: 500 }, (_, i) => `batch:${connections}:${String(i).padStart(4, '0')}`);
    expect(await mc.setMulti(Object.fromEntries(keys.map((k) => [k, `value of ${k}`])))).toEqual([]);
    const before = await bytesRead(mc);
    const values = await Promise.all(Array.from({ length: 5000 }, (_, i) => mc.get(keys[i % 500])));
    const read = (await bytesRead(mc)) - before;
    values.forEach((value, i) => expect(value).toBe(`value of ${keys[i % 500]}`));
    // One `gets <key>\r\n` per get would be 5000 * (5 + 15 + 2) bytes; sharing lines (and
    // asking for a repeated key once per line) needs far fewer.
    const oneCommandPerGet = 5000 * ('gets '.length + keys[0].length + 2);
    expect(read).toBeLessThan(oneCommandPerGet / 2);
  });

  test('a request reused for the next call carries nothing over: misses after hits read as misses', async () => {
    // The native side recycles each finished request, keys, values and results included.
    const hits = Array.from({ length: 50 }, (_, i) => `reuse:${connections}:hit:${i}`);
    const misses = Array.from({ length: 50 }, (_, i) => `reuse:${connections}:miss:${i}`);
    await mc.setMulti(Object.fromEntries(hits.map((k) => [k, `value of ${k}`])));
    await mc.deleteMulti(misses);
    for (let round = 0; round < 3; round++) {
      expect(Object.keys(await mc.getMulti(hits))).toHaveLength(50);
      expect(await mc.getMulti(misses)).toEqual({});
      expect(await mc.gets(hits[0])).toEqual([`value of ${hits[0]}`, expect.any(BigInt)]);
      expect(await mc.gets(misses[0])).toEqual([undefined, undefined]);
      expect(await Promise.all(hits.map((k) => mc.get(k)))).toEqual(hits.map((k) => `value of ${k}`));
      expect(await Promise.all(misses.map((k) => mc.get(k)))).toEqual(misses.map(() => undefined));
    }
  });

  test('a Buffer value read stays intact while later reads reuse the delivery buffers', async () => {
    // Small values arrive in a buffer the addon reuses once every value in it was decoded to a
    // string. A Buffer value is a view of it (the whole of it when it is alone there), which
    // later deliveries must not overwrite. A client of its own starts with no buffer to reuse.
    const raw = Buffer.alloc(64, 0xab);
    const texts = Array.from({ length: 20 }, (_, i) => `intact:${connections}:text:${i}`);
    await mc.set(`intact:${connections}:raw`, raw);
    await mc.setMulti(Object.fromEntries(texts.map((k, i) => [k, String(i % 10).repeat(64)])));
    const own = new Client([server.spec], { connections });
    try {
      const kept: Buffer[] = [];
      for (let round = 0; round < 3; round++) {
        kept.push((await own.get(`intact:${connections}:raw`)) as Buffer);
        for (let i = 0; i < texts.length; i++) expect(await own.get(texts[i])).toBe(String(i % 10).repeat(64));
        expect(await Promise.all(texts.map((k) => own.get(k)))).toEqual(texts.map((_, i) => String(i % 10).repeat(64)));
        expect(Object.values(await own.getMulti(texts))).toHaveLength(20);
      }
      for (const value of kept) expect(value.equals(raw)).toBe(true);
    } finally {
      await own.close();
    }
  });

  test('concurrent sets are each answered truthfully (pipelined, not fire-and-forget)', async () => {
    const key = `truth:${connections}`;
    await mc.delete(key);
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => mc.add(key, `v${i}`)));
    // Exactly one add can win; every other one must say so.
    expect(answers.filter(Boolean)).toHaveLength(1);
    expect(answers[0]).toBe(true);
    const stored = await Promise.all(Array.from({ length: 2000 }, (_, i) => mc.set(`truth:${connections}:${i}`, 'x')));
    expect(stored.every((s) => s === true)).toBe(true);
    const deleted = await Promise.all(Array.from({ length: 2000 }, (_, i) => mc.delete(`truth:${connections}:${i % 1000}`)));
    expect(deleted.filter(Boolean)).toHaveLength(1000);
  });

  test('a large setMulti is pipelined in chunks and every key is stored', async () => {
    const mapping: Record<string, Buffer> = {};
    for (let i = 0; i < 3000; i++) mapping[`chunk:${connections}:${i}`] = Buffer.alloc(100 + (i % 7) * 1000, i % 256);
    expect(await mc.setMulti(mapping)).toEqual([]);
    const back = await mc.getMulti(Object.keys(mapping));
    expect(Object.keys(back)).toHaveLength(3000);
    // Buffer.equals: jest's deep equality walks Buffers byte by byte, which takes seconds here.
    const wrong = Object.entries(mapping).filter(([k, v]) => !Buffer.isBuffer(back[k]) || !v.equals(back[k] as Buffer));
    expect(wrong.map(([k]) => k)).toEqual([]);
  });
});
