/**
 * The client survives whatever a lying memcached answers, in both protocols: each case is a
 * scripted fake server (test/harness/hostile.ts) next to a real one, exercised from a child
 * process (test/harness/hostile-child.js).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  Action,
  BinaryPart,
  BinaryResponseFields,
  CLOSE,
  CORRECT,
  NOTHING,
  Connection,
  FAKE_PID,
  FLAG_TEXT,
  FakeRequest,
  FakeServer,
  OP,
  RESET,
  SILENCE,
  STATUS,
  Script,
  TextValueFields,
  Unsolicited,
  binaryHit,
  binaryNoop,
  binaryResponse,
  binaryStatus,
  dataParts,
  flagsExtras,
  lines,
  noopPart,
  textValue,
  trickle,
  valueOf,
  write,
  writeThenClose,
  writeThenReset,
  writeThenSilence,
} from '../harness/hostile';
import { MemcachedServer, PROTOCOLS, startMemcached } from '../harness/memcached';
import { scaled } from '../harness/timing';

const root = path.join(__dirname, '..', '..');
const CHILD = path.join(__dirname, '..', 'harness', 'hostile-child.js');

/** The child's poll and connect timeouts: one wait on the network (harness/timing.ts scales it). */
const POLL_MS = scaled(400);
/** An operation may wait a few times. */
const OP_LIMIT_MS = scaled(2500);
/** A child still running after this is killed, and its case fails. */
const CHILD_LIMIT_MS = scaled(25_000);
/** Children at once: two cores, shared with memcached and jest. */
const PARALLEL = 3;

jest.setTimeout(scaled(90_000));

type Protocol = 'text' | 'binary';
type Keys = Record<string, string>;

// Expectations -----------------------------------------------------------------------------------
//
// They state the target behaviour, not today's: the child exits normally (no signal, no
// std::terminate, no sanitizer report); every operation settles within OP_LIMIT_MS and rejects,
// if it does, with a MemcachedError; no value is credited to a key it does not belong to; a read
// answered with an error or garbage rejects (a miss would be a lie); incr/decr never resolve a
// number the server did not send as one; a write never reports success the server did not
// report; a getMulti failing on the fake carries the real server's values in error.partial; and
// afterwards the same client reads the real server back exactly.

/** Matches any bigint (a CAS token whose exact value the case does not fix). */
const ANY_BIGINT = Symbol('any bigint');

type Expect =
  /** The reply was valid: the operation must resolve to exactly this. */
  | { kind: 'ok'; value: (k: Keys) => unknown }
  /** After a desynchronisation the client cannot be expected to notice: the truth or a rejection. */
  | { kind: 'okOrReject'; value: (k: Keys) => unknown }
  /** An error or garbage: the operation must reject (with a MemcachedError). */
  | { kind: 'reject' }
  /** Garbage in reply to a write: it must never report success (reject, or resolve false). */
  | { kind: 'notTrue' }
  /** A reply with no single truthful reading: only the rules every operation obeys. */
  | { kind: 'any' }
  /** A custom check of the settled record: returns a failure or undefined. */
  | { kind: 'check'; fn: (record: OpRecord, k: Keys) => string | undefined };

const REJECT: Expect = { kind: 'reject' };
const NOT_TRUE: Expect = { kind: 'notTrue' };
const ANY: Expect = { kind: 'any' };

type OpName =
  | 'get'
  | 'gets'
  | 'getMulti'
  | 'set'
  | 'add'
  | 'replace'
  | 'append'
  | 'prepend'
  | 'cas'
  | 'delete'
  | 'incr'
  | 'decr'
  | 'touch'
  | 'setMulti'
  | 'deleteMulti'
  | 'incrMulti'
  | 'getStats'
  | 'sleep'
  | 'parallel';

/**
 * One operation of a case. Keys are symbolic: f… map to the fake (g… too, holding counters),
 * r… to the real memcached (n… too, holding counters); the child picks real key names with
 * `hash()` and reports them.
 */
interface Op {
  op: OpName;
  keys?: string[];
  delta?: number;
  cas?: string;
  time?: number;
  ms?: number;
  ops?: Op[];
  expect?: Expect;
}

interface HostileCase {
  name: string;
  script: Script;
  onConnect?: (connectionId: number) => Unsolicited[] | undefined;
  ops: Op[];
}

// The fake's own values: what a correct reply carries for each kind of key.
function fakeValue(sym: string, k: Keys): unknown {
  return sym.startsWith('g') || sym.startsWith('n') ? 10 : valueOf(k[sym]);
}

/** What each operation resolves to when the fake answers correctly (every key exists on it). */
function validResult(op: Op): Expect {
  const keys = op.keys ?? [];
  const value = (f: (k: Keys) => unknown): Expect => ({ kind: 'ok', value: f });
  switch (op.op) {
    case 'get':
      return value((k) => fakeValue(keys[0], k));
    case 'gets':
      return value((k) => [fakeValue(keys[0], k), ANY_BIGINT]);
    case 'getMulti':
      return value((k) => Object.fromEntries(keys.map((s) => [k[s], fakeValue(s, k)])));
    case 'set':
    case 'replace':
    case 'append':
    case 'prepend':
    case 'delete':
    case 'touch':
    case 'deleteMulti':
      return value(() => true);
    case 'add':
    case 'cas':
      // add: the key exists; cas: the token the case sends is never the fake's.
      return value(() => false);
    case 'incr':
      return value(() => 10 + (op.delta ?? 1));
    case 'decr':
      return value(() => 10 - (op.delta ?? 1));
    case 'setMulti':
      return value(() => []);
    case 'incrMulti':
      return value(() => undefined);
    case 'getStats':
      return {
        kind: 'check',
        fn: (record) => {
          if (record.status !== 'resolved') return `getStats: rejected on valid stats (${errorText(record)})`;
          const stats = record.value as Array<[string, Record<string, string>]>;
          if (!Array.isArray(stats) || stats.length !== 2) return `getStats: resolved ${show(stats)}`;
          if (stats[0][1].pid !== FAKE_PID) return `getStats: fake's pid read as ${show(stats[0][1].pid)}`;
          if (stats[1][1].pid !== String(realPidOf())) return `getStats: real server's pid read as ${show(stats[1][1].pid)}`;
          return undefined;
        },
      };
    default:
      return ANY;
  }
}

/** What each operation must do when the fake's reply to it is an error or garbage. */
function hostileResult(op: Op): Expect {
  switch (op.op) {
    case 'set':
    case 'add':
    case 'replace':
    case 'append':
    case 'prepend':
    case 'cas':
    case 'delete':
    case 'touch':
    case 'setMulti':
    case 'deleteMulti':
      return NOT_TRUE;
    default:
      return REJECT;
  }
}

// Operation sets (symbolic keys; each key used once per case, so correct results do not depend
// on the order the operations ran in).
const op = (name: OpName, keys: string[] = [], extra: Partial<Op> = {}): Op => ({ op: name, keys, ...extra });
const GET = op('get', ['f0']);
const GETS = op('gets', ['f1']);
const GET_MULTI = op('getMulti', ['f2', 'r0', 'f3', 'r1']);
/** The three reads issued together: the client sends them as ONE multi-get, one network wait. */
const READS_TOGETHER: Op = { op: 'parallel', ops: [GET, GETS, GET_MULTI] };
const READS = [GET, GETS, GET_MULTI];
const STORES = [
  op('set', ['f4']),
  op('add', ['f5']),
  op('replace', ['f6']),
  op('append', ['f7']),
  op('prepend', ['f8']),
  op('cas', ['f9'], { cas: '12345' }),
];
const SET_MULTI = op('setMulti', ['f12', 'r2']);
const DELETES = [op('delete', ['f10']), op('deleteMulti', ['f13', 'r3'])];
const TOUCH = op('touch', ['f11'], { time: 100 });
const COUNTERS = [op('incr', ['g0'], { delta: 5 }), op('decr', ['g1'], { delta: 3 }), op('incrMulti', ['g2', 'n0'])];
const STATS = op('getStats');
/** Every operation, one after the other: for replies that fail fast. */
const ALL = [...READS, ...STORES, ...DELETES, TOUCH, SET_MULTI, ...COUNTERS, STATS];
/** For replies that make the client wait out a timeout: each wait costs up to ~2 s of back-off. */
const SLOW_SET = [READS_TOGETHER, op('set', ['f4']), op('incr', ['g0'], { delta: 5 })];

