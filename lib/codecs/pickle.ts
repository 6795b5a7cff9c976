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
 *
 * A pickle read here comes from a server, so it is untrusted input, and every way of reading
 * it is bounded by its own size: nothing recurses on the pickle's shape (the opcodes run on an
 * explicit stack, and the final pass over the value keeps its own), no more than APPEND_CHUNK
 * items are spread into one call, every declared length is checked against the bytes that are
 * there, a value shared through the memo stays one object (never a copy per reference), and
 * the only opcode that could copy more than the pickle holds (REDUCE, by calling a constructor
 * again and again on one large memoized argument) is held to the pickle's size. Containers
 * nest at most MAX_DEPTH deep. Whatever fails is an UnpickleError.
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
  if (args.length === 1 && Array.isArray(args[0])) return new Set(args[0].map(hashable));
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
  /** What it becomes, made (empty) when finish() first meets it, so that cycles can point at it. */
  out: Record<string, unknown> | Map<unknown, unknown> | undefined;
}

function hashable(key: unknown): unknown {
  // Python refuses unhashable keys; a pickle that has one was not written by Python.
  if (key instanceof Dict || key === MARK) throw new UnpickleError('unhashable key');
  return key;
}

/**
 * How deeply containers (list, tuple, dict, set) may nest in a value read here: the longest
 * chain of containers each inside the previous one, a reference back to an enclosing container
 * (a cycle) adding nothing. Deeper values are refused.
 *
 * CPython's unpickler is not recursive: load() runs the opcodes in a loop on an explicit stack
 * (the C `_pickle` module and pickle.py alike; Python 3.11 loads a list nested 1,000,000 deep
 * at a recursion limit of 60), and only REDUCE and BUILD recurse, into whatever Python code
 * they call. Its pickler is recursive (save() → save_list() → save()), under the interpreter's
 * recursion limit: at the default limit of 1000, pickle.dumps raises RecursionError ("maximum
 * recursion depth exceeded while pickling an object") beyond about 500 nested lists or dicts.
 * So values pylibmc writes nest at most ~500 deep unless their writer raised that limit.
 *
 * 1000 is twice that, and stays well below the depth at which Node's own recursive handling of a
 * value gives up (on Node 20's default stack: structuredClone and v8.serialize at about 3,300
 * nested arrays, JSON.stringify at about 4,200, a plain recursive walk at about 2,600), so a value
 * returned here can still be cloned, stringified or walked by the caller's code.
 */
export const MAX_DEPTH = 1000;

/**
 * APPENDS adds its items to the list this many at a time, as the arguments of one push() call:
 * Python writes batches of 1000, which then take one call each, and the stack holds this many
 * arguments (8 KiB of them) wherever the reader is called from.
 */
const APPEND_CHUNK = 1024;

/** V8's BigInt holds at most 2^30 bits; a longer LONG4 could only fail later, less clearly. */
const MAX_LONG_BYTES = 2 ** 30 / 8;

/** Opcodes refused with their name: they build class instances or reach outside the pickle. */
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

  get remaining(): number {
    return this.data.length - this.#pos;
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
  const n = bytes.length;
  if (n === 0) return 0;
  // Up to 6 bytes (48 bits) the value is a safe integer, which Buffer reads directly.
  if (n <= 6) return bytes.readIntLE(0, n);
  if (n > MAX_LONG_BYTES) throw new UnpickleError(`an int of ${n} bytes is beyond JavaScript's BigInt`);
  // Through hexadecimal, which V8 parses in linear time: shifting in one byte at a time would
  // copy the growing BigInt per byte, quadratic (a 128 KiB LONG4 took 1.8 s, 1 MiB minutes).
  let value = BigInt('0x' + Buffer.from(bytes).reverse().toString('hex'));
  if (bytes[n - 1] & 0x80) value -= 1n << BigInt(n * 8);
  return toInteger(value);
}

