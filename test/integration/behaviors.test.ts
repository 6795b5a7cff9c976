/**
 * Behaviors by pylibmc's names on clients of a real memcached: applied in pylibmc's order and
 * read back as the real pylibmc reads them back for the same settings; changed on a live client
 * on every I/O thread. The refusals, and what needs no server, are in test/unit/behaviors.test.ts.
 */
import * as net from 'node:net';
import { Client } from '../../lib';
import { BEHAVIOR_NAMES } from '../../lib/behaviors';
import { MemcachedServer, startMemcached } from '../harness/memcached';
import { runPylibmc } from '../harness/pylibmc';

let server: MemcachedServer;
beforeAll(async () => {
  server = await startMemcached();
});
afterAll(() => server?.stop());

// This client's defaults differ from pylibmc's for these three (see the README); spelled out
// here, both clients start from the same place.
const PYLIBMC_DEFAULTS = { tcp_nodelay: 0, connect_timeout: 4000, _poll_timeout: 5000 };

const SETTINGS: Array<Record<string, unknown>> = [
  {},
  { ketama: true },
  { ketama_weighted: true },
  { ketama_weighted: false },
  { distribution: 'consistent' },
  { distribution: 'consistent ketama spy' },
  { distribution: 'random' },
  { ketama: true, distribution: 'modula' },
  { ketama_weighted: 1, hash: 'crc' },
  { hash: 'md5', ketama_hash: 'fnv1a_32' },
  { hash: 'murmur' },
  { hash: 'jenkins', ketama_hash: 3 },
  { remove_failed: 2, failure_limit: 3, retry_timeout: 4, dead_timeout: 5, auto_eject: 1 },
  { remove_failed: 0, auto_eject: 1 },
  { _retry_timeout: 7 },
  { no_block: 1, tcp_keepalive: 1, tcp_nodelay: 5, num_replicas: 1, _sort_hosts: 1, _hash_with_prefix_key: 1 },
  { _io_msg_watermark: 100, _io_bytes_watermark: 1000, _io_key_prefetch: 10 },
  { send_timeout: 300000, receive_timeout: 200000, connect_timeout: 250, _poll_timeout: 300 },
  { cas: 1, buffer_requests: 1 },
  { verify_keys: 1 },
  { pickle_protocol: 2 },
];

test.each(SETTINGS.map((s) => [JSON.stringify(s), s]))('%s reads back as pylibmc reads it back', async (_label, settings) => {
  const behaviors = { ...PYLIBMC_DEFAULTS, ...settings };
  const [theirs] = runPylibmc({ servers: [server.spec], ops: [{ op: 'behaviors', behaviors }] });
  const mc = new Client([server.spec], { behaviors: behaviors as never });
  try {
    const ours = await mc.getBehaviors();
    expect(Object.keys(ours)).toEqual(BEHAVIOR_NAMES);
    expect(ours).toEqual(theirs.behaviors);
  } finally {
    await mc.close();
  }
});

test('getBehaviors shows this client\'s own defaults', async () => {
  const mc = new Client([server.spec]);
  const b = await mc.getBehaviors();
  expect([b.tcp_nodelay, b.connect_timeout, b._poll_timeout, b.hash, b.distribution]).toEqual([1, 1000, 1000, 'default', 'modula']);
  await mc.close();
});

test('setBehaviors changes a live client on every I/O thread, after what was issued before', async () => {
  const mc = new Client([server.spec], { connections: 3 });
  await mc.set('b:k', 'v');
  const [, set] = await Promise.all([mc.get('b:k'), mc.setBehaviors({ _poll_timeout: 321, ketama: true })]);
  expect(set).toBeUndefined();
  // Each read may land on any of the threads: all of them must show the change.
  for (let i = 0; i < 6; i++) {
    const b = await mc.getBehaviors();
    expect([b._poll_timeout, b.distribution]).toEqual([321, 'consistent ketama']);
  }
  expect(await mc.get('b:k')).toBe('v');
  await mc.close();
});

test('clone() copies the behaviors, those set on the live client included', async () => {
  const mc = new Client([server.spec], { behaviors: { ketama: true, retry_timeout: 9 } });
  await mc.setBehaviors({ dead_timeout: 11 });
  const copy = mc.clone();
  const b = await copy.getBehaviors();
  expect([b.distribution, b.retry_timeout, b.dead_timeout]).toEqual(['consistent ketama', 9, 11]);
  await mc.close();
  await copy.close();
});

test('clone() keeps a namespace given among the behaviors', async () => {
  const mc = new Client([server.spec], { behaviors: { namespace: 'cl:' } });
  await mc.set('k', 'namespaced');
  const copy = mc.clone();
  expect(await copy.get('k')).toBe('namespaced');
  await mc.close();
  await copy.close();
});

test('buffer_requests keeps every write\'s answer truthful', async () => {
  const mc = new Client([server.spec], { behaviors: { buffer_requests: 1 } });
  await mc.delete('b:add');
  const results = await Promise.all([mc.add('b:add', 1), mc.add('b:add', 2), mc.set('b:set', 3), mc.delete('b:missing')]);
  expect(results).toEqual([true, false, true, false]);
  expect(await mc.get('b:add')).toBe(1);
  await mc.close();
});

describe('tcp_nodelay off (Nagle, pylibmc\'s default)', () => {
  /** Forwards to the server and records the size of every chunk the client sends. */
  async function recordingProxy(): Promise<{ spec: string; chunks: number[]; close: () => Promise<void> }> {
    const chunks: number[] = [];
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(server.port, '127.0.0.1');
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => undefined);
      }
      client.on('data', (chunk) => {
        chunks.push(chunk.length);
        upstream.write(chunk);
      });
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as net.AddressInfo;
    const close = async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    };
    return { spec: `127.0.0.1:${port}`, chunks, close };
  }

  // libmemcached wrote a binary get's key, then its closing NOOP, as two writes: with Nagle the
  // NOOP then waited for the server's delayed ACK (40 ms) whenever the key missed, since a miss
  // has no reply to carry the ACK (deps/patches/0005). The fuzz test found a client slowed to
  // seconds by it. Before: chunks [27, 24] and a wait; now one chunk.
  test('a binary get is sent in one write', async () => {
    const proxy = await recordingProxy();
    const mc = new Client([proxy.spec], { binary: true, behaviors: { tcp_nodelay: false } });
    try {
      expect(await mc.get('nagle:missing')).toBeUndefined();
      proxy.chunks.length = 0;
      expect(await mc.get('nagle:missing')).toBeUndefined();
      expect(await mc.getMulti(['nagle:a', 'nagle:b'])).toEqual({});
      const keyed = 24 + 'nagle:missing'.length;
      const multi = 2 * (24 + 'nagle:a'.length);
      expect(proxy.chunks).toEqual([keyed + 24, multi + 24]);
    } finally {
      await mc.close();
      await proxy.close();
    }
  });
});
