/**
 * One generated call of the client's public API: which method, its arguments (with the code
 * that builds them), what the documentation says must happen, and, for the keys whose
 * contents the fuzzer follows (T~0..T~47), the exact result to expect.
 */
import type { Client } from '../../lib';
import { Rng } from './rng';
import {
  Arg,
  Injection,
  KeyCtx,
  Mode,
  TIME_HIGH,
  arg,
  genBehaviors,
  genCasToken,
  genCompressLevel,
  genDelta,
  genKey,
  genKeyList,
  genMapping,
  genMinCompressLen,
  genMultiOptions,
  genPrefix,
  genReadKey,
  genRefusedFlushTime,
  genStatsGroup,
  genStoreOptions,
  genTime,
  genValue,
  lit,
  object,
  str,
  worst,
} from './args';

export type Method =
  | 'get'
  | 'getMulti'
  | 'gets'
  | 'set'
  | 'add'
  | 'replace'
  | 'append'
  | 'prepend'
  | 'setMulti'
  | 'addMulti'
  | 'cas'
  | 'incr'
  | 'decr'
  | 'incrMulti'
  | 'delete'
  | 'deleteMulti'
  | 'touch'
  | 'flushAll'
  | 'getStats'
  | 'disconnectAll'
  | 'hash'
  | 'getBehaviors'
  | 'setBehaviors'
  | 'has'
  | 'close'
  | 'asyncDispose'
  // Synchronous: the constructor, clone() and the (de)serializer.
  | 'new Client'
  | 'clone'
  | 'serialize'
  | 'deserialize';

/** valid: must work; invalid: must reject before any I/O; lenient: any typed outcome. */
export type CallVerdict = 'valid' | 'invalid' | 'lenient';

export interface CallSpec {
  method: Method;
  /** Arguments as passed; trailing omitted ones are not listed. */
  args: Arg[];
  verdict: CallVerdict;
  /** What is special about the call, for grouping its failures. */
  feature: string;
  /** For followed keys: the complaint about a result, or undefined when it is right. */
  expect?: (value: unknown) => string | undefined;
  /** Followed keys the call touches (their later checks are void if this one fails). */
  tracked?: string[];
  /** For a followed key's read: the write it should see, as code (for the reproduction). */
  writer?: string;
  /** ...and what was special about that write (e.g. time ≥ 2^31), for grouping. */
  writerFeature?: string;
  /** Code that shows the call with what happened around it, when the call alone does not. */
  scenario?: string;
}

export interface ClientCtx {
  binary: boolean;
  /** Namespace bytes of the client called. */
  ns: number;
  /** How many servers it has (hash() answers an index below it). */
  servers: number;
  /** Whether flushAll may be called with valid arguments (only on the flush server's client). */
  mayFlush: boolean;
  /** Hands out INJ~ keys for command-injection probes (text protocol). */
  nextInjection: () => Injection | undefined;
}

export function callCode(spec: CallSpec, client: string): string {
  if (spec.scenario !== undefined) return spec.scenario.replace(/\bmc\./g, `${client}.`);
  if (spec.method === 'asyncDispose') return `${client}[Symbol.asyncDispose]()`;
  if (spec.method === 'new Client') return `new Client(${spec.args.map((a) => a.code).join(', ')})`;
  return `${client}.${spec.method}(${spec.args.map((a) => a.code).join(', ')})`;
}

/** Calls `spec` on `client` with fresh arguments; whatever it throws propagates. */
export function invoke(spec: CallSpec, client: Client): unknown {
  const values = spec.args.map((a) => a.make());
  if (spec.method === 'asyncDispose') return client[Symbol.asyncDispose]();
  const method = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[spec.method];
  return method.apply(client, values);
}

export function finish(method: Method, args: Array<Arg | undefined>): CallSpec {
  // Trailing undefined arguments are left out; one in the middle stays, as undefined.
  const list = [...args];
  while (list.length > 0 && list[list.length - 1] === undefined) list.pop();
  const present = list.map((a) => a ?? lit('undefined', undefined));
  const w = worst(present);
  const verdict: CallVerdict = !w || w.verdict === 'ok' ? 'valid' : w.verdict === 'maybe' ? 'lenient' : 'invalid';
  const feature = verdict === 'valid' ? (present.find((a) => a.feature !== '')?.feature ?? '') : (w?.feature ?? '');
  return { method, args: present, verdict, feature };
}

