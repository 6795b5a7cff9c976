/**
 * Argument generators for the fuzzer: for each parameter of the client's API, valid values,
 * values the client must reject, hostile objects and values whose outcome the documentation
 * leaves open, each with the JavaScript that builds it (for the failure report) and a verdict.
 */
import { Rng } from './rng';
import { FuzzBoom, cyclic, iterate, lyingLength, readsAt, revoked, throwingGetter, trapping } from './hostile';

/**
 * What the documentation makes of an argument: `ok` (must work), `bad` (must be rejected with a
 * typed error before any I/O), `throws` (a hostile object whose own exception must end the call
 * before any I/O) or `maybe` (either outcome is fine, as long as it is a typed one).
 */
export type Verdict = 'ok' | 'bad' | 'throws' | 'maybe';

export interface Arg {
  /** JavaScript that builds the value (helpers from ./hostile by name). */
  code: string;
  /** A fresh value each time: hostile objects count their reads. */
  make: () => unknown;
  verdict: Verdict;
  /** What is special about it, for grouping failures ('' for a plain argument). */
  feature: string;
}

/** 'valid': only ok arguments; 'invalid': only ones that must be rejected; 'any': everything. */
export type Mode = 'valid' | 'invalid' | 'any';

const RANK: Record<Verdict, number> = { ok: 0, maybe: 1, bad: 2, throws: 3 };

export function arg(code: string, make: () => unknown, verdict: Verdict = 'ok', feature = ''): Arg {
  return { code, make, verdict, feature };
}

/** A value that can be shared between calls (primitives, or objects nobody mutates). */
export function lit(code: string, value: unknown, verdict: Verdict = 'ok', feature = ''): Arg {
  return { code, make: () => value, verdict, feature };
}

/** The argument that decides a call's fate: the most hostile one. */
export function worst(args: readonly Arg[]): Arg | undefined {
  let found: Arg | undefined;
  for (const a of args) if (found === undefined || RANK[a.verdict] > RANK[found.verdict]) found = a;
  return found;
}

/** A JavaScript string literal; long runs of one character as `.repeat`. */
export function str(text: string): string {
  if (text.length > 24) {
    const m = /^(.*?)(.)\2{20,}(.*)$/s.exec(text);
    if (m) {
      const run = text.length - m[1].length - m[3].length;
      const parts = [m[1] && str(m[1]), `${JSON.stringify(m[2]).replace(/^"|"$/g, "'")}.repeat(${run})`, m[3] && str(m[3])].filter(Boolean);
      return parts.join(' + ');
    }
  }
  const json = JSON.stringify(text);
  return `'${json.slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'")}'`;
}

function pickMode(r: Rng, mode: Mode, weights: { ok: number; bad: number; maybe: number }): 'ok' | 'bad' | 'maybe' {
  if (mode === 'valid') return 'ok';
  if (mode === 'invalid') return 'bad';
  return r.weighted([
    [weights.ok, 'ok'],
    [weights.bad, 'bad'],
    [weights.maybe, 'maybe'],
  ] as const);
}

// Wrong types, shared by every parameter -----------------------------------------------------

/** Values of no type any parameter takes (besides the parameter-specific ones). */
function wrongType(r: Rng, what: string, exclude: readonly string[] = []): Arg {
  const all: Array<[string, () => unknown]> = [
    ['null', () => null],
    ['undefined', () => undefined],
    ['true', () => true],
    ['{}', () => ({})],
    ['[]', () => []],
    ["Symbol('s')", () => Symbol('s')],
    ['() => 1', () => () => 1],
    ['10n', () => 10n],
    ['42', () => 42],
    ["'10'", () => '10'],
    ['new Uint8Array([1])', () => new Uint8Array([1])],
    ['new DataView(new ArrayBuffer(2))', () => new DataView(new ArrayBuffer(2))],
    ['revoked({})', () => revoked({})],
  ];
  const choices = all.filter(([code]) => !exclude.includes(code));
  const [code, make] = r.pick(choices);
  return arg(code, make, 'bad', `${what}: ${code}`);
}

// Keys ----------------------------------------------------------------------------------------

export interface KeyCtx {
  binary: boolean;
  /** Bytes libmemcached puts in front of every key (the client's namespace). */
  ns: number;
  /** Bytes of the call's key prefix. */
  prefix: number;
}

/** Bytes put in front of a key on the wire. */
function extra(ctx: KeyCtx): number {
  return ctx.ns + ctx.prefix;
}

/** Keys 'k0'..'k63': few enough that reads find what writes stored. */
export const POOL_SIZE = 64;

/**
 * Keys written raw before the run, read only: values the default deserializer must refuse with
 * DeserializationError (written with test/harness/raw.ts rawSet, as another client could).
 */
export const HOSTILE_VALUES: ReadonlyArray<{ key: string; flags: number; code: string; label: string }> = [
  { key: 'P~deepList', flags: 1, code: 'deepList(30000)', label: 'a pickle of a list nested 30,000 deep' },
  { key: 'P~deepDict', flags: 1, code: 'deepDict(30000)', label: 'a pickle of a dict nested 30,000 deep' },
  { key: 'P~appends', flags: 1, code: 'manyAppends(200000)', label: 'a pickle appending 200,000 items at once' },
  { key: 'P~global', flags: 1, code: "Buffer.from('\\x80\\x05cos\\nsystem\\n.', 'latin1')", label: 'a pickle naming os.system' },
  { key: 'P~flags3', flags: 3, code: "Buffer.from('x')", label: 'flags 3 (no type)' },
  { key: 'P~json', flags: 32, code: "Buffer.from('{')", label: 'broken JSON (flags 32)' },
  { key: 'P~zlib', flags: 24, code: "Buffer.from('not zlib')", label: 'flags 8 without zlib data' },
  { key: 'P~int', flags: 4, code: "Buffer.from('12a')", label: 'flags 4 that is no integer' },
];

export function poolKey(r: Rng): Arg {
  const k = `k${r.int(0, POOL_SIZE - 1)}`;
  return lit(str(k), k);
}

function validKey(r: Rng, ctx: KeyCtx): Arg {
  const room = 250 - extra(ctx);
  const i = r.int(0, POOL_SIZE - 1);
  const choice = r.weighted([
    [12, 'pool'],
    [3, 'buffer'],
    [1, 'unicode'],
    [1, 'limit'],
    [0.5, 'surrogate'],
    [ctx.binary ? 1 : 0, 'binary-only'],
  ] as const);
  switch (choice) {
    case 'buffer':
      return arg(`Buffer.from('k${i}')`, () => Buffer.from(`k${i}`));
    case 'unicode':
      return room >= 12 ? lit(str(`ü€𝄞${i}`), `ü€𝄞${i}`) : poolKey(r);
    case 'limit':
      return room >= 1 ? lit(`'L'.repeat(${room})`, 'L'.repeat(room), 'ok', 'key of exactly 250 bytes on the wire') : poolKey(r);
    case 'surrogate':
      return lit("'k\\ud800'", 'k\ud800');
    case 'binary-only': {
      const [code, make] = r.pick<[string, () => unknown]>([
        ["'a b'", () => 'a b'],
        ["'a\\r\\nb'", () => 'a\r\nb'],
        ['Buffer.from([0, 1, 2])', () => Buffer.from([0, 1, 2])],
      ]);
      return arg(code, make);
    }
    default:
      return lit(str(`k${i}`), `k${i}`);
  }
}

function badKey(r: Rng, ctx: KeyCtx): Arg {
  const over = Math.max(1, 251 - extra(ctx));
  const choices: Array<[number, () => Arg]> = [
    [2, () => lit("''", '', 'bad', 'key: empty')],
    [1, () => arg('Buffer.alloc(0)', () => Buffer.alloc(0), 'bad', 'key: empty Buffer')],
    [3, () => lit(`'k'.repeat(${over})`, 'k'.repeat(over), 'bad', 'key: 251 bytes on the wire')],
    [1, () => lit(`'é'.repeat(${Math.ceil(over / 2)})`, 'é'.repeat(Math.ceil(over / 2)), 'bad', 'key: over 250 UTF-8 bytes')],
    [4, () => wrongType(r, 'key', ["'10'"])],
    [1, () => arg("new String('k1')", () => new String('k1'), 'bad', 'key: a String object')],
    [1, () => arg("{ toString: () => 'k1' }", () => ({ toString: () => 'k1' }), 'bad', 'key: an object with toString')],
    [1, () => arg("revoked(Buffer.from('k1'))", () => revoked(Buffer.from('k1')), 'bad', 'key: a revoked Proxy')],
  ];
  if (!ctx.binary) {
    choices.push([3, () => {
      const [code, value, label] = r.pick<[string, string, string]>([
        ["'a b'", 'a b', 'a space'],
        ["'a\\r\\nb'", 'a\r\nb', 'CR LF'],
        ["'a\\tb'", 'a\tb', 'a tab'],
        ["'a\\u0000b'", 'a\u0000b', 'NUL'],
        ["'a\\u007fb'", 'a\u007fb', 'DEL'],
        ["'x\\r\\nset INJ~0 0 0 1\\r\\nX'", 'x\r\nset INJ~0 0 0 1\r\nX', 'an injected command'],
      ]);
      return lit(code, value, 'bad', `key: ${label} (text protocol)`);
    }]);
    choices.push([1, () => arg('Buffer.from([0x61, 0x0a])', () => Buffer.from([0x61, 0x0a]), 'bad', 'key: a Buffer with LF (text protocol)')]);
  }
  return r.weighted(choices)();
}

