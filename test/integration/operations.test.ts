/**
 * Every operation of the pylibmc surface against a real memcached, in the text and the binary
 * protocol, with pylibmc's soft (false / default) and hard (rejection) answers; then the same
 * end to end with values and keys of every kind, many callers at once, bad keys and close.
 */
import { BadKeyProvided, Client, ClientClosedError, NotFound, TooBig } from '../../lib';
import { MemcachedServer, PROTOCOLS, startMemcached } from '../harness/memcached';
import { RESERVE_KEYS_MIN } from '../../lib/results';

let server: MemcachedServer;
beforeAll(async () => {
  server = await startMemcached();
});
afterAll(() => server?.stop());

describe.each(PROTOCOLS)('%s protocol', (name, binary) => {
  let mc: Client;
  let n = 0;
  // A fresh key per test, so that tests do not see each other's values.
  const key = (label: string) => `${name}:${label}:${++n}`;

  beforeAll(() => {
    mc = new Client([server.spec], { binary });
  });
  afterAll(() => mc.close());

  test('get returns the value, or the default on a miss', async () => {
    const k = key('get');
    expect(await mc.get(k)).toBeUndefined();
    expect(await mc.get(k, null)).toBeNull();
    expect(await mc.get(k, 42)).toBe(42);
    expect(await mc.set(k, 'v')).toBe(true);
    expect(await mc.get(k, 'default')).toBe('v');
  });

  test('empty values are hits', async () => {
    const k = key('empty');
    expect(await mc.set(k, '')).toBe(true);
    expect(await mc.get(k, 'default')).toBe('');
    expect(await mc.set(k, Buffer.alloc(0))).toBe(true);
    expect(await mc.get(k)).toEqual(Buffer.alloc(0));
  });

  // memcached counts time in whole seconds: an item set for n seconds expires at the n-th tick of
  // its clock, which may come anywhere from n - 1 to n seconds later. Two seconds leave a second
  // for the reads that must still find the item (a sanitizer build once took longer than what a
  // one-second time left); the waits go a second past the latest expiry.
  test('set with a time expires', async () => {
    const k = key('expire');
    expect(await mc.set(k, 'v', 2)).toBe(true);
    expect(await mc.set(key('expire-object'), 'v', { time: 100 })).toBe(true);
    expect(await mc.get(k)).toBe('v');
    await new Promise((r) => setTimeout(r, 3000));
    expect(await mc.get(k)).toBeUndefined();
  });

  test('add stores only a missing key, replace only a present one (false otherwise)', async () => {
    const k = key('addreplace');
    expect(await mc.replace(k, 'x')).toBe(false);
    expect(await mc.add(k, 'a')).toBe(true);
    expect(await mc.add(k, 'b')).toBe(false);
    expect(await mc.replace(k, 'c')).toBe(true);
    expect(await mc.get(k)).toBe('c');
  });

  test('append and prepend concatenate, false for a missing key', async () => {
    const k = key('append');
    expect(await mc.append(k, 'x')).toBe(false);
    expect(await mc.prepend(k, 'x')).toBe(false);
    await mc.set(k, 'mid');
    expect(await mc.append(k, '>')).toBe(true);
    expect(await mc.prepend(k, '<')).toBe(true);
    expect(await mc.get(k)).toBe('<mid>');
  });

  test('delete answers whether the key existed', async () => {
    const k = key('delete');
    expect(await mc.delete(k)).toBe(false);
    await mc.set(k, 'v');
    expect(await mc.delete(k)).toBe(true);
    expect(await mc.get(k)).toBeUndefined();
  });

  test('touch answers whether the key existed', async () => {
    const k = key('touch');
    expect(await mc.touch(k, 10)).toBe(false);
    await mc.set(k, 'v', 2);
    expect(await mc.touch(k, 100)).toBe(true);
    await new Promise((r) => setTimeout(r, 3000));
    expect(await mc.get(k)).toBe('v');
  });

  test('incr and decr count, clamp at zero and wrap at 2^64; a missing key rejects with NotFound', async () => {
    const k = key('counter');
    await expect(mc.incr(k)).rejects.toBeInstanceOf(NotFound);
    await expect(mc.decr(k)).rejects.toBeInstanceOf(NotFound);
    await mc.set(k, '10');
    expect(await mc.incr(k)).toBe(11);
    expect(await mc.incr(k, 5n)).toBe(16);
    expect(await mc.decr(k, 100)).toBe(0);
    await mc.set(k, '18446744073709551614');
    expect(await mc.incr(k)).toBe(18446744073709551615n);
    expect(await mc.incr(k)).toBe(0);
    await mc.set(k, String(2 ** 53));
    expect(await mc.incr(k, 0)).toBe(9007199254740992n);
    expect(await mc.decr(k, 1)).toBe(9007199254740991);
  });

  test('incr of a non-numeric value rejects (not a silent false)', async () => {
    const k = key('nonnumeric');
    await mc.set(k, 'abc');
    await expect(mc.incr(k)).rejects.toMatchObject({ name: expect.stringMatching(/ClientError|UnknownReadFailure|ProtocolError|Failure/) });
    // The connection is still usable afterwards.
    expect(await mc.set(k, '1')).toBe(true);
    expect(await mc.incr(k)).toBe(2);
  });

  test('incrMulti increments every key and reports missing ones after trying all', async () => {
    const [a, b] = [key('im'), key('im')];
    await mc.setMulti({ [a]: '1', [b]: '10' });
    await mc.incrMulti([a, b], { delta: 5 });
    expect(await mc.getMulti([a, b])).toEqual(Object.assign(Object.create(null), { [a]: '6', [b]: '15' }));
    await expect(mc.incrMulti([a, key('missing')])).rejects.toBeInstanceOf(NotFound);
    expect(await mc.get(a)).toBe('7');
  });

  test('gets and cas: swap with a fresh token, false with a stale one, NotFound when missing', async () => {
    const k = key('cas');
    expect(await mc.gets(k)).toEqual([undefined, undefined]);
    await mc.set(k, 'v1');
    const [value, token] = await mc.gets(k);
    expect(value).toBe('v1');
    expect(typeof token).toBe('bigint');
    expect(await mc.cas(k, 'v2', token!)).toBe(true);
    expect(await mc.cas(k, 'v3', token!)).toBe(false);
    expect(await mc.get(k)).toBe('v2');
    await mc.delete(k);
    await expect(mc.cas(k, 'v4', token!)).rejects.toBeInstanceOf(NotFound);
  });

  test('cas in a loop, as pylibmc tests it', async () => {
    const k = key('casloop');
    await mc.set(k, '0');
    for (let i = 0; i < 10; i++) {
      const [v, token] = await mc.gets(k);
      expect(await mc.cas(k, String(Number(v) + 1), token!)).toBe(true);
    }
    expect(await mc.get(k)).toBe('10');
  });

  test('getMulti returns hits by the keys as given, with a null prototype, misses left out', async () => {
    const [a, b, c] = [key('gm'), key('gm'), key('gm')];
    await mc.set(a, 'A');
    await mc.set(c, Buffer.from('C'));
    const result = await mc.getMulti([a, b, c, a]);
    expect(Object.getPrototypeOf(result)).toBeNull();
    expect({ ...result }).toEqual({ [a]: 'A', [c]: Buffer.from('C') });
    expect(await mc.getMulti([])).toEqual(Object.create(null));
    expect({ ...(await mc.getMulti(new Set([a]))) }).toEqual({ [a]: 'A' });
  });

  // From RESERVE_KEYS_MIN keys the result object is given every key while the request is out,
  // and the replies fill them in (lib/results.ts): what comes back must be the same.
  test('a getMulti of thousands of keys: hits in the order asked, misses and repeats left out; a value that cannot be read fails it', async () => {
    const n = RESERVE_KEYS_MIN + 952;
    const keys = Array.from({ length: n }, () => key('many'));
    const stored = new Map(keys.filter((_, i) => i % 3 !== 1).map((k, i) => [k, i % 2 === 0 ? `v:${k}` : Buffer.from(k)]));
    expect(await mc.setMulti(stored)).toEqual([]);
    // Asked twice, and in a different order from the one stored: the result follows the ask.
    const asked = [...keys].reverse().concat(keys.slice(0, 50));
    const result = await mc.getMulti(asked);
    expect(Object.getPrototypeOf(result)).toBeNull();
    expect(Object.keys(result)).toEqual([...keys].reverse().filter((k) => stored.has(k)));
    for (const [k, v] of Object.entries(result)) expect(v).toEqual(stored.get(k));
    // Every key a hit, and every key a miss.
    const hits = [...stored.keys()];
    expect(Object.keys(await mc.getMulti(hits))).toEqual(hits);
    expect(await mc.getMulti(keys.filter((k) => !stored.has(k)))).toEqual(Object.create(null));

    // A value the deserializer refuses fails the call (with the deserializer's own error).
    const bad = hits[7];
    const picky = new Client([server.spec], {
      binary,
      deserialize: (bytes, flags) => {
        if (bytes.toString() === bad || bytes.toString() === `v:${bad}`) throw new Error('refused');
        return flags === 0 ? bytes.toString() : bytes;
      },
    });
    await expect(picky.getMulti(keys)).rejects.toThrow('refused');
    await picky.close();
  });

  test('keyPrefix is prepended on the wire and stripped from results', async () => {
    const prefix = key('prefix') + ':';
    expect(await mc.setMulti({ x: '1', y: '2' }, { keyPrefix: prefix })).toEqual([]);
    expect(await mc.get(prefix + 'x')).toBe('1');
    expect({ ...(await mc.getMulti(['x', 'y', 'z'], { keyPrefix: prefix })) }).toEqual({ x: '1', y: '2' });
    expect(await mc.deleteMulti(['x', 'y'], { keyPrefix: prefix })).toBe(true);
    expect(await mc.get(prefix + 'y')).toBeUndefined();
  });

  test('setMulti accepts objects and Maps and reports the keys not stored', async () => {
    const [a, b] = [key('sm'), key('sm')];
    expect(await mc.setMulti(new Map<string, string | Buffer>([[a, 'A'], [b, Buffer.from('B')]]), { time: 100 })).toEqual([]);
    expect(await mc.get(b)).toEqual(Buffer.from('B'));
    const c = key('sm');
    expect(await mc.addMulti({ [a]: 'again', [c]: 'C' })).toEqual([a]);
    expect(await mc.get(a)).toBe('A');
    expect(await mc.get(c)).toBe('C');
    expect(await mc.setMulti({})).toEqual([]);
  });

  test('deleteMulti is true only when every key was deleted', async () => {
    const [a, b] = [key('dm'), key('dm')];
    await mc.setMulti({ [a]: '1', [b]: '2' });
    expect(await mc.deleteMulti([a, b])).toBe(true);
    await mc.set(a, '1');
    expect(await mc.deleteMulti([a, b])).toBe(false);
  });

  test('a value over the server limit rejects with TooBig and leaves the connection usable', async () => {
    const k = key('big');
    await expect(mc.set(k, Buffer.alloc(2 * 1024 * 1024))).rejects.toBeInstanceOf(TooBig);
    const large = Buffer.alloc(512 * 1024, 7);
    expect(await mc.set(k, large)).toBe(true);
    expect(await mc.get(k)).toEqual(large);
  });

  test('has fetches like pylibmc `in`', async () => {
    const k = key('has');
    expect(await mc.has(k)).toBe(false);
    await mc.set(k, '');
    expect(await mc.has(k)).toBe(true);
  });

  test('binary-safe Buffer keys and values (binary protocol keys may hold any byte)', async () => {
    const k = binary ? Buffer.from([0, 1, 32, 255]) : Buffer.from(key('bufkey'));
    const v = Buffer.from([0, 13, 10, 0, 255]);
    expect(await mc.set(k, v)).toBe(true);
    expect(await mc.get(k)).toEqual(v);
  });

  test('getStats returns one entry per server, named as pylibmc names it', async () => {
    const stats = await mc.getStats();
    expect(stats).toHaveLength(1);
    expect(stats[0][0]).toBe(`${server.host}:${server.port} (0)`);
    expect(Number(stats[0][1].pid)).toBe(server.pid);
    expect(stats[0][1].version).toMatch(/^\d+\.\d+/);
  });

  test('getStats(group) returns the statistics the server sends for the group', async () => {
    await mc.set(key('stats-item'), 'v');
    const [[name, settings]] = await mc.getStats('settings');
    expect(name).toBe(`${server.host}:${server.port} (0)`);
    expect(settings.tcpport).toBe(String(server.port));
    expect(Number(settings.maxconns)).toBeGreaterThan(0);
    const [[, items]] = await mc.getStats('items');
    expect(Object.keys(items).some((stat) => /^items:\d+:number$/.test(stat))).toBe(true);
    // The general statistics stay the 22 fields pylibmc lists.
    expect(Object.keys((await mc.getStats())[0][1])).toHaveLength(22);
  });

  test('hash maps every key to server 0 of one', async () => {
    expect(await mc.hash('anything')).toBe(0);
  });

  test('disconnectAll closes connections; the next operation reconnects', async () => {
    const k = key('reconnect');
    await mc.set(k, 'v');
    const before = Number((await mc.getStats())[0][1].total_connections);
    await mc.disconnectAll();
    expect(await mc.get(k)).toBe('v');
    const after = Number((await mc.getStats())[0][1].total_connections);
    expect(after).toBeGreaterThan(before);
  });

  test('flushAll empties the server', async () => {
    const k = key('flush');
    await mc.set(k, 'v');
    expect(await mc.flushAll()).toBe(true);
    expect(await mc.get(k)).toBeUndefined();
  });

  test('clone has the same configuration and its own connections', async () => {
    const copy = mc.clone();
    expect(copy.servers).toEqual(mc.servers);
    expect(copy.binary).toBe(binary);
    const k = key('clone');
    await copy.set(k, 'from the clone');
    expect(await mc.get(k)).toBe('from the clone');
    await copy.close();
    expect(await mc.get(k)).toBe('from the clone');
  });

  test('compression options compress values and reads inflate them', async () => {
    const k = key('zlib');
    const text = 'compressible '.repeat(1000);
    expect(await mc.set(k, text, { minCompressLen: 100, compressLevel: 9 })).toBe(true);
    expect(await mc.get(k)).toBe(text);
    const [, token] = await mc.gets(k);
    expect(await mc.cas(k, text + '!', token!, { minCompressLen: 1 })).toBe(true);
    expect(await mc.get(k)).toBe(text + '!');
  });
});