/** Gives every operation without an expectation the one `pick` says. */
function expecting(ops: Op[], pick: (op: Op) => Expect): Op[] {
  return ops.map((o) =>
    o.op === 'parallel' ? { ...o, ops: expecting(o.ops ?? [], pick) } : o.op === 'sleep' || o.expect ? o : { ...o, expect: pick(o) },
  );
}
const hostile = (ops: Op[]): Op[] => expecting(ops, hostileResult);
/**
 * For replies cut off part-way: the part that did arrive may hold whole, true values (a
 * multi-get's first entries), so reads may resolve with the truth, never with a miss or
 * anything else; every other operation must behave as for garbage.
 */
const cutOff = (ops: Op[]): Op[] =>
  expecting(ops, (o) => (['get', 'gets', 'getMulti'].includes(o.op) ? truthOrReject(o) : hostileResult(o)));

/** The reads together, against a reply that is valid but for CAS tokens of `cas`. */
function readsWithCas(cas: bigint): Op[] {
  const all = ['f2', 'r0', 'f3', 'r1'];
  return [
    {
      op: 'parallel',
      ops: [
        { ...GET, expect: { kind: 'ok', value: (k) => valueOf(k.f0) } },
        { ...GETS, expect: { kind: 'ok', value: (k) => [valueOf(k.f1), cas] } },
        { ...GET_MULTI, expect: { kind: 'ok', value: (k) => Object.fromEntries(all.map((s) => [k[s], valueOf(k[s])])) } },
      ],
    },
  ];
}

/**
 * Two gets issued together, then a getMulti, against a fake that answers a multi-get's first key
 * with the value of its second. Asked again alone, the first key gets its true value: so each
 * read may resolve with the truth or reject, never miss or take the other key's value.
 */
/**
 * A server's version as getStats reports it: libmemcached keeps statistics in a fixed struct
 * whose version field holds 23 characters, so a longer one is cut there (never overflows it).
 */
function statsVersion(version: string): string {
  return version.slice(0, 23);
}

/** getStats resolving with the fake server's stat `name` read so that `ok` holds (rejecting is truthful too). */
function statReads(name: string, ok: (value: string | undefined) => boolean): Op[] {
  return [
    {
      ...STATS,
      expect: {
        kind: 'check',
        fn: (record) => {
          if (record.status !== 'resolved') return undefined;
          const value = (record.value as Array<[string, Record<string, string>]>)[0]?.[1]?.[name];
          return ok(value) ? undefined : `getStats: the fake's ${name} read as ${show(value)}`;
        },
      },
    },
  ];
}

const ANOTHER_KEYS_VALUE: Op[] = [
  { op: 'parallel', ops: [op('get', ['f0']), op('get', ['f1'])].map((o) => ({ ...o, expect: truthOrReject(o) })) },
  { ...op('getMulti', ['f2', 'f3', 'r0']), expect: truthOrReject(op('getMulti', ['f2', 'f3', 'r0'])) },
];

// Request classes, the same in both protocols ----------------------------------------------------

type RequestClass = 'read' | 'store' | 'delete' | 'counter' | 'touch' | 'stats' | 'other';

function classOf(r: FakeRequest): RequestClass {
  const c = r.command.replace(/q$/, '');
  if (r.protocol === 'text') {
    if (c === 'get' || c === 'gets') return 'read';
    if (['set', 'add', 'replace', 'append', 'prepend', 'cas'].includes(c)) return 'store';
    if (c === 'delete') return 'delete';
    if (c === 'incr' || c === 'decr') return 'counter';
    if (c === 'touch') return 'touch';
    if (c === 'stats') return 'stats';
    return 'other';
  }
  if (['mget', 'get', 'getk'].includes(c)) return 'read';
  if (['set', 'add', 'replace', 'append', 'prepend'].includes(c)) return 'store';
  if (c === 'delete') return 'delete';
  if (c === 'increment' || c === 'decrement') return 'counter';
  if (c === 'touch') return 'touch';
  if (c === 'stat') return 'stats';
  return 'other';
}

/** A script lying to the request classes listed, correct to everything else. */
function on(classes: RequestClass[], lie: Script): Script {
  return (r, c) => (classes.includes(classOf(r)) ? lie(r, c) : CORRECT);
}
/** A script lying to every request the client makes (but its goodbye). */
function every(lie: Script): Script {
  return (r, c) => (r.command === 'quit' ? CORRECT : lie(r, c));
}

// Text reply builders ------------------------------------------------------------------------------

/** A text multi-get reply: one entry per asked key (built by `entry`), then `end`. */
function textRead(r: FakeRequest, entry: (key: string, index: number) => Buffer, end = 'END\r\n'): Buffer {
  return Buffer.concat([...r.keys.map(entry), Buffer.from(end, 'latin1')]);
}
/** The CAS field a VALUE line carries: only `gets` asks for one (and the client always asks with gets). */
function casField(r: FakeRequest): string | undefined {
  return r.command === 'gets' ? '77' : undefined;
}

// Binary reply builders -------------------------------------------------------------------------

/** A binary multi-get reply: `entry` answers each quiet get, then the NOOP is answered correctly. */
function binaryRead(r: FakeRequest, entry: (part: BinaryPart, key: string, index: number) => Buffer, noop = true): Buffer {
  const out = dataParts(r).map((part, i) => entry(part, part.key.toString('latin1'), i));
  const closing = noopPart(r);
  if (noop && closing) out.push(binaryNoop(closing));
  return Buffer.concat(out);
}
/** The same lie to every packet of a request (a multi-get's NOOP answered correctly after). */
function binaryEach(r: FakeRequest, lie: (part: BinaryPart) => Buffer): Buffer {
  return binaryRead(r, lie);
}

const U64_MAX = '18446744073709551615';
const U64_MAX_MINUS_1 = '18446744073709551614';
const U64_OVER = '18446744073709551616';
const U32_MAX = '4294967295';
const TEN_MB = 10 * 1024 * 1024;

// Text cases -------------------------------------------------------------------------------------

