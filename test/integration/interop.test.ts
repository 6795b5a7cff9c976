/**
 * Interop with the real pylibmc (Debian's python3-pylibmc, driven by test/interop/pylibmc_helper.py)
 * on one memcached, in both protocols: values pylibmc writes read here as the expected JavaScript
 * values, values written here read in pylibmc as the expected Python values, and key prefixes
 * and namespaces land on the same keys.
 */
import { Client } from '../../lib';
import { MemcachedServer, PROTOCOLS, startMemcached } from '../harness/memcached';
import { PylibmcOp, runPylibmc } from '../harness/pylibmc';
import { rawGet } from '../harness/raw';

let server: MemcachedServer;
beforeAll(async () => {
  server = await startMemcached();
});
afterAll(() => server?.stop());

/** [label, Python expression pylibmc stores, what this client reads]. */
const FROM_PYTHON: Array<[string, string, unknown]> = [
  ['bytes', "b'hello'", Buffer.from('hello')],
  ['empty bytes', "b''", Buffer.alloc(0)],
  ['binary bytes', "b'\\x00\\xff'", Buffer.from([0, 0xff])],
  ['ASCII str', "'hello'", 'hello'],
  ['non-ASCII str', "'åäö€'", 'åäö€'],
  ['empty str', "''", ''],
  ['int 0', '0', 0],
  ['negative int', '-7', -7],
  ['int 2**63', '2**63', 2n ** 63n],
  ['int 2**64', '2**64', 2n ** 64n],
  ['int -2**70', '-2**70', -(2n ** 70n)],
  ['True (an int for pylibmc too)', 'True', 1],
  ['False', 'False', 0],
  ['None', 'None', null],
  ['float', '1.5', 1.5],
  ['negative zero', '-0.0', -0],
  ['infinity', "float('inf')", Infinity],
  ['list', "[1, 'a']", [1, 'a']],
  ['tuple', '(1, 2)', [1, 2]],
  ['empty tuple, list and dict', '((), [], {})', [[], [], {}]],
  ['dict with str keys', "{'a': 1, 'b': [1, 2]}", { a: 1, b: [1, 2] }],
  ['dict with other keys', "{1: 'x', 'y': 2}", new Map<unknown, unknown>([[1, 'x'], ['y', 2]])],
  ['set', '{1, 2}', new Set([1, 2])],
  ['frozenset', 'frozenset([3])', new Set([3])],
  ['bytearray', "bytearray(b'ab')", Buffer.from('ab')],
  ['ints of every width', '[255, 65535, -1, 2**31 - 1, -2**31, 2**31, 2**53, 2**100]', [255, 65535, -1, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2n ** 53n, 2n ** 100n]],
  ['nested values', "[b'x', None, True, 0.25, ('t',), {'k': {'n': [1]}}]", [Buffer.from('x'), null, true, 0.25, ['t'], { k: { n: [1] } }]],
  ['long str and bytes', "['x' * 300, b'y' * 300]", ['x'.repeat(300), Buffer.alloc(300, 'y')]],
  ['a list shared twice', '[[1]] * 2', [[1], [1]]],
  ['a long list', 'list(range(300))', Array.from({ length: 300 }, (_, i) => i)],
];

/** Values pylibmc compresses (min_compress_len=1): [label, expression, expected]. */
const COMPRESSED_FROM_PYTHON: Array<[string, string, unknown]> = [
  ['str', "'a' * 1000", 'a'.repeat(1000)],
  ['bytes', "b'b' * 1000", Buffer.alloc(1000, 'b')],
  ['int', '10**200', 10n ** 200n],
  ['pickled list', 'list(range(200))', Array.from({ length: 200 }, (_, i) => i)],
  ['pickled dict', "{'k': 'v' * 500}", { k: 'v'.repeat(500) }],
  ['large str (inflated off-thread here)', "'z' * 100000", 'z'.repeat(100000)],
];