/** Which argument of a call goes wrong: one in invalid mode, maybe several in any mode. */
function slots(r: Rng, mode: Mode, n: number): Mode[] {
  if (mode === 'valid') return Array<Mode>(n).fill('valid');
  const one = r.int(0, n - 1);
  if (mode === 'invalid') return Array.from({ length: n }, (_, i) => (i === one ? 'invalid' : 'valid'));
  if (r.chance(0.7)) return Array.from({ length: n }, (_, i) => (i === one ? 'any' : 'valid'));
  return Array<Mode>(n).fill('any');
}

function keyCtx(c: ClientCtx, prefix = 0): KeyCtx {
  return { binary: c.binary, ns: c.ns, prefix };
}

/** A default for get(): any value at all is one. */
function genDefault(r: Rng): Arg | undefined {
  if (!r.chance(0.3)) return undefined;
  return r.pick([lit('undefined', undefined), lit('null', null), lit("'fallback'", 'fallback'), lit("Symbol('d')", Symbol('d')), arg('{ d: 1 }', () => ({ d: 1 }))]);
}

function storeMultiOptions(r: Rng, c: ClientCtx, mode: Mode): { arg: Arg | undefined; bytes: number } {
  if (mode === 'valid' && r.chance(0.3)) return { arg: undefined, bytes: 0 };
  const bad = mode === 'invalid' ? r.pick(['keyPrefix', 'time', 'minCompressLen', 'compressLevel', 'hostile']) : '';
  if (bad === 'hostile') {
    const o = genStoreOptions(r, 'invalid', { binary: c.binary });
    return { arg: o, bytes: 0 };
  }
  const sub = (name: string): Mode => (bad === name ? 'invalid' : mode === 'any' && r.chance(0.2) ? 'any' : 'valid');
  const fields: Array<[string, Arg]> = [];
  let bytes = 0;
  if (bad === 'keyPrefix' || r.chance(0.5)) {
    const p = genPrefix(r, c.binary, sub('keyPrefix'));
    if (p.arg) fields.push(['keyPrefix', p.arg]);
    bytes = p.bytes;
  }
  if (bad === 'time' || r.chance(0.5)) fields.push(['time', genTime(r, sub('time'), { binary: c.binary })]);
  if (bad === 'minCompressLen' || r.chance(0.2)) fields.push(['minCompressLen', genMinCompressLen(r, sub('minCompressLen'))]);
  if (bad === 'compressLevel' || r.chance(0.2)) fields.push(['compressLevel', genCompressLevel(r, sub('compressLevel'))]);
  return { arg: object(fields), bytes };
}

const WEIGHTS: ReadonlyArray<readonly [number, Method]> = [
  [10, 'getMulti'],
  [7, 'deleteMulti'],
  [6, 'incrMulti'],
  [6, 'setMulti'],
  [2, 'addMulti'],
  [8, 'get'],
  [3, 'gets'],
  [8, 'set'],
  [2, 'add'],
  [2, 'replace'],
  [4, 'append'],
  [2, 'prepend'],
  [3, 'cas'],
  [3, 'incr'],
  [2, 'decr'],
  [3, 'delete'],
  [3, 'touch'],
  [2, 'has'],
  [2, 'hash'],
  [1, 'flushAll'],
  [0.6, 'getStats'],
  [0.3, 'disconnectAll'],
  [0.3, 'getBehaviors'],
  [0.6, 'setBehaviors'],
];

/** Methods that take no argument cannot be called wrongly. */
const NO_ARGS = new Set<Method>(['disconnectAll', 'getBehaviors']);

