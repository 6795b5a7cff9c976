/**
 * A safe reader for the Python pickles pylibmc stores under flag 1: None, bool, int, float,
 * str, bytes, bytearray, list, tuple, dict, set and frozenset, in pickle protocols 2 to 5.
 *
 * Nothing is executed and nothing is imported. Pickle's GLOBAL/REDUCE opcodes can call any
 * Python function; here only the handful of constructors Python itself uses for the types above
 * are recognised (protocol 2 and 3 spell bytes, bytearray and set as calls), and evaluated by
 * this file. Anything else (class instances, extension codes, out-of-band buffers, unknown
 * opcodes) throws an UnpickleError naming what it met.
 *
 * What each Python type becomes: None → null; bool → boolean; int → number when safe, bigint
 * beyond; float → number; str → string; bytes, bytearray → Buffer; list, tuple → Array;
 * set, frozenset → Set; dict → a plain object when every key is a str, else a Map.
 */

export class UnpickleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnpickleError';
  }
}

/** A constructor Python names in protocol 2 and 3 pickles, evaluated here on its arguments. */
type Reducer = (args: unknown[]) => unknown;

function bytesFromArgs(what: string, args: unknown[]): Buffer {
  if (args.length === 0) return Buffer.alloc(0);
  const [source, encoding] = args;
  if (Buffer.isBuffer(source) && args.length === 1) return Buffer.from(source);
  // Python 2's protocol writes bytes as str decoded with latin-1, plus the encoding's name.
  if (typeof source === 'string' && (encoding === 'latin1' || encoding === 'latin-1')) return Buffer.from(source, 'latin1');
  throw new UnpickleError(`unsupported arguments to ${what}`);
}

function setFromArgs(args: unknown[]): Set<unknown> {
  if (args.length === 0) return new Set();
  if (args.length === 1 && Array.isArray(args[0])) return new Set(args[0]);
  throw new UnpickleError('unsupported arguments to set()');
}

const REDUCERS: Record<string, Reducer> = {
  '_codecs encode': (args) => bytesFromArgs('_codecs.encode', args),
  'builtins bytes': (args) => bytesFromArgs('bytes', args),
  'builtins bytearray': (args) => bytesFromArgs('bytearray', args),
  'builtins set': setFromArgs,
  'builtins frozenset': setFromArgs,
};

/** A global that names one of REDUCERS (Python 2's module name `__builtin__` included). */
class Global {
  constructor(readonly reducer: Reducer) {}
}

function findGlobal(module: string, name: string): Global {
  const key = `${module === '__builtin__' ? 'builtins' : module} ${name}`;
  const reducer = Object.prototype.hasOwnProperty.call(REDUCERS, key) ? REDUCERS[key] : undefined;
  if (reducer === undefined) {
    throw new UnpickleError(`refusing ${module}.${name}: only None, bool, int, float, str, bytes, list, tuple, dict and set are read`);
  }
  return new Global(reducer);
}

const MARK = Symbol('mark');

/** Python's dict while it is being filled; turned into an object or a Map at the end. */
class Dict {
  readonly entries = new Map<unknown, unknown>();
}

