/**
 * Behaviors resolved and refused without a memcached server: names, values and combinations
 * refused with a clear error before anything is made, where keys go (hash()) after a change,
 * and the addon's all-or-nothing rule for a batch of behaviors. The behaviors read back from a
 * live client, and compared with pylibmc's, are in test/integration/behaviors.test.ts.
 */
import { Client, ConnectionError, MemcachedError, ServerDown } from '../../lib';
import { BEHAVIORS, Behaviors, HASHERS } from '../../lib/behaviors';
import { native } from '../../lib/native/load';

// A server these tests name only to make a client: nothing listens on port 1, and none of them
// needs an answer (the refusals come before any I/O; a client that cannot reach its server
// reads its socket sizes as 0, as pylibmc does).
const server = { spec: '127.0.0.1:1' };

describe('refused, before anything is made', () => {
  test.each([
    ['an unknown name', { tcp_nodelayy: 1 }, /unknown behavior names: tcp_nodelayy/],
    ['an unknown hash', { hash: 'sha1' }, /unknown hash "sha1"/],
    ['hsieh, not compiled in', { hash: 'hsieh' }, /hsieh is not compiled/],
    ['an unknown distribution', { distribution: 'consistent max' }, /unknown distribution "consistent max"/],
    ['a negative timeout', { connect_timeout: -1 }, /connect_timeout must be an integer/],
    ['a fraction', { retry_timeout: 1.5 }, /retry_timeout must be an integer/],
    ['a string for a number', { tcp_nodelay: 'yes' }, /tcp_nodelay must be an integer/],
    ['_noreply', { _noreply: 1 }, /_noreply is not supported/],
    ['failure_limit 0', { failure_limit: 0 }, /failure_limit must be at least 1/],
    ['pickle_protocol 6', { pickle_protocol: 6 }, /pickle_protocol must be an integer from -1 to 5/],
  ])('%s', (_label, behaviors, message) => {
    expect(() => new Client([server.spec], { behaviors: behaviors as never })).toThrow(RangeError);
    expect(() => new Client([server.spec], { behaviors: behaviors as never })).toThrow(message);
  });

  test('verify_keys with the binary protocol', () => {
    expect(() => new Client([server.spec], { binary: true, behaviors: { verify_keys: 1 } })).toThrow(/text protocol only/);
  });

  // Before, accepted: libmemcached 1.1.4 then wrote replicas with quiet binary commands, and a
  // replica's error reply (to a delete of a key it lacked) became a later request's answer.
  test('num_replicas above 0 with the binary protocol', async () => {
    expect(() => new Client([server.spec], { binary: true, behaviors: { num_replicas: 1 } })).toThrow(/num_replicas is not supported with the binary protocol/);
    const mc = new Client([server.spec], { binary: true });
    try {
      await expect(mc.setBehaviors({ num_replicas: 2 })).rejects.toBeInstanceOf(RangeError);
      expect((await mc.getBehaviors()).num_replicas).toBe(0);
    } finally {
      await mc.close();
    }
  });

  test('setBehaviors rejects the same way, and changes nothing', async () => {
    const mc = new Client([server.spec], { behaviors: { retry_timeout: 3 } });
    await expect(mc.setBehaviors({ retry_timeout: 9, bogus: 1 } as Behaviors)).rejects.toThrow(/unknown behavior names: bogus/);
    await expect(mc.setBehaviors({ namespace: 'x:' })).rejects.toThrow(/namespace is fixed/);
    expect((await mc.getBehaviors()).retry_timeout).toBe(3);
    await mc.close();
  });
});

test('setBehaviors changes where keys go, as a client made with the same behaviors', async () => {
  const specs = ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'];
  const live = new Client(specs);
  const made = new Client(specs, { behaviors: { ketama: true } });
  await live.setBehaviors({ ketama: true });
  const keys = Array.from({ length: 200 }, (_, i) => `key${i}`);
  expect(await Promise.all(keys.map((k) => live.hash(k)))).toEqual(await Promise.all(keys.map((k) => made.hash(k))));
  await live.close();
  await made.close();
});

test('behaviors are set and read on a client whose server is down', async () => {
  const mc = new Client(['127.0.0.1:1']);
  // Setting never connects; reading the socket sizes tries to, and reports 0 (as pylibmc).
  await mc.setBehaviors({ tcp_keepalive: 1 });
  const b = await mc.getBehaviors();
  expect([b.tcp_keepalive, b._socket_send_size]).toEqual([1, 0]);
  const error = await mc.get('k').catch((e: unknown) => e);
  expect(error).toBeInstanceOf(MemcachedError);
  expect([ConnectionError.retcode, ServerDown.retcode]).toContain((error as MemcachedError).rc);
  await mc.close();
});

test('setBehaviors is all or nothing: one behavior refused leaves the configuration as it was', async () => {
  // The client refuses what libmemcached would (below), so the native all-or-nothing rule is
  // checked on the addon itself: libmemcached refuses buffer_requests on a UDP handle, after
  // hash (applied first) was accepted. Before, the master kept the new hash: hash() then named
  // other servers than the I/O threads (which never got the words) used. No I/O is involved.
  const servers = [1, 2, 3].map((port) => ({ transport: 'udp', host: '127.0.0.1', port, weight: 1 }));
  const client = new native.Client({ servers, behaviors: [], connections: 1, maxValueSize: 1024 } as never, () => true);
  try {
    const keys = Array.from({ length: 1000 }, (_, i) => Buffer.from(`atomic:${i}`));
    const before = keys.map((k) => client.hash(k));
    const [hash, md5, bufferRequests] = [BEHAVIORS.hash.id, HASHERS.md5, BEHAVIORS.buffer_requests.id] as number[];
    expect(() => client.setBehaviors(new Uint32Array([hash, md5, bufferRequests, 1]))).toThrow(/BUFFER_REQUESTS/);
    expect(keys.map((k) => client.hash(k))).toEqual(before);
    client.setBehaviors(new Uint32Array([hash, md5]));
    expect(keys.map((k) => client.hash(k)).filter((server, i) => server !== before[i]).length).toBeGreaterThan(100);
  } finally {
    client.dispose();
  }
});

test('a UDP client refuses the behaviors libmemcached refuses over UDP, with a RangeError', async () => {
  // Before, a bare InvalidArguments from the native setup.
  for (const behaviors of [{ buffer_requests: 0 }, { buffer_requests: 1 }, { _noreply: 0 }] as Array<Record<string, number>>) {
    expect(() => new Client(['udp:127.0.0.1:1'], { behaviors })).toThrow(RangeError);
  }
  const mc = new Client(['udp:127.0.0.1:1']);
  try {
    await expect(mc.setBehaviors({ hash: 'md5', buffer_requests: 0 })).rejects.toThrow(/buffer_requests cannot be set on a UDP client/);
    expect((await mc.getBehaviors()).hash).toBe('default');
  } finally {
    await mc.close();
  }
});

test('ketama_hash given as the number of hsieh (not compiled in) is a RangeError, as the name is', async () => {
  const mc = new Client(['127.0.0.1:1']);
  try {
    await expect(mc.setBehaviors({ ketama_hash: 7 })).rejects.toBeInstanceOf(RangeError);
    await expect(mc.setBehaviors({ ketama_hash: 'hsieh' })).rejects.toBeInstanceOf(RangeError);
    expect(() => new Client(['127.0.0.1:1'], { behaviors: { ketama_hash: 7 } })).toThrow(RangeError);
  } finally {
    await mc.close();
  }
});
