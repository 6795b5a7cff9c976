/**
 * The safe pickle reader on its own: pickles made by the real Python (so the bytes are whatever
 * CPython writes), shapes the interop suite cannot reach through pylibmc (recursive values), and
 * hostile or broken input, which must fail with an UnpickleError (a DeserializationError with the
 * value's flags, for the client's caller) and never run or allocate anything on the pickle's word,
 * nor overflow the stack or take time out of proportion to its size.
 *
 * CPython's pickles come from test/fixtures/pickles.json (made by test/fixtures/pickles.py), so
 * that this runs without python3; test/integration/pickle-fixtures.test.ts checks them against
 * the machine's python3.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DeserializationError } from '../../lib/errors';
import { MAX_DEPTH, UnpickleError, unpickle } from '../../lib/codecs/pickle';
import { FLAG_PICKLE, FLAG_ZLIB, decodeValue } from '../../lib/codecs/values';

// Read as data, not imported: type-checking a 400 KB JSON module would cost seconds.
const FIXTURE: Record<string, string[]> = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'pickles.json'), 'utf8')).pickles;

/**
 * Pickles of Python expressions, made by CPython: one per line `code` prints (the hex lines
 * `python3 -c "import pickle, sys\n<code>"` wrote when the fixture was made).
 */
function pickles(code: string): Buffer[] {
  const lines = FIXTURE[code];
  if (lines === undefined) throw new Error(`no pickles for this code in test/fixtures/pickles.json: add it to test/fixtures/pickles.py and run it\n${code}`);
  return lines.map((line) => Buffer.from(line, 'hex'));
}

test.each([2, 3, 4, 5])('protocol %i: a list that contains itself stays circular', (protocol) => {
  const [data] = pickles(`l = [1]\nl.append(l)\nprint(pickle.dumps(l, ${protocol}).hex())`);
  const value = unpickle(data) as unknown[];
  expect(value[0]).toBe(1);
  expect(value[1]).toBe(value);
});

test.each([2, 3, 4, 5])('protocol %i: a dict that contains itself becomes an object that contains itself', (protocol) => {
  const [data] = pickles(`d = {'n': 1}\nd['self'] = d\nprint(pickle.dumps(d, ${protocol}).hex())`);
  const value = unpickle(data) as Record<string, unknown>;
  expect(value.n).toBe(1);
  expect(value.self).toBe(value);
});

test('a dict key named __proto__ is data, not a prototype', () => {
  const [data] = pickles(`print(pickle.dumps({'__proto__': {'polluted': True}}, 5).hex())`);
  const value = unpickle(data) as Record<string, unknown>;
  expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  expect(Object.keys(value)).toEqual(['__proto__']);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
});

test('dict keys that Object.prototype has are own data, in order, the prototype untouched', () => {
  const [data] = pickles(`print(pickle.dumps({'a': 1, 'toString': 2, 'constructor': 3, '__proto__': 4, 'hasOwnProperty': 5, 'valueOf': {'x': 6}, 'z': 7}, 5).hex())`);
  const value = unpickle(data) as Record<string, unknown>;
  expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  expect(Object.entries(value)).toEqual([['a', 1], ['toString', 2], ['constructor', 3], ['__proto__', 4], ['hasOwnProperty', 5], ['valueOf', { x: 6 }], ['z', 7]]);
  for (const key of Object.keys(value)) expect(Object.getOwnPropertyDescriptor(value, key)).toMatchObject({ enumerable: true, writable: true, configurable: true });
});

test('tuple keys make a Map keyed by arrays', () => {
  const [data] = pickles(`print(pickle.dumps({(1, 2): 'pair'}, 5).hex())`);
  const value = unpickle(data) as Map<unknown, unknown>;
  expect(value).toBeInstanceOf(Map);
  expect([...value.entries()]).toEqual([[[1, 2], 'pair']]);
});

