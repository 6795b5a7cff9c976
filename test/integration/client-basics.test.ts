/** The first operations, end to end against a real memcached, in both protocols. */
import { BadKeyProvided, Client, ClientClosedError, TooBig } from '../../lib';
import { MemcachedServer, startMemcached } from '../harness/memcached';

let server: MemcachedServer;

beforeAll(async () => {
  server = await startMemcached();
});
afterAll(async () => {
  await server?.stop();
});

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

  test('a miss returns the default', async () => {
    expect(await client.get(`missing:${binary}`)).toBeUndefined();
    expect(await client.get(`missing:${binary}`, 42)).toBe(42);
  });

  test('add, replace and delete answer with booleans', async () => {
    const key = `abc:${binary}`;
    await client.delete(key);
    expect(await client.replace(key, 'x')).toBe(false);
    expect(await client.add(key, 'x')).toBe(true);
    expect(await client.add(key, 'y')).toBe(false);
    expect(await client.replace(key, 'z')).toBe(true);
    expect(await client.get(key)).toBe('z');
    expect(await client.delete(key)).toBe(true);
    expect(await client.delete(key)).toBe(false);
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