/** [label, value stored here, Python expression pylibmc must read (same type), options]. */
const TO_PYTHON: Array<[string, unknown, string, { minCompressLen?: number }?]> = [
  ['Buffer', Buffer.from('hello'), "b'hello'"],
  ['empty Buffer', Buffer.alloc(0), "b''"],
  ['ASCII string', 'hello', "'hello'"],
  ['non-ASCII string', 'åäö€', "'åäö€'"],
  ['empty string', '', "''"],
  ['number 0', 0, '0'],
  ['negative number', -7, '-7'],
  ['largest safe integer', Number.MAX_SAFE_INTEGER, '2**53 - 1'],
  ['bigint', 5n, '5'],
  ['bigint 2**64', 2n ** 64n, '2**64'],
  ['bigint -2**70', -(2n ** 70n), '-2**70'],
  ['true (an int for pylibmc)', true, '1'],
  ['false', false, '0'],
  ['a float (JSON: bytes for pylibmc)', 1.5, "b'1.5'"],
  ['null (JSON)', null, "b'null'"],
  ['an object (JSON)', { a: 1 }, 'b\'{"a":1}\''],
  ['an array (JSON)', [1, 'x'], 'b\'[1,"x"]\''],
  ['compressed string', 'a'.repeat(1000), "'a' * 1000", { minCompressLen: 1 }],
  ['compressed Buffer', Buffer.alloc(1000, 'b'), "b'b' * 1000", { minCompressLen: 1 }],
  ['compressed bigint', 10n ** 200n, '10**200', { minCompressLen: 1 }],
  ['compressed JSON', { k: 'v'.repeat(500) }, 'b\'{"k":"\' + b\'v\' * 500 + b\'"}\'', { minCompressLen: 1 }],
  ['large compressed string (deflated off-thread here)', 'z'.repeat(100000), "'z' * 100000", { minCompressLen: 1 }],
];