const OPCODE_NAMES: Record<number, string> = {
  0x81: 'NEWOBJ',
  0x92: 'NEWOBJ_EX',
  0x62: 'BUILD',
  0x69: 'INST',
  0x6f: 'OBJ',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x50: 'PERSID',
  0x51: 'BINPERSID',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

class Reader {
  #pos = 0;
  constructor(readonly data: Buffer) {}

  get done(): boolean {
    return this.#pos >= this.data.length;
  }

  byte(): number {
    if (this.#pos >= this.data.length) throw new UnpickleError('truncated pickle');
    return this.data[this.#pos++];
  }

  take(length: number | bigint): Buffer {
    const n = Number(length);
    if (!Number.isSafeInteger(n) || n < 0 || this.#pos + n > this.data.length) throw new UnpickleError('truncated pickle');
    const out = this.data.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  u16(): number {
    return this.take(2).readUInt16LE(0);
  }

  u32(): number {
    return this.take(4).readUInt32LE(0);
  }

  i32(): number {
    return this.take(4).readInt32LE(0);
  }

  u64(): bigint {
    return this.take(8).readBigUInt64LE(0);
  }

  /** A newline-terminated line (protocol 0's text arguments, GLOBAL's names). */
  line(): string {
    const end = this.data.indexOf(0x0a, this.#pos);
    if (end < 0) throw new UnpickleError('truncated pickle');
    const text = this.data.toString('latin1', this.#pos, end);
    this.#pos = end + 1;
    return text;
  }
}

/** Python's arbitrary-size int from little-endian two's complement bytes (LONG1, LONG4). */
function decodeLong(bytes: Buffer): number | bigint {
  if (bytes.length === 0) return 0;
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]);
  if (bytes[bytes.length - 1] & 0x80) value -= 1n << BigInt(bytes.length * 8);
  return toInteger(value);
}

export function toInteger(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

export function unpickle(data: Buffer): unknown {
  const r = new Reader(data);
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  const marks: number[] = [];

  const pop = (): unknown => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) throw new UnpickleError('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) throw new UnpickleError('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const at = marks.pop();
    if (at === undefined) throw new UnpickleError('MARK missing');
    return stack.splice(at);
  };
  const list = (target: unknown): unknown[] => {
    if (!Array.isArray(target)) throw new UnpickleError('APPEND to something that is not a list');
    return target;
  };
  const dict = (target: unknown): Dict => {
    if (!(target instanceof Dict)) throw new UnpickleError('SETITEM on something that is not a dict');
    return target;
  };
  const setItems = (target: Dict, items: unknown[]): void => {
    if (items.length % 2 !== 0) throw new UnpickleError('odd number of items for a dict');
    for (let i = 0; i < items.length; i += 2) target.entries.set(hashable(items[i]), items[i + 1]);
  };
  const memoGet = (index: number): unknown => {
    if (!memo.has(index)) throw new UnpickleError(`memo entry ${index} missing`);
    return memo.get(index);
  };
  const text = (bytes: Buffer): string => {
    // Python's strict UTF-8: a pickle of a str never holds invalid sequences.
    const decoded = bytes.toString('utf8');
    if (!Buffer.from(decoded, 'utf8').equals(bytes)) throw new UnpickleError('invalid UTF-8 in a str');
    return decoded;
  };

  for (;;) {
    const op = r.byte();
    switch (op) {
      case 0x80: // PROTO
        if (r.byte() > 5) throw new UnpickleError('pickle protocol above 5');
        break;
      case 0x95: // FRAME: a length hint only
        r.u64();
        break;
      case 0x2e: {
        // STOP
        if (stack.length !== 1 || marks.length !== 0) throw new UnpickleError('malformed pickle: STOP with a stack of ' + stack.length);
        return finish(stack[0], new Map());
      }
      case 0x28: // MARK
        // The MARK sits below its items on the stack; popMark removes it with them.
        marks.push(stack.length);
        stack.push(MARK);
        break;
      case 0x30: // POP (of a MARK too, as Python's own unpickler allows)
        if (stack[stack.length - 1] === MARK) popMark();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(r.i32());
        break;
      case 0x4b: // BININT1
        stack.push(r.byte());
        break;
      case 0x4d: // BININT2
        stack.push(r.u16());
        break;
      case 0x8a: // LONG1
        stack.push(decodeLong(r.take(r.byte())));
        break;
      case 0x8b: {
        // LONG4
        const n = r.i32();
        if (n < 0) throw new UnpickleError('negative LONG4 length');
        stack.push(decodeLong(r.take(n)));
        break;
      }
      case 0x47: // BINFLOAT
        stack.push(r.take(8).readDoubleBE(0));
        break;
      case 0x58: // BINUNICODE
        stack.push(text(r.take(r.u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(r.take(r.byte())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(r.take(r.u64())));
        break;
      case 0x54: // BINSTRING (Python 2 str): Python 3 reads it as text too
        stack.push(r.take(r.i32()).toString('latin1'));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(r.take(r.byte()).toString('latin1'));
        break;
      case 0x42: // BINBYTES
        stack.push(Buffer.from(r.take(r.u32())));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(Buffer.from(r.take(r.byte())));
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(Buffer.from(r.take(r.u64())));
        break;
      // Lists and tuples both read as arrays.
      case 0x5d: // EMPTY_LIST
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x6c: // LIST
      case 0x74: // TUPLE
        stack.push(popMark().slice(1));
        break;
      case 0x61: {
        // APPEND
        const item = pop();
        list(top()).push(item);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark().slice(1);
        list(top()).push(...items);
        break;
      }
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Dict());
        break;
      case 0x64: {
        // DICT
        const d = new Dict();
        setItems(d, popMark().slice(1));
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItems(dict(top()), [key, value]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark().slice(1);
        setItems(dict(top()), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark().slice(1);
        const target = top();
        if (!(target instanceof Set)) throw new UnpickleError('ADDITEMS to something that is not a set');
        for (const item of items) target.add(hashable(item));
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark().slice(1).map(hashable)));
        break;
      case 0x71: // BINPUT
        memo.set(r.byte(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(r.u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x70: // PUT
        memo.set(Number.parseInt(r.line(), 10), top());
        break;
      case 0x68: // BINGET
        stack.push(memoGet(r.byte()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(r.u32()));
        break;
      case 0x67: // GET
        stack.push(memoGet(Number.parseInt(r.line(), 10)));
        break;
      case 0x63: {
        // GLOBAL
        const module = r.line();
        stack.push(findGlobal(module, r.line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw new UnpickleError('STACK_GLOBAL needs two str');
        stack.push(findGlobal(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const callable = pop();
        if (!(callable instanceof Global) || !Array.isArray(args)) throw new UnpickleError('REDUCE of something that is not a known type');
        stack.push(callable.reducer(args));
        break;
      }
      default: {
        const name = OPCODE_NAMES[op];
        throw new UnpickleError(
          name !== undefined
            ? `${name}: class instances and external references are not read`
            : `unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} (protocols 2 to 5 are read)`,
        );
      }
    }
  }

  function hashable(key: unknown): unknown {
    // Python refuses unhashable keys; a pickle that has one was not written by Python.
    if (key instanceof Dict || key === MARK) throw new UnpickleError('unhashable key');
    return key;
  }
}

/**
 * Replaces every Dict by its JavaScript form, keeping shared and circular references intact
 * (pickle's memo can make one list appear twice, or contain itself).
 */
function finish(value: unknown, seen: Map<unknown, unknown>): unknown {
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return value;
  const known = seen.get(value);
  if (known !== undefined) return known;
  if (Array.isArray(value)) {
    seen.set(value, value);
    for (let i = 0; i < value.length; i++) value[i] = finish(value[i], seen);
    return value;
  }
  if (value instanceof Set) {
    // Set members are hashable in Python: never a dict, so nothing inside needs converting.
    seen.set(value, value);
    return value;
  }
  if (value instanceof Dict) {
    const allText = [...value.entries.keys()].every((k) => typeof k === 'string');
    if (allText) {
      const out: Record<string, unknown> = {};
      seen.set(value, out);
      for (const [k, v] of value.entries) {
        // defineProperty: a key named "__proto__" is data, not the prototype.
        Object.defineProperty(out, k as string, { value: finish(v, seen), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    const out = new Map<unknown, unknown>();
    seen.set(value, out);
    for (const [k, v] of value.entries) out.set(finish(k, seen), finish(v, seen));
    return out;
  }
  if (value instanceof Global) throw new UnpickleError('a bare global is not a value');
  return value;
}