/** A call of a random method on a client described by `c`. */
export function genCall(r: Rng, c: ClientCtx, mode: Mode): CallSpec {
  let method = r.weighted(WEIGHTS);
  while (mode === 'invalid' && NO_ARGS.has(method)) method = r.weighted(WEIGHTS);
  switch (method) {
    case 'get': {
      const [k] = slots(r, mode, 1);
      return finish(method, [genReadKey(r, keyCtx(c), k), genDefault(r)]);
    }
    case 'gets':
    case 'has': {
      const [k] = slots(r, mode, 1);
      return finish(method, [genReadKey(r, keyCtx(c), k)]);
    }
    case 'getMulti':
    case 'deleteMulti':
    case 'incrMulti': {
      const [l, o] = slots(r, mode, 2);
      const opts = genMultiOptions(r, c.binary, o, method === 'incrMulti');
      const list = genKeyList(r, { ...keyCtx(c, opts.bytes), reads: method === 'getMulti', nextInjection: c.nextInjection }, l);
      return finish(method, [list, opts.arg]);
    }
    case 'set':
    case 'add':
    case 'replace': {
      const [k, v, o] = slots(r, mode, 3);
      return finish(method, [genKey(r, keyCtx(c), k), genValue(r, v), genStoreOptions(r, o, { binary: c.binary })]);
    }
    case 'append':
    case 'prepend': {
      const [k, v] = slots(r, mode, 2);
      return finish(method, [genKey(r, keyCtx(c), k), genValue(r, v)]);
    }
    case 'setMulti':
    case 'addMulti': {
      const [m, o] = slots(r, mode, 2);
      const opts = storeMultiOptions(r, c, o);
      return finish(method, [genMapping(r, keyCtx(c, opts.bytes), m), opts.arg]);
    }
    case 'cas': {
      const [k, v, t, o] = slots(r, mode, 4);
      return finish(method, [genKey(r, keyCtx(c), k), genValue(r, v, false), genCasToken(r, t), genStoreOptions(r, o, { binary: c.binary })]);
    }
    case 'incr':
    case 'decr': {
      const [k, d] = slots(r, mode, 2);
      return finish(method, [genKey(r, keyCtx(c), k), d === 'valid' && r.chance(0.3) ? undefined : genDelta(r, d)]);
    }
    case 'delete': {
      const [k] = slots(r, mode, 1);
      return finish(method, [genKey(r, keyCtx(c), k)]);
    }
    case 'touch': {
      const [k, t] = slots(r, mode, 2);
      return finish(method, [genKey(r, keyCtx(c), k), genTime(r, t, { binary: c.binary })]);
    }
    case 'hash': {
      // hash() applies the binary protocol's key rules and ignores the namespace.
      const [k] = slots(r, mode, 1);
      return finish(method, [genKey(r, { binary: true, ns: 0, prefix: 0 }, k)]);
    }
    case 'flushAll': {
      if (!c.mayFlush || mode === 'invalid' || (mode === 'any' && r.chance(0.5))) return finish(method, [genRefusedFlushTime(r)]);
      return finish(method, [r.pick([undefined, lit('0', 0), lit('-0', -0), lit('1', 1), lit('2', 2)])]);
    }
    case 'getStats': {
      const [g] = slots(r, mode, 1);
      return finish(method, [genStatsGroup(r, g)]);
    }
    case 'setBehaviors': {
      const [b] = slots(r, mode, 1);
      return finish(method, [genBehaviors(r, c.binary, b, true, true)]);
    }
    default:
      return finish(method, []);
  }
}

// Followed keys -------------------------------------------------------------------------------

/** What a followed key holds, and the call that put it there. */
interface Held {
  value: string;
  writer: string;
  feature: string;
}

export const TRACKED_KEYS = 48;

/**
 * The contents of T~0..T~47 as the main client's calls leave them. Operations on one key run
 * in issue order (one server; a key always maps to the same I/O thread), and only the main
 * client touches these keys, with valid arguments and times that cannot expire during a run,
 * so every result is known when the call is made.
 */
export class TrackedModel {
  readonly #held = new Map<string, Held>();