describe.each(PROTOCOLS)('%s protocol', (name, binary) => {
  let mc: Client;
  const servers = () => [server.spec];
  const key = (label: string, i: number | string) => `interop:${name}:${label}:${i}`;

  beforeAll(() => {
    mc = new Client([server.spec], { binary });
  });
  afterAll(() => mc.close());

  test('values pylibmc writes (pickle protocol 5, its default) read as the expected JavaScript values', async () => {
    const ops: PylibmcOp[] = FROM_PYTHON.map(([, expr], i) => ({ op: 'set', key: key('py', i), expr }));
    expect(runPylibmc({ servers: servers(), binary, ops }).every((r) => r.ok)).toBe(true);
    for (const [i, [label, , expected]] of FROM_PYTHON.entries()) {
      const got = await mc.get(key('py', i));
      expect([label, got]).toStrictEqual([label, expected]);
      if (typeof expected === 'number') expect(Object.is(got, expected)).toBe(true);
    }
  });

  test.each([2, 3, 4])('pickles of protocol %i read the same', async (protocol) => {
    // pylibmc pickles with a chosen protocol (its serializer otherwise unchanged).
    const pickled = FROM_PYTHON;
    const ops: PylibmcOp[] = pickled.map(([, expr], i) => ({ op: 'set', key: key(`p${protocol}`, i), expr, pickle_protocol: protocol }));
    expect(runPylibmc({ servers: servers(), binary, ops }).every((r) => r.ok)).toBe(true);
    for (const [i, [label, , expected]] of pickled.entries()) {
      expect([label, await mc.get(key(`p${protocol}`, i))]).toStrictEqual([label, expected]);
    }
  });

  test('values pylibmc compresses (flag 8) read as the expected values', async () => {
    const ops: PylibmcOp[] = COMPRESSED_FROM_PYTHON.map(([, expr], i) => ({ op: 'set', key: key('pyz', i), expr, min_compress_len: 1 }));
    expect(runPylibmc({ servers: servers(), binary, ops }).every((r) => r.ok)).toBe(true);
    for (const [i, [label, , expected]] of COMPRESSED_FROM_PYTHON.entries()) {
      expect(((await rawGet(server.port, key('pyz', i)))?.flags ?? 0) & 8).toBe(8);
      const got = await mc.get(key('pyz', i));
      expect([label, got]).toStrictEqual([label, expected]);
    }
    // And through getMulti, in one batch.
    const keys = COMPRESSED_FROM_PYTHON.map((_, i) => key('pyz', i));
    const many = await mc.getMulti(keys);
    expect(keys.map((k) => many[k])).toStrictEqual(COMPRESSED_FROM_PYTHON.map(([, , expected]) => expected));
  });

  test('values written here read in pylibmc as the expected Python values', async () => {
    for (const [i, [, value, , options]] of TO_PYTHON.entries()) {
      expect(await mc.set(key('js', i), value, options ?? {})).toBe(true);
      if (options?.minCompressLen) expect(((await rawGet(server.port, key('js', i)))?.flags ?? 0) & 8).toBe(8);
    }
    const results = runPylibmc({
      servers: servers(),
      binary,
      ops: TO_PYTHON.map(([, , expr], i) => ({ op: 'check', key: key('js', i), expr })),
    });
    const failures = results
      .map((r, i) => ({ label: TO_PYTHON[i][0], ...r }))
      .filter((r) => !r.ok)
      .map((r) => `${r.label}: pylibmc read ${r.repr ?? r.error} (${r.type ?? ''})`);
    expect(failures).toEqual([]);
    expect(results).toHaveLength(TO_PYTHON.length);
  });

  test('keyPrefix lands on the same keys as pylibmc\'s key_prefix, both ways', async () => {
    expect(await mc.setMulti({ a: 'from node' }, { keyPrefix: `${name}:p:` })).toEqual([]);
    const [plain, multi] = runPylibmc({
      servers: servers(),
      binary,
      ops: [
        { op: 'check', key: `${name}:p:a`, expr: "'from node'" },
        { op: 'get_multi', keys: ['a'], key_prefix: `${name}:p:` },
        { op: 'set_multi', mapping: { b: "'from python'" }, key_prefix: `${name}:p:` },
        { op: 'check', key: `${name}:p:b`, expr: "'from python'" },
      ],
    });
    expect(plain.ok).toBe(true);
    expect(multi.repr).toBe("{'a': 'from node'}");
    expect(await mc.getMulti(['b'], { keyPrefix: `${name}:p:` })).toEqual({ b: 'from python' });
    expect(await mc.get(`${name}:p:b`)).toBe('from python');
  });

  test('the namespace lands on the same keys as pylibmc\'s namespace, both ways', async () => {
    const namespace = `${name}-ns:`;
    const scoped = new Client([server.spec], { binary, namespace });
    try {
      expect(await scoped.set('c', 'from node')).toBe(true);
      expect(await scoped.setMulti({ e: 1 }, { keyPrefix: 'p:' })).toEqual([]);
      const plainChecks = runPylibmc({
        servers: servers(),
        binary,
        ops: [
          { op: 'check', key: `${namespace}c`, expr: "'from node'" },
          { op: 'check', key: `${namespace}p:e`, expr: '1' },
        ],
      });
      expect(plainChecks.map((r) => r.ok)).toEqual([true, true]);
      const scopedChecks = runPylibmc({
        servers: servers(),
        binary,
        namespace,
        ops: [
          { op: 'check', key: 'c', expr: "'from node'" },
          { op: 'set', key: 'd', expr: "'from python'" },
          { op: 'get_multi', keys: ['c', 'd'] },
        ],
      });
      expect(scopedChecks[0].ok).toBe(true);
      expect(scopedChecks[2].repr).toBe("{'c': 'from node', 'd': 'from python'}");
      expect(await scoped.get('d')).toBe('from python');
      expect(await scoped.getMulti(['c', 'd'])).toEqual({ c: 'from node', d: 'from python' });
      expect(await mc.get(`${namespace}d`)).toBe('from python');
      expect(await mc.get('d')).toBeUndefined();
    } finally {
      await scoped.close();
    }
  });
});