function maybeKey(r: Rng): Arg {
  return r.pick([
    () => arg("new Proxy(Buffer.from('k1'), {})", () => new Proxy(Buffer.from('k1'), {}), 'maybe', 'key: a Proxy of a Buffer'),
    () => arg("lyingLength(Buffer.from('k1 x'), 2)", () => lyingLength(Buffer.from('k1 x'), 2), 'maybe', 'key: a Buffer whose length lies'),
  ])();
}

export function genKey(r: Rng, ctx: KeyCtx, mode: Mode): Arg {
  const kind = pickMode(r, mode, { ok: 70, bad: 24, maybe: 6 });
  return kind === 'ok' ? validKey(r, ctx) : kind === 'bad' ? badKey(r, ctx) : maybeKey(r);
}

/** A key for reads only: now and then one of HOSTILE_VALUES. */
export function genReadKey(r: Rng, ctx: KeyCtx, mode: Mode): Arg {
  // Written under the bare key (and the main client's namespace): never behind a prefix.
  if (mode !== 'invalid' && ctx.prefix === 0 && r.chance(0.04)) {
    const hostile = r.pick(HOSTILE_VALUES);
    return lit(str(hostile.key), hostile.key, 'ok', `stored value: ${hostile.label}`);
  }
  return genKey(r, ctx, mode);
}

// Key lists -------------------------------------------------------------------------------------

/** Text-protocol command injection through a key read twice: the second read is never checked. */
export interface Injection {
  /** The key the injected `set` stores; it must never exist on the server. */
  key: string;
}

export interface ListCtx extends KeyCtx {
  /** Reads may name HOSTILE_VALUES keys. */
  reads: boolean;
  /** Hands out INJ~ keys for injection probes; undefined when the run has used them all. */
  nextInjection: () => Injection | undefined;
}

function keysCode(keys: readonly Arg[]): string {
  return `[${keys.map((k) => k.code).join(', ')}]`;
}

function validKeys(r: Rng, ctx: ListCtx, count: number): Arg[] {
  return Array.from({ length: count }, () => (ctx.reads ? genReadKey(r, ctx, 'valid') : genKey(r, ctx, 'valid')));
}

function listOf(keys: readonly Arg[], verdict: Verdict, feature: string, wrap = (code: string) => code, build = (a: unknown[]) => a as unknown): Arg {
  return arg(wrap(keysCode(keys)), () => build(keys.map((k) => k.make())), verdict, feature);
}

export function genKeyList(r: Rng, ctx: ListCtx, mode: Mode): Arg {
  const kind = pickMode(r, mode, { ok: 55, bad: 25, maybe: 20 });
  const n = r.weighted([
    [6, 1],
    [6, 2],
    [4, r.int(3, 8)],
  ] as const);
  if (kind === 'ok') {
    const keys = validKeys(r, ctx, n);
    return r.weighted<() => Arg>([
      [12, () => listOf(keys, 'ok', '')],
      [0.5, () => {
        const count = r.int(50, 400);
        return arg(`Array.from({ length: ${count} }, (_, i) => 'k' + (i % ${POOL_SIZE}))`, () => Array.from({ length: count }, (_, i) => `k${i % POOL_SIZE}`), 'ok', 'hundreds of keys');
      }],
      [1, () => lit('[]', [], 'ok', 'no keys')],
      [1, () => listOf(keys, 'ok', 'a Set', (c) => `new Set(${c})`, (a) => new Set(a))],
      [1, () => listOf(keys, 'ok', 'an iterable that is not an array', (c) => `iterate(${c})`, (a) => iterate(a))],
      [0.5, () => listOf(keys, 'ok', 'a Map key iterator', (c) => `new Map(${c}.map((k) => [k, 1])).keys()`, (a) => new Map(a.map((k) => [k, 1])).keys())],
      [0.5, () => listOf([...keys, keys[0]], 'ok', 'a duplicate key')],
      [0.5, () => listOf(keys, 'ok', 'a frozen array', (c) => `Object.freeze(${c})`, (a) => Object.freeze(a))],
    ])();
  }
  if (kind === 'bad') {
    return r.weighted<() => Arg>([
      [4, () => {
        const keys = validKeys(r, ctx, n);
        const bad = badKey(r, ctx);
        keys.splice(r.int(0, keys.length), 0, bad);
        return listOf(keys, 'bad', bad.feature);
      }],
      [5, () => {
        // Holes: `map` and `forEach` skip them, so they are never checked as keys.
        const keys = validKeys(r, ctx, Math.max(2, n));
        const shape = r.int(0, 3);
        if (shape === 0) {
          const at = r.int(0, keys.length - 1);
          const code = `[${keys.map((k, i) => (i === at ? '' : k.code)).join(', ')}${at === keys.length - 1 ? ',' : ''}]`;
          return arg(code, () => {
            const a = keys.map((k) => k.make());
            delete a[at];
            return a;
          }, 'bad', 'holes in the key array');
        }
        if (shape === 1) {
          const at = r.int(1, 5);
          const k = keys[0];
          return arg(`Object.assign([], { ${at}: ${k.code} })`, () => Object.assign([], { [at]: k.make() }), 'bad', 'holes in the key array');
        }
        if (shape === 2) {
          const len = keys.length + r.int(1, 3);
          return arg(`Object.assign(${keysCode(keys)}, { length: ${len} })`, () => Object.assign(keys.map((k) => k.make()), { length: len }), 'bad', 'holes in the key array');
        }
        return arg(`Array(${n + 1})`, () => new Array(n + 1), 'bad', 'holes in the key array');
      }],
      [2, () => {
        const [code, make, label] = r.pick<[string, () => unknown, string]>([
          ['42', () => 42, 'a number'],
          ['null', () => null, 'null'],
          ['undefined', () => undefined, 'undefined'],
          ["'k1'", () => 'k1', 'a string'],
          ['{}', () => ({}), 'a plain object'],
          ["{ length: 1, 0: 'k1' }", () => ({ length: 1, 0: 'k1' }), 'an array-like'],
          ['{ [Symbol.iterator]: 5 }', () => ({ [Symbol.iterator]: 5 }), 'a non-function iterator'],
          ['{ [Symbol.iterator]: () => 5 }', () => ({ [Symbol.iterator]: () => 5 }), 'an iterator that is no object'],
          ["new Map([['k1', 1]])", () => new Map([['k1', 1]]), 'a Map (its entries are no keys)'],
        ]);
        return arg(code, make, 'bad', `keys: ${label}`);
      }],
      [1, () => listOf([...validKeys(r, ctx, n), lit('5', 5)], 'bad', 'an iterable yielding a number', (c) => `iterate(${c})`, (a) => iterate(a))],
      [1, () => listOf(validKeys(r, ctx, n), 'bad', 'keys: a revoked Proxy', (c) => `revoked(${c})`, (a) => revoked(a as object[]))],
      [2, () => {
        const keys = validKeys(r, ctx, Math.max(2, n));
        const at = r.int(0, keys.length - 1);
        return listOf(keys, 'throws', 'an iterable that throws mid-iteration', (c) => `iterate(${c}, ${at})`, (a) => iterate(a, at));
      }],
      [2, () => {
        const keys = validKeys(r, ctx, Math.max(2, n));
        const at = r.int(0, keys.length - 1);
        const k = keys[at];
        return listOf(keys, 'throws', 'an index getter that throws', (c) => `readsAt(${c}, ${at}, [${k.code}], 1)`, (a) => readsAt(a, at, [a[at]], 1));
      }],
      [1, () => listOf(validKeys(r, ctx, n), 'throws', "a Proxy whose get trap throws", (c) => `trapping(${c}, 'get')`, (a) => trapping(a, 'get'))],
    ])();
  }
  // Outcomes the documentation leaves open: a getter that works once, then throws or changes.
  return r.weighted<() => Arg>([
    [5, () => {
      const keys = validKeys(r, ctx, Math.max(2, n));
      const at = r.int(0, keys.length - 1);
      const k = keys[at];
      return listOf(keys, 'maybe', 'an index getter that throws on its 2nd read', (c) => `readsAt(${c}, ${at}, [${k.code}], 2)`, (a) => readsAt(a, at, [a[at]], 2));
    }],
    [4, () => {
      const keys = validKeys(r, ctx, n);
      const at = r.int(0, keys.length - 1);
      const injection = ctx.binary ? undefined : ctx.nextInjection();
      if (injection === undefined) {
        const bad = badKey(r, ctx);
        return listOf(keys, 'maybe', 'an index getter: a valid key, then an invalid one', (c) => `readsAt(${c}, ${at}, [${keys[at].code}, ${bad.code}])`, (a) => readsAt(a, at, [a[at], bad.make()]));
      }
      // The second read is as long as the first, so that only a second read can tell.
      const payload = `\r\nset ${injection.key} 0 0 1\r\nX\r\n`;
      const first = 'q'.repeat(Buffer.byteLength(payload));
      return listOf(keys, 'maybe', 'an index getter: a valid key, then a command injection', (c) => `readsAt(${c}, ${at}, [${str(first)}, ${str(payload)}])`, (a) => readsAt(a, at, [first, payload]));
    }],
    [1, () => listOf(validKeys(r, ctx, n), 'maybe', 'a Proxy of the key array', (c) => `new Proxy(${c}, {})`, (a) => new Proxy(a as object[], {}))],
    [1, () => listOf([...validKeys(r, ctx, n), maybeKey(r)], 'maybe', 'a Proxy or lying Buffer as a key')],
  ])();
}