function textCases(): HostileCase[] {
  const cases: HostileCase[] = [];
  const add = (name: string, script: Script, ops: Op[], onConnect?: HostileCase['onConnect']) => cases.push({ name, script, ops, onConnect });
  /** Reads answered entry by entry (then END); everything else answered correctly. */
  const readsAnswered = (entry: (key: string, r: FakeRequest, index: number) => Buffer): Script =>
    on(['read'], (r) => write(textRead(r, (key, i) => entry(key, r, i))));
  /** Each asked key's true VALUE entry with some fields replaced. */
  const valuesWith = (fields: TextValueFields): Script => readsAnswered((key, r) => textValue(key, valueOf(key), { cas: casField(r), ...fields }));
  /** A lie to reads, which must all reject. */
  const readLie = (name: string, script: Script) => add(name, script, hostile([READS_TOGETHER]));

  // Every error line memcached can send, to every command.
  for (const error of [
    'ERROR',
    'ERROR Too many open connections',
    'CLIENT_ERROR x',
    'SERVER_ERROR x',
    'SERVER_ERROR object too large for cache',
    'SERVER_ERROR out of memory storing object',
  ]) {
    add(`"${error}" to every command`, every(() => write(lines(error))), hostile(ALL));
  }

  // Byte counts in VALUE lines.
  const counts: Array<[string, string]> = [
    ['larger than the data (1000)', '1000'],
    ['-1', '-1'],
    ['negative (-100)', '-100'],
    ['non-numeric (abc)', 'abc'],
    ['2^32-1', U32_MAX],
    ['2^32', '4294967296'],
    ['2^64-1', U64_MAX],
    ['2^64-2', U64_MAX_MINUS_1],
    ['2^64', U64_OVER],
    ['smaller than the data (3)', '3'],
    ['with trailing junk (10x)', '10x'],
  ];
  for (const [label, bytes] of counts) {
    readLie(`VALUE byte count ${label}`, valuesWith({ bytes }));
  }

  // Flags and CAS fields.
  for (const [label, flags] of [
    ['abc', 'abc'],
    ['-1', '-1'],
    ['2^32', '4294967296'],
    ['2^64', U64_OVER],
    ['1.5', '1.5'],
  ]) {
    readLie(`VALUE flags ${label}`, valuesWith({ flags }));
  }
  // 2^32-1 is a valid flags field, but no type this client knows: a DeserializationError.
  readLie('VALUE flags 2^32-1 (valid, undecodable)', valuesWith({ flags: U32_MAX }));
  for (const [label, cas] of [
    ['abc', 'abc'],
    ['-1', '-1'],
    ['2^64', U64_OVER],
  ]) {
    readLie(`VALUE cas ${label}`, valuesWith({ cas }));
  }
  add('VALUE cas 2^64-1 (valid)', valuesWith({ cas: U64_MAX }), readsWithCas(BigInt(U64_MAX)));

  // VALUE lines missing fields, or with too many.
  for (const [label, line] of [
    ['VALUE <key>', (key: string) => `VALUE ${key}`],
    ['VALUE <key> 16', (key: string) => `VALUE ${key} 16`],
    ['VALUE alone', () => 'VALUE'],
    ['VALUE <key> 16 10 77 junk junk', (key: string) => `VALUE ${key} 16 ${valueOf(key).length} 77 junk junk`],
  ] as Array<[string, (key: string) => string]>) {
    readLie(`missing or extra fields: "${label}"`, readsAnswered((key) => lines(line(key), valueOf(key))));
  }

  // Keys in VALUE lines.
  readLie('VALUE with a 300-byte key', readsAnswered((key, r) => textValue(key.padEnd(300, 'x'), valueOf(key), { cas: casField(r) })));
  readLie('NUL byte inside the key of a VALUE line', readsAnswered((key, r) => textValue(key + '\0', valueOf(key), { cas: casField(r) })));
  readLie('NUL byte inside a VALUE line', valuesWith({ flags: '16\0' }));

  // Missing terminators.
  readLie('no \\r\\n after the data', valuesWith({ end: '' }));
  readLie('only \\n after the data', valuesWith({ end: '\n' }));
  readLie('junk instead of \\r\\n after the data', valuesWith({ end: 'XX' }));
  // The first key's VALUE is complete and true; the other keys got no answer at all (the client
  // may ask for them again, alone: the fake then answers each truthfully, as its first key).
  const firstOnly = (r: FakeRequest) => textValue(r.keys[0], valueOf(r.keys[0]), { cas: casField(r) });
  add('first VALUE only, no END, then silence', on(['read'], (r) => writeThenSilence(firstOnly(r))), cutOff([READS_TOGETHER]));
  add('first VALUE only, no END, then close', on(['read'], (r) => writeThenClose(firstOnly(r))), cutOff([READS_TOGETHER]));
  add('a 10 MB line with no newline', every(() => writeThenSilence(Buffer.alloc(TEN_MB, 'A'))), hostile(SLOW_SET));

  // Values credited to the right key.
  readLie('VALUE for a key that was not asked for', readsAnswered(() => textValue('not-asked')));
  add(
    'VALUE naming another asked key',
    readsAnswered((key, r, i) => textValue(i === 0 && r.keys.length > 1 ? r.keys[1] : key)),
    ANOTHER_KEYS_VALUE,
  );
  readLie('VALUE for a prefix of the asked key', readsAnswered((key) => textValue(key.slice(0, -1))));
  readLie('VALUE for the asked key in upper case', readsAnswered((key) => textValue(key.toUpperCase())));
  add(
    'VALUEs in reverse order (valid)',
    on(['read'], (r) => {
      const entries = r.keys.map((key) => textValue(key, valueOf(key), { cas: casField(r) }));
      return write(Buffer.concat([...entries.reverse(), lines('END')]));
    }),
    expecting([READS_TOGETHER], (o) => validResult(o)),
  );
  add(
    'every VALUE twice',
    readsAnswered((key, r) => Buffer.concat([textValue(key, valueOf(key), { cas: casField(r) }), textValue(key, valueOf(key), { cas: casField(r) })])),
    expecting([READS_TOGETHER], truthOrReject),
  );
  // Each VALUE before the error came whole and true (and a key asked again alone gets its VALUE
  // then the error too): reads may keep the truth or reject, never read as misses.
  add(
    'SERVER_ERROR instead of END',
    on(['read'], (r) => write(textRead(r, (key) => textValue(key, valueOf(key), { cas: casField(r) }), 'SERVER_ERROR out of memory\r\n'))),
    cutOff([READS_TOGETHER]),
  );
  add(
    'ERROR after the first VALUE',
    on(['read'], (r) => write(Buffer.concat([textValue(r.keys[0], valueOf(r.keys[0]), { cas: casField(r) }), lines('ERROR')]))),
    cutOff([READS_TOGETHER]),
  );

  // Replies to the wrong command.
  for (const reply of ['STORED', 'OK', '42', 'NOT_FOUND', 'EXISTS', 'DELETED', 'TOUCHED', 'VERSION 1.6.21']) {
    add(`"${reply}" to a get`, on(['read'], () => write(lines(reply))), hostile([READS_TOGETHER]));
  }
  add('STAT lines to a get', on(['read'], () => write(lines('STAT pid 1', 'END'))), hostile([READS_TOGETHER]));
  const storeOps = [...STORES, SET_MULTI];
  for (const [label, reply] of [
    ['VALUE … END', (r: FakeRequest) => Buffer.concat([textValue(r.key, valueOf(r.key)), lines('END')])],
    ['END', () => lines('END')],
    ['DELETED', () => lines('DELETED')],
    ['TOUCHED', () => lines('TOUCHED')],
    ['a number', () => lines('42')],
    ['OK', () => lines('OK')],
    ['STO\\0RED', () => lines('STO\0RED')],
  ] as Array<[string, (r: FakeRequest) => Buffer]>) {
    add(`${label} to every store command`, on(['store'], (r) => write(reply(r))), hostile(storeOps));
  }
  // NOT_FOUND is cas's answer for a missing key, and nonsense to the others.
  add('NOT_FOUND to every store command', on(['store'], () => write(lines('NOT_FOUND'))), hostile(storeOps));
  for (const [label, reply] of [
    ['STORED', () => lines('STORED')],
    ['OK', () => lines('OK')],
    ['VALUE … END', (r: FakeRequest) => Buffer.concat([textValue(r.key, '11'), lines('END')])],
    ['EXISTS', () => lines('EXISTS')],
    ['END', () => lines('END')],
    ['DELETED', () => lines('DELETED')],
    ['TOUCHED', () => lines('TOUCHED')],
  ] as Array<[string, (r: FakeRequest) => Buffer]>) {
    add(`${label} to incr/decr`, on(['counter'], (r) => write(reply(r))), hostile(COUNTERS));
  }
  for (const [label, number] of [
    ['2^64', U64_OVER],
    ['-1', '-1'],
    ['12abc', '12abc'],
    ['an empty line', ''],
    ['30 digits', '123456789012345678901234567890'],
    ['" 12" (leading space)', ' 12'],
    ['"1 2"', '1 2'],
  ]) {
    add(`incr/decr reply ${label}`, on(['counter'], () => write(lines(number))), hostile(COUNTERS));
  }
  add('incr/decr reply 2^64-1 (valid)', on(['counter'], () => write(lines(U64_MAX))), [
    { ...op('incr', ['g0']), expect: { kind: 'ok', value: () => BigInt(U64_MAX) } },
    { ...op('decr', ['g1']), expect: { kind: 'ok', value: () => BigInt(U64_MAX) } },
    { ...op('incrMulti', ['g2', 'n0']), expect: { kind: 'ok', value: () => undefined } },
  ]);
  for (const reply of ['42', 'STORED', 'TOUCHED', 'OK', 'END']) {
    add(`"${reply}" to delete`, on(['delete'], () => write(lines(reply))), hostile(DELETES));
  }
  for (const reply of ['STORED', 'DELETED', '42']) {
    add(`"${reply}" to touch`, on(['touch'], () => write(lines(reply))), hostile([TOUCH]));
  }
  add('VERSION without a space to every command', every(() => write(lines('VERSION'))), hostile(ALL));
  add('VERSION with a 100-byte version to every command', every(() => write(lines(`VERSION ${'9'.repeat(100)}`))), hostile(ALL));

  // Statistics.
  const statsWith = (...extra: string[]): Script =>
    on(['stats'], () => write(lines('STAT pid 4242', 'STAT uptime 10', ...extra, 'STAT threads 4', 'END')));
  const longVersion = `1.6.21-${'v'.repeat(93)}`;
  add('stats: version of 100 bytes', statsWith(`STAT version ${longVersion}`), statReads('version', (v) => v === statsVersion(longVersion)));
  for (const name of ['rusage_user', 'rusage_system']) {
    add(`stats: ${name} without a fraction`, statsWith(`STAT ${name} 1`), statReads(name, (v) => v !== undefined && Number(v) === 1));
  }
  add('stats: rusage_user without digits after the point', statsWith('STAT rusage_user 1.'), [{ ...STATS, expect: ANY }]);
  add('stats: STAT line without a value', statsWith('STAT pid'), [{ ...STATS, expect: ANY }]);
  add('stats: STAT alone', statsWith('STAT'), [{ ...STATS, expect: ANY }]);
  add('stats: 300-byte stat name', statsWith(`STAT ${'n'.repeat(300)} 1`), [{ ...STATS, expect: ANY }]);
  add('stats: non-numeric and 2^64 numbers', statsWith('STAT pid abc', `STAT curr_items ${U64_OVER}`, 'STAT bytes -1'), [{ ...STATS, expect: ANY }]);
  add('stats: no END, then silence', on(['stats'], () => writeThenSilence(lines('STAT pid 4242'))), hostile([STATS]));
  add('stats: SERVER_ERROR after the first STAT', on(['stats'], () => write(lines('STAT pid 4242', 'SERVER_ERROR out of memory'))), hostile([STATS]));
  add('stats: VALUE lines', on(['stats'], () => write(Buffer.concat([textValue('k', 'v'), lines('END')]))), hostile([STATS]));

  // Unsolicited bytes and extra replies: a client that noticed would drop the connection; one
  // that did not must at least never credit a later reply to the wrong key.
  const afterDesync = (ops: Op[]) => expecting(ops, truthOrReject);
  add(
    'bytes before any request: VALUE of a key not asked for',
    CORRECT_SCRIPT,
    // The first read meets a VALUE it did not ask for: a rejection, or (asked again on a fresh
    // connection) the truth; never a miss.
    afterDesync([GET, GETS, GET_MULTI, op('set', ['f4']), op('incr', ['g0'], { delta: 5 })]),
    (id) => (id === 0 ? [{ bytes: Buffer.concat([textValue('not-asked', valueOf('not-asked')), lines('END')]) }] : undefined),
  );
  add(
    'bytes before any request: END',
    CORRECT_SCRIPT,
    [{ ...GET, expect: ANY }, ...afterDesync([GETS, GET_MULTI, op('set', ['f4'])])],
    (id) => (id === 0 ? [{ bytes: lines('END') }] : undefined),
  );
  add(
    'bytes before any request: STORED',
    CORRECT_SCRIPT,
    [{ ...op('add', ['f5']), expect: ANY }, ...afterDesync([GET, GETS, op('set', ['f4'])])],
    (id) => (id === 0 ? [{ bytes: lines('STORED') }] : undefined),
  );
  add(
    'unsolicited SERVER_ERROR 150 ms after connecting',
    CORRECT_SCRIPT,
    [...afterDesync([GET]), op('sleep', [], { ms: 300 }), { ...GETS, expect: ANY }, ...afterDesync([GET_MULTI, op('set', ['f4'])])],
    () => [{ bytes: lines('SERVER_ERROR unsolicited'), delayMs: 150 }],
  );
  add(
    'an extra END after every get reply',
    on(['read'], (r, c) => write(Buffer.concat([c.correct(r), lines('END')]))),
    afterDesync([GET, GETS, GET_MULTI, op('get', ['f14'])]),
  );
  add(
    'an extra STORED after every store reply',
    on(['store'], (r, c) => write(Buffer.concat([c.correct(r), lines('STORED')]))),
    afterDesync([op('set', ['f4']), op('add', ['f5']), op('cas', ['f9'], { cas: '12345' }), GET]),
  );
  add(
    'an extra number after every incr reply',
    on(['counter'], (r, c) => write(Buffer.concat([c.correct(r), lines('99')]))),
    afterDesync([op('incr', ['g0'], { delta: 5 }), op('decr', ['g1'], { delta: 3 }), op('incr', ['g3'], { delta: 1 }), GET]),
  );
  add(
    'an extra VALUE after every store reply',
    on(['store'], (r, c) => write(Buffer.concat([c.correct(r), textValue(r.key, valueOf(r.key)), lines('END')]))),
    afterDesync([op('set', ['f4']), GET, op('replace', ['f6']), GETS]),
  );

  // Cut-off replies.
  add('half a reply, then close', every((r, c) => writeThenClose(half(c.correct(r)))), cutOff(ALL));
  add('half a reply, then reset', every((r, c) => writeThenReset(half(c.correct(r)))), cutOff(ALL));
  add('half a reply, then silence', every((r, c) => writeThenSilence(half(c.correct(r)))), cutOff(SLOW_SET));
  add('close without replying', every(() => CLOSE), hostile(ALL));
  add('reset without replying', every(() => RESET), hostile(ALL));
  add('silence', every(() => SILENCE), hostile(SLOW_SET));

  // Valid replies in awkward pieces: these must simply work.
  add('every reply in 1-byte segments (valid)', every((r, c) => trickle(c.correct(r), 1, 1, 16)), expecting(ALL, (o) => validResult(o)));
  add(
    'every reply split between \\r and \\n (valid)',
    every((r, c) => splitAtLineEnds(c.correct(r))),
    expecting(ALL, (o) => validResult(o)),
  );

  // Pipelined writes: one of several replies is an error.
  add(
    'SERVER_ERROR for one of five pipelined sets',
    (r, c) => {
      if (classOf(r) !== 'store') return CORRECT;
      const n = (c.scratch.stores = ((c.scratch.stores as number) ?? 0) + 1);
      return n === 3 ? write(lines('SERVER_ERROR out of memory storing object')) : CORRECT;
    },
    [{ ...op('setMulti', ['f12', 'f14', 'f15', 'f16', 'f17', 'r2']), expect: REJECT }, ...expecting([GET], (o) => validResult(o))],
  );
  return cases;
}