// End to end: values and keys of every kind, many callers at once, bad keys, close, maxValueSize.

describe.each([false, true])('binary=%s', (binary) => {
  let client: Client;
  beforeAll(() => {
    client = new Client([server.spec], { binary });
  });
  afterAll(() => client.close());

  test('strings and Buffers round-trip', async () => {
    expect(await client.set(`s:${binary}`, 'héllo')).toBe(true);
    expect(await client.get(`s:${binary}`)).toBe('héllo');
    const bytes = Buffer.from([0, 1, 2, 255, 13, 10]);
    expect(await client.set(`b:${binary}`, bytes)).toBe(true);
    expect(await client.get(`b:${binary}`)).toEqual(bytes);
  });

  // Keys are written into the request buffer by two paths (ASCII byte by byte, anything else as
  // UTF-8), and text values decoded by two (straight from the delivery's shared buffer when
  // small, from a Buffer of their own when large): every mix must name the same bytes.
  test('ASCII, non-ASCII and Buffer keys and prefixes name the same bytes; text decodes whole', async () => {
    const text = 'héllo wörld ☃ 😀';
    const big = '☃'.repeat(3000); // 9000 bytes: past the shared buffer's per-value limit
    const tag = `k${binary}`;
    expect(await client.set(`ключ:${tag}`, text)).toBe(true);
    expect(await client.set(`é:${tag}`, big)).toBe(true);
    expect(await client.set(`plain:${tag}`, 'ascii')).toBe(true);
    expect(await client.get(Buffer.from(`ключ:${tag}`))).toBe(text);
    expect(await client.get(Buffer.from(`é:${tag}`))).toBe(big);
    expect(await client.getMulti([`ключ:${tag}`, Buffer.from(`plain:${tag}`), `é:${tag}`])).toEqual(
      Object.assign(Object.create(null), { [`ключ:${tag}`]: text, [`plain:${tag}`]: 'ascii', [`é:${tag}`]: big }),
    );
    // A prefix of each kind in front of keys of each kind.
    expect({ ...(await client.getMulti([`:${tag}`], { keyPrefix: 'é' })) }).toEqual({ [`:${tag}`]: big });
    expect({ ...(await client.getMulti([`:${tag}`], { keyPrefix: Buffer.from('plain') })) }).toEqual({ [`:${tag}`]: 'ascii' });
    expect({ ...(await client.getMulti([`:${tag}`, `ч:${tag}`], { keyPrefix: 'клю' })) }).toEqual({ [`ч:${tag}`]: text });
  });

  test('a thousand concurrent gets each resolve to their own value', async () => {
    await Promise.all(Array.from({ length: 100 }, (_, i) => client.set(`many:${binary}:${i}`, `v${i}`)));
    const values = await Promise.all(Array.from({ length: 1000 }, (_, i) => client.get(`many:${binary}:${i % 100}`)));
    values.forEach((v, i) => expect(v).toBe(`v${i % 100}`));
  });
});

