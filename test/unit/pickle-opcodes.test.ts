/**
 * The unpickler's opcodes one at a time, on a machine whose stack, marks and memo the test sets
 * up: what each does to the state, and how each refuses what it cannot take.
 */
import { Machine, OPCODES, UnpickleError, unpickle } from '../../lib/codecs/pickle';

/** Runs the opcode named `name` on `m`, with `args` as the bytes that follow it. */
function step(m: Machine, name: string): void {
  const entry = Object.entries(OPCODES).find(([, o]) => o.name === name);
  if (entry === undefined) throw new Error(`no opcode ${name}`);
  entry[1].run(m);
}
const machine = (args: number[] = []) => new Machine(Buffer.from(args));

test('every opcode has a name, and each name one byte', () => {
  const names = Object.values(OPCODES).map((o) => o.name);
  expect(names.length).toBeGreaterThan(45);
  expect(new Set(names).size).toBe(names.length);
});

test('stack opcodes: MARK, TUPLE2, DUP, POP of a MARK', () => {
  const m = machine();
  m.stack.push('a', 'b');
  step(m, 'TUPLE2');
  expect(m.stack).toEqual([['a', 'b']]);
  step(m, 'DUP');
  expect(m.stack).toEqual([['a', 'b'], ['a', 'b']]);
  step(m, 'MARK');
  expect(m.marks).toEqual([2]);
  step(m, 'POP');
  expect(m.marks).toEqual([]);
  expect(m.stack).toHaveLength(2);
  const empty = machine();
  expect(() => step(empty, 'POP')).toThrow(new UnpickleError('stack underflow'));
});

test('arguments are read from the bytes after the opcode: BININT2, SHORT_BINUNICODE, LONG1', () => {
  const m = machine([0x34, 0x12, 2, 0x68, 0x69, 1, 0xff]);
  step(m, 'BININT2');
  step(m, 'SHORT_BINUNICODE');
  step(m, 'LONG1');
  expect(m.stack).toEqual([0x1234, 'hi', -1]);
  expect(() => step(machine([5, 0x61]), 'SHORT_BINUNICODE')).toThrow(new UnpickleError('truncated pickle'));
});

test('containers: APPENDS into a list, SETITEM refuses what is not a dict', () => {
  const m = machine();
  m.stack.push([]);
  step(m, 'MARK');
  m.stack.push(1, 2, 3);
  step(m, 'APPENDS');
  expect(m.stack).toEqual([[1, 2, 3]]);
  m.stack.push('k', 'v');
  expect(() => step(m, 'SETITEM')).toThrow(new UnpickleError('SETITEM on something that is not a dict'));
});

test('memo: MEMOIZE then BINGET; a missing entry is refused', () => {
  const m = machine([0, 1]);
  m.stack.push('kept');
  step(m, 'MEMOIZE');
  step(m, 'BINGET');
  expect(m.stack).toEqual(['kept', 'kept']);
  expect(() => step(m, 'BINGET')).toThrow(new UnpickleError('memo entry 1 missing'));
});

test('STOP ends the run only with exactly one value on the stack', () => {
  const m = machine();
  m.stack.push(1, 2);
  expect(() => step(m, 'STOP')).toThrow(/STOP with a stack of 2/);
  // A whole pickle through the table: protocol 2, EMPTY_LIST, BININT1 7, APPEND, STOP.
  expect(unpickle(Buffer.from([0x80, 2, 0x5d, 0x4b, 7, 0x61, 0x2e]))).toEqual([7]);
});
