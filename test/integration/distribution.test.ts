/**
 * Distribution: with three real servers, this client and the real pylibmc pick the same server
 * for every one of 10,000 keys under each configuration; and keys stored through either client
 * are on that server (checked on the server itself) and read by the other.
 */
import { Client } from '../../lib';
import { MemcachedServer, startMemcached } from '../harness/memcached';
import { runPylibmc } from '../harness/pylibmc';
import { rawGet } from '../harness/raw';

let servers: MemcachedServer[];
beforeAll(async () => {
  servers = await Promise.all([startMemcached(), startMemcached(), startMemcached()]);
});
afterAll(() => Promise.all(servers.map((s) => s.stop())));

const KEYS = Array.from({ length: 10_000 }, (_, i) => `dist:${i}:${(i * 2654435761) % 1000003}`);

const CONFIGS: Array<[string, number[], Record<string, unknown>]> = [
  ['modula (the default)', [1, 1, 1], {}],
  ['ketama', [1, 1, 1], { ketama: true }],
  ['ketama_weighted', [1, 1, 1], { ketama_weighted: true }],
  ['a weighted server list, ketama_weighted', [1, 2, 5], { ketama_weighted: true }],
  ['a weighted server list, modula', [1, 2, 5], {}],
  ['consistent with the crc hash', [1, 1, 1], { distribution: 'consistent', hash: 'crc' }],
];

describe.each(CONFIGS)('%s', (label, weights, behaviors) => {
  const specs = () => servers.map((s, i) => `${s.spec}:${weights[i]}`);
  let mc: Client;
  beforeAll(() => {
    mc = new Client(specs(), { behaviors: behaviors as never });
  });
  afterAll(() => mc.close());

  test('hash(key) picks pylibmc\'s server for each of 10,000 keys', async () => {
    const [theirs] = runPylibmc({ servers: specs(), behaviors, ops: [{ op: 'hash', keys: KEYS }] });
    const ours = await Promise.all(KEYS.map((k) => mc.hash(k)));
    const differing = KEYS.filter((_, i) => ours[i] !== theirs.servers![i]);
    expect(differing).toEqual([]);
    // Every server gets keys: a distribution that sends everything to one server would also
    // agree with itself.
    expect(new Set(ours).size).toBe(3);
  });

  test('keys stored here are on that server, and pylibmc reads them; and the other way round', async () => {
    const slug = label.replace(/\W+/g, '-');
    const ours = KEYS.slice(0, 300).map((k) => `${slug}:js:${k}`);
    const theirs = KEYS.slice(300, 600).map((k) => `${slug}:py:${k}`);
    expect(await mc.setMulti(Object.fromEntries(ours.map((k) => [k, k])))).toEqual([]);
    const results = runPylibmc({
      servers: specs(),
      behaviors,
      ops: [
        ...ours.map((k) => ({ op: 'check' as const, key: k, expr: JSON.stringify(k) })),
        ...theirs.map((k) => ({ op: 'set' as const, key: k, expr: JSON.stringify(k) })),
        { op: 'hash', keys: [...ours, ...theirs] },
      ],
    });
    expect(results.slice(0, ours.length).filter((r) => !r.ok)).toEqual([]);
    const placement = results[results.length - 1].servers!;
    // On the server itself, not through either client.
    const all = [...ours, ...theirs];
    const misplaced: string[] = [];
    for (const [i, k] of all.entries()) {
      if ((await rawGet(servers[placement[i]].port, k)) === undefined) misplaced.push(k);
    }
    expect(misplaced).toEqual([]);
    const read = await mc.getMulti(theirs);
    expect(theirs.filter((k) => read[k] !== k)).toEqual([]);
  });
});

test('_hash_with_prefix_key puts the namespace into the hash, as pylibmc does', async () => {
  const specs = servers.map((s) => s.spec);
  for (const behaviors of [{ ketama: true }, { ketama: true, _hash_with_prefix_key: 1 }] as Array<Record<string, number | boolean>>) {
    const mc = new Client(specs, { namespace: 'ns:', behaviors });
    const [theirs] = runPylibmc({ servers: specs, behaviors, namespace: 'ns:', ops: [{ op: 'hash', keys: KEYS.slice(0, 2000) }] });
    expect(await Promise.all(KEYS.slice(0, 2000).map((k) => mc.hash(k)))).toEqual(theirs.servers);
    await mc.close();
  }
  // And it changes placement: without it, the namespace is ignored by the hash.
  const plain = new Client(specs, { behaviors: { ketama: true } });
  const prefixed = new Client(specs, { namespace: 'ns:', behaviors: { ketama: true, _hash_with_prefix_key: 1 } });
  const a = await Promise.all(KEYS.slice(0, 200).map((k) => plain.hash(k)));
  const b = await Promise.all(KEYS.slice(0, 200).map((k) => prefixed.hash(k)));
  expect(a).not.toEqual(b);
  await plain.close();
  await prefixed.close();
});