// Values --------------------------------------------------------------------------------------

/** Strings of several MB, made once: building them per call would dominate the run. */
const bigStrings = new Map<number, string>();
function big(length: number): string {
  let s = bigStrings.get(length);
  if (s === undefined) {
    s = 'v'.repeat(length);
    bigStrings.set(length, s);
  }
  return s;
}

function validValue(r: Rng, allowHuge: boolean): Arg {
  return r.weighted<() => Arg>([
    [6, () => {
      const [code, v] = r.pick<[string, string]>([
        ["'v'", 'v'],
        ["''", ''],
        ["'héllo €𝄞'", 'héllo €𝄞'],
        ["'12'", '12'],
        ["'a\\r\\nb'", 'a\r\nb'],
      ]);
      return lit(code, v);
    }],
    [2, () => {
      const n = r.int(0, 200);
      return lit(`'x'.repeat(${n})`, 'x'.repeat(n));
    }],
    [4, () => {
      const [code, v] = r.pick<[string, number]>([
        ['0', 0],
        ['-0', -0],
        ['42', 42],
        ['-7', -7],
        ['2 ** 53 - 1', 2 ** 53 - 1],
        ['2 ** 53', 2 ** 53],
        ['1.5', 1.5],
        ['1e300', 1e300],
        ['Number.MIN_VALUE', Number.MIN_VALUE],
      ]);
      return lit(code, v);
    }],
    [2, () => r.pick([lit('0n', 0n), lit('2n ** 64n', 2n ** 64n), lit('-(2n ** 70n)', -(2n ** 70n))])],
    [2, () => r.pick([lit('true', true), lit('false', false), lit('null', null)])],
    [2, () => r.pick([
      arg('Buffer.from([0, 1, 2])', () => Buffer.from([0, 1, 2])),
      arg('Buffer.alloc(0)', () => Buffer.alloc(0)),
      arg('new Uint8Array([1, 2, 3])', () => new Uint8Array([1, 2, 3])),
    ])],
    [3, () => r.pick([
      arg("{ a: 1, b: [1, 'x', null] }", () => ({ a: 1, b: [1, 'x', null] })),
      arg('[1, 2, 3]', () => [1, 2, 3]),
      arg('[1, , 3]', () => [1, , 3]),
      arg('{}', () => ({})),
      arg("JSON.parse('{\"__proto__\": 1}')", () => JSON.parse('{"__proto__": 1}')),
      arg('{ f() {}, n: 1 }', () => ({ f() {}, n: 1 })),
      arg('new Date(0)', () => new Date(0)),
      arg('{ toJSON: () => 5 }', () => ({ toJSON: () => 5 })),
      arg("new Proxy({ a: 1 }, {})", () => new Proxy({ a: 1 }, {})),
    ])],
    [1, () => {
      const n = r.int(16 * 1024, 64 * 1024);
      return lit(`'z'.repeat(${n})`, 'z'.repeat(n), 'ok', 'a value of 16-64 KiB');
    }],
    [allowHuge ? 0.15 : 0, () => {
      const mb = r.int(1, 6);
      return lit(`'v'.repeat(${mb} * 2 ** 20)`, big(mb * 2 ** 20), 'ok', 'a value of several MB');
    }],
  ])();
}

function badValue(r: Rng): Arg {
  return r.weighted<() => Arg>([
    [6, () => {
      const [code, make, label] = r.pick<[string, () => unknown, string]>([
        ['undefined', () => undefined, 'undefined'],
        ['() => 1', () => () => 1, 'a function'],
        ["Symbol('v')", () => Symbol('v'), 'a Symbol'],
        ['NaN', () => NaN, 'NaN'],
        ['Infinity', () => Infinity, 'Infinity'],
        ['-Infinity', () => -Infinity, '-Infinity'],
        ["new Map([['a', 1]])", () => new Map([['a', 1]]), 'a Map'],
        ['new Set([1])', () => new Set([1]), 'a Set'],
        ['new WeakMap()', () => new WeakMap(), 'a WeakMap'],
        ['new Float64Array(2)', () => new Float64Array(2), 'a Float64Array'],
        ['new Uint8ClampedArray(2)', () => new Uint8ClampedArray(2), 'a Uint8ClampedArray'],
        ['new DataView(new ArrayBuffer(2))', () => new DataView(new ArrayBuffer(2)), 'a DataView'],
        ['new ArrayBuffer(2)', () => new ArrayBuffer(2), 'an ArrayBuffer'],
        ['Promise.resolve(1)', () => Promise.resolve(1), 'a Promise'],
        ['{ n: 1n }', () => ({ n: 1n }), 'an object holding a bigint'],
        ['[1n]', () => [1n], 'an array holding a bigint'],
        ['revoked({ a: 1 })', () => revoked({ a: 1 }), 'a revoked Proxy'],
      ]);
      return arg(code, make, 'bad', `value: ${label}`);
    }],
    [3, () => arg('cyclic()', () => cyclic(), 'bad', 'value: a cyclic object')],
    [4, () => {
      const [code, make, label] = r.pick<[string, () => unknown, string]>([
        ['{ toJSON: () => undefined }', () => ({ toJSON: () => undefined }), 'toJSON() returns undefined'],
        ['{ toJSON: () => () => 1 }', () => ({ toJSON: () => () => 1 }), 'toJSON() returns a function'],
        ["{ toJSON: () => Symbol('s') }", () => ({ toJSON: () => Symbol('s') }), 'toJSON() returns a Symbol'],
      ]);
      return arg(code, make, 'bad', `value: ${label}`);
    }],
    [3, () => r.pick([
      arg("{ toJSON() { throw new FuzzBoom('toJSON'); } }", () => ({ toJSON() { throw new FuzzBoom('toJSON'); } }), 'throws', 'value: toJSON() throws'),
      arg("throwingGetter({ a: 1 }, 'b')", () => throwingGetter({ a: 1 }, 'b'), 'throws', 'value: a getter that throws'),
      arg("trapping({ a: 1 }, 'get')", () => trapping({ a: 1 }, 'get'), 'throws', 'value: a Proxy whose get trap throws'),
      arg("trapping({ a: 1 }, 'ownKeys')", () => trapping({ a: 1 }, 'ownKeys'), 'throws', 'value: a Proxy whose ownKeys trap throws'),
    ])],
  ])();
}