// Binary cases -----------------------------------------------------------------------------------

function binaryCases(): HostileCase[] {
  const cases: HostileCase[] = [];
  const add = (name: string, script: Script, ops: Op[], onConnect?: HostileCase['onConnect']) => cases.push({ name, script, ops, onConnect });
  /** Each quiet get of a multi-get answered by `entry` (then a correct NOOP); all else correct. */
  const readsAnswered = (entry: (part: BinaryPart, key: string, index: number, r: FakeRequest) => Buffer, noop = true): Script =>
    on(['read'], (r) => write(binaryRead(r, (part, key, i) => entry(part, key, i, r), noop)));
  /** Every packet of the requests of `classes` answered by `lie`. */
  const eachAnswered = (classes: RequestClass[], lie: (part: BinaryPart) => Buffer): Script =>
    on(classes, (r) => write(binaryEach(r, lie)));
  /** A response to `part` (its opcode and opaque unless replaced). */
  const reply = (part: BinaryPart, fields: Partial<BinaryResponseFields> = {}) =>
    binaryResponse({ opcode: part.header.opcode, opaque: part.header.opaque, ...fields });
  const readLie = (name: string, script: Script) => add(name, script, hostile([READS_TOGETHER]));

  // Error statuses, to every command.
  for (const [label, status] of [
    ['UNKNOWN_COMMAND (0x81)', STATUS.UNKNOWN_COMMAND],
    ['ENOMEM (0x82)', STATUS.ENOMEM],
    ['NOT_SUPPORTED (0x83)', STATUS.NOT_SUPPORTED],
    ['EINTERNAL (0x84)', STATUS.EINTERNAL],
    ['EBUSY (0x85)', STATUS.EBUSY],
    ['ETMPFAIL (0x86)', STATUS.ETMPFAIL],
    ['EINVAL (0x04)', STATUS.EINVAL],
    ['E2BIG (0x03)', STATUS.E2BIG],
    ['AUTH_ERROR (0x20)', STATUS.AUTH_ERROR],
    ['NOT_MY_VBUCKET (0x07)', STATUS.NOT_MY_VBUCKET],
    ['unknown status 0x00ff', 0x00ff],
    ['unknown status 0xffff', 0xffff],
  ] as Array<[string, number]>) {
    add(`status ${label} to every command`, every((r) => write(binaryEach(r, (part) => binaryStatus(part, status)))), hostile(ALL));
  }

  // Body lengths of a GETK hit.
  const hit = (fields: Partial<BinaryResponseFields>) => readsAnswered((part, key) => binaryHit(part, key, valueOf(key), fields));
  readLie('GETK hit with bodylen 0xffffffff', hit({ bodylen: 0xffffffff }));
  readLie('GETK hit with bodylen 0xfffffffe', hit({ bodylen: 0xfffffffe }));
  readLie('GETK hit with bodylen 0x80000000', hit({ bodylen: 0x80000000 }));
  readLie('GETK hit with bodylen smaller than extras + key', hit({ bodylen: 5 }));
  readLie('GETK hit with bodylen 0', hit({ bodylen: 0 }));
  // The lie swallows the next packets into the first value: whatever the client makes of it,
  // only the truth or a rejection is acceptable.
  add(
    'GETK hit with bodylen 100 more than sent',
    readsAnswered((part, key) => binaryHit(part, key, valueOf(key), { bodylen: 4 + key.length + valueOf(key).length + 100 }), false),
    [{ op: 'parallel', ops: [{ ...GET, expect: truthOrReject(GET) }, { ...GETS, expect: REJECT }, { ...GET_MULTI, expect: REJECT }] }],
  );

  // Key lengths of a GETK hit.
  readLie('GETK hit with keylen 0xffff and a short body', hit({ keylen: 0xffff }));
  readLie('GETK hit with a 65535-byte key, all of it sent', readsAnswered((part, key) => binaryHit(part, key.padEnd(0xffff, 'k'), valueOf(key))));
  readLie('GETK hit with a 300-byte key', readsAnswered((part, key) => binaryHit(part, key.padEnd(300, 'k'), valueOf(key))));
  readLie('GETK hit with keylen 0 (no key)', hit({ key: '' }));
  readLie('GETK hit with keylen larger than bodylen', hit({ keylen: 200 }));
  readLie('GETK hit whose key has a NUL byte', readsAnswered((part, key) => binaryHit(part, key + '\0', valueOf(key))));

  // Extras of a GETK hit.
  readLie('GETK hit without extras (extlen 0)', hit({ extras: Buffer.alloc(0) }));
  readLie('GETK hit with extlen 255', hit({ extras: Buffer.alloc(255, 0) }));
  readLie('GETK hit with 8 bytes of extras', hit({ extras: Buffer.concat([flagsExtras(FLAG_TEXT), Buffer.alloc(4, 0xee)]) }));
  readLie('GETK hit with extlen larger than bodylen', hit({ extlen: 200 }));

  // Store and counter replies with lying lengths.
  const storeOps = [...STORES, SET_MULTI];
  add('store reply with bodylen 0xffffffff', eachAnswered(['store'], (part) => reply(part, { bodylen: 0xffffffff })), hostile(storeOps.slice(0, 3)));
  add('store reply with bodylen 8 and no body', eachAnswered(['store'], (part) => reply(part, { bodylen: 8 })), hostile(storeOps.slice(0, 3)));
  const counterReply = (value: Buffer, fields: Partial<BinaryResponseFields> = {}) => eachAnswered(['counter'], (part) => reply(part, { value, ...fields }));
  add('incr reply with bodylen 0xffffffff', counterReply(Buffer.alloc(8), { bodylen: 0xffffffff }), hostile(COUNTERS.slice(0, 1)));
  add('incr reply with a 4-byte body', counterReply(Buffer.from([0, 0, 0, 11])), hostile(COUNTERS));
  add('incr reply with an empty body', counterReply(Buffer.alloc(0)), hostile(COUNTERS));
  add('incr reply with a 9-byte body', counterReply(Buffer.from([0, 0, 0, 0, 0, 0, 0, 11, 0])), hostile(COUNTERS));
  add('incr reply 2^64-1 (valid)', counterReply(Buffer.alloc(8, 0xff)), [
    { ...op('incr', ['g0']), expect: { kind: 'ok', value: () => BigInt(U64_MAX) } },
    { ...op('decr', ['g1']), expect: { kind: 'ok', value: () => BigInt(U64_MAX) } },
    { ...op('incrMulti', ['g2', 'n0']), expect: { kind: 'ok', value: () => undefined } },
  ]);

  // Magic.
  const magic = (value: number): Script => every((r, c) => write(binaryEach(r, (part) => correctPart(c, part, { magic: value }))));
  add('response magic 0x80 (a request) to every command', magic(0x80), hostile(ALL));
  add('response magic 0x00 to every command', magic(0x00), hostile(ALL));
  add('text "ERROR\\r\\n" to every binary command', every(() => write(lines('ERROR'))), hostile(SLOW_SET));

  // Opcodes.
  readLie('unknown opcode 0x55 answering a get', hit({ opcode: 0x55 }));
  readLie('SET response to a get', readsAnswered((part) => reply(part, { opcode: OP.SET, cas: 5n })));
  readLie('INCREMENT response to a get', readsAnswered((part) => reply(part, { opcode: OP.INCREMENT, value: Buffer.alloc(8, 1) })));
  readLie('VERSION response to a get', readsAnswered((part) => reply(part, { opcode: OP.VERSION, value: '1.6.21' })));
  const asGetk = (part: BinaryPart) => reply(part, { opcode: OP.GETK, extras: flagsExtras(FLAG_TEXT), key: part.key, value: valueOf(part.key.toString('latin1')) });
  add('GETK hit answering a store', eachAnswered(['store'], asGetk), hostile(storeOps));
  add('NOOP answering a store', eachAnswered(['store'], (part) => reply(part, { opcode: OP.NOOP })), hostile(storeOps));
  add('STAT terminator answering a store', eachAnswered(['store'], (part) => reply(part, { opcode: OP.STAT })), hostile(storeOps));
  add('DELETE response answering incr', eachAnswered(['counter'], (part) => reply(part, { opcode: OP.DELETE })), hostile(COUNTERS));
  add(
    'SET response answering delete and touch',
    eachAnswered(['delete', 'touch'], (part) => reply(part, { opcode: OP.SET, value: Buffer.alloc(8) })),
    hostile([...DELETES, TOUCH]),
  );
  const version = (value: string): Script => every((r) => write(binaryEach(r, (part) => reply(part, { opcode: OP.VERSION, value }))));
  add('VERSION with a 100-byte body to every command', version('1.'.repeat(50)), hostile(ALL));
  add('VERSION with an empty body to every command', version(''), hostile(ALL));

  // Opaque, datatype, CAS and flags of replies.
  readLie('GETK hit with a wrong opaque', readsAnswered((part, key) => binaryHit(part, key, valueOf(key), { opaque: part.header.opaque + 1000 })));
  add('store reply with a wrong opaque', eachAnswered(['store'], (part) => reply(part, { opaque: part.header.opaque + 1000 })), hostile(storeOps));
  add(
    'incr reply with a wrong opaque',
    on(['counter'], (r, c) => write(binaryEach(r, (part) => correctPart(c, part, { opaque: part.header.opaque + 1000 })))),
    hostile(COUNTERS),
  );
  add('GETK hit with datatype 0x02 (snappy)', hit({ datatype: 0x02 }), expecting([READS_TOGETHER], () => ANY));
  add('GETK hit with CAS 2^64-1 (valid)', hit({ cas: BigInt(U64_MAX) }), [
    {
      op: 'parallel',
      ops: [
        { ...GET, expect: { kind: 'ok', value: (k) => valueOf(k.f0) } },
        { ...GETS, expect: { kind: 'ok', value: (k) => [valueOf(k.f1), BigInt(U64_MAX)] } },
        { ...GET_MULTI, expect: { kind: 'ok', value: (k) => Object.fromEntries(['f2', 'r0', 'f3', 'r1'].map((s) => [k[s], valueOf(k[s])])) } },
      ],
    },
  ]);
  add('GETK hit with flags 0xffffffff (valid, undecodable)', hit({ extras: flagsExtras(0xffffffff) }), hostile([READS_TOGETHER]));

  // Statistics.
  const statPacket = (part: BinaryPart, name: string | Buffer, value: string | Buffer, fields: Record<string, number> = {}) =>
    binaryResponse({ opcode: OP.STAT, opaque: part.header.opaque, key: name, value, ...fields });
  const statsReply = (...entries: Array<(part: BinaryPart) => Buffer>): Script =>
    on(['stats'], (r) => {
      const part = r.parts[0];
      const end = reply(part);
      return write(Buffer.concat([statPacket(part, 'pid', '4242'), ...entries.map((e) => e(part)), statPacket(part, 'threads', '4'), end]));
    });
  add('STAT with keylen larger than bodylen', statsReply((p) => statPacket(p, 'uptime', '10', { keylen: 50 })), [{ ...STATS, expect: ANY }]);
  add('STAT with keylen 0xffff', statsReply((p) => statPacket(p, 'uptime', '10', { keylen: 0xffff })), [{ ...STATS, expect: ANY }]);
  add('STAT with a 4096-byte key', statsReply((p) => statPacket(p, 'k'.repeat(4096), '10')), [{ ...STATS, expect: ANY }]);
  const longVersion = `1.6.21-${'v'.repeat(93)}`;
  add('STAT version of 100 bytes', statsReply((p) => statPacket(p, 'version', longVersion)), statReads('version', (v) => v === statsVersion(longVersion)));
  add('STAT rusage_user without a fraction', statsReply((p) => statPacket(p, 'rusage_user', '1')), statReads('rusage_user', (v) => v !== undefined && Number(v) === 1));
  add('STAT with a 10 kB value', statsReply((p) => statPacket(p, 'version', 'v'.repeat(10_000))), [{ ...STATS, expect: ANY }]);
  add('STAT with 4 bytes of extras', statsReply((p) => reply(p, { extras: Buffer.alloc(4, 1), key: 'uptime', value: '10' })), [{ ...STATS, expect: ANY }]);
  add('STATs without the terminator, then silence', on(['stats'], (r) => writeThenSilence(statPacket(r.parts[0], 'pid', '4242'))), hostile([STATS]));
  add(
    'STAT error status after the first STAT',
    on(['stats'], (r) => write(Buffer.concat([statPacket(r.parts[0], 'pid', '4242'), binaryStatus(r.parts[0], STATUS.EINTERNAL)]))),
    hostile([STATS]),
  );

  // Values credited to the right key.
  readLie('GETK hit for a key that was not asked for', readsAnswered((part) => binaryHit(part, 'not-asked')));
  add(
    'GETK hit naming another asked key',
    readsAnswered((part, key, i, r) => binaryHit(part, i === 0 && r.keys.length > 1 ? r.keys[1] : key)),
    ANOTHER_KEYS_VALUE,
  );
  add(
    'GETK hits in reverse order (valid)',
    on(['read'], (r) => {
      const hits = dataParts(r).map((part) => binaryHit(part, part.key.toString('latin1')));
      const closing = noopPart(r);
      return write(Buffer.concat([...hits.reverse(), ...(closing ? [binaryNoop(closing)] : [])]));
    }),
    expecting([READS_TOGETHER], (o) => validResult(o)),
  );
  add(
    'every GETK hit twice',
    readsAnswered((part, key) => Buffer.concat([binaryHit(part, key), binaryHit(part, key)])),
    expecting([READS_TOGETHER], truthOrReject),
  );
  add(
    'not-found status for a quiet get',
    readsAnswered((part) => binaryStatus(part, STATUS.KEY_ENOENT, 'Not found')),
    expecting([READS_TOGETHER], () => ANY),
  );
  // As in the text protocol: only the first key gets its (true) answer.
  const firstHit = (r: FakeRequest) => binaryHit(dataParts(r)[0], r.keys[0]);
  add('first GETK hit only, then silence instead of the NOOP', on(['read'], (r) => writeThenSilence(firstHit(r))), cutOff([READS_TOGETHER]));
  add('first GETK hit only, then close', on(['read'], (r) => writeThenClose(firstHit(r))), cutOff([READS_TOGETHER]));

  // Cut-off replies.
  add('half a header, then close', every((r, c) => writeThenClose(c.correct(r).subarray(0, 12))), cutOff(ALL));
  add('half a header, then silence', every((r, c) => writeThenSilence(c.correct(r).subarray(0, 12))), cutOff(SLOW_SET));
  add('header and half the body, then close', every((r, c) => writeThenClose(half(c.correct(r), 24))), cutOff(ALL));
  add('header and half the body, then reset', every((r, c) => writeThenReset(half(c.correct(r), 24))), cutOff(ALL));
  add('header and half the body, then silence', every((r, c) => writeThenSilence(half(c.correct(r), 24))), cutOff(SLOW_SET));
  add('close without replying', every(() => CLOSE), hostile(ALL));
  add('reset without replying', every(() => RESET), hostile(ALL));
  add('silence', every(() => SILENCE), hostile(SLOW_SET));
  add('10 MB of zero bytes', every(() => writeThenSilence(Buffer.alloc(TEN_MB, 0))), hostile(SLOW_SET));

  // Valid replies in awkward pieces.
  add('every reply in 1-byte segments (valid)', every((r, c) => trickle(c.correct(r), 1, 1, 16)), expecting(ALL, (o) => validResult(o)));
  add(
    'every reply split after its header (valid)',
    every((r, c) => ({ kind: 'write', bytes: c.correct(r), segment: 24, delayMs: 20 })),
    expecting(ALL, (o) => validResult(o)),
  );

  // Unsolicited and extra packets.
  const afterDesync = (ops: Op[]) => expecting(ops, truthOrReject);
  add(
    'a NOOP response before any request',
    CORRECT_SCRIPT,
    [{ ...GET, expect: ANY }, ...afterDesync([GETS, GET_MULTI, op('set', ['f4']), op('incr', ['g0'], { delta: 5 })])],
    (id) => (id === 0 ? [{ bytes: binaryResponse({ opcode: OP.NOOP }) }] : undefined),
  );
  add(
    'a GETK hit for a key not asked for, before any request',
    CORRECT_SCRIPT,
    [{ ...GET, expect: ANY }, ...afterDesync([GETS, GET_MULTI, op('set', ['f4'])])],
    (id) =>
      id === 0
        ? [{ bytes: binaryResponse({ opcode: OP.GETKQ, extras: flagsExtras(FLAG_TEXT), key: 'not-asked', value: valueOf('not-asked') }) }]
        : undefined,
  );
  add(
    'an unsolicited error response 150 ms after connecting',
    CORRECT_SCRIPT,
    [...afterDesync([GET]), op('sleep', [], { ms: 300 }), { ...GETS, expect: ANY }, ...afterDesync([GET_MULTI, op('set', ['f4'])])],
    () => [{ bytes: binaryResponse({ opcode: OP.GET, status: STATUS.EINTERNAL, value: 'unsolicited' }), delayMs: 150 }],
  );
  add(
    'an extra NOOP after every multi-get',
    on(['read'], (r, c) => write(Buffer.concat([c.correct(r), binaryResponse({ opcode: OP.NOOP, opaque: noopPart(r)?.header.opaque ?? 0 })]))),
    afterDesync([GET, GETS, GET_MULTI, op('get', ['f14'])]),
  );
  add(
    'an extra SET response after every store reply',
    on(['store'], (r, c) => write(Buffer.concat([c.correct(r), binaryResponse({ opcode: OP.SET, opaque: r.parts[0].header.opaque })]))),
    afterDesync([op('set', ['f4']), op('add', ['f5']), op('cas', ['f9'], { cas: '12345' }), GET]),
  );
  add(
    'an extra GETK hit after every multi-get',
    on(['read'], (r, c) => write(Buffer.concat([c.correct(r), binaryHit(dataParts(r)[0], r.keys[0], valueOf(r.keys[0]), { opcode: OP.GETKQ })]))),
    afterDesync([GET, GETS, GET_MULTI, op('get', ['f14'])]),
  );

  // Pipelined writes.
  add(
    'ENOMEM for one of five pipelined sets',
    (r, c) => {
      if (classOf(r) !== 'store') return CORRECT;
      const n = (c.scratch.stores = ((c.scratch.stores as number) ?? 0) + 1);
      return n === 3 ? write(binaryStatus(r.parts[0], STATUS.ENOMEM, 'Out of memory')) : CORRECT;
    },
    [{ ...op('setMulti', ['f12', 'f14', 'f15', 'f16', 'f17', 'r2']), expect: REJECT }, ...expecting([GET], (o) => validResult(o))],
  );
  add(
    'pipelined set replies in reverse order, one NOT_STORED',
    (r, c) => {
      if (classOf(r) !== 'store') return CORRECT;
      // Held back until the fifth set, then all five answered last-first; the third is refused.
      const held = (c.scratch.held = (c.scratch.held as BinaryPart[] | undefined) ?? []);
      held.push(r.parts[0]);
      if (held.length < 5) return NOTHING;
      const replies = held.map((part, i) =>
        i === 2 ? binaryStatus(part, STATUS.NOT_STORED, 'Not stored') : binaryResponse({ opcode: part.header.opcode, opaque: part.header.opaque, cas: 9n }),
      );
      c.scratch.held = [];
      return write(Buffer.concat(replies.reverse()));
    },
    [{ ...op('setMulti', ['f12', 'f14', 'f15', 'f16', 'f17']), expect: { kind: 'okOrReject', value: (k) => [k.f15] } }],
  );
  return cases;
}

