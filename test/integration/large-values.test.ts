/**
 * Large values, which the addon hands to JavaScript without a copy (src/core/value_pool.h; an
 * external Buffer, or text as an external string): every size around the thresholds, every
 * kind of value, every way of reading, read back whole, and each value read its own memory.
 * Both protocols.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';

import { buildCProgram } from '../../scripts/lib/c-program';
import { Client, MemcachedError, TimeoutError } from '../../lib';
import { CORRECT, FakeRequest, FakeServer, trickle } from '../harness/hostile';
import { MemcachedServer, PROTOCOLS, startMemcached } from '../harness/memcached';
import { scaled } from '../harness/timing';

let server: MemcachedServer;
beforeAll(async () => {
  server = await startMemcached();
});
afterAll(() => server?.stop());

// Around libmemcached's 8 KiB read and write buffers (a read or write of 8 KiB or more skips
// them: deps/patches/0008), the pooling threshold (32 KiB), the external-string one (128 KiB),
// and well past all of them.
const SIZES = [
  8 * 1024 - 1, 8 * 1024, 8 * 1024 + 1, 16 * 1024 + 5,
  32 * 1024 - 1, 32 * 1024, 128 * 1024 - 1, 128 * 1024, 300 * 1024 + 3, 900 * 1024,
];

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

  test.each([true, false])('large sets are not held back by the kernel (tcp_nodelay %s): 50 sets of 20,000 bytes in well under 50 × 40 ms', async (nodelay) => {
    // A request of a large value goes out in one sendmsg() without MSG_MORE (deps/patches/0008).
    // Sent with MSG_MORE, a binary set's value, which nothing follows, waited for the kernel's
    // 200 ms cork timer; sent apart from its last bytes, those waited under Nagle's algorithm
    // for the server's delayed ACK (40 ms each).
    const c = new Client([server.spec], { binary, behaviors: { tcp_nodelay: nodelay } });
    try {
      const v = randomBytes(20_000);
      expect(await c.set(key('warm'), v)).toBe(true);
      const started = Date.now();
      for (let i = 0; i < 50; i++) expect(await c.set(key('held'), v)).toBe(true);
      expect(Date.now() - started).toBeLessThan(scaled(1000));
    } finally {
      await c.close();
    }
  });

  // Large text is made a string without decoding when the I/O thread found it ASCII
  // (PooledBytes::CheckAscii, 32 bytes at a time, tested every 4 KiB, then a byte-wise tail):
  // one character of two bytes anywhere, at each edge of those steps, must make it decoded.
  test('one non-ASCII character anywhere in large text, at every edge of the ASCII check, is decoded', async () => {
    const size = 200 * 1024 + 13;
    for (const at of [0, 31, 32, 4095, 4096, 100_000, size - 45, size - 14, size - 2]) {
      const v = 'a'.repeat(at) + 'é' + 'b'.repeat(size - at - 2);
      expect(Buffer.byteLength(v)).toBe(size);
      const k = key(`ascii-edge-${at}`);
      expect(await mc.set(k, v)).toBe(true);
      expect(await mc.get(k)).toBe(v);
    }
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

// A large value is received straight into its block in as few reads as the kernel allows
// (deps/patches/0008): one that arrives in many pieces, or stops halfway, is the fake server's
// to show. Every other request is answered correctly, from the fake's store.
const POLL = scaled(500);
const isRead = (r: FakeRequest) => ['get', 'gets', 'getk', 'getkq', 'getq', 'mget'].includes(r.command);

describe.each(PROTOCOLS)('large values from a fake server, %s protocol', (name, binary) => {
  const big = randomBytes(300 * 1024 + 7);
  const txt = text(100 * 1024 + 1, true);

  test('a value arriving 1,000 bytes at a time, 1 ms apart every 4 pieces, comes back whole by get, gets and getMulti', async () => {
    const fake = await FakeServer.start({ script: (r, c) => (isRead(r) ? trickle(c.correct(r), 1000, 1, 4) : CORRECT) });
    const mc = new Client([fake.spec], { binary });
    try {
      expect(await mc.set('big', big)).toBe(true);
      expect(await mc.set('txt', txt)).toBe(true);
      expect(((await mc.get('big')) as Buffer).equals(big)).toBe(true);
      expect(await mc.get('txt')).toBe(txt);
      const [value] = (await mc.gets('big')) as [Buffer, bigint];
      expect(value.equals(big)).toBe(true);
      // (Every key the fake is asked about exists: misses are the real server's tests' to show.)
      const got = await mc.getMulti(['txt', 'big']);
      expect(Object.keys(got).sort()).toEqual(['big', 'txt']);
      expect(got.txt).toBe(txt);
      expect((got.big as Buffer).equals(big)).toBe(true);
    } finally {
      await mc.close();
      await fake.stop();
    }
  });

  test.each([
    ['closes', 'close'],
    ['goes silent', 'silence'],
  ] as const)('a server that %s halfway through a large value: the get rejects with a typed error within the poll timeout; the value is read whole once the server is retried', async (_what, then) => {
    let cut = true;
    const fake = await FakeServer.start({
      script: (r, c) => {
        if (!isRead(r) || !cut) return CORRECT;
        cut = false;
        const reply = c.correct(r);
        return { kind: 'write', bytes: reply.subarray(0, reply.length >> 1), then };
      },
    });
    const mc = new Client([fake.spec], { binary, behaviors: { _poll_timeout: POLL, retry_timeout: 1 } });
    try {
      expect(await mc.set('big', big)).toBe(true);
      const started = Date.now();
      const error = await mc.get('big').then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(MemcachedError);
      if (then === 'silence') expect(error).toBeInstanceOf(TimeoutError);
      expect(Date.now() - started).toBeLessThan(POLL + 2000);
      // Nothing of the half-read value is taken for a later reply. (A timeout marks the server
      // failed until retry_timeout has passed: its gets reject meanwhile.)
      let read: unknown;
      for (const end = Date.now() + scaled(5000); read === undefined && Date.now() < end; ) {
        read = await mc.get('big').catch(() => new Promise((resolve) => setTimeout(resolve, 100)));
      }
      expect(Buffer.isBuffer(read) && read.equals(big)).toBe(true);
    } finally {
      await mc.close();
      await fake.stop();
    }
  });
});

describe('libmemcached in C (deps/patches/0008)', () => {
  test('a buffered set of a large value leaves in one sendmsg, not through the write buffer', async () => {
    const fresh = await startMemcached();
    try {
      const root = path.join(__dirname, '..', '..');
      const program = buildCProgram(path.join(root, 'test/native/buffered-large-set.c'), path.join(root, 'build/test-native/buffered-large-set'));
      const out = JSON.parse(execFileSync(program, [fresh.host, String(fresh.port)], { encoding: 'utf8', timeout: 10_000 }));
      // Through the write buffer it went out as 32 sends of 8 KiB, 31 of them flagged MSG_MORE.
      expect(out).toEqual({
        set: 'ACTION QUEUED',
        flush: 'SUCCESS',
        sendmsg: 1,
        largestSendmsg: 256 * 1024 + 'set large 0 0 262144\r\n'.length + 2,
        send: 0,
        sendWithMore: 0,
        get: 'SUCCESS',
        intact: true,
      });
    } finally {
      await fresh.stop();
    }
  });

  test('a large request after buffered ones, with replies to purge first, sends the buffer once', async () => {
    const fresh = await startMemcached();
    const mc = new Client([fresh.spec]);
    try {
      const root = path.join(__dirname, '..', '..');
      const program = buildCProgram(path.join(root, 'test/native/buffered-then-large.c'), path.join(root, 'build/test-native/buffered-then-large'));
      const out = execFileSync(program, [fresh.host, String(fresh.port)], { encoding: 'utf8', timeout: 10_000 });
      // Sent twice, the buffered sets ran twice on the server (7 sets), and their extra replies
      // were left waiting for later requests.
      expect(JSON.parse(out)).toEqual({ add: 'SUCCESS', get: 'SUCCESS', value: 'value1' });
      const [[, stats]] = await mc.getStats();
      expect(Number(stats.cmd_set)).toBe(4); // three sets and the add, each once
    } finally {
      await mc.close();
      await fresh.stop();
    }
  });
});