  /** A call on followed keys, with its expected result. */
  gen(r: Rng, binary: boolean): CallSpec {
    const name = `T~${r.int(0, TRACKED_KEYS - 1)}`;
    const key = r.chance(0.8) ? lit(str(name), name) : arg(`Buffer.from('${name}')`, () => Buffer.from(name));
    const held = this.#held.get(name);
    const value = r.chance(0.9) ? `s${r.int(0, 999_999)}` : `é€${r.int(0, 99)}`;
    const v = lit(str(value), value);
    const op = r.weighted([
      [5, 'set'],
      [6, 'get'],
      [1, 'add'],
      [1, 'replace'],
      [1.5, 'append'],
      [1, 'prepend'],
      [1, 'delete'],
      [1.5, 'touch'],
      [1, 'has'],
      [1, 'gets'],
      [1, 'getMulti'],
    ] as const);
    const store = (): { options: Arg; feature: string } => {
      const time = genTime(r, 'valid', { binary, live: true });
      // Compression off: an append to a compressed value is lost by design (see the README).
      return { options: object([['time', time], ['minCompressLen', lit('0', 0)]]), feature: time.feature };
    };
    const plain = (spec: CallSpec, expect: (value: unknown) => string | undefined): CallSpec => ({
      ...spec,
      expect,
      tracked: [name],
      writer: held?.writer,
      writerFeature: held?.feature,
    });
    const is = (want: unknown) => (got: unknown) => (Object.is(got, want) ? undefined : `expected ${show(want)}, got ${show(got)}`);
    switch (op) {
      case 'set':
      case 'add':
      case 'replace': {
        const { options, feature } = store();
        const spec = finish(op, [key, v, options]);
        const stores = op === 'set' || (op === 'add' ? !held : !!held);
        if (stores) this.#held.set(name, { value, writer: callCode(spec, 'mc'), feature });
        return plain(spec, is(stores));
      }
      case 'append':
      case 'prepend': {
        const spec = finish(op, [key, v]);
        if (held) {
          this.#held.set(name, { ...held, value: op === 'append' ? held.value + value : value + held.value, writer: `${held.writer};\nawait ${callCode(spec, 'mc')}` });
        }
        return plain(spec, is(!!held));
      }
      case 'delete': {
        this.#held.delete(name);
        return plain(finish(op, [key]), is(!!held));
      }
      case 'touch': {
        const time = genTime(r, 'valid', { binary, live: true });
        const spec = finish(op, [key, time]);
        if (held) this.#held.set(name, { ...held, writer: `${held.writer};\nawait ${callCode(spec, 'mc')}`, feature: time.feature || held.feature });
        return plain(spec, is(!!held));
      }
      case 'has':
        return plain(finish(op, [key]), is(!!held));
      case 'get':
        return plain(finish(op, [key]), is(held?.value));
      case 'gets':
        return plain(finish(op, [key]), (got) => {
          if (!Array.isArray(got) || got.length !== 2) return `expected a pair, got ${show(got)}`;
          if (!held) return got[0] === undefined && got[1] === undefined ? undefined : `expected [undefined, undefined], got ${show(got)}`;
          return got[0] === held.value && typeof got[1] === 'bigint' ? undefined : `expected [${show(held.value)}, <cas>], got ${show(got)}`;
        });
      default: {
        // getMulti of a few followed keys: every held one, with its value, and nothing else.
        const names = [name, ...Array.from({ length: r.int(0, 2) }, () => `T~${r.int(0, TRACKED_KEYS - 1)}`)];
        const want: Record<string, string> = {};
        for (const n of names) {
          const h = this.#held.get(n);
          if (h) want[n] = h.value;
        }
        const spec = finish('getMulti', [lit(`[${names.map(str).join(', ')}]`, names)]);
        const writers = names.map((n) => this.#held.get(n)).filter((h): h is Held => h !== undefined);
        return {
          ...spec,
          tracked: [...new Set(names)],
          writer: writers.map((h) => h.writer).join(';\nawait ') || undefined,
          writerFeature: writers.find((h) => h.feature === TIME_HIGH)?.feature ?? writers[0]?.feature,
          expect: (got) => {
            if (got === null || typeof got !== 'object') return `expected an object, got ${show(got)}`;
            const have = got as Record<string, unknown>;
            for (const n of Object.keys(want)) if (have[n] !== want[n]) return `${n}: expected ${show(want[n])}, got ${show(have[n])}`;
            for (const n of Object.keys(have)) if (!(n in want)) return `${n}: expected a miss, got ${show(have[n])}`;
            return undefined;
          },
        };
      }
    }
  }
}

/** A short printable form of a result; never throws, whatever hostile object it is given. */
export function show(value: unknown): string {
  try {
    return showUnsafe(value);
  } catch {
    return '<unprintable>';
  }
}

function showUnsafe(value: unknown): string {
  if (typeof value === 'string') return str(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (Buffer.isBuffer(value)) return `<Buffer ${value.length} bytes>`;
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).slice(0, 6).map(([k, v]) => `${k}: ${show(v)}`);
    return `{ ${entries.join(', ')}${Object.keys(value).length > 6 ? ', …' : ''} }`;
  }
  return String(value);
}