export function toInteger(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** A memo index written as text (PUT, GET): a decimal number, as Python writes it. */
function memoIndex(line: string): number {
  const index = /^\d{1,15}$/.test(line) ? Number(line) : NaN;
  if (Number.isNaN(index)) throw new UnpickleError(`bad memo index ${JSON.stringify(line.slice(0, 20))}`);
  return index;
}

/**
 * What a call of one of REDUCERS costs, counted in the size of its first argument: each of them
 * copies or iterates that argument once (the bytes of a bytes/bytearray, the items of a set).
 */
function reduceCost(args: unknown[]): number {
  const source = args[0];
  if (typeof source === 'string' || Buffer.isBuffer(source) || Array.isArray(source)) return source.length;
  return 0;
}

export function unpickle(data: Buffer): unknown {
  try {
    return run(data);
  } catch (error) {
    // Nothing below recurses on the pickle's shape or takes a size on its word, so this is a
    // net for what that reasoning missed (an allocation the engine refuses, say): hostile input
    // must still come out as a refusal of that input, never as an error of another kind.
    if (error instanceof UnpickleError) throw error;
    throw new UnpickleError(`unreadable pickle (${error instanceof Error ? `${error.name}: ${error.message}` : String(error)})`);
  }
}

/**
 * The unpickler's state: the reader over the pickle, the stack with its marks, the memo. Each
 * opcode of OPCODES runs on it; run() feeds it a pickle, a test one opcode at a time.
 */
export class Machine {
  readonly r: Reader;
  readonly stack: unknown[] = [];
  readonly memo = new Map<number, unknown>();
  readonly marks: number[] = [];
  // REDUCE may copy at most as much as the pickle holds, in all. Python's pickles stay within
  // it: the argument of every call it writes is written out in full, and a value used twice is
  // a memo reference to the call's result, not a second call. A hostile pickle could otherwise
  // memoize 1 MiB of str and call bytes() on it a thousand times in a few kilobytes.
  reduceBudget: number;
  /** Set by STOP: the stack's one value is the pickle's. */
  stopped = false;

  constructor(data: Buffer) {
    this.r = new Reader(data);
    this.reduceBudget = data.length;
  }

  pop(): unknown {
    const stack = this.stack;
    if (stack.length === 0 || stack[stack.length - 1] === MARK) throw new UnpickleError('stack underflow');
    return stack.pop();
  }

  top(): unknown {
    const stack = this.stack;
    if (stack.length === 0 || stack[stack.length - 1] === MARK) throw new UnpickleError('stack underflow');
    return stack[stack.length - 1];
  }

  /** The items above the last MARK, the MARK first; removed from the stack. */
  popMark(): unknown[] {
    const at = this.marks.pop();
    if (at === undefined) throw new UnpickleError('MARK missing');
    return this.stack.splice(at);
  }

  list(target: unknown): unknown[] {
    if (!Array.isArray(target)) throw new UnpickleError('APPEND to something that is not a list');
    return target;
  }

  dict(target: unknown): Dict {
    if (!(target instanceof Dict)) throw new UnpickleError('SETITEM on something that is not a dict');
    return target;
  }

  setItems(target: Dict, items: unknown[]): void {
    if (items.length % 2 !== 0) throw new UnpickleError('odd number of items for a dict');
    for (let i = 0; i < items.length; i += 2) target.entries.set(hashable(items[i]), items[i + 1]);
  }

  memoGet(index: number): unknown {
    if (!this.memo.has(index)) throw new UnpickleError(`memo entry ${index} missing`);
    return this.memo.get(index);
  }

  text(bytes: Buffer): string {
    // Python's strict UTF-8: a pickle of a str never holds invalid sequences.
    const decoded = bytes.toString('utf8');
    if (!Buffer.from(decoded, 'utf8').equals(bytes)) throw new UnpickleError('invalid UTF-8 in a str');
    return decoded;
  }
}

/** One opcode: its name (as pickletools calls it) and what it does to the machine. */
export interface Opcode {
  readonly name: string;
  readonly run: (m: Machine) => void;
}
const op = (name: string, run: (m: Machine) => void): Opcode => ({ name, run });

/** Every opcode read, by byte; any other is refused (see unsupported). */
export const OPCODES: Readonly<Record<number, Opcode>> = Object.freeze({
  [0x80]: op('PROTO', (m) => {
    if (m.r.byte() > 5) throw new UnpickleError('pickle protocol above 5');
  }),
  [0x95]: op('FRAME', (m) => {
    // A length hint only, but (as CPython checks) one that the data must hold.
    const length = m.r.u64();
    if (length > BigInt(m.r.remaining)) throw new UnpickleError('truncated pickle: a frame longer than the data');
  }),
  [0x2e]: op('STOP', (m) => {
    if (m.stack.length !== 1 || m.marks.length !== 0) throw new UnpickleError('malformed pickle: STOP with a stack of ' + m.stack.length);
    m.stopped = true;
  }),
  [0x28]: op('MARK', (m) => {
    // The MARK sits below its items on the stack; popMark removes it with them.
    m.marks.push(m.stack.length);
    m.stack.push(MARK);
  }),
  [0x30]: op('POP', (m) => {
    // (Of a MARK too, as Python's own unpickler allows.)
    if (m.stack[m.stack.length - 1] === MARK) m.popMark();
    else m.pop();
  }),
  [0x31]: op('POP_MARK', (m) => {
    m.popMark();
  }),
  [0x32]: op('DUP', (m) => {
    m.stack.push(m.top());
  }),
  [0x4e]: op('NONE', (m) => {
    m.stack.push(null);
  }),
  [0x88]: op('NEWTRUE', (m) => {
    m.stack.push(true);
  }),
  [0x89]: op('NEWFALSE', (m) => {
    m.stack.push(false);
  }),
  [0x4a]: op('BININT', (m) => {
    m.stack.push(m.r.i32());
  }),
  [0x4b]: op('BININT1', (m) => {
    m.stack.push(m.r.byte());
  }),
  [0x4d]: op('BININT2', (m) => {
    m.stack.push(m.r.u16());
  }),
  [0x8a]: op('LONG1', (m) => {
    m.stack.push(decodeLong(m.r.take(m.r.byte())));
  }),
  [0x8b]: op('LONG4', (m) => {
    const n = m.r.i32();
    if (n < 0) throw new UnpickleError('negative LONG4 length');
    m.stack.push(decodeLong(m.r.take(n)));
  }),
  [0x47]: op('BINFLOAT', (m) => {
    m.stack.push(m.r.take(8).readDoubleBE(0));
  }),
  [0x58]: op('BINUNICODE', (m) => {
    m.stack.push(m.text(m.r.take(m.r.u32())));
  }),
  [0x8c]: op('SHORT_BINUNICODE', (m) => {
    m.stack.push(m.text(m.r.take(m.r.byte())));
  }),
  [0x8d]: op('BINUNICODE8', (m) => {
    m.stack.push(m.text(m.r.take(m.r.u64())));
  }),
  [0x54]: op('BINSTRING', (m) => {
    // Python 2's str: Python 3 reads it as text too.
    m.stack.push(m.r.take(m.r.i32()).toString('latin1'));
  }),
  [0x55]: op('SHORT_BINSTRING', (m) => {
    m.stack.push(m.r.take(m.r.byte()).toString('latin1'));
  }),
  [0x42]: op('BINBYTES', (m) => {
    m.stack.push(Buffer.from(m.r.take(m.r.u32())));
  }),
  [0x43]: op('SHORT_BINBYTES', (m) => {
    m.stack.push(Buffer.from(m.r.take(m.r.byte())));
  }),
  [0x8e]: op('BINBYTES8', (m) => {
    m.stack.push(Buffer.from(m.r.take(m.r.u64())));
  }),
  [0x96]: op('BYTEARRAY8', (m) => {
    m.stack.push(Buffer.from(m.r.take(m.r.u64())));
  }),
  // Lists and tuples both read as arrays.
  [0x5d]: op('EMPTY_LIST', (m) => {
    m.stack.push([]);
  }),
  [0x29]: op('EMPTY_TUPLE', (m) => {
    m.stack.push([]);
  }),
  [0x6c]: op('LIST', (m) => {
    m.stack.push(m.popMark().slice(1));
  }),
  [0x74]: op('TUPLE', (m) => {
    m.stack.push(m.popMark().slice(1));
  }),
  [0x61]: op('APPEND', (m) => {
    const item = m.pop();
    m.list(m.top()).push(item);
  }),
  [0x65]: op('APPENDS', (m) => {
    // In slices of at most APPEND_CHUNK: spreading a whole batch into push() overflows the
    // stack when it is large (one of 200,000 items, say); pushing one by one is half as fast.
    const items = m.popMark();
    const target = m.list(m.top());
    for (let i = 1; i < items.length; i += APPEND_CHUNK) target.push(...items.slice(i, i + APPEND_CHUNK));
  }),
  [0x85]: op('TUPLE1', (m) => {
    m.stack.push([m.pop()]);
  }),
  [0x86]: op('TUPLE2', (m) => {
    const b = m.pop();
    m.stack.push([m.pop(), b]);
  }),
  [0x87]: op('TUPLE3', (m) => {
    const c = m.pop();
    const b = m.pop();
    m.stack.push([m.pop(), b, c]);
  }),
  [0x7d]: op('EMPTY_DICT', (m) => {
    m.stack.push(new Dict());
  }),
  [0x64]: op('DICT', (m) => {
    const d = new Dict();
    m.setItems(d, m.popMark().slice(1));
    m.stack.push(d);
  }),
  [0x73]: op('SETITEM', (m) => {
    const value = m.pop();
    const key = m.pop();
    m.setItems(m.dict(m.top()), [key, value]);
  }),
  [0x75]: op('SETITEMS', (m) => {
    const items = m.popMark().slice(1);
    m.setItems(m.dict(m.top()), items);
  }),
  [0x8f]: op('EMPTY_SET', (m) => {
    m.stack.push(new Set());
  }),
  [0x90]: op('ADDITEMS', (m) => {
    const items = m.popMark().slice(1);
    const target = m.top();
    if (!(target instanceof Set)) throw new UnpickleError('ADDITEMS to something that is not a set');
    for (const item of items) target.add(hashable(item));
  }),
  [0x91]: op('FROZENSET', (m) => {
    m.stack.push(new Set(m.popMark().slice(1).map(hashable)));
  }),
  [0x71]: op('BINPUT', (m) => {
    m.memo.set(m.r.byte(), m.top());
  }),
  [0x72]: op('LONG_BINPUT', (m) => {
    m.memo.set(m.r.u32(), m.top());
  }),
  [0x94]: op('MEMOIZE', (m) => {
    m.memo.set(m.memo.size, m.top());
  }),
  [0x70]: op('PUT', (m) => {
    m.memo.set(memoIndex(m.r.line()), m.top());
  }),
  [0x68]: op('BINGET', (m) => {
    m.stack.push(m.memoGet(m.r.byte()));
  }),
  [0x6a]: op('LONG_BINGET', (m) => {
    m.stack.push(m.memoGet(m.r.u32()));
  }),
  [0x67]: op('GET', (m) => {
    m.stack.push(m.memoGet(memoIndex(m.r.line())));
  }),
  [0x63]: op('GLOBAL', (m) => {
    const module = m.r.line();
    m.stack.push(findGlobal(module, m.r.line()));
  }),
  [0x93]: op('STACK_GLOBAL', (m) => {
    const name = m.pop();
    const module = m.pop();
    if (typeof module !== 'string' || typeof name !== 'string') throw new UnpickleError('STACK_GLOBAL needs two str');
    m.stack.push(findGlobal(module, name));
  }),
  [0x52]: op('REDUCE', (m) => {
    const args = m.pop();
    const callable = m.pop();
    if (!(callable instanceof Global) || !Array.isArray(args)) throw new UnpickleError('REDUCE of something that is not a known type');
    m.reduceBudget -= reduceCost(args);
    if (m.reduceBudget < 0) throw new UnpickleError('REDUCE calls would copy more than the pickle holds');
    m.stack.push(callable.reducer(args));
  }),
});

function unsupported(byte: number): UnpickleError {
  const name = OPCODE_NAMES[byte];
  return new UnpickleError(
    name !== undefined
      ? `${name}: class instances and external references are not read`
      : `unsupported pickle opcode 0x${byte.toString(16).padStart(2, '0')} (protocols 2 to 5 are read)`,
  );
}

function run(data: Buffer): unknown {
  const m = new Machine(data);
  while (!m.stopped) {
    const byte = m.r.byte();
    const opcode = OPCODES[byte];
    if (opcode === undefined) throw unsupported(byte);
    opcode.run(m);
  }
  return finish(m.stack[0]);
}

type Container = unknown[] | Set<unknown> | Dict;

/** A container finish() is inside of: its children, how far through them, its height so far. */
interface Frame {
  readonly node: Container;
  readonly children: readonly unknown[];
  next: number;
  /** 1 + the largest height among the children finished so far (1: no container inside). */
  height: number;
}

/** Marks, in finish()'s heights, a container whose frame is open: reaching it again is a cycle. */
const OPEN = -1;

/**
 * Replaces every Dict by its JavaScript form, keeping shared and circular references intact
 * (pickle's memo can make one list appear twice, or contain itself), and refuses a value nested
 * deeper than MAX_DEPTH.
 *
 * A depth-first walk on an explicit stack of frames, since the value's shape is the pickle's
 * to choose. Each container is entered once (so shared ones cost once, however often they are
 * referenced) and its height is known when its frame closes: 1 + its tallest child, where a
 * child whose frame is still open encloses it (a cycle) and counts for nothing. For a value
 * without cycles that is its longest chain of nested containers, the depth a caller's recursive
 * walk descends to, however shallow this walk found each container first (a list of lists that
 * each hold the next, listed from the innermost out, is a walk of depth 2 here, and its full
 * length for JSON.stringify). The frames themselves never exceed MAX_DEPTH.
 */
function finish(root: unknown): unknown {
  if (!isContainer(root)) return leaf(root);
  const heights = new Map<Container, number>();
  const frames: Frame[] = [enter(root, heights)];
  while (frames.length > 0) {
    const frame = frames[frames.length - 1];
    const { children } = frame;
    let descended = false;
    while (frame.next < children.length) {
      const child = children[frame.next++];
      if (typeof child !== 'object' || child === null) continue;
      if (!isContainer(child)) {
        leaf(child);
        continue;
      }
      const height = heights.get(child);
      const fresh = height === undefined;
      if (fresh) {
        if (frames.length >= MAX_DEPTH) throw tooDeep();
        frames.push(enter(child, heights));
      }
      // Arrays stay themselves (shared and circular references keep pointing at them) and hold
      // a Dict's result in its place, which exists from the moment the Dict is entered.
      if (child instanceof Dict && Array.isArray(frame.node)) frame.node[frame.next - 1] = child.out;
      if (fresh) {
        descended = true;
        break;
      }
      if (height !== OPEN && height + 1 > frame.height) frame.height = height + 1;
    }
    if (descended) continue;
    frames.pop();
    if (frame.height > MAX_DEPTH) throw tooDeep();
    heights.set(frame.node, frame.height);
    if (frame.node instanceof Dict) fill(frame.node);
    const parent = frames[frames.length - 1];
    if (parent !== undefined && frame.height + 1 > parent.height) parent.height = frame.height + 1;
  }
  return root instanceof Dict ? root.out : root;
}

function isContainer(value: unknown): value is Container {
  return Array.isArray(value) || value instanceof Set || value instanceof Dict;
}

/** A value as it is returned, checked: a Global is a reference to a callable, not a value. */
function leaf(value: unknown): unknown {
  if (value instanceof Global) throw new UnpickleError('a bare global is not a value');
  return value;
}

function tooDeep(): UnpickleError {
  return new UnpickleError(`containers nested more than ${MAX_DEPTH} deep`);
}

/**
 * Opens a container's frame: lists its children (for a Dict also makes its empty result, an
 * object when every key is a str, else a Map, so that references to it can be resolved before
 * it is filled).
 */
function enter(node: Container, heights: Map<Container, number>): Frame {
  heights.set(node, OPEN);
  let children: readonly unknown[];
  if (Array.isArray(node)) {
    children = node;
  } else if (node instanceof Set) {
    children = Array.from(node);
  } else {
    let allText = true;
    for (const key of node.entries.keys()) {
      if (typeof key !== 'string') {
        allText = false;
        break;
      }
    }
    if (allText) {
      node.out = {};
      children = Array.from(node.entries.values());
    } else {
      node.out = new Map();
      const pairs: unknown[] = [];
      for (const [key, value] of node.entries) pairs.push(key, value);
      children = pairs;
    }
  }
  return { node, children, next: 0, height: 1 };
}

/**
 * Fills a Dict's result (an array's Dicts are replaced as they are met; a Set's members are
 * hashable, so never a Dict, as hashable() saw to), once every child has been entered.
 */
function fill(node: Dict): void {
  const out = node.out;
  if (out instanceof Map) {
    for (const [key, value] of node.entries) out.set(key, value instanceof Dict ? value.out : value);
  } else if (out !== undefined) {
    for (const [key, value] of node.entries) {
      const item = value instanceof Dict ? value.out : value;
      // A key that Object.prototype has ("__proto__", whose setter would change the prototype;
      // "toString", read-only under frozen intrinsics) is defined as data; any other is plainly
      // assigned, which is ten times faster than defineProperty for a small object.
      if ((key as string) in Object.prototype) {
        Object.defineProperty(out, key as string, { value: item, enumerable: true, writable: true, configurable: true });
      } else {
        out[key as string] = item;
      }
    }
  }
}