test.each([
  ['a class instance (protocol 5)', 'import fractions\nprint(pickle.dumps(fractions.Fraction(1, 3), 5).hex())', /refusing fractions\.Fraction/],
  ['a class instance (protocol 2)', 'import decimal\nprint(pickle.dumps(decimal.Decimal(1), 2).hex())', /refusing decimal\.Decimal/],
  ['a function reference', 'import os\nprint(pickle.dumps(os.system, 5).hex())', /refusing posix\.system/],
  ['a datetime', 'import datetime\nprint(pickle.dumps(datetime.date(2015, 12, 28), 5).hex())', /refusing datetime\.date/],
  ['an OrderedDict', 'import collections\nprint(pickle.dumps(collections.OrderedDict(a=1), 5).hex())', /refusing collections\.OrderedDict/],
  ['protocol 0 text', "print(pickle.dumps((1, 2), 0).hex())", /unsupported pickle opcode 0x49/],
])('%s is refused', (_label, code, message) => {
  const [data] = pickles(code);
  expect(() => unpickle(data)).toThrow(UnpickleError);
  expect(() => unpickle(data)).toThrow(message);
});

test.each([
  ['empty input', ''],
  ['no STOP', '80054b01'],
  ['a length beyond the data', '80058d' + 'ffffffffffffff7f' + '2e'],
  ['a memo entry never stored', '8005680a2e'],
  ['APPEND with an empty stack', '8005612e'],
  ['SETITEM on a list', '80055d4b014b02732e'],
  ['STOP with two values', '80054b014b022e'],
  ['a protocol from the future', '80062e'],
  ['REDUCE of a plain value', '80054b01294e522e'],
  ['NEWOBJ', '8005814e2e'],
  ['invalid UTF-8 in a str', '80058c02c3282e'],
])('%s is an UnpickleError', (_label, hex) => {
  expect(() => unpickle(Buffer.from(hex, 'hex'))).toThrow(UnpickleError);
});

// Hostile pickles are written by hand: opcodes by name, arguments as little-endian bytes.
const OP = {
  MARK: '28', STOP: '2e', POP: '30', POP_MARK: '31', DUP: '32', BININT: '4a', BININT1: '4b', NONE: '4e',
  REDUCE: '52', BINSTRING: '54', BINUNICODE: '58', EMPTY_TUPLE: '29', BINBYTES: '42', EMPTY_LIST: '5d',
  APPEND: '61', APPENDS: '65', GET: '67', BINGET: '68', LONG_BINGET: '6a', LIST: '6c', PUT: '70',
  SETITEM: '73', TUPLE: '74', SETITEMS: '75', EMPTY_DICT: '7d', TUPLE1: '85', LONG4: '8b',
  SHORT_BINUNICODE: '8c', BINUNICODE8: '8d', BINBYTES8: '8e', EMPTY_SET: '8f', ADDITEMS: '90',
  FROZENSET: '91', STACK_GLOBAL: '93', MEMOIZE: '94', FRAME: '95',
} as const;

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u64 = (n: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
};
const str = (text: string): Buffer => Buffer.concat([Buffer.from(OP.SHORT_BINUNICODE + Buffer.byteLength(text).toString(16).padStart(2, '0'), 'hex'), Buffer.from(text)]);
const getMemo = (index: number): Buffer => Buffer.concat([Buffer.from(OP.LONG_BINGET, 'hex'), u32(index)]);

/** A protocol 5 pickle of the given pieces (hex text or bytes), then STOP. */
function pickle(...parts: Array<string | Buffer>): Buffer {
  return Buffer.concat([Buffer.from('8005', 'hex'), ...parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'hex') : part)), Buffer.from(OP.STOP, 'hex')]);
}

/** `piece` `n` times over. */
const times = (piece: string | Buffer, n: number): Buffer => Buffer.concat(Array.from({ length: n }, () => (typeof piece === 'string' ? Buffer.from(piece, 'hex') : piece)));

/** The flags of a value pylibmc pickled and compressed (decodeValue sees it inflated). */
const FLAGS = FLAG_PICKLE | FLAG_ZLIB;