test('bad keys reject before any I/O', async () => {
  const client = new Client([server.spec]);
  await expect(client.get('')).rejects.toBeInstanceOf(BadKeyProvided);
  await expect(client.get('a b')).rejects.toBeInstanceOf(BadKeyProvided);
  await expect(client.set('a\r\nb', 'x')).rejects.toBeInstanceOf(BadKeyProvided);
  await expect(client.get('k'.repeat(251))).rejects.toBeInstanceOf(BadKeyProvided);
  await expect(client.get(42 as unknown as string)).rejects.toBeInstanceOf(TypeError);
  // The connection is still in step: the injection attempts above never reached the server.
  expect(await client.set('after-bad-keys', 'ok')).toBe(true);
  expect(await client.get('after-bad-keys')).toBe('ok');
  await client.close();
});

test('close waits for in-flight work, then later calls reject', async () => {
  const client = new Client([server.spec]);
  const inFlight = Array.from({ length: 200 }, (_, i) => client.set(`close:${i}`, 'v'));
  await client.close();
  expect(await Promise.all(inFlight)).toEqual(Array(200).fill(true));
  await expect(client.get('close:1')).rejects.toBeInstanceOf(ClientClosedError);
});

describe.each([false, true])('maxValueSize, binary=%s', (binary) => {
  // A server's reply that announces a larger value than maxValueSize is refused before anything
  // is allocated for it: the read rejects with TooBig, naming the limit, and the client goes on.
  test('a value above the limit rejects with TooBig; the connection recovers; a larger limit reads it', async () => {
    const writer = new Client([server.spec], { binary });
    const limited = new Client([server.spec], { binary, maxValueSize: 1000 });
    try {
      const tag = `limit:${binary}`;
      expect(await writer.set(`${tag}:big`, 'x'.repeat(1001))).toBe(true);
      expect(await writer.set(`${tag}:small`, 'y'.repeat(1000))).toBe(true);
      const refused = await limited.get(`${tag}:big`).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(TooBig);
      expect((refused as Error).message).toMatch(/1001 bytes is larger than the limit of 1000 bytes/);
      const multi = await limited.getMulti([`${tag}:big`, `${tag}:small`]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(multi).toBeInstanceOf(TooBig);
      // The value at the limit reads, on the same client, after the refusals.
      expect(await limited.get(`${tag}:small`)).toBe('y'.repeat(1000));
      expect(await writer.get(`${tag}:big`)).toBe('x'.repeat(1001));
    } finally {
      await writer.close();
      await limited.close();
    }
  });
});
