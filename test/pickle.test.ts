/**
 * The safe pickle reader on its own: pickles made by the real Python (so the bytes are whatever
 * CPython writes), shapes the interop suite cannot reach through pylibmc (recursive values), and
 * hostile or broken input, which must fail with an UnpickleError and never run or allocate
 * anything on the pickle's word.
 */
import { spawnSync } from 'node:child_process';
import { UnpickleError, unpickle } from '../lib/pickle';
import { PYTHON } from './harness/pylibmc';

/** Pickles of Python expressions, made by CPython: one hex line per (expression, protocol). */
function pickles(code: string): Buffer[] {
  const run = spawnSync(PYTHON, ['-c', `import pickle, sys\n${code}`], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(run.stderr);
  return run.stdout.trim().split('\n').map((line) => Buffer.from(line, 'hex'));
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