// Script helpers shared by both protocols.

const CORRECT_SCRIPT: Script = () => CORRECT;

/** The first half of `bytes` (at least `min` bytes, never all of it). */
function half(bytes: Buffer, min = 1): Buffer {
  const cut = Math.min(bytes.length - 1, Math.max(min, Math.floor(bytes.length / 2)));
  return bytes.subarray(0, Math.max(1, cut));
}

/** A valid reply written in pieces that end between \r and \n, 30 ms apart. */
function splitAtLineEnds(bytes: Buffer): Action {
  const cuts: number[] = [];
  for (let at = bytes.indexOf('\r\n'); at >= 0; at = bytes.indexOf('\r\n', at + 2)) cuts.push(at + 1);
  return { kind: 'write', bytes, cuts, delayMs: 30 };
}

/** The correct binary reply to `part` with its magic or opaque replaced. */
function correctPart(c: Connection, part: BinaryPart, fields: { magic?: number; opaque?: number }): Buffer {
  const bytes = Buffer.from(c.correctPart(part));
  if (bytes.length === 0) return bytes;
  if (fields.magic !== undefined) bytes[0] = fields.magic;
  if (fields.opaque !== undefined) bytes.writeUInt32BE(fields.opaque >>> 0, 12);
  return bytes;
}