/** Reads `data` as the client does, expecting a DeserializationError that carries the flags. */
function refusal(data: Buffer): DeserializationError {
  let thrown: unknown;
  try {
    decodeValue(data, FLAGS);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(DeserializationError);
  expect((thrown as DeserializationError).flags).toBe(FLAGS);
  expect((thrown as Error).message).toMatch(/^flags 9 \(Python pickle\): /);
  return thrown as DeserializationError;
}

/** A list nested `depth` deep, as Python writes one: every list opened, then each appended to its parent. */
const nestedLists = (depth: number): Buffer => pickle(times(OP.EMPTY_LIST, depth), times(OP.APPEND, depth - 1));

/** How deep `value`'s first items nest (iteratively: the value may be deeper than the stack). */
function depthOf(value: unknown): number {
  let depth = 0;
  for (let v = value; Array.isArray(v); v = v[0]) depth++;
  return depth;
}

describe('nesting is bounded: no stack overflow, a DeserializationError beyond MAX_DEPTH', () => {
  test.each([
    ['lists (EMPTY_LIST, APPEND)', nestedLists(20_000)],
    ['tuples (TUPLE1)', pickle(OP.NONE, times(OP.TUPLE1, 20_000))],
    ['tuples (MARK, TUPLE)', pickle(times(OP.MARK, 20_000), times(OP.TUPLE, 20_000))],
    ['dicts (SETITEM)', pickle(OP.EMPTY_DICT, times(Buffer.concat([str('k'), Buffer.from(OP.EMPTY_DICT, 'hex')]), 20_000), times(OP.SETITEM, 20_000))],
    ['frozensets (FROZENSET)', pickle(times(OP.MARK, 20_000), times(OP.FROZENSET, 20_000))],
  ])('%s 20,000 deep', (_label, data) => {
    expect(refusal(data).message).toMatch(`containers nested more than ${MAX_DEPTH} deep`);
  });

  test('MAX_DEPTH nested lists read; one more is refused', () => {
    expect(depthOf(unpickle(nestedLists(MAX_DEPTH)))).toBe(MAX_DEPTH);
    refusal(nestedLists(MAX_DEPTH + 1));
  });

  test('the deepest list CPython pickles at its default recursion limit reads', () => {
    // pickle.dumps raises RecursionError beyond about 500 levels; 400 leaves room across versions.
    const written = pickles(`x = []\nfor _ in range(399): x = [x]\nfor p in (2, 5): print(pickle.dumps(x, p).hex())`);
    for (const data of written) expect(depthOf(unpickle(data))).toBe(400);
  });

  test('depth counts the longest chain, not how deep the walk happened to go', () => {
    // Lists c0 → c1 → … → c1499, each inside the previous one, and a root listing them from the
    // innermost out: a walk that meets each one first from the root never goes two deep, yet
    // the root holds a chain 1,501 deep (what JSON.stringify or a caller's recursion descends).
    const n = 1500;
    const data = pickle(
      times(OP.EMPTY_LIST + OP.MEMOIZE + OP.POP, n), // memo 0 … n-1: the empty lists
      ...Array.from({ length: n - 1 }, (_, i) => Buffer.concat([getMemo(i), getMemo(i + 1), Buffer.from(OP.APPEND + OP.POP, 'hex')])),
      OP.EMPTY_LIST + OP.MARK,
      ...Array.from({ length: n }, (_, i) => getMemo(n - 1 - i)),
      OP.APPENDS,
    );
    refusal(data);
  });
});

describe('cycles through the memo terminate and stay cycles', () => {
  test.each([2, 3, 4, 5])('protocol %i: tuples inside a list inside them (POP and POP_MARK)', (protocol) => {
    const [short, long] = pickles(`l = []\nt = (l,)\nl.append(t)\nm = []\nu = (m, 1, 2, 3)\nm.append(u)\nprint(pickle.dumps(t, ${protocol}).hex())\nprint(pickle.dumps(u, ${protocol}).hex())`);
    const t = unpickle(short) as unknown[][];
    expect(t[0][0]).toBe(t);
    const u = unpickle(long) as unknown[][];
    expect(u[0][0]).toBe(u);
    expect(u.slice(1)).toEqual([1, 2, 3]);
  });

  test('a set that contains itself (no Python writes one) terminates', () => {
    const value = unpickle(pickle(OP.EMPTY_SET + OP.MEMOIZE + OP.MARK, getMemo(0), OP.ADDITEMS)) as Set<unknown>;
    expect(value.has(value)).toBe(true);
  });

  test('a dict keyed by a tuple that holds the dict itself', () => {
    // d = {}; d[(d,)] = 1 (Python refuses: the tuple is unhashable; a hand-made pickle can).
    const value = unpickle(pickle(OP.EMPTY_DICT + OP.MEMOIZE, getMemo(0), OP.TUPLE1, OP.BININT1 + '01', OP.SETITEM)) as Map<unknown, unknown>;
    expect(value).toBeInstanceOf(Map);
    const [[key, one]] = [...value.entries()] as Array<[unknown[], unknown]>;
    expect(key[0]).toBe(value);
    expect(one).toBe(1);
  });

  test('a ring of 5,000 lists is refused by depth, a ring of 50 reads', () => {
    const ring = (n: number): Buffer =>
      pickle(
        times(OP.EMPTY_LIST + OP.MEMOIZE + OP.POP, n),
        ...Array.from({ length: n }, (_, i) => Buffer.concat([getMemo(i), getMemo((i + 1) % n), Buffer.from(OP.APPEND + OP.POP, 'hex')])),
        getMemo(0),
      );
    refusal(ring(5000));
    const value = unpickle(ring(50)) as unknown[];
    let v: unknown = value;
    for (let i = 0; i < 50; i++) v = (v as unknown[])[0];
    expect(v).toBe(value);
  });
});

describe('large but legal values read, in time proportional to their size', () => {
  const items = 200_000;
  test.each([
    ['APPENDS', OP.EMPTY_LIST + OP.MARK, OP.APPENDS],
    ['LIST', OP.MARK, OP.LIST],
    ['TUPLE', OP.MARK, OP.TUPLE],
  ])('%s of 200,000 items in one batch (Python writes batches of 1000) is an array of them all', (_label, before, after) => {
    const value = unpickle(pickle(before, times(OP.BININT1 + '07', items), after)) as number[];
    expect(value).toHaveLength(items);
    expect(value[0]).toBe(7);
    expect(value[items - 1]).toBe(7);
  });

  test.each([
    ['ADDITEMS', OP.EMPTY_SET + OP.MARK, OP.ADDITEMS],
    ['FROZENSET', OP.MARK, OP.FROZENSET],
  ])('%s of 200,000 items in one batch is a Set of them all', (_label, before, after) => {
    const distinct = Buffer.concat(Array.from({ length: items }, (_, i) => Buffer.concat([Buffer.from(OP.BININT, 'hex'), u32(i)])));
    const value = unpickle(pickle(before, distinct, after)) as Set<number>;
    expect(value.size).toBe(items);
    expect(value.has(items - 1)).toBe(true);
  });

  test('SETITEMS of 100,000 pairs in one batch is an object of them all', () => {
    const pairs = Buffer.concat(Array.from({ length: 100_000 }, (_, i) => Buffer.concat([str(`k${i}`), Buffer.from(OP.BININT, 'hex'), u32(i)])));
    const value = unpickle(pickle(OP.EMPTY_DICT + OP.MARK, pairs, OP.SETITEMS)) as Record<string, number>;
    expect(Object.keys(value)).toHaveLength(100_000);
    expect(value.k99999).toBe(99_999);
  });

  test('memo references to one value share it: 60 doublings read at once, as one object per level', () => {
    // l0 = []; l(i+1) = [l(i), l(i)]: 2^60 paths to l0, 60 lists in memory (as in Python).
    const levels = 60;
    const started = Date.now();
    const value = unpickle(
      pickle(
        OP.EMPTY_LIST + OP.MEMOIZE + OP.POP,
        ...Array.from({ length: levels }, (_, i) => Buffer.concat([Buffer.from(OP.EMPTY_LIST + OP.MEMOIZE + OP.MARK, 'hex'), getMemo(i), getMemo(i), Buffer.from(OP.APPENDS + OP.POP, 'hex')])),
        getMemo(levels),
      ),
    ) as unknown[];
    expect(Date.now() - started).toBeLessThan(1000);
    expect(value[0]).toBe(value[1]);
    expect(depthOf(value)).toBe(levels + 1);
  });

  test('a LONG4 of 1 MiB reads in linear time', () => {
    // Shifting in a byte at a time was quadratic: 1.8 s for 128 KiB, minutes for this one.
    const n = 1 << 20;
    const started = Date.now();
    const value = unpickle(pickle(OP.LONG4, u32(n), Buffer.alloc(n, 0x11)));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(value).toBe(BigInt('0x' + '11'.repeat(n)));
  });

  test('ints of every width read as CPython wrote them (LONG1 and LONG4, both signs)', () => {
    const ints = ['0', '1', '-1', '127', '128', '-128', '-129', '255', '256', '-256', '2**31', '-2**31 - 1', '2**47 - 1', '-2**47', '2**47', '2**48', '-2**48 - 1', '2**53 - 1', '-(2**53 - 1)', '2**53', '-(2**53)', '2**63', '-2**63', '2**64 - 1', '2**64', '-2**100', '2**2100 + 12345', '-(2**2100) - 1'];
    const [p2, p5, decimal] = pickles(`v = [${ints.join(', ')}]\nprint(pickle.dumps(v, 2).hex())\nprint(pickle.dumps(v, 5).hex())\nimport sys\nsys.set_int_max_str_digits(0)\nprint(' '.join(map(str, v)).encode().hex())`);
    const expected = decimal.toString().split(' ').map((digits) => {
      const big = BigInt(digits);
      return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
    });
    expect(unpickle(p2)).toEqual(expected);
    expect(unpickle(p5)).toEqual(expected);
  });
});

describe('malformed and hostile pickles are DeserializationErrors carrying the flags', () => {
  test.each([
    ['empty input', Buffer.alloc(0)],
    ['a MARK never closed', pickle(OP.EMPTY_LIST + OP.MARK + OP.NONE)],
    ['a MARK never closed, alone', pickle(OP.MARK)],
    ['POP on an empty stack', pickle(OP.POP)],
    ['POP_MARK without a MARK', pickle(OP.NONE + OP.POP_MARK)],
    ['DUP on an empty stack', pickle(OP.DUP)],
    ['STOP on an empty stack', pickle()],
    ['STOP with a MARK open', pickle(OP.NONE + OP.MARK)],
    ['APPEND of a MARK', pickle(OP.EMPTY_LIST + OP.MARK + OP.APPEND)],
    ['APPENDS without a list below the MARK', pickle(OP.MARK + OP.NONE + OP.APPENDS)],
    ['BINGET of an index never PUT', pickle(OP.NONE + OP.MEMOIZE + OP.POP + OP.BINGET + '01')],
    ['LONG_BINGET of an index never PUT', pickle(getMemo(0xffffffff))],
    ['GET of an index never PUT', pickle(OP.GET, Buffer.from('7\n'))],
    ['PUT and GET of an index that is not a number', pickle(OP.NONE + OP.PUT, Buffer.from('x\n'), OP.POP + OP.GET, Buffer.from('x\n'))],
    ['PUT with a negative index', pickle(OP.NONE + OP.PUT, Buffer.from('-1\n'))],
    ['GET without its newline', pickle(OP.GET, Buffer.from('1'))],
    ['BINUNICODE of 4 GiB - 1 bytes', pickle(OP.BINUNICODE + 'ffffffff', 'abc')],
    ['BINUNICODE8 of 2^63 bytes', pickle(OP.BINUNICODE8, u64(2n ** 63n), 'abc')],
    ['BINUNICODE8 of 2^64 - 1 bytes', pickle(OP.BINUNICODE8, u64(2n ** 64n - 1n))],
    ['BINBYTES of 4 GiB - 1 bytes', pickle(OP.BINBYTES + 'ffffffff', 'abc')],
    ['BINBYTES8 of 2^53 bytes', pickle(OP.BINBYTES8, u64(2n ** 53n))],
    ['BINSTRING of a negative length', pickle(OP.BINSTRING + 'ffffffff')],
    ['BINUNICODE one byte short', pickle(OP.BINUNICODE, u32(4), '616263')],
    ['a FRAME longer than the data', pickle(OP.FRAME, u64(2n ** 63n), OP.NONE)],
    ['a FRAME one byte longer than the data', Buffer.concat([Buffer.from('8005' + OP.FRAME, 'hex'), u64(3n), Buffer.from(OP.NONE + OP.STOP, 'hex')])],
    ['a LONG4 of 2 GiB - 1 bytes', pickle(OP.LONG4 + 'ffffff7f', '01')],
    ['a LONG4 of a negative length', pickle(OP.LONG4 + 'ffffffff')],
    ['a bare global as the value', pickle(str('builtins'), str('set'), OP.STACK_GLOBAL)],
    ['a global inside a set', pickle(OP.EMPTY_SET + OP.MARK, str('builtins'), str('set'), OP.STACK_GLOBAL, OP.ADDITEMS)],
    ['set() of a list holding a dict', pickle(str('builtins'), str('set'), OP.STACK_GLOBAL, OP.EMPTY_LIST + OP.EMPTY_DICT + OP.APPEND + OP.TUPLE1 + OP.REDUCE)],
  ])('%s', (_label, data) => {
    refusal(data);
    expect(() => unpickle(data)).toThrow(UnpickleError);
  });

  test('a FRAME that the data holds exactly is read (as CPython reads it)', () => {
    expect(unpickle(Buffer.concat([Buffer.from('8005' + OP.FRAME, 'hex'), u64(2n), Buffer.from(OP.NONE + OP.STOP, 'hex')]))).toBeNull();
  });

  test('REDUCE cannot copy one memoized argument over and over', () => {
    // 1 MiB of str, memoized, and bytes made from it by _codecs.encode 2,000 times: 2 GB from a
    // 1 MiB pickle, which took 10 s before the budget. Refused at the first call past the budget.
    const mib = 1 << 20;
    const data = pickle(
      str('_codecs'), str('encode'), OP.STACK_GLOBAL + OP.MEMOIZE + OP.POP, // memo 0: the global
      OP.BINUNICODE, u32(mib), Buffer.alloc(mib, 'a'), OP.MEMOIZE + OP.POP, // memo 1: the str
      str('latin1'), OP.MEMOIZE + OP.POP, // memo 2
      OP.EMPTY_LIST + OP.MARK,
      times(Buffer.concat([getMemo(0), getMemo(1), getMemo(2), Buffer.from('86' /* TUPLE2 */ + OP.REDUCE, 'hex')]), 2000),
      OP.APPENDS,
    );
    const started = Date.now();
    expect(refusal(data).message).toMatch(/REDUCE calls would copy more than the pickle holds/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('the REDUCE budget never bites what CPython writes: protocols 2 and 3 read as 5 does', () => {
    // Protocols 2 and 3 spell bytes (2), bytearray and set as calls; 5 has opcodes for them all.
    const [p2, p3, p5] = pickles(
      [
        'v = [bytes([i % 256]) * (i % 4) for i in range(3000)]',
        'v += [bytearray(b"xy" * i) for i in range(100)]',
        'v += [set(range(i % 30)) for i in range(300)] + [frozenset([i]) for i in range(300)]',
        'v += [b"shared"] * 50',
        'for p in (2, 3, 5): print(pickle.dumps(v, p).hex())',
      ].join('\n'),
    );
    const expected = unpickle(p5);
    expect(unpickle(p2)).toEqual(expected);
    expect(unpickle(p3)).toEqual(expected);
  });
});