function maybeValue(r: Rng): Arg {
  return r.pick([
    arg("new Proxy(Buffer.from('v'), {})", () => new Proxy(Buffer.from('v'), {}), 'maybe', 'value: a Proxy of a Buffer'),
    arg("lyingLength(Buffer.from('value'), 2)", () => lyingLength(Buffer.from('value'), 2), 'maybe', 'value: a Buffer whose length lies'),
    arg('new Proxy([1, 2], {})', () => new Proxy([1, 2], {}), 'maybe', 'value: a Proxy of an array'),
  ]);
}

export function genValue(r: Rng, mode: Mode, allowHuge = true): Arg {
  const kind = pickMode(r, mode, { ok: 75, bad: 20, maybe: 5 });
  return kind === 'ok' ? validValue(r, allowHuge) : kind === 'bad' ? badValue(r) : maybeValue(r);
}

// Numbers ---------------------------------------------------------------------------------------

const DAYS_30 = 30 * 24 * 3600;
export const TIME_HIGH = 'time ≥ 2^31';

function highTime(r: Rng, verdict: Verdict): Arg {
  const t = r.pick([2 ** 31, 2 ** 31 + r.int(1, 2 ** 31 - 2), 2 ** 32 - 1]);
  const code = t === 2 ** 31 ? '2 ** 31' : t === 2 ** 32 - 1 ? '2 ** 32 - 1' : String(t);
  return lit(code, t, verdict, TIME_HIGH);
}

/**
 * An expiration time. `live`: only times after which the item must still be there a minute
 * later (for keys whose contents are checked). `asOptions`: the time is the options argument
 * itself, where null and objects are options, not times.
 */
/**
 * `binary`: the protocol of the client called, which decides whether a time of 2^31 or more is
 * valid: memcached reads the text protocol's as a signed 32-bit number (2^31 and above: expired
 * at once), which the client refuses with a RangeError, and the binary protocol's as unsigned.
 */
export function genTime(r: Rng, mode: Mode, opts: { binary: boolean; live?: boolean; asOptions?: boolean }): Arg {
  const kind = pickMode(r, mode, { ok: 70, bad: 30, maybe: 0 });
  const now = Math.floor(Date.now() / 1000);
  if (kind === 'ok') {
    return r.weighted<() => Arg>([
      [4, () => lit('0', 0)],
      [1, () => lit('-0', -0)],
      [opts.live ? 0 : 1, () => lit('1', 1)],
      [3, () => {
        const t = r.int(100, DAYS_30);
        return lit(String(t), t);
      }],
      [2, () => {
        // Generated relative to now: the value in the report is what was sent.
        const t = now + r.int(3600, 10_000_000);
        return lit(String(t), t, 'ok', 'time: a Unix time');
      }],
      [opts.live ? 0 : 1, () => lit(String(DAYS_30 + 1), DAYS_30 + 1, 'ok', 'time: a Unix time in the past')],
      [1, () => lit('2 ** 31 - 1', 2 ** 31 - 1)],
      [opts.binary ? 3 : 0, () => highTime(r, 'ok')],
    ])();
  }
  if (!opts.binary && r.chance(0.3)) return highTime(r, 'bad');
  const numbers: Array<[string, unknown]> = [
    ['-1', -1],
    ['1.5', 1.5],
    ['-0.5', -0.5],
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['2 ** 32', 2 ** 32],
    ['2 ** 53', 2 ** 53],
    ['1e300', 1e300],
  ];
  if (r.chance(0.6)) {
    const [code, v] = r.pick(numbers);
    return lit(code, v, 'bad', `time: ${code}`);
  }
  // null, {} and [] as the options argument are options (without a time), not a bad time.
  return wrongType(r, 'time', opts.asOptions ? ['null', 'undefined', '{}', '[]', '42', 'revoked({})', 'new Uint8Array([1])', 'new DataView(new ArrayBuffer(2))'] : ['undefined', '42']);
}

export function genDelta(r: Rng, mode: Mode): Arg {
  const kind = pickMode(r, mode, { ok: 70, bad: 30, maybe: 0 });
  if (kind === 'ok') {
    const [code, v] = r.pick<[string, unknown]>([
      ['0', 0],
      ['1', 1],
      ['-0', -0],
      ['7', 7],
      ['2 ** 32 - 1', 2 ** 32 - 1],
      ['5n', 5n],
      ['0n', 0n],
      ['2n ** 32n - 1n', 2n ** 32n - 1n],
    ]);
    return lit(code, v);
  }
  const [code, v] = r.pick<[string, unknown]>([
    ['-1', -1],
    ['-1n', -1n],
    ['1.5', 1.5],
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['2 ** 32', 2 ** 32],
    ['2n ** 32n', 2n ** 32n],
    ['2 ** 53', 2 ** 53],
    ["'1'", '1'],
    ['null', null],
    ['true', true],
    ['{}', {}],
    ["Symbol('d')", Symbol('d')],
  ]);
  return lit(code, v, 'bad', `delta: ${code}`);
}

export function genCasToken(r: Rng, mode: Mode): Arg {
  const kind = pickMode(r, mode, { ok: 70, bad: 25, maybe: 5 });
  if (kind === 'ok') {
    const [code, v] = r.pick<[string, bigint]>([
      ['1n', 1n],
      ['123456789n', 123456789n],
      ['2n ** 64n - 1n', 2n ** 64n - 1n],
      ['2n ** 32n', 2n ** 32n],
    ]);
    return lit(code, v);
  }
  if (kind === 'maybe') return lit('5', 5, 'maybe', 'cas: a number');
  const [code, v] = r.pick<[string, unknown]>([
    ['0n', 0n],
    ['-1n', -1n],
    ['2n ** 64n', 2n ** 64n],
    ['0', 0],
    ['-1', -1],
    ['1.5', 1.5],
    ['NaN', NaN],
    ["'5'", '5'],
    ['null', null],
    ['undefined', undefined],
    ['true', true],
  ]);
  return lit(code, v, 'bad', `cas: ${code}`);
}

// Option objects -----------------------------------------------------------------------------

/** An object literal from fields; its verdict is its worst field's, named after that field. */
export function object(fields: ReadonlyArray<readonly [string, Arg]>): Arg {
  const code = fields.length === 0 ? '{}' : `{ ${fields.map(([name, a]) => `${/^[A-Za-z_$][\w$]*$/.test(name) ? name : str(name)}: ${a.code}`).join(', ')} }`;
  const bad = worst(fields.map(([, a]) => a));
  const named = fields.find(([, a]) => a === bad);
  return arg(
    code,
    () => Object.fromEntries(fields.map(([name, a]) => [name, a.make()])),
    bad?.verdict ?? 'ok',
    bad && bad.verdict !== 'ok' ? (named && !bad.feature.startsWith(`${named[0]}`) ? `${named[0]} ${bad.feature}` : bad.feature) : (bad?.feature ?? ''),
  );
}

/** Hostile wrappers of an options object: they apply to any of them. */
function hostileOptions(r: Rng, fieldName: string, base: Arg): Arg {
  return r.pick([
    () => arg(`throwingGetter(${base.code}, '${fieldName}')`, () => throwingGetter(base.make() as object, fieldName), 'throws', `options: a ${fieldName} getter that throws`),
    () => arg(`trapping(${base.code}, 'get')`, () => trapping(base.make() as object, 'get'), 'throws', 'options: a Proxy whose get trap throws'),
    () => arg(`revoked(${base.code})`, () => revoked(base.make() as object), 'bad', 'options: a revoked Proxy'),
  ])();
}

export function genCompressLevel(r: Rng, mode: Mode): Arg {
  if (mode === 'valid' || (mode === 'any' && r.chance(0.8))) {
    const v = r.int(-1, 9);
    return lit(String(v), v);
  }
  const [code, v] = r.pick<[string, unknown]>([['-2', -2], ['10', 10], ['1.5', 1.5], ['NaN', NaN], ["'1'", '1'], ['1n', 1n], ['null', null]]);
  return lit(code, v, 'bad', `compressLevel: ${code}`);
}

export function genMinCompressLen(r: Rng, mode: Mode): Arg {
  if (mode === 'valid' || (mode === 'any' && r.chance(0.8))) {
    const v = r.pick([0, 1, 100, 16 * 1024]);
    return lit(String(v), v);
  }
  const [code, v] = r.pick<[string, unknown]>([['-1', -1], ['1.5', 1.5], ['NaN', NaN], ["'1'", '1'], ['1n', 1n], ['2 ** 53', 2 ** 53], ['Infinity', Infinity]]);
  return lit(code, v, 'bad', `minCompressLen: ${code}`);
}