let realServer: MemcachedServer | undefined;
const realPidOf = () => realServer?.pid ?? -1;

/** The valid result of `o`, or a rejection: for operations after the client may have lost track. */
function truthOrReject(o: Op): Expect {
  const valid = validResult(o);
  return valid.kind === 'ok' ? { kind: 'okOrReject', value: valid.value } : ANY;
}

// Running a case in a child process --------------------------------------------------------------

interface ErrorInfo {
  name: string;
  ctor?: string;
  message: string;
  isMemcachedError: boolean;
  code?: string;
  rc?: number;
  partial?: unknown;
}

interface OpRecord {
  label: string;
  op: OpName;
  keys: string[];
  status: 'pending' | 'resolved' | 'rejected' | 'threw';
  ms?: number;
  value?: unknown;
  error?: ErrorInfo;
}

interface ChildResult {
  keys: Keys;
  setup: string[];
  records: OpRecord[];
  real: { ok: boolean; problems: string[]; ms: number };
  close: { ok: boolean; ms: number };
  totalMs: number;
  fatal?: string;
}

interface CaseRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  killed: boolean;
  stderr: string;
  ms: number;
  result?: ChildResult;
  fakeLog: string[];
}

/** Undoes hostile-child.js's tagging of values that JSON cannot carry. */
function decode(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(decode);
  if (v !== null && typeof v === 'object') {
    const tagged = v as { $?: string; v?: unknown };
    switch (tagged.$) {
      case 'undefined':
        return undefined;
      case 'bigint':
        return BigInt(tagged.v as string);
      case 'buffer':
        return Buffer.from(tagged.v as string, 'latin1');
      case 'object':
        return Object.fromEntries(Object.entries(tagged.v as Record<string, unknown>).map(([key, x]) => [key, decode(x)]));
      default:
        return v;
    }
  }
  return v;
}

function spawnChild(plan: unknown): Promise<Omit<CaseRun, 'fakeLog'>> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [CHILD, JSON.stringify(plan)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += d.toString();
    });
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, CHILD_LIMIT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith('HOSTILE-RESULT '));
      let result: ChildResult | undefined;
      if (line) {
        result = JSON.parse(line.slice('HOSTILE-RESULT '.length)) as ChildResult;
        for (const record of result.records ?? []) {
          record.value = decode(record.value);
          if (record.error?.partial !== undefined) record.error.partial = decode(record.error.partial);
        }
      }
      resolve({ code, signal, killed, stderr, ms: Date.now() - started, result });
    });
  });
}

let caseIndex = 0;

async function runCase(protocol: Protocol, c: HostileCase): Promise<CaseRun> {
  const fake = await FakeServer.start({ script: c.script, onConnect: c.onConnect && ((connection) => c.onConnect?.(connection.id)) });
  try {
    const plan = {
      servers: [fake.spec, (realServer as MemcachedServer).spec],
      binary: protocol === 'binary',
      // Keys of the real server are shared by every case: each case has names of its own.
      prefix: `h${protocol[0]}${caseIndex++}`,
      opLimitMs: OP_LIMIT_MS,
      pollMs: POLL_MS,
      ops: JSON.parse(JSON.stringify(c.ops, (key, value) => (key === 'expect' ? undefined : value))),
    };
    const run = await spawnChild(plan);
    return { ...run, fakeLog: fake.log.slice(0, 40).map((l) => `#${l.connection} ${l.command} ${l.keys.length} keys -> ${l.action}`) };
  } finally {
    await fake.stop();
  }
}

// Judging a run ----------------------------------------------------------------------------------

function show(v: unknown): string {
  const text = (() => {
    if (v === undefined) return 'undefined';
    if (v === ANY_BIGINT) return '<any bigint>';
    if (typeof v === 'bigint') return `${v}n`;
    if (Buffer.isBuffer(v)) return `<Buffer ${JSON.stringify(v.toString('latin1'))}>`;
    if (typeof v === 'string') return JSON.stringify(v);
    try {
      return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x === undefined ? 'undefined' : x === ANY_BIGINT ? '<any bigint>' : x));
    } catch {
      return String(v);
    }
  })();
  return text.length > 160 ? `${text.slice(0, 160)}… (${text.length} chars)` : text;
}

function errorText(record: OpRecord): string {
  return record.error ? `${record.error.name}${record.error.code ? ` ${record.error.code}` : ''}: ${record.error.message.slice(0, 200)}` : '(no error)';
}

function same(expected: unknown, actual: unknown): boolean {
  if (expected === ANY_BIGINT) return typeof actual === 'bigint';
  if (typeof expected === 'bigint' || typeof actual === 'bigint') return expected === actual;
  if (Buffer.isBuffer(expected) || Buffer.isBuffer(actual)) return Buffer.isBuffer(expected) && Buffer.isBuffer(actual) && expected.equals(actual);
  if (Array.isArray(expected)) return Array.isArray(actual) && actual.length === expected.length && expected.every((x, i) => same(x, actual[i]));
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    const e = expected as Record<string, unknown>;
    const a = actual as Record<string, unknown>;
    return Object.keys(e).length === Object.keys(a).length && Object.keys(e).every((key) => same(e[key], a[key]));
  }
  return Object.is(expected, actual);
}

/** The operations in the order the child recorded them (parallel groups flattened, sleeps left out). */
function flatten(ops: Op[]): Op[] {
  return ops.flatMap((o) => (o.op === 'parallel' ? flatten(o.ops ?? []) : o.op === 'sleep' ? [] : [o]));
}

/** Each value a read handed out, with the key it was handed out for (values and error.partial). */
function credited(o: Op, record: OpRecord, k: Keys): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = [];
  const key = k[(o.keys ?? [])[0]];
  if (record.status === 'resolved') {
    if (o.op === 'get') out.push([key, record.value]);
    if (o.op === 'gets' && Array.isArray(record.value)) out.push([key, record.value[0]]);
    if (o.op === 'getMulti' && record.value && typeof record.value === 'object') out.push(...Object.entries(record.value as Record<string, unknown>));
  }
  const partial = record.error?.partial;
  if (partial && typeof partial === 'object') out.push(...Object.entries(partial as Record<string, unknown>));
  return out;
}

function isFakeSym(sym: string): boolean {
  return sym.startsWith('f') || sym.startsWith('g');
}

interface Verdict {
  failures: string[];
  /** Worth knowing, not failures: e.g. a write resolving false on an error reply. */
  notes: string[];
}