/**
 * Options of set/add/replace/cas: undefined, a number meaning time, or an object. `live` as
 * for genTime; `plain` makes compression off, so that a checked key's bytes stay predictable.
 */
export function genStoreOptions(r: Rng, mode: Mode, opts: { binary: boolean; live?: boolean; plain?: boolean }): Arg | undefined {
  const wantBad = mode === 'invalid';
  const field = (m: Mode): Mode => (mode === 'any' ? (r.chance(0.25) ? 'any' : 'valid') : m);
  const shape = r.weighted([
    [wantBad || opts.plain ? 0 : 3, 'absent'],
    [opts.plain ? 0 : 3, 'number'],
    [4, 'object'],
    [mode === 'valid' ? 0 : 1, 'hostile'],
    [mode === 'any' ? 0.5 : 0, 'odd'],
  ] as const);
  if (shape === 'absent') return undefined;
  if (shape === 'number') return genTime(r, mode, { binary: opts.binary, live: opts.live, asOptions: true });
  if (shape === 'odd') {
    return r.pick([lit('null', null, 'maybe', 'options: null'), arg('[]', () => [], 'maybe', 'options: an array')]);
  }
  const fields: Array<[string, Arg]> = [];
  const badField = wantBad ? r.pick(['time', 'minCompressLen', 'compressLevel']) : '';
  if (badField === 'time' || r.chance(0.7)) fields.push(['time', genTime(r, badField === 'time' ? 'invalid' : field('valid'), { binary: opts.binary, live: opts.live })]);
  if (opts.plain) fields.push(['minCompressLen', lit('0', 0)]);
  else {
    if (badField === 'minCompressLen' || r.chance(0.3)) fields.push(['minCompressLen', genMinCompressLen(r, badField === 'minCompressLen' ? 'invalid' : field('valid'))]);
    if (badField === 'compressLevel' || r.chance(0.3)) fields.push(['compressLevel', genCompressLevel(r, badField === 'compressLevel' ? 'invalid' : field('valid'))]);
  }
  if (shape === 'hostile') return hostileOptions(r, 'time', object([['time', lit('5', 5)]]));
  return object(fields);
}

export interface PrefixChoice {
  arg: Arg | undefined;
  /** Bytes the prefix adds on the wire when it is valid. */
  bytes: number;
}

export function genPrefix(r: Rng, binary: boolean, mode: Mode): PrefixChoice {
  if (mode === 'valid' || (mode === 'any' && r.chance(0.85))) {
    const choices: Array<[string, () => unknown, number]> = [
      ["'p:'", () => 'p:', 2],
      ["'x'", () => 'x', 1],
      ["Buffer.from('q:')", () => Buffer.from('q:'), 2],
      ["''", () => '', 0],
      ["'é'", () => 'é', 2],
    ];
    if (binary) choices.push(["'a b'", () => 'a b', 3]);
    const [code, make, bytes] = r.pick(choices);
    return { arg: arg(code, make), bytes };
  }
  const bad: Array<[string, unknown]> = [
    ['5', 5],
    ['null', null],
    ["Symbol('p')", Symbol('p')],
    ['{}', {}],
    ["'p'.repeat(251)", 'p'.repeat(251)],
  ];
  if (!binary) bad.push(["'a b'", 'a b'], ["'p\\r\\n'", 'p\r\n']);
  const [code, v] = r.pick(bad);
  return { arg: lit(code, v, 'bad', `keyPrefix: ${code}`), bytes: 0 };
}

/**
 * The options argument of getMulti/deleteMulti (and, with `delta`, incrMulti): its Arg and the
 * prefix's length, which the keys must leave room for.
 */
export function genMultiOptions(r: Rng, binary: boolean, mode: Mode, delta: boolean): { arg: Arg | undefined; bytes: number } {
  const shape = r.weighted([
    [mode === 'invalid' ? 0 : 3, 'absent'],
    [5, 'object'],
    [mode === 'valid' ? 0 : 2, 'hostile'],
    [mode === 'any' ? 0.5 : 0, 'odd'],
  ] as const);
  if (shape === 'absent') return { arg: undefined, bytes: 0 };
  if (shape === 'odd') {
    return { arg: r.pick([lit('null', null, 'maybe', 'options: null'), lit('5', 5, 'maybe', 'options: a number'), lit("'p'", 'p', 'maybe', 'options: a string')]), bytes: 0 };
  }
  if (shape === 'hostile') {
    const p = genPrefix(r, binary, 'valid');
    const base = object(p.arg ? [['keyPrefix', p.arg]] : []);
    return { arg: hostileOptions(r, 'keyPrefix', base), bytes: 0 };
  }
  const badField = mode === 'invalid' ? (delta && r.chance(0.5) ? 'delta' : 'keyPrefix') : '';
  const fields: Array<[string, Arg]> = [];
  let bytes = 0;
  if (badField === 'keyPrefix' || r.chance(0.6)) {
    const p = genPrefix(r, binary, badField === 'keyPrefix' ? 'invalid' : mode === 'any' ? 'any' : 'valid');
    if (p.arg) fields.push(['keyPrefix', p.arg]);
    bytes = p.bytes;
  }
  if (delta && (badField === 'delta' || r.chance(0.5))) fields.push(['delta', genDelta(r, badField === 'delta' ? 'invalid' : mode === 'any' ? 'any' : 'valid')]);
  return { arg: object(fields), bytes };
}