function judge(c: HostileCase, run: CaseRun): Verdict {
  const failures: string[] = [];
  const notes: string[] = [];
  if (run.killed) failures.push(`[child-hang] the child was still running after ${CHILD_LIMIT_MS} ms and was killed`);
  if (run.signal && !run.killed) failures.push(`[crash ${run.signal}] the child died of ${run.signal}`);
  if (!run.killed && !run.signal && run.code !== 0) failures.push(`[exit ${run.code}] the child exited with code ${run.code}`);
  if (/terminate called|std::terminate/.test(run.stderr)) failures.push('[std::terminate] stderr: ' + run.stderr.slice(0, 300));
  if (/AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:/.test(run.stderr)) failures.push('[asan] stderr: ' + run.stderr.slice(0, 300));
  const result = run.result;
  if (!result) {
    if (failures.length === 0) failures.push(`[no-result] the child printed no result; stderr: ${run.stderr.slice(0, 400)}`);
    // The last request the fake saw is the one whose reply the child died on.
    failures.push(`(context) fake saw: ${run.fakeLog.slice(-6).join(' | ')}; stderr: ${run.stderr.slice(0, 300)}`);
    return { failures, notes };
  }
  if (result.fatal) {
    failures.push(`[harness] the child failed: ${result.fatal.slice(0, 400)}`);
    return { failures, notes };
  }
  for (const problem of result.setup) failures.push(`[setup] ${problem}`);
  const k = result.keys;
  const ops = flatten(c.ops);
  if (ops.length !== result.records.length) failures.push(`[harness] ${ops.length} operations planned, ${result.records.length} recorded`);
  ops.forEach((o, i) => {
    const record = result.records[i];
    if (!record) return;
    const what = `${o.op}(${(o.keys ?? []).join(', ')})`;
    // Rules for every operation.
    if (record.status === 'pending') failures.push(`[hang] ${what} did not settle within ${OP_LIMIT_MS} ms`);
    else if ((record.ms ?? 0) > OP_LIMIT_MS) failures.push(`[slow] ${what} settled after ${record.ms} ms`);
    if (record.status === 'threw') failures.push(`[sync-throw] ${what} threw synchronously: ${errorText(record)}`);
    if ((record.status === 'rejected' || record.status === 'threw') && !record.error?.isMemcachedError) {
      failures.push(`[not-MemcachedError] ${what} rejected with ${errorText(record)}`);
    }
    for (const [key, value] of credited(o, record, k)) {
      const text = typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('latin1') : undefined;
      if (text === undefined || !text.includes('value-of:') || text === valueOf(key)) continue;
      // Another key's value is one of the case's keys', or one the fake invented: a key never
      // asked for, the asked key in upper case or without its last character.
      const named = text.startsWith('value-of:') ? text.slice('value-of:'.length) : undefined;
      const owner =
        named !== undefined &&
        (Object.values(k).includes(named) || named === 'not-asked' || named === key.toUpperCase() || named === key.slice(0, -1))
          ? named
          : undefined;
      failures.push(
        owner !== undefined
          ? `[wrong-key] ${what} gave key ${key} the value of ${owner}`
          : `[wrong-value] ${what} gave key ${key} the corrupted value ${show(text)}`,
      );
    }
    // The case's expectation.
    const expect = o.expect ?? ANY;
    const resolved = record.status === 'resolved';
    switch (expect.kind) {
      case 'ok': {
        const truth = expect.value(k);
        if (!resolved) failures.push(`[rejected-valid] ${what} rejected a valid reply: ${errorText(record)}`);
        else if (!same(truth, record.value)) {
          const kind = missed(o, record, k) ? 'miss' : 'wrong-result';
          failures.push(`[${kind}] ${what} resolved ${show(record.value)} on a valid reply (truth: ${show(truth)})`);
        }
        break;
      }
      case 'okOrReject': {
        const truth = expect.value(k);
        if (resolved && !same(truth, record.value)) {
          const kind = missed(o, record, k) ? 'miss' : 'wrong-result';
          failures.push(`[${kind}] ${what} resolved ${show(record.value)} (truth: ${show(truth)}, or a rejection)`);
        }
        break;
      }
      case 'reject':
        if (resolved) failures.push(resolvedOnGarbage(o, record, k, what));
        break;
      case 'notTrue':
        if (resolved && claimsSuccess(o, record, k)) failures.push(`[true-on-garbage] ${what} resolved ${show(record.value)} on a reply that is no success`);
        else if (resolved) notes.push(`${what} resolved ${show(record.value)} on an error or garbage reply`);
        break;
      case 'check': {
        const problem = expect.fn(record, k);
        if (problem) failures.push(`[wrong-result] ${problem}`);
        break;
      }
      case 'any':
        break;
    }
    // A multi-get failing on the fake carries what the real server had.
    if (o.op === 'getMulti' && record.status === 'rejected' && record.error?.isMemcachedError) {
      const partial = (record.error.partial ?? {}) as Record<string, unknown>;
      const lost = (o.keys ?? []).filter((s) => !isFakeSym(s) && partial[k[s]] !== valueOf(k[s]));
      if (lost.length > 0) {
        failures.push(`[partial-missing] ${what} rejected without the real server's ${lost.join(', ')} in error.partial (${show(record.error.partial)})`);
      }
    }
    if (record.error?.name === 'ServerDown') notes.push(`${what} rejected with ServerDown (the fake was in back-off: maybe without meeting the lie)`);
  });
  if (!result.real.ok) failures.push(`[real-broken] afterwards the real server did not read back: ${result.real.problems.slice(0, 3).join('; ')}`);
  if (!result.close.ok) failures.push('[close-hang] close() did not settle within 3 s');
  if (failures.length > 0) failures.push(`(context) fake saw: ${run.fakeLog.slice(0, 12).join(' | ')}; stderr: ${run.stderr.slice(0, 300)}`);
  return { failures, notes };
}

/** Whether a read resolved as a miss (for getMulti: left out a key the fake holds). */
function missed(o: Op, record: OpRecord, k: Keys): boolean {
  const v = record.value;
  if (o.op === 'get') return v === undefined;
  if (o.op === 'gets') return Array.isArray(v) && v[0] === undefined;
  if (o.op === 'getMulti') return (o.keys ?? []).some((s) => isFakeSym(s) && !(k[s] in ((v ?? {}) as Record<string, unknown>)));
  return false;
}

function resolvedOnGarbage(o: Op, record: OpRecord, k: Keys, what: string): string {
  const v = record.value;
  switch (o.op) {
    case 'get':
      return v === undefined ? `[miss-on-garbage] ${what} resolved as a miss` : `[value-on-garbage] ${what} resolved ${show(v)}`;
    case 'gets':
      return Array.isArray(v) && v[0] === undefined ? `[miss-on-garbage] ${what} resolved as a miss` : `[value-on-garbage] ${what} resolved ${show(v)}`;
    case 'getMulti': {
      const got = (v ?? {}) as Record<string, unknown>;
      const left = (o.keys ?? []).filter((s) => isFakeSym(s) && !(k[s] in got));
      return left.length > 0
        ? `[miss-on-garbage] ${what} resolved leaving out ${left.join(', ')}: ${show(v)}`
        : `[value-on-garbage] ${what} resolved ${show(v)}`;
    }
    case 'incr':
    case 'decr':
      return `[number-on-garbage] ${what} resolved ${show(v)}`;
    case 'incrMulti':
      return `[success-on-garbage] ${what} resolved (as if every key was incremented)`;
    case 'getStats':
      return `[stats-on-garbage] ${what} resolved ${show(v)}`;
    default:
      return claimsSuccess(o, record, k) ? `[true-on-garbage] ${what} resolved ${show(v)}` : `[resolved-on-garbage] ${what} resolved ${show(v)}`;
  }
}

/** Whether a write's result claims the fake stored, deleted or touched what it was asked to. */
function claimsSuccess(o: Op, record: OpRecord, k: Keys): boolean {
  if (o.op === 'setMulti') {
    const notStored = new Set((Array.isArray(record.value) ? record.value : []).map(String));
    return (o.keys ?? []).some((s) => isFakeSym(s) && !notStored.has(k[s]));
  }
  return record.value === true;
}

// The tests --------------------------------------------------------------------------------------

const CASES: Record<Protocol, HostileCase[]> = { text: textCases(), binary: binaryCases() };
for (const [protocol, list] of Object.entries(CASES)) {
  const names = new Set<string>();
  for (const c of list) {
    if (names.has(c.name)) throw new Error(`hostile.test.ts: two ${protocol} cases are named "${c.name}"`);
    names.add(c.name);
  }
}

// HOSTILE_CASES=<regexp> runs only the cases whose "<protocol> <name>" matches (when working on one).
const only = process.env.HOSTILE_CASES ? new RegExp(process.env.HOSTILE_CASES) : undefined;
const selected = (protocol: Protocol) => CASES[protocol].filter((c) => !only || only.test(`${protocol} ${c.name}`));

function limiter(limit: number) {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

const runs = new Map<string, Promise<CaseRun>>();

beforeAll(async () => {
  realServer = await startMemcached();
  // Every case starts now, a few at a time, in test order; each test then waits for its own.
  const limit = limiter(PARALLEL);
  for (const [name] of PROTOCOLS) {
    const protocol = name as Protocol;
    for (const c of selected(protocol)) {
      const run = limit(() => runCase(protocol, c));
      run.catch(() => undefined);
      runs.set(`${protocol}/${c.name}`, run);
    }
  }
});

const verdicts: Array<{ protocol: string; name: string; ms: number } & Verdict> = [];

afterAll(async () => {
  await Promise.allSettled(runs.values());
  await realServer?.stop();
  // HOSTILE_SUMMARY=<file> writes every verdict as JSON, for a checklist of what fails.
  if (process.env.HOSTILE_SUMMARY) fs.writeFileSync(process.env.HOSTILE_SUMMARY, JSON.stringify(verdicts, null, 1));
});

describe.each(PROTOCOLS)('%s protocol', (name) => {
  const protocol = name as Protocol;
  test.each(selected(protocol).map((c) => [c.name, c] as [string, HostileCase]))('%s', async (caseName, c) => {
    const run = await (runs.get(`${protocol}/${caseName}`) as Promise<CaseRun>);
    const verdict = judge(c, run);
    verdicts.push({ protocol, name: caseName, ms: run.ms, ...verdict });
    expect(verdict.failures).toEqual([]);
  });
});