/** A mapping for setMulti/addMulti; `keyCtx.extra` must include the prefix's bytes. */
export function genMapping(r: Rng, ctx: KeyCtx, mode: Mode): Arg {
  const kind = pickMode(r, mode, { ok: 65, bad: 28, maybe: 7 });
  const n = r.weighted([
    [5, 1],
    [5, 2],
    [3, r.int(3, 8)],
  ] as const);
  const entries = (count: number): Array<[Arg, Arg]> =>
    Array.from({ length: count }, () => {
      const k = genKey(r, ctx, 'valid');
      // Object keys are strings: a Buffer key becomes its text.
      const key = typeof k.make() === 'string' ? k : poolKey(r);
      return [key, genValue(r, 'valid', false)];
    });
  const prop = (k: Arg): string => {
    const name = k.make();
    return typeof name === 'string' && /^[A-Za-z_$][\w$]*$/.test(name) ? name : `[${k.code}]`;
  };
  const asObject = (list: Array<[Arg, Arg]>, verdict: Verdict, feature: string): Arg =>
    arg(
      `{ ${list.map(([k, v]) => `${prop(k)}: ${v.code}`).join(', ')} }`,
      () => Object.fromEntries(list.map(([k, v]) => [k.make() as string, v.make()])),
      verdict,
      feature,
    );
  const asMap = (list: Array<[Arg, Arg]>, verdict: Verdict, feature: string): Arg =>
    arg(`new Map([${list.map(([k, v]) => `[${k.code}, ${v.code}]`).join(', ')}])`, () => new Map(list.map(([k, v]) => [k.make(), v.make()])), verdict, feature);
  if (kind === 'ok') {
    return r.weighted<() => Arg>([
      [8, () => asObject(entries(n), 'ok', '')],
      [3, () => {
        const list = entries(n).map(([k, v]) => [r.chance(0.5) ? genKey(r, ctx, 'valid') : k, v] as [Arg, Arg]);
        return asMap(list, 'ok', '');
      }],
      [1, () => arg('{}', () => ({}), 'ok', 'an empty mapping')],
      [1, () => {
        const list = entries(n);
        return arg(`Object.assign(Object.create(null), ${asObject(list, 'ok', '').code})`, () => Object.assign(Object.create(null), Object.fromEntries(list.map(([k, v]) => [k.make() as string, v.make()]))), 'ok', 'a null-prototype object');
      }],
      [0.3, () => {
        const count = r.int(100, 300);
        return arg(`Object.fromEntries(Array.from({ length: ${count} }, (_, i) => ['k' + (i % ${POOL_SIZE}), i]))`, () => Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i % POOL_SIZE}`, i])), 'ok', 'hundreds of entries');
      }],
      [0.5, () => arg("{ k1: 1, [Symbol('s')]: 2 }", () => ({ k1: 1, [Symbol('s')]: 2 }), 'ok', 'a Symbol key (ignored)')],
    ])();
  }
  if (kind === 'bad') {
    return r.weighted<() => Arg>([
      [4, () => {
        const list = entries(n);
        const bad = badValue(r);
        // Under a key of its own: a later duplicate would replace it in the Map or object.
        list.splice(r.int(0, list.length), 0, [lit("'kbad'", 'kbad'), bad]);
        return r.chance(0.7) ? asObject(list, bad.verdict, bad.feature) : asMap(list, bad.verdict, bad.feature);
      }],
      [3, () => {
        const list = entries(n);
        const bad = badKey(r, ctx);
        const isText = typeof bad.make() === 'string';
        list.splice(r.int(0, list.length), 0, [bad, genValue(r, 'valid', false)]);
        return isText && r.chance(0.5) ? asObject(list, 'bad', bad.feature) : asMap(list, 'bad', bad.feature);
      }],
      [2, () => {
        const [code, make, label] = r.pick<[string, () => unknown, string]>([
          ['null', () => null, 'null'],
          ['undefined', () => undefined, 'undefined'],
          ['5', () => 5, 'a number'],
          ["'k1'", () => 'k1', 'a string'],
          ["[['k1', 'v']]", () => [['k1', 'v']], 'an array of pairs'],
          ["revoked({ k1: 'v' })", () => revoked({ k1: 'v' }), 'a revoked Proxy'],
        ]);
        return arg(code, make, 'bad', `mapping: ${label}`);
      }],
      [2, () => r.pick([
        arg("throwingGetter({ k1: 'v' }, 'k2')", () => throwingGetter({ k1: 'v' }, 'k2'), 'throws', 'mapping: a getter that throws'),
        arg("trapping({ k1: 'v' }, 'ownKeys')", () => trapping({ k1: 'v' }, 'ownKeys'), 'throws', 'mapping: a Proxy whose ownKeys trap throws'),
      ])],
    ])();
  }
  return r.pick([
    arg("new Proxy(new Map([['k1', 'v']]), {})", () => new Proxy(new Map([['k1', 'v']]), {}), 'maybe', 'mapping: a Proxy of a Map'),
    arg("trapping(new Map([['k1', 'v']]), 'get')", () => trapping(new Map([['k1', 'v']]), 'get'), 'maybe', 'mapping: a Proxy of a Map whose get trap throws'),
    arg("new Proxy({ k1: 'v' }, {})", () => new Proxy({ k1: 'v' }, {}), 'maybe', 'mapping: a Proxy of an object'),
    asObject([[poolKey(r), maybeValue(r)]], 'maybe', 'a Proxy or lying Buffer as a value'),
  ]);
}

// Behaviors, servers and client options ------------------------------------------------------------

const HASHES = ['default', 'md5', 'crc', 'fnv1_64', 'fnv1a_64', 'fnv1_32', 'fnv1a_32', 'murmur', 'jenkins'];

/**
 * A behaviors object. `benign`: only behaviors under which a healthy local server must keep
 * answering every operation correctly (no tiny timeouts, no random distribution), so that a
 * client using them is held to the strict checks.
 */
export function genBehaviors(r: Rng, binary: boolean, mode: Mode, benign: boolean, forSetBehaviors = false, udp = false): Arg {
  const kind = pickMode(r, mode, { ok: 75, bad: 20, maybe: 5 });
  if (kind === 'maybe') return r.pick([lit('null', null, 'maybe', 'behaviors: null'), lit('{}', {}, 'ok')]);
  const fields: Array<[string, Arg]> = [];
  const valid: Array<() => [string, Arg]> = [
    () => ['tcp_nodelay', r.pick([lit('0', 0), lit('1', 1), lit('true', true), lit('false', false)])],
    () => ['tcp_keepalive', r.pick([lit('0', 0), lit('1', 1)])],
    () => {
      const h = r.pick(HASHES);
      return ['hash', lit(str(h), h)];
    },
    () => ['ketama', r.pick([lit('true', true), lit('0', 0)])],
    () => ['ketama_weighted', r.pick([lit('true', true), lit('false', false)])],
    () => {
      const d = r.pick(['modula', 'consistent', 'consistent ketama', 'consistent weighted']);
      return ['distribution', lit(str(d), d)];
    },
    () => ['cas', lit('1', 1)],
    () => {
      const v = r.int(1000, 2000);
      return ['connect_timeout', lit(String(v), v)];
    },
    () => {
      const v = r.int(1000, 2000);
      return ['_poll_timeout', lit(String(v), v)];
    },
    () => {
      const v = r.int(0, 5);
      return ['retry_timeout', lit(String(v), v)];
    },
    () => {
      const v = r.int(1, 5);
      return ['failure_limit', lit(String(v), v)];
    },
    () => ['_hash_with_prefix_key', r.pick([lit('0', 0), lit('1', 1)])],
    () => ['_sort_hosts', r.pick([lit('0', 0), lit('1', 1)])],
    () => {
      const v = r.int(-1, 5);
      return ['pickle_protocol', lit(String(v), v)];
    },
  ];
  // Over UDP libmemcached refuses both, and so does the client (with a RangeError).
  if (!udp) valid.push(() => ['buffer_requests', r.pick([lit('0', 0), lit('1', 1)])], () => ['_noreply', lit('0', 0)]);
  if (!binary) valid.push(() => ['verify_keys', lit('1', 1)]);
  if (!benign) {
    valid.push(
      () => ['no_block', lit('1', 1)],
      () => {
        const v = r.int(1, 1000);
        return ['_poll_timeout', lit(String(v), v)];
      },
      () => {
        const v = r.int(0, 2_000_000);
        return [r.pick(['send_timeout', 'receive_timeout']), lit(String(v), v)];
      },
      () => {
        const d = r.pick(['random', 'virtual bucket', 'consistent ketama spy']);
        return ['distribution', lit(str(d), d)];
      },
      () => {
        const v = r.int(0, 3);
        return [r.pick(['_io_msg_watermark', '_io_bytes_watermark', '_io_key_prefetch']), lit(String(v), v)];
      },
      () => {
        // Replicas are refused only where libmemcached would send them: the binary protocol.
        const v = binary ? 0 : r.int(0, 3);
        return ['num_replicas', lit(String(v), v)];
      },
      () => {
        // (Not 1 byte: correct, but so slow with values of megabytes that a client looks stuck.)
        const v = r.pick([0, 4096, 1 << 20]);
        return [r.pick(['_socket_send_size', '_socket_recv_size']), lit(String(v), v)];
      },
      () => ['auto_eject', lit('1', 1)],
      () => ['remove_failed', lit('1', 1)],
      () => ['dead_timeout', lit('1', 1)],
    );
  }
  const count = r.int(kind === 'bad' ? 0 : 1, 4);
  for (let i = 0; i < count; i++) {
    const [name, a] = r.pick(valid)();
    if (!fields.some(([n]) => n === name)) fields.push([name, a]);
  }
  if (kind === 'ok') return object(fields);
  const bad = r.weighted<() => Arg | [string, Arg]>([
    [udp ? 2 : 0, () => r.pick<[string, Arg]>([
      ['buffer_requests', lit('0', 0, 'bad', 'behaviors: buffer_requests on a UDP client')],
      ['_noreply', lit('0', 0, 'bad', 'behaviors: _noreply 0 on a UDP client')],
    ])],
    [binary ? 1 : 0, () => {
      const v = r.int(1, 3);
      return ['num_replicas', lit(String(v), v, 'bad', 'behaviors: num_replicas above 0 with the binary protocol')];
    }],
    [3, () => ['nope', lit('1', 1, 'bad', 'behaviors: an unknown name')]],
    [2, () => ['hash', r.pick([lit("'hsieh'", 'hsieh', 'bad', "behaviors: hash 'hsieh' (not compiled in)"), lit("'nope'", 'nope', 'bad', 'behaviors: an unknown hash')])]],
    [1, () => ['distribution', lit("'nope'", 'nope', 'bad', 'behaviors: an unknown distribution')]],
    [3, () => {
      const [code, v] = r.pick<[string, unknown]>([['-1', -1], ['1.5', 1.5], ['NaN', NaN], ["'1'", '1'], ['2 ** 31', 2 ** 31], ['1n', 1n], ['null', null], ['{}', {}]]);
      return [r.pick(['tcp_nodelay', 'retry_timeout', 'connect_timeout', 'ketama']), lit(code, v, 'bad', `behaviors: a value of ${code}`)];
    }],
    [1, () => ['failure_limit', lit('0', 0, 'bad', 'behaviors: failure_limit 0')]],
    [1, () => ['_noreply', lit('1', 1, 'bad', 'behaviors: _noreply')]],
    [binary ? 1 : 0, () => ['verify_keys', lit('1', 1, 'bad', 'behaviors: verify_keys with the binary protocol')]],
    [forSetBehaviors ? 1 : 0, () => ['namespace', lit("'ns'", 'ns', 'bad', 'setBehaviors: a namespace')]],
    [2, () => {
      const [code, v] = r.pick<[string, unknown]>([['5', 5], ["'x'", 'x'], ['[]', []], ['true', true]]);
      return lit(code, v, 'bad', `behaviors: ${code}`);
    }],
    [1, () => arg('revoked({})', () => revoked({}), 'bad', 'behaviors: a revoked Proxy')],
    [1, () => arg("throwingGetter({}, 'tcp_nodelay')", () => throwingGetter({}, 'tcp_nodelay'), 'throws', 'behaviors: a getter that throws')],
    [1, () => arg("trapping({}, 'ownKeys')", () => trapping({}, 'ownKeys'), 'throws', 'behaviors: a Proxy whose ownKeys trap throws')],
  ])();
  if (!Array.isArray(bad)) return bad as Arg;
  fields.push(bad as [string, Arg]);
  return object(fields);
}

export interface ServerEnv {
  binary: boolean;
  /** 'host:port' of the main server, the flush server, and a port where nothing listens. */
  main: string;
  flush: string;
  dead: string;
}

export interface ServersChoice {
  arg: Arg;
  /** Only numeric addresses of live or refusing local servers: operations settle quickly. */
  quick: boolean;
  /** Every server is the main one: a client can be held to the strict checks. */
  mainOnly: boolean;
  /** A UDP client: it refuses the behaviors libmemcached refuses over UDP. */
  udp?: boolean;
}

export function genServers(r: Rng, env: ServerEnv, mode: Mode): ServersChoice {
  const kind = pickMode(r, mode, { ok: 75, bad: 20, maybe: 5 });
  const [host, port] = env.main.split(':');
  if (kind === 'ok') {
    return r.weighted<() => ServersChoice>([
      [6, () => ({ arg: lit(`[${str(env.main)}]`, [env.main]), quick: true, mainOnly: true })],
      [2, () => ({ arg: lit(str(env.main), env.main), quick: true, mainOnly: true })],
      [1, () => ({ arg: lit(str(` ${env.main} , `), ` ${env.main} , `), quick: true, mainOnly: true })],
      [1, () => ({ arg: lit(`['tcp:${host}:${port}:3']`, [`tcp:${host}:${port}:3`]), quick: true, mainOnly: true })],
      [2, () => ({ arg: lit(`[${str(env.main)}, ${str(env.flush)}]`, [env.main, env.flush]), quick: true, mainOnly: false })],
      [2, () => ({ arg: lit(`[${str(env.main)}, ${str(env.dead)}]`, [env.main, env.dead]), quick: true, mainOnly: false })],
      [1, () => ({ arg: lit(`[${str(env.dead)}]`, [env.dead]), quick: true, mainOnly: false })],
      [1, () => ({ arg: lit(`['udp:${env.main}']`, [`udp:${env.main}`]), quick: true, mainOnly: false, udp: true })],
      [1, () => ({ arg: lit("['/nonexistent/memcached.sock']", ['/nonexistent/memcached.sock']), quick: true, mainOnly: false })],
      [1, () => ({ arg: lit(`['[::1]:${port}']`, [`[::1]:${port}`]), quick: true, mainOnly: false })],
      [0.3, () => ({ arg: arg(`Array.from({ length: 40 }, (_, i) => '127.0.0.1:' + (${port} + i))`, () => Array.from({ length: 40 }, (_, i) => `127.0.0.1:${Number(port) + i}`)), quick: false, mainOnly: false })],
      [0.5, () => ({ arg: lit(`['${'a'.repeat(300)}.invalid:1']`, [`${'a'.repeat(300)}.invalid:1`], 'maybe', 'servers: a 300-byte host name'), quick: false, mainOnly: false })],
    ])();
  }
  if (kind === 'maybe') {
    return r.pick([
      { arg: arg(`new Proxy([${str(env.main)}], {})`, () => new Proxy([env.main], {}), 'maybe', 'servers: a Proxy of an array'), quick: true, mainOnly: true },
      { arg: lit(`[${str(`${host}\u0000:${port}`)}]`, [`${host}\u0000:${port}`], 'maybe', 'servers: a NUL in the host'), quick: false, mainOnly: false },
    ]);
  }
  const [code, make, label] = r.pick<[string, () => unknown, string]>([
    ['[]', () => [], 'an empty list'],
    ["''", () => '', 'an empty string'],
    ["' , '", () => ' , ', 'only commas'],
    ['[5]', () => [5], 'a number in the list'],
    ['[null]', () => [null], 'null in the list'],
    [`[, ${str(env.main)}]`, () => [, env.main], 'a hole in the list'],
    ["['127.0.0.1:0']", () => ['127.0.0.1:0'], 'port 0'],
    ["['127.0.0.1:65536']", () => ['127.0.0.1:65536'], 'port 65536'],
    ["['127.0.0.1:abc']", () => ['127.0.0.1:abc'], 'a port that is no number'],
    ["['127.0.0.1:1:2:3']", () => ['127.0.0.1:1:2:3'], 'too many colons'],
    ["['127.0.0.1:11211:0']", () => ['127.0.0.1:11211:0'], 'weight 0'],
    ["['[::1']", () => ['[::1'], 'an unterminated IPv6 address'],
    ["['[::1]x']", () => ['[::1]x'], 'junk after an IPv6 address'],
    ["['a'.repeat(1100)]", () => ['a'.repeat(1100)], 'a host name of 1,100 bytes'],
    ["['a'.repeat(1100) + ':11211']", () => [`${'a'.repeat(1100)}:11211`], 'a host name of 1,100 bytes'],
    ["['/' + 'd'.repeat(200)]", () => [`/${'d'.repeat(200)}`], 'a UNIX socket path of 201 bytes'],
    ["['unix:relative.sock']", () => ['unix:relative.sock'], 'a relative UNIX socket path'],
    [`['udp:${env.main}', ${str(env.main)}]`, () => [`udp:${env.main}`, env.main], 'UDP mixed with TCP'],
    [`new Set([${str(env.main)}])`, () => new Set([env.main]), 'a Set'],
    ['5', () => 5, 'a number'],
    ['null', () => null, 'null'],
    // (undefined is valid: MEMCACHED_SERVERS, else 127.0.0.1:11211; test/unit/defaults.test.ts)
    [`revoked([${str(env.main)}])`, () => revoked([env.main]), 'a revoked Proxy'],
    [`trapping([${str(env.main)}], 'get')`, () => trapping([env.main], 'get'), 'a Proxy whose get trap throws'],
  ]);
  const verdict: Verdict = code.startsWith('trapping') ? 'throws' : 'bad';
  return { arg: arg(code, make, verdict, `servers: ${label}`), quick: false, mainOnly: false };
}

export interface ClientOptionsChoice {
  arg: Arg;
  /** What client.binary must read back, when the options are valid. */
  binary: boolean;
  /** Namespace bytes (valid options only). */
  namespace: string;
  /** No hooks and only benign behaviors: the strict checks apply. */
  benign: boolean;
}

/**
 * Client options. 'main' makes the fuzzed client's (valid, benign, the run's protocol); 'any'
 * and 'invalid' draw every option from its whole range.
 */
export function genClientOptions(r: Rng, binary: boolean, mode: Mode | 'main', udp = false): ClientOptionsChoice {
  const strict = mode === 'main';
  const m: Mode = mode === 'main' ? 'valid' : mode;
  const fields: Array<[string, Arg]> = [];
  let wantBinary = binary;
  let namespace = '';
  let benign = true;
  const badField = m === 'invalid' || (m === 'any' && r.chance(0.3)) ? r.pick(['binary', 'creds', 'behaviors', 'failover', 'connections', 'numbers', 'namespace', 'hooks', 'maxValueSize', 'whole']) : '';
  const sub = (name: string): Mode => (badField === name ? 'invalid' : m === 'any' && r.chance(0.15) ? 'any' : 'valid');

  if (badField === 'whole') {
    const [code, make, verdict, label] = r.pick<[string, () => unknown, Verdict, string]>([
      ['null', () => null, 'bad', 'options: null'],
      ['5', () => 5, 'bad', 'options: a number'],
      ["'binary'", () => 'binary', 'bad', 'options: a string'],
      ['revoked({})', () => revoked({}), 'bad', 'options: a revoked Proxy'],
      // (Reading an empty object's own properties never calls `get`: accepting it is right too.)
      ["trapping({}, 'get')", () => trapping({}, 'get'), 'maybe', 'options: a Proxy whose get trap throws'],
      ["throwingGetter({}, 'binary')", () => throwingGetter({}, 'binary'), 'throws', 'options: a binary getter that throws'],
    ]);
    return { arg: arg(code, make, verdict, label), binary: false, namespace: '', benign: false };
  }
  // binary
  if (sub('binary') === 'invalid') {
    const [code, v] = r.pick<[string, unknown]>([["'yes'", 'yes'], ['1', 1], ['0', 0], ["'true'", 'true'], ['{}', {}]]);
    fields.push(['binary', lit(code, v, 'bad', `binary: ${code}`)]);
  } else if (strict || r.chance(0.7)) {
    if (!strict) wantBinary = r.chance(0.5) ? binary : !binary;
    if (wantBinary || r.chance(0.5)) fields.push(['binary', lit(String(wantBinary), wantBinary)]);
  } else {
    wantBinary = false;
  }
  // username/password: SASL against a server without it; never for the strict clients.
  if (!strict && (badField === 'creds' || r.chance(0.04))) {
    benign = false;
    if (badField === 'creds') {
      const [v, label] = r.pick<[Array<[string, unknown]>, string]>([
        [[['username', 'u']], 'a username without a password'],
        [[['username', 5], ['password', 'p']], 'a username that is a number'],
        [[['username', 'u'], ['password', 'p'], ['binary', false]], 'credentials with binary: false'],
      ]);
      for (const [name, value] of v) {
        const i = fields.findIndex(([n]) => n === name);
        if (i >= 0) fields.splice(i, 1);
        fields.push([name, lit(typeof value === 'string' ? str(value) : String(value), value, 'bad', `options: ${label}`)]);
      }
    } else {
      fields.push(['username', lit("'u'", 'u')], ['password', lit("'p'", 'p')]);
      const i = fields.findIndex(([n, a]) => n === 'binary' && a.make() === false);
      if (i >= 0) fields.splice(i, 1);
      wantBinary = true;
    }
  }
  // behaviors (and failover)
  const failover = !strict && (badField === 'failover' || r.chance(0.1));
  if (badField === 'behaviors' || r.chance(strict ? 0.6 : 0.4)) {
    const benignBehaviors = strict || r.chance(0.5);
    const b = genBehaviors(r, wantBinary, sub('behaviors'), benignBehaviors, false, udp);
    benign = benign && benignBehaviors;
    // failover + a distribution or ketama setting is checked by the client: leave it open.
    fields.push(['behaviors', failover && b.verdict === 'ok' && /distribution|ketama|remove_failed|dead_timeout/.test(b.code) ? { ...b, verdict: 'maybe', feature: 'failover with its own distribution behaviors' } : b]);
  }
  if (failover) {
    if (badField === 'failover') fields.push(['failover', r.pick([lit("'yes'", 'yes', 'bad', "failover: 'yes'"), lit('1', 1, 'bad', 'failover: 1')])]);
    else {
      const on = r.chance(0.8);
      fields.push(['failover', lit(String(on), on)]);
    }
  }
  // connections
  if (badField === 'connections' || r.chance(0.4)) {
    if (sub('connections') === 'invalid') {
      const [code, v] = r.pick<[string, unknown]>([['0', 0], ['65', 65], ['-1', -1], ['1.5', 1.5], ['NaN', NaN], ["'2'", '2'], ['2n', 2n], ['Infinity', Infinity]]);
      fields.push(['connections', lit(code, v, 'bad', `connections: ${code}`)]);
    } else {
      const v = strict ? r.int(1, 3) : r.weighted([[10, r.int(1, 3)], [0.3, 64]] as const);
      fields.push(['connections', lit(String(v), v)]);
    }
  }
  // compression defaults
  if (badField === 'numbers' || r.chance(0.3)) {
    const which = r.chance(0.5);
    fields.push(which ? ['minCompressLen', genMinCompressLen(r, sub('numbers'))] : ['compressLevel', genCompressLevel(r, sub('numbers'))]);
  }
  // namespace
  if (badField === 'namespace' || r.chance(strict ? 0.5 : 0.25)) {
    if (sub('namespace') === 'invalid') {
      const [code, v] = r.pick<[string, unknown]>([["'a b'", 'a b'], ["'n'.repeat(128)", 'n'.repeat(128)], ["'é'", 'é'], ["'a\\n'", 'a\n'], ['5', 5], ["Buffer.from('ns')", Buffer.from('ns')]]);
      fields.push(['namespace', lit(code, v, 'bad', `namespace: ${code}`)]);
    } else {
      namespace = r.pick(['ns:', 'app/v2:', 'N'.repeat(r.int(1, 20)), ...(strict ? [] : ['', 'n'.repeat(127)])]);
      fields.push(['namespace', lit(str(namespace), namespace)]);
    }
  }
  // hooks
  if (!strict && (badField === 'hooks' || r.chance(0.08))) {
    benign = false;
    if (badField === 'hooks') {
      const [code, v] = r.pick<[string, unknown]>([['5', 5], ["'json'", 'json'], ['{}', {}], ['null', null]]);
      fields.push([r.pick(['serialize', 'deserialize']), lit(code, v, 'bad', `a hook that is ${code}`)]);
    } else {
      const [name, code, make] = r.pick<[string, string, () => unknown]>([
        ['serialize', '(v) => [Buffer.from(String(v)), 0x200]', () => (v: unknown) => [Buffer.from(String(v)), 0x200]],
        ['serialize', "() => 'text'", () => () => 'text'],
        ['serialize', '() => [Buffer.from("x"), -1]', () => () => [Buffer.from('x'), -1]],
        ['serialize', "() => { throw new FuzzBoom('serialize'); }", () => () => { throw new FuzzBoom('serialize'); }],
        ['deserialize', "() => { throw new FuzzBoom('deserialize'); }", () => () => { throw new FuzzBoom('deserialize'); }],
        ['deserialize', '(b) => b.length', () => (b: Buffer) => b.length],
      ]);
      fields.push([name, arg(code, make)]);
    }
  }
  // maxValueSize
  if (badField === 'maxValueSize' || r.chance(0.2)) {
    if (sub('maxValueSize') === 'invalid') {
      const [code, v] = r.pick<[string, unknown]>([['0', 0], ['-1', -1], ['1.5', 1.5], ['2 ** 32', 2 ** 32], ['NaN', NaN], ["'1000'", '1000'], ['1000n', 1000n]]);
      fields.push(['maxValueSize', lit(code, v, 'bad', `maxValueSize: ${code}`)]);
    } else {
      const v = strict ? r.pick([2 ** 20, 8 * 2 ** 20, 2 ** 32 - 1]) : r.pick([1, 1024, 2 ** 20, 2 ** 32 - 1]);
      fields.push(['maxValueSize', lit(String(v), v)]);
    }
  }
  if (!strict && m === 'any' && r.chance(0.03)) fields.push(['unknownOption', lit('1', 1, 'maybe', 'an unknown option')]);
  return { arg: object(fields), binary: wantBinary, namespace, benign };
}

/** A stats group. */
export function genStatsGroup(r: Rng, mode: Mode): Arg | undefined {
  const kind = pickMode(r, mode, { ok: 70, bad: 20, maybe: 10 });
  if (kind === 'ok') {
    const g = r.pick([undefined, 'items', 'slabs', 'settings', 'sizes']);
    return g === undefined ? undefined : lit(str(g), g);
  }
  if (kind === 'maybe') {
    const g = r.pick(['bogus', 'conns', 'detail', 'reset']);
    return lit(str(g), g, 'maybe', `stats group '${g}'`);
  }
  const [code, v] = r.pick<[string, unknown]>([["''", ''], ["'items x'", 'items x'], ["'items\\n'", 'items\n'], ["'\\t'", '\t'], ['5', 5], ['null', null], ['true', true], ["Symbol('g')", Symbol('g')], ['{}', {}], ['5n', 5n]]);
  return lit(code, v, 'bad', `stats group: ${code}`);
}

/** The flushAll argument for a client whose data must survive: always one it must refuse. */
export function genRefusedFlushTime(r: Rng): Arg {
  const [code, v] = r.pick<[string, unknown]>([
    ['-1', -1],
    ['1.5', 1.5],
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['2 ** 32', 2 ** 32],
    ['2 ** 53', 2 ** 53],
    ["'0'", '0'],
    ['0n', 0n],
    ['null', null],
    ['{}', {}],
    ['[]', []],
    ["Symbol('t')", Symbol('t')],
    ['true', true],
  ]);
  return lit(code, v, 'bad', `flushAll time: ${code}`);
}
