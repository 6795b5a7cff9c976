/**
 * The Client: pylibmc's operations as Promises over the native engine.
 *
 * Every argument is checked here, before anything is queued: a bad key or number rejects with
 * a typed error and causes no I/O. Methods never throw synchronously; they return a rejected
 * Promise instead. A multi-key method queues one multi-key operation; the I/O thread turns
 * any run of gets (single or multi-key) into multi-gets and pipelines runs of sets and deletes.
 */
import { types } from 'node:util';
import { BEHAVIORS, BEHAVIOR_NAMES, Behaviors, DISTRIBUTIONS, HASHERS, resolveBehaviors } from './behaviors';
import { behaviorId, isSoft, returnCode } from './constants';
import { withFailover } from './failover';
import { CacheMiss, ClientClosedError, DeserializationError, Failure, MemcachedError, NotFound, NotSupportedError, errorFromReturnCode } from './errors';
import { Key, checkKey, isKey } from './keys';
import { META_WORDS, MULTI_RECORD, NO_VALUE, NativeClient, NativeConfig, OnComplete, OpCode, VALUE_IN_EXTRAS, native } from './native';
import { ServerList, formatServer, parseServers } from './servers';
import { Submission } from './submission';
import { checkCasToken, checkCompressLevel, checkDelta, checkMaxValueSize, checkMinCompressLen, checkNamespace, checkTime } from './validate';
import { CompressOptions, Encoded, FLAG_TEXT, FLAG_ZLIB, compress, decodeValue, encodeValue, inflate, ownBytes } from './values';

/** Turns a value into the bytes stored and their flags (pylibmc's `serialize`). */
export type Serializer = (value: unknown) => [bytes: Buffer | Uint8Array, flags: number];
/**
 * Turns stored bytes (already inflated when flag 8 was set) and their flags back into a value
 * (pylibmc's `deserialize`). Throw CacheMiss to make the read behave as a miss.
 */
export type Deserializer = (bytes: Buffer, flags: number) => unknown;

export interface ClientOptions {
  /** The binary protocol. Default false (libmemcached's text protocol is faster); true with SASL. */
  binary?: boolean;
  /** SASL user name: turns on SASL authentication, which needs (and here implies) the binary protocol. */
  username?: string;
  password?: string;
  /**
   * libmemcached behaviors by pylibmc's names and in pylibmc's units, e.g.
   * `{ ketama: true, _poll_timeout: 500 }`; see the README for the list and this client's defaults.
   */
  behaviors?: Behaviors;
  /**
   * Automatic failover: a server that cannot be reached is taken out of the key distribution
   * (its keys move to the others) and tried again after `dead_timeout` seconds. Sets ketama,
   * remove_failed, failure_limit 1, retry_timeout 1 and dead_timeout 10, except those given in
   * `behaviors`; see the README.
   */
  failover?: boolean;
  /**
   * Native I/O threads (and connections) per server: each server's keys are served by threads
   * of their own, so a slow server delays only its own keys. Operations on one key always use
   * the same thread, so they stay in order. Default 1 (see the README for why).
   */
  connections?: number;
  /**
   * The largest value, in bytes, a server's reply may announce (default 64 MiB): a larger one
   * rejects the read with TooBig, before anything is allocated for it. Raise it to read values
   * that memcached stores because its `-I` was raised above 64m.
   */
  maxValueSize?: number;
  /** Defaults for set/add/replace/setMulti/addMulti/cas: compress values at least this long (0 = never). */
  minCompressLen?: number;
  /** Defaults for the same: zlib level, -1 (zlib's default) or 0..9. */
  compressLevel?: number;
  /**
   * libmemcached's namespace (pylibmc's `namespace` behavior): put in front of every key on the
   * wire, by libmemcached, for every operation; results use the keys as given. Printable ASCII,
   * up to 127 bytes; counted in the 250-byte key limit.
   */
  namespace?: string;
  /** Replaces the default serializer (the `serialize` method) for this client. */
  serialize?: Serializer;
  /** Replaces the default deserializer (the `deserialize` method) for this client. */
  deserialize?: Deserializer;
}

export interface StoreOptions {
  /** Expiration: seconds up to 30 days, else a Unix time; 0 (default) = never. */
  time?: number;
  minCompressLen?: number;
  compressLevel?: number;
}

export interface MultiOptions {
  /** Prepended to every key on the wire; results use the keys as given. */
  keyPrefix?: Key;
}

export interface StoreMultiOptions extends StoreOptions, MultiOptions {}

export interface IncrMultiOptions extends MultiOptions {
  delta?: number | bigint;
}

export type CasOptions = StoreOptions;

export type ServerStats = [server: string, stats: Record<string, string>];

/** libmemcached return codes the client interprets itself (numbers from the addon). */
const RC = Object.freeze({
  SUCCESS: returnCode('MEMCACHED_SUCCESS'),
  STORED: returnCode('MEMCACHED_STORED'),
  NOTFOUND: returnCode('MEMCACHED_NOTFOUND'),
});

/**
 * A value read: its bytes, or, for plain text under the default deserializer, the string it
 * decodes to (#onComplete decodes those straight out of the delivery's shared buffer).
 */
type ValueRead = Buffer | string;

/**
 * What a completed operation reports to its waiter, as positional arguments (no object per
 * operation): the return code, the value read, its flags, the operation's result (gets: CAS
 * token; incr/decr: new value; stats: the raw list), and for failures libmemcached's message and
 * the server involved.
 */
type Done = (
  rc: number,
  value: ValueRead | undefined,
  flags: number,
  result: unknown,
  error: string | undefined,
  server: string | undefined,
) => void;

/** The part of a completion a method's `interpret` needs. */
type Interpret<T> = (rc: number, value: ValueRead | undefined, flags: number, result: unknown) => T;

interface Pending {
  code: OpCode;
  wantCas: boolean;
  /** Multi-key operations: called for each item, in key order, before `done`. */
  item?: (index: number, rc: number, value: ValueRead | undefined, flags: number) => void;
  done: Done;
  /** Settles the operation with `error` when it never reaches a server (see #refused). */
  reject: (error: unknown) => void;
}

type StoreCode = OpCode.Set | OpCode.Add | OpCode.Replace | OpCode.Append | OpCode.Prepend;

const STORE_NAMES: Record<StoreCode, string> = {
  [OpCode.Set]: 'set',
  [OpCode.Add]: 'add',
  [OpCode.Replace]: 'replace',
  [OpCode.Append]: 'append',
  [OpCode.Prepend]: 'prepend',
};

/** A key as text: result objects use it as property name (Buffer keys are read as UTF-8). */
function keyText(key: Key): string {
  return typeof key === 'string' ? key : key.toString('utf8');
}

/** Soft results of storage commands: not stored, exists, or (binary replace/append) missing. */
function stored(rc: number): boolean {
  return rc === RC.SUCCESS || rc === RC.STORED;
}

/**
 * The completion of a single operation: a failing return code rejects with its error class, a
 * soft one resolves with what `interpret` makes of it (an exception it throws rejects too, and
 * never reaches the delivery loop).
 */
function settle<T>(
  operation: string,
  key: Key | undefined,
  interpret: Interpret<T>,
  resolve: (value: T) => void,
  reject: (error: unknown) => void,
): Done {
  return (rc, value, flags, result, error, server) => {
    if (!isSoft(rc)) {
      reject(errorFromReturnCode(rc, operation, key === undefined ? undefined : keyText(key), error, server));
      return;
    }
    try {
      resolve(interpret(rc, value, flags, result));
    } catch (failure) {
      reject(failure);
    }
  };
}

/** A submission waiting for an earlier operation's value to be compressed (see #whenReady). */
interface Gated {
  ready: boolean;
  submit: () => void;
  /** Settles the operation instead, when `submit` throws. */
  fail: (error: unknown) => void;
}

/** An operation's values, encoded; a Promise while a large one is compressed off-thread. */
type Prepared<T> = T | Promise<T>;

/** The name of `value` in a table of names (pylibmc's hashers, distributions), else the number. */
function nameOf(table: Readonly<Record<string, number>>, value: number | undefined): string | number {
  const found = Object.keys(table).find((name) => table[name] === value);
  return found ?? (value as number);
}

/**
 * The options objects clone() makes, each with the native client it copies: the new client's
 * configuration handle is then a copy of that client's, which places keys exactly as it does.
 * Keyed by an object only clone() holds, so no other construction can pick one up.
 */
const cloneSources = new WeakMap<ClientOptions, NativeClient>();

/** What a UDP client can do: writes that need no answer, and what never touches a server. */
const UDP_OPERATIONS = new Set([OpCode.Set, OpCode.Delete, OpCode.Close, OpCode.Disconnect, OpCode.GetBehaviors, OpCode.SetBehaviors]);

/** GetBehaviors' request: the ids of every behavior libmemcached knows, as uint32 words. */
const BEHAVIOR_IDS = Buffer.from(
  new Uint32Array(BEHAVIOR_NAMES.map((name) => BEHAVIORS[name].id).filter((id): id is number => id !== undefined)).buffer,
);

/**
 * The most keys one multi-key call takes: beyond it (a sparse array of length 2^32 - 1, an
 * endless iterator) reading the keys would take the event loop down with it.
 */
export const MAX_MULTI_KEYS = 1 << 24;

/**
 * The keys of a multi-key call, copied into a dense array before anything is queued. An array
 * is read index by index (a hole reads as undefined, which checkKey refuses, where Array#map
 * would skip it and leave the call one key short); any other iterable is iterated, up to
 * MAX_MULTI_KEYS. A getter, Proxy trap or iterator that throws rejects the call with its error.
 */
function readKeys(keys: unknown, operation: string): Key[] {
  const tooMany = () => new RangeError(`${operation}: more than ${MAX_MULTI_KEYS} keys in one call`);
  if (Array.isArray(keys)) {
    const length = keys.length;
    if (length > MAX_MULTI_KEYS) throw tooMany();
    const list = new Array<Key>(length);
    for (let i = 0; i < length; i++) list[i] = keys[i] as Key;
    return list;
  }
  if (keys === null || typeof keys !== 'object' || typeof (keys as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw new TypeError(`${operation}: keys must be an iterable of keys (an array, a Set, ...)`);
  }
  const list: Key[] = [];
  for (const key of keys as Iterable<Key>) {
    if (list.length === MAX_MULTI_KEYS) throw tooMany();
    list.push(key);
  }
  return list;
}

/** `keyPrefix` of a multi-key call's options, read inside the call (a getter may throw). */
function readPrefix(options: unknown, operation: string): Key | undefined {
  if (options === undefined || options === null) return undefined;
  if (typeof options !== 'object') throw new TypeError(`${operation}: options must be an object`);
  return (options as MultiOptions).keyPrefix;
}

/** What #decode returns when the deserializer throws CacheMiss. */
const MISS = Symbol('miss');

// Not `instanceof Promise`: promises made by Node's own modules may come from another realm
// (a vm context, a jest sandbox). The object test first: looking `then` up on a string (most
// values read) would search String.prototype on every read.
function isPromise<T>(value: Prepared<T>): value is Promise<T> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

export class Client {
  /** The servers, normalised ('host:port[:weight]', 'udp:...', or a socket path). */
  readonly servers: readonly string[];
  readonly binary: boolean;
  readonly options: Readonly<ClientOptions>;

  #native: NativeClient;
  #submission: Submission;
  // Held strongly here: the addon holds it weakly while idle, so that an unused client can be
  // collected, and strongly while operations are in flight.
  #onCompleteCallback: OnComplete;
  // Operations in flight, indexed by their id, which is a slot number reused once the operation
  // completes. Not a Map: a Map churned by an add and a delete per operation rehashes its table
  // every few hundred operations, and once that table lives in the old generation each new one
  // is allocated there too; the discarded tables keep their entries, so every scavenge found
  // the in-flight operations (and whatever their promises held) alive through dead tables.
  // Measured: after one large getMulti had tenured the Map, 64 gets in flight spent 4-7 ms per
  // scavenge with 20-35% of the young generation surviving; with slots, 0.3 ms and under 1%.
  #pending: Array<Pending | undefined> = [];
  #freeIds: number[] = [];
  #closing: Promise<void> | undefined;
  #compress: CompressOptions;
  // libmemcached puts it in front of every key; checkKey counts it in the 250-byte limit.
  #namespace: string;
  // Set when serialize/deserialize are replaced (by an option or a subclass): the default
  // serializer has a faster path that skips the [bytes, flags] array.
  #customSerialize: boolean;
  #customDeserialize: boolean;
  // Operations issued after one whose value is still being compressed off-thread wait here, in
  // issue order, so that a get issued after a set still sees that set.
  #gate: Gated[] = [];
  // Over UDP libmemcached sends requests without reading any reply: only writes whose answer
  // can be "sent" are offered (see #checkUdp).
  #udp: boolean;
  // The behaviors set so far, as given (names for hash and distribution): some are read back
  // from here rather than from libmemcached (see getBehaviors).
  #behaviors: Record<string, number | string>;
  // How many native I/O threads serve this client (see the connections option).
  #ioThreads: number;
  // The verify_keys behavior (text protocol): keys must then be printable ASCII (see checkKey).
  // A copy of what #keysMustBeAscii derives from #behaviors, for the per-key checks.
  #verifyKeys: boolean;

  constructor(servers: ServerList, given: ClientOptions = {}) {
    if (given === null || typeof given !== 'object' || Array.isArray(given)) throw new TypeError('options must be an object');
    // Read once: a getter (or Proxy) answering differently on each read cannot pass the checks
    // with one value and configure the client with another.
    const options: ClientOptions = { ...given };
    const parsed = parseServers(servers);
    const sasl = options.username !== undefined || options.password !== undefined;
    if (sasl) {
      if (typeof options.username !== 'string' || typeof options.password !== 'string') {
        throw new TypeError('username and password must both be strings');
      }
      // SASL exists only in the binary protocol; pylibmc makes you say binary=True, here it follows.
      if (options.binary === false) throw new RangeError('SASL (username/password) needs the binary protocol; leave binary unset or true');
    }
    if (options.binary !== undefined && typeof options.binary !== 'boolean') throw new TypeError('binary must be a boolean');
    this.binary = options.binary === true || sasl;
    const connections = options.connections ?? 1;
    if (typeof connections !== 'number') throw new TypeError(`connections must be a number, got ${typeof connections}`);
    if (!Number.isInteger(connections) || connections < 1 || connections > 64) {
      throw new RangeError(`connections must be an integer from 1 to 64, got ${String(connections)}`);
    }
    const maxValueSize = checkMaxValueSize(options.maxValueSize, 'Client');
    this.#compress = {
      minCompressLen: checkMinCompressLen(options.minCompressLen, 'Client'),
      compressLevel: checkCompressLevel(options.compressLevel, 'Client'),
    };
    if (options.failover !== undefined && typeof options.failover !== 'boolean') throw new TypeError('failover must be a boolean');
    const udp = parsed.some((server) => server.transport === 'udp');
    const behaviors = resolveBehaviors(options.failover ? withFailover(options.behaviors) : options.behaviors, this.binary, 'Client', udp);
    if (options.namespace !== undefined && behaviors.namespace !== undefined && options.namespace !== behaviors.namespace) {
      throw new RangeError('namespace given twice (as an option and among the behaviors) with different values');
    }
    const namespace = checkNamespace(options.namespace ?? behaviors.namespace, 'Client');
    this.#behaviors = behaviors.given;
    this.#verifyKeys = this.#keysMustBeAscii();
    this.#namespace = namespace ?? '';
    for (const hook of ['serialize', 'deserialize'] as const) {
      if (options[hook] !== undefined && typeof options[hook] !== 'function') throw new TypeError(`${hook} must be a function`);
    }
    // Options win over methods (a subclass's included); pylibmc likewise decides once, here.
    if (options.serialize) this.serialize = options.serialize;
    if (options.deserialize) this.deserialize = options.deserialize;
    this.#customSerialize = this.serialize !== Client.prototype.serialize;
    this.#customDeserialize = this.deserialize !== Client.prototype.deserialize;
    this.options = Object.freeze({ ...options });
    const config: NativeConfig = {
      servers: parsed,
      behaviors: [
        [behaviorId('MEMCACHED_BEHAVIOR_BINARY_PROTOCOL'), this.binary ? 1 : 0],
        [behaviorId('MEMCACHED_BEHAVIOR_TCP_NODELAY'), 1],
        // libmemcached waits 5 s per operation on a server that stops answering and 4 s per
        // connection attempt; a cache should give up sooner (both in ms).
        [behaviorId('MEMCACHED_BEHAVIOR_POLL_TIMEOUT'), 1000],
        [behaviorId('MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT'), 1000],
        ...behaviors.pairs,
      ],
      username: sasl ? options.username : undefined,
      password: sasl ? options.password : undefined,
      namespace,
      connections,
      maxValueSize,
    };
    this.servers = Object.freeze(parsed.map(formatServer));
    this.#udp = udp;

    this.#onCompleteCallback = (meta, slab, extras, records) => this.#onComplete(meta, slab, extras, records);
    try {
      this.#native = new native.Client(config, this.#onCompleteCallback, cloneSources.get(given));
    } catch (error) {
      // libmemcached refusing a server or a behavior: its return code's error class, never a
      // plain Error.
      const rc = (error as { rc?: unknown }).rc;
      if (typeof rc !== 'number') throw error;
      throw errorFromReturnCode(rc, 'Client', undefined, (error as Error).message, undefined);
    }
    this.#ioThreads = this.#native.ioThreads();
    this.#submission = new Submission(this.#native, (ids, error) => this.#refused(ids, error));
  }

  // Serialization -----------------------------------------------------------------------------

  /**
   * Turns a value into `[bytes, flags]` for storage, in pylibmc's wire format (see the README).
   * Override it in a subclass, or pass the `serialize` option, to store values your own way;
   * compression (flag 8) is applied afterwards, to whatever it returns.
   */
  serialize(value: unknown): [bytes: Buffer | Uint8Array, flags: number] {
    const { bytes, flags } = encodeValue(value, 'serialize');
    return [typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes, flags];
  }

  /**
   * Turns stored bytes and their flags back into a value: pylibmc's types, this client's JSON,
   * booleans and bigints. `bytes` has already been inflated when the flags have bit 8; the
   * flags are passed as stored. Throw CacheMiss to make the read a miss.
   */
  deserialize(bytes: Buffer, flags: number): unknown {
    return decodeValue(bytes, flags);
  }

  // Reading -----------------------------------------------------------------------------------

  /** The value stored under `key`, or `defaultValue` (undefined when omitted) on a miss. */
  get<T = unknown>(key: Key): Promise<T | undefined>;
  get<T = unknown, D = T>(key: Key, defaultValue: D): Promise<T | D>;
  get(key: Key, defaultValue?: unknown): Promise<unknown> {
    return this.#single('get', OpCode.Get, key, undefined, 0, 0, false, (_rc, value, flags) => {
      if (value === undefined) return defaultValue;
      const v = this.#decode('get', key, value, flags);
      if (isPromise(v)) return v.then((w) => (w === MISS ? defaultValue : w));
      return v === MISS ? defaultValue : v;
    });
  }

  /** pylibmc's `key in client`: true when `key` has a value (fetched, as pylibmc does). */
  async has(key: Key): Promise<boolean> {
    const miss = Symbol('miss');
    return (await this.get(key, miss)) !== miss;
  }

  /**
   * The values of `keys`, by key as given (without the prefix), in an object with a null
   * prototype; misses are left out. All gets queued together travel as one multi-get.
   */
  getMulti<T = unknown>(keys: Iterable<Key>, options: MultiOptions = {}): Promise<Record<string, T>> {
    const results: Record<string, T> = Object.create(null);
    const later: Array<Promise<void>> = [];
    // The first value that could not be decoded; the others are still decoded, so that the
    // error can carry them.
    let undecodable: unknown;
    const failed = (error: unknown) => {
      if (undecodable === undefined) undecodable = error;
    };
    // A failure carries what was read and decoded, for a caller that would rather use part of a
    // multi-get than none of it.
    const withPartial = (error: unknown) => {
      if (error instanceof MemcachedError) error.partial = results;
      return error;
    };
    return this.#multi('getMulti', OpCode.Get, keys, options, undefined, (list) => (index, _rc, value, flags) => {
      if (value === undefined) return;
      const name = keyText(list[index]);
      try {
        const v = this.#decode('getMulti', list[index], value, flags);
        if (isPromise(v)) {
          later.push(
            v.then((w) => {
              if (w !== MISS) results[name] = w as T;
            }, failed),
          );
        } else if (v !== MISS) {
          results[name] = v as T;
        }
      } catch (error) {
        failed(error);
      }
    }).then(
      async () => {
        await Promise.all(later);
        if (undecodable !== undefined) throw withPartial(undecodable);
        return results;
      },
      async (error: unknown) => {
        // A server failed: the others' values ride on the error.
        await Promise.all(later);
        throw withPartial(error);
      },
    );
  }

  /** `[value, cas]` for `key`, or `[undefined, undefined]` on a miss. */
  gets<T = unknown>(key: Key): Promise<[T, bigint] | [undefined, undefined]> {
    type Result = [T, bigint] | [undefined, undefined];
    return this.#single('gets', OpCode.Get, key, undefined, 0, 0, true, (_rc, value, flags, cas) => {
      const pair = (v: unknown): Result => (v === MISS ? [undefined, undefined] : [v as T, cas as bigint]);
      if (value === undefined) return pair(MISS);
      const v = this.#decode('gets', key, value, flags);
      return isPromise(v) ? v.then(pair) : pair(v);
    });
  }

  // Writing -----------------------------------------------------------------------------------

  /** Stores `value`; `options` is `{ time, minCompressLen, compressLevel }` or a number meaning `time`. */
  set(key: Key, value: unknown, options?: StoreOptions | number): Promise<boolean> {
    return this.#store(OpCode.Set, key, value, options);
  }

  /** Stores only if `key` has no value. */
  add(key: Key, value: unknown, options?: StoreOptions | number): Promise<boolean> {
    return this.#store(OpCode.Add, key, value, options);
  }

  /** Stores only if `key` has a value; false otherwise, in both protocols. */
  replace(key: Key, value: unknown, options?: StoreOptions | number): Promise<boolean> {
    return this.#store(OpCode.Replace, key, value, options);
  }

  /**
   * Appends the serialized bytes of `value` to an existing value, never compressed: memcached
   * concatenates raw bytes and keeps the existing flags.
   */
  append(key: Key, value: unknown): Promise<boolean> {
    return this.#store(OpCode.Append, key, value, undefined);
  }

  /** Prepends, as append does. */
  prepend(key: Key, value: unknown): Promise<boolean> {
    return this.#store(OpCode.Prepend, key, value, undefined);
  }

  /** Stores every entry; resolves with the keys (as given) that were not stored. */
  setMulti(mapping: Record<string, unknown> | Map<Key, unknown>, options: StoreMultiOptions = {}): Promise<Key[]> {
    return this.#storeMulti('setMulti', OpCode.Set, mapping, options);
  }

  /** Stores every entry whose key has no value; resolves with the keys that were not stored. */
  addMulti(mapping: Record<string, unknown> | Map<Key, unknown>, options: StoreMultiOptions = {}): Promise<Key[]> {
    return this.#storeMulti('addMulti', OpCode.Add, mapping, options);
  }

  /** Stores `value` if `key` still has the token `cas` from gets(): true if swapped, false if stale. */
  cas(key: Key, value: unknown, cas: bigint, options?: CasOptions | number): Promise<boolean> {
    return this.#guard('cas', () => {
      const token = checkCasToken(cas, 'cas');
      const { exptime, compress: compressOptions } = this.#storeOptions('cas', options);
      const encoded = this.#encode('cas', value, compressOptions);
      return this.#single('cas', OpCode.Cas, key, encoded, exptime, token, false, (rc) => {
        if (rc === RC.NOTFOUND) throw new NotFound(`cas(${keyText(key)}): MEMCACHED_NOTFOUND`);
        return stored(rc);
      });
    });
  }

  // Counters ----------------------------------------------------------------------------------

  /** Adds `delta` (default 1) and returns the new value: a number, or a bigint beyond 2^53 - 1. */
  incr(key: Key, delta?: number | bigint): Promise<number | bigint> {
    return this.#counter('incr', OpCode.Incr, key, delta);
  }

  /** Subtracts `delta` (default 1), stopping at 0, and returns the new value. */
  decr(key: Key, delta?: number | bigint): Promise<number | bigint> {
    return this.#counter('decr', OpCode.Decr, key, delta);
  }

  /**
   * Increments every key by `delta`. Every key is attempted; if some were missing, rejects
   * with NotFound afterwards (the others stay incremented, as in pylibmc).
   */
  incrMulti(keys: Iterable<Key>, options: IncrMultiOptions = {}): Promise<void> {
    let missing = 0;
    return this.#guard('incrMulti', () => {
      const delta = checkDelta(options?.delta, 'incrMulti');
      return this.#multi('incrMulti', OpCode.Incr, keys, options, undefined, () => (_index, rc) => {
        if (rc === RC.NOTFOUND) missing++;
      }, delta);
    }).then(() => {
      if (missing > 0) throw new NotFound(`incrMulti: ${missing} keys not found`);
    });
  }

  // Deleting and touching ---------------------------------------------------------------------

  /** Deletes `key`; false when it had no value. */
  delete(key: Key): Promise<boolean> {
    return this.#single('delete', OpCode.Delete, key, undefined, 0, 0, false, (rc) => rc === RC.SUCCESS);
  }

  /** Deletes every key; true only when every one of them was deleted. */
  deleteMulti(keys: Iterable<Key>, options: MultiOptions = {}): Promise<boolean> {
    let all = true;
    return this.#multi('deleteMulti', OpCode.Delete, keys, options, undefined, () => (_index, rc) => {
      if (rc !== RC.SUCCESS) all = false;
    }).then(() => all);
  }

  /** Sets a new expiration on `key`; false when it had no value. */
  touch(key: Key, time: number): Promise<boolean> {
    return this.#guard('touch', () => {
      const exptime = checkTime(time, 'touch', this.binary);
      return this.#single('touch', OpCode.Touch, key, undefined, exptime, 0, false, (rc) => rc === RC.SUCCESS);
    });
  }
  // Whole client ------------------------------------------------------------------------------

  /** Invalidates every item on every server (after `time` seconds, if given). */
  flushAll(time?: number): Promise<boolean> {
    return this.#serverOp('flushAll', OpCode.FlushAll, () => checkTime(time, 'flushAll', this.binary), undefined, () => true);
  }

  /**
   * Statistics of every server, as pylibmc returns them: `[['host:port (index)', stats], ...]`.
   * `group` asks for a stats group ('items', 'slabs', ...).
   */
  getStats(group?: string): Promise<ServerStats[]> {
    if (group !== undefined && (typeof group !== 'string' || /[\s\u0000-\u001f]/.test(group) || group === '')) {
      return Promise.reject(new TypeError('getStats: group must be a non-empty string without spaces'));
    }
    return this.#serverOp('getStats', OpCode.Stats, () => 0, group, (_rc, _value, _flags, result) =>
      (result as Array<[string, string[]]>).map(([name, flat]): ServerStats => {
        const stats: Record<string, string> = Object.create(null);
        for (let i = 0; i < flat.length; i += 2) stats[flat[i]] = flat[i + 1];
        return [name, stats];
      }),
    );
  }

  /** Closes every connection; the next operation reconnects. */
  disconnectAll(): Promise<void> {
    return this.#serverOp('disconnectAll', OpCode.Disconnect, () => 0, undefined, () => undefined);
  }

  /** The index (into `servers`) of the server `key` maps to. */
  hash(key: Key): Promise<number> {
    return this.#guard('hash', () => {
      checkKey(key, 'hash', 0, true);
      return Promise.resolve(this.#native.hash(key));
    });
  }

  /** A new client with the same configuration and its own connections and I/O threads. */
  clone(): Client {
    if (this.#closing) throw new ClientClosedError('clone');
    // The namespace too: it may have come among the behaviors, which #behaviors leaves out.
    const options: ClientOptions = {
      ...this.options,
      namespace: this.#namespace || undefined,
      behaviors: { ...this.#behaviors },
    };
    // The behaviors are checked again and kept for getBehaviors, but libmemcached's handle is
    // copied from this client's rather than made from them: behaviors changed by setBehaviors
    // on a weighted server list, or merged from several calls, would place keys differently
    // from this client if applied anew (see the README's Distribution).
    cloneSources.set(options, this.#native);
    return new Client([...this.servers], options);
  }

  /**
   * The behaviors, as pylibmc's `get_behaviors()` returns them: every name, `hash` and
   * `distribution` as names, the rest as numbers. Read on an I/O thread: reading the socket
   * buffer sizes makes libmemcached connect to the first server.
   */
  getBehaviors(): Promise<Record<string, number | string>> {
    return this.#serverOp('getBehaviors', OpCode.GetBehaviors, () => 0, BEHAVIOR_IDS, (_rc, _value, _flags, result) => {
      const [[, flat]] = result as Array<[string, string[]]>;
      const byId = new Map<number, number>();
      for (let i = 0; i < flat.length; i += 2) byId.set(Number(flat[i]), Number(flat[i + 1]));
      const out: Record<string, number | string> = {};
      for (const name of BEHAVIOR_NAMES) {
        const { id } = BEHAVIORS[name];
        if (name === 'pickle_protocol') out[name] = this.#behaviors[name] ?? -1;
        // The I/O threads always ask for CAS tokens and buffer writes to pipeline them (results
        // stay truthful): these two read back as set, not as the threads run.
        else if (name === 'cas' || name === 'buffer_requests') out[name] = this.#behaviors[name] ?? 0;
        else if (name === 'hash') out[name] = nameOf(HASHERS, byId.get(id as number));
        else if (name === 'distribution') out[name] = nameOf(DISTRIBUTIONS, byId.get(id as number));
        else out[name] = byId.get(id as number) as number;
      }
      return out;
    });
  }

  /**
   * Changes behaviors on the live client: checked and applied to the configuration at once (so
   * hash() follows), then on every I/O thread after the operations already issued.
   */
  setBehaviors(behaviors: Behaviors): Promise<void> {
    return this.#guard('setBehaviors', () => {
      const resolved = resolveBehaviors(behaviors, this.binary, 'setBehaviors', this.#udp);
      if (resolved.namespace !== undefined) throw new RangeError('setBehaviors: the namespace is fixed when the client is made');
      // (id, value) uint32 pairs: behavior values are checked to fit 31 bits. The same words go
      // to the master now and to every I/O thread through the queue.
      const words = new Uint32Array(resolved.pairs.flat());
      try {
        this.#native.setBehaviors(words);
      } catch (error) {
        const rc = (error as { rc?: number }).rc;
        throw rc === undefined ? error : errorFromReturnCode(rc, 'setBehaviors', undefined, (error as Error).message, undefined);
      }
      Object.assign(this.#behaviors, resolved.given);
      this.#verifyKeys = this.#keysMustBeAscii();
      const applied = this.#serverOp('setBehaviors', OpCode.SetBehaviors, () => 0, Buffer.from(words.buffer), () => undefined);
      if (this.#ioThreads > 1) {
        // Each server has I/O threads of its own, and a new distribution may give a key
        // another server, hence another thread: operations issued from now on wait until every
        // thread has applied the change, so that none overtakes an earlier one on its key.
        const settled = applied.then(
          () => undefined,
          () => undefined,
        );
        this.#whenReady(settled, () => undefined, () => undefined);
      }
      return applied;
    });
  }

  /** Waits for in-flight operations, then closes every connection and stops the I/O threads. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = new Promise<void>((resolve) => {
      // Closing cannot fail: should the addon refuse the close itself, it is disposed of all the
      // same (which joins its threads).
      const finish = () => {
        this.#native.dispose();
        resolve();
      };
      const id = this.#track({ code: OpCode.Close, wantCas: false, done: finish, reject: finish });
      // After anything still waiting for its value's compression: close waits for it too.
      this.#whenReady(
        undefined,
        () => {
          this.#submission.begin();
          this.#submission.push(OpCode.Close, id);
          this.#submission.flush();
        },
        finish,
      );
    });
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // Internals ---------------------------------------------------------------------------------

  /** Registers an operation in flight; its id names it to the addon until it completes. */
  #track(pending: Pending): number {
    const id = this.#freeIds.length > 0 ? (this.#freeIds.pop() as number) : this.#pending.length;
    this.#pending[id] = pending;
    return id;
  }

  /** Whether verify_keys is on in the text protocol (the binary protocol refuses it). */
  #keysMustBeAscii(): boolean {
    return !this.binary && Boolean(this.#behaviors.verify_keys);
  }

  /** Forgets an operation that never reached the addon. */
  #untrack(id: number): void {
    this.#pending[id] = undefined;
    this.#freeIds.push(id);
  }

  /**
   * The addon refused a whole batch (it threw in submit: released under us, or a malformed
   * batch, which the submission's rollback should make impossible): none of its operations will
   * complete, so each is settled here instead of being left pending.
   */
  #refused(ids: number[], error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    for (const id of ids) {
      const pending = this.#pending[id];
      if (pending === undefined) continue;
      this.#untrack(id);
      const failure = new Failure(`the native client refused the request: ${message}`);
      try {
        pending.reject(failure);
      } catch {
        // (a close whose disposal failed: nothing else to settle)
      }
    }
  }

  /**
   * Runs `submit` now, or after the operations issued before it that still wait for a value to
   * be compressed. `encoded` is what `submit` needs; a Promise gates everything issued later
   * until it settles (`failed` then settles this operation instead of submitting it).
   */
  #whenReady<T>(encoded: Prepared<T>, submit: (value: T) => void, failed: (error: unknown) => void): void {
    if (!isPromise(encoded)) {
      if (this.#gate.length === 0) submit(encoded);
      else this.#gate.push({ ready: true, submit: () => submit(encoded), fail: failed });
      return;
    }
    const entry: Gated = { ready: false, submit: () => undefined, fail: failed };
    this.#gate.push(entry);
    encoded.then(
      (value) => {
        entry.submit = () => submit(value);
      },
      (error: unknown) => {
        entry.submit = () => failed(error);
      },
    ).then(() => {
      entry.ready = true;
      this.#drainGate();
    });
  }

  /**
   * Submits the operations at the head of the gate that are ready, in order. One whose submit
   * throws is settled with the error; the others go on.
   */
  #drainGate(): void {
    while (this.#gate.length > 0 && this.#gate[0].ready) {
      const entry = this.#gate.shift() as Gated;
      try {
        entry.submit();
      } catch (error) {
        entry.fail(error);
      }
    }
  }

  #push(
    code: OpCode,
    key: Key,
    keyBytes: number,
    value: string | Buffer | undefined,
    flags: number,
    exptime: number,
    number: bigint | number,
    wantCas: boolean,
    done: Done,
    reject: (error: unknown) => void,
  ): void {
    const id = this.#track({ code, wantCas, done, reject });
    const submission = this.#submission;
    submission.begin();
    try {
      const h = submission.push(code, id, number, wantCas);
      submission.item(h, undefined, key, keyBytes, value, flags, exptime);
    } catch (error) {
      submission.rollback();
      this.#untrack(id);
      throw error;
    }
    submission.commit();
  }

  /** Over UDP, only set and delete (and their multi forms) make sense; the rest is refused here. */
  #checkUdp(operation: string, code: OpCode): void {
    if (this.#udp && !UDP_OPERATIONS.has(code)) {
      throw new NotSupportedError(
        `${operation}: not supported over UDP (libmemcached sends UDP requests without reading replies; only set and delete are sent, fire and forget)`,
      );
    }
  }

  /** Runs `start` so that any exception it throws becomes a rejection. */
  #guard<T>(operation: string, start: () => Promise<T>): Promise<T> {
    try {
      if (this.#closing) throw new ClientClosedError(operation);
      return start();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * The serialized (and maybe compressed) form of `value`; compression skipped without options.
   *
   * The call captures the value: bytes the caller still holds (a Buffer or Uint8Array value, or
   * what a custom serializer returned) are copied here when they would be read after the call
   * returns: queued behind an earlier operation's compression (the gate), or compressed on the
   * thread pool. Otherwise they are copied within the call anyway: into the request buffer when
   * small, by the addon when large (the submission hands a batch holding a Buffer over at once,
   * see Submission#commit). So filling a Buffer after `set(key, buffer)` never changes what is
   * stored, whatever its size; a copy made here would cost a fresh allocation per value (at
   * 256 KiB, seven times the time of the whole set, in garbage collection).
   */
  #encode(operation: string, value: unknown, options: CompressOptions | undefined): Prepared<Encoded> {
    let encoded: Encoded;
    let borrowed: boolean;
    if (this.#customSerialize) {
      const out: unknown = this.serialize(value);
      if (
        !Array.isArray(out) ||
        out.length !== 2 ||
        !types.isUint8Array(out[0]) ||
        !Number.isInteger(out[1]) ||
        out[1] < 0 ||
        out[1] > 0xffffffff
      ) {
        throw new TypeError(`${operation}: serialize() must return [Buffer, flags] with flags an integer from 0 to 2^32 - 1`);
      }
      const bytes = out[0] as Uint8Array;
      encoded = { bytes: Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), flags: out[1] as number };
      borrowed = true;
    } else {
      encoded = encodeValue(value, operation);
      borrowed = typeof encoded.bytes !== 'string' && types.isUint8Array(value);
    }
    if (borrowed && (this.#gate.length > 0 || (options !== undefined && options.minCompressLen !== 0 && options.compressLevel !== 0))) {
      encoded = { bytes: Buffer.from(encoded.bytes as Buffer), flags: encoded.flags };
    }
    return options === undefined ? encoded : compress(encoded, options);
  }

  /**
   * Decodes a value read for `key`: inflates it (flag 8), then deserializes it. MISS when the
   * deserializer throws CacheMiss. Large compressed values are inflated off-thread, so the
   * result may be a Promise (of a value or MISS).
   */
  #decode(operation: string, key: Key, bytes: ValueRead, flags: number): unknown {
    if (typeof bytes === 'string') return bytes; // text, decoded already (#onComplete)
    if ((flags & FLAG_ZLIB) === 0) return this.#deserializeRead(operation, key, bytes, flags);
    let inflated: Buffer | Promise<Buffer>;
    try {
      inflated = inflate(bytes, flags);
    } catch (error) {
      throw this.#decodeError(operation, key, error);
    }
    return isPromise(inflated)
      ? inflated.then(
          (raw) => this.#deserializeRead(operation, key, raw, flags),
          (error: unknown) => Promise.reject(this.#decodeError(operation, key, error)),
        )
      : this.#deserializeRead(operation, key, inflated, flags);
  }

  #deserializeRead(operation: string, key: Key, bytes: Buffer, flags: number): unknown {
    try {
      if (!this.#customDeserialize) return decodeValue(bytes, flags);
      // A user's deserializer may keep the Buffer.
      return this.deserialize(ownBytes(bytes), flags);
    } catch (error) {
      if (error instanceof CacheMiss) return MISS;
      throw this.#decodeError(operation, key, error);
    }
  }

  #decodeError(operation: string, key: Key, error: unknown): unknown {
    return error instanceof DeserializationError ? new DeserializationError(`${operation}(${keyText(key)}): ${error.message}`, error.flags) : error;
  }

  /**
   * One single-key operation. `interpret` turns the outcome of a soft return code into the
   * method's result (it may throw, or return a Promise); any other return code rejects with its
   * error class.
   */
  #single<T>(
    operation: string,
    code: OpCode,
    key: Key,
    encoded: Prepared<Encoded> | undefined,
    exptime: number,
    number: bigint | number,
    wantCas: boolean,
    interpret: Interpret<Prepared<T>>,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#closing) throw new ClientClosedError(operation);
      this.#checkUdp(operation, code);
      const keyBytes = checkKey(key, operation, this.#namespace.length, this.binary, this.#verifyKeys);
      const done = settle(operation, key, interpret, resolve, reject);
      // The common case, without the closure #whenReady needs: nothing waits for compression.
      if (!isPromise(encoded) && this.#gate.length === 0) {
        this.#push(code, key, keyBytes, encoded?.bytes, encoded?.flags ?? 0, exptime, number, wantCas, done, reject);
        return;
      }
      // Sent later, behind a compression: the key is captured now, as checked (a Buffer changed
      // by the caller meanwhile would otherwise be sent as changed, unchecked).
      const held = Buffer.isBuffer(key) ? Buffer.from(key) : key;
      this.#whenReady(
        encoded,
        (e) => this.#push(code, held, keyBytes, e?.bytes, e?.flags ?? 0, exptime, number, wantCas, done, reject),
        reject,
      );
    });
  }

  /**
   * One multi-key operation. Every key (and the prefix, from `options`) is read and validated,
   * and every value encoded, before anything is queued: a hole in the array, a throwing getter
   * or iterator, or a bad key rejects this call alone. `onItem` sees each key's outcome; the call
   * rejects with the first failure that is not a soft answer.
   */
  #multi(
    operation: string,
    code: OpCode,
    keys: unknown,
    options: unknown,
    values: ((index: number) => Prepared<Encoded>) | undefined,
    onItem: (list: Key[]) => NonNullable<Pending['item']>,
    number: bigint | number = 0,
    exptime = 0,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.#closing) throw new ClientClosedError(operation);
      this.#checkUdp(operation, code);
      const list = readKeys(keys, operation);
      let prefix = readPrefix(options, operation);
      const extra = this.#checkPrefix(prefix as unknown as Key | undefined, operation);
      const lengths = new Array<number>(list.length);
      for (let i = 0; i < list.length; i++) lengths[i] = checkKey(list[i], operation, extra + this.#namespace.length, this.binary, this.#verifyKeys) + extra;
      const prepared = values ? list.map((_key, i) => values(i)) : [];
      if (list.length === 0) {
        resolve();
        return;
      }
      const submit = (encoded: Encoded[]) => {
        const done = settle(operation, undefined, () => undefined, resolve, reject);
        const id = this.#track({ code, wantCas: false, item: onItem(list), done, reject });
        const submission = this.#submission;
        submission.begin();
        try {
          submission.pushMulti(code, id, list.length, number);
          for (let i = 0; i < list.length; i++) {
            const e = encoded[i];
            submission.item(undefined, prefix, list[i], lengths[i], e?.bytes, e?.flags, exptime);
          }
        } catch (error) {
          submission.rollback();
          this.#untrack(id);
          throw error;
        }
        submission.commit();
      };
      const anyAsync = prepared.some(isPromise);
      if (anyAsync || this.#gate.length > 0) {
        // Sent later, behind a compression: Buffer keys (and prefix) are captured now, as checked.
        for (let i = 0; i < list.length; i++) if (Buffer.isBuffer(list[i])) list[i] = Buffer.from(list[i] as Buffer);
        if (Buffer.isBuffer(prefix)) prefix = Buffer.from(prefix);
      }
      this.#whenReady(anyAsync ? Promise.all(prepared) : (prepared as Encoded[]), submit, reject);
    });
  }

  #checkPrefix(prefix: Key | undefined, operation: string): number {
    if (prefix === undefined) return 0;
    if (!isKey(prefix)) throw new TypeError(`${operation}: keyPrefix must be a string or a Buffer`);
    if (prefix.length === 0) return 0;
    // A prefix alone must be a valid key fragment: no forbidden bytes in the text protocol.
    return checkKey(prefix, `${operation} keyPrefix`, 0, this.binary, this.#verifyKeys);
  }

  /** Expiration and compression settings of a store call; the client's defaults fill the gaps. */
  #storeOptions(operation: string, options: StoreOptions | number | undefined): { exptime: number; compress: CompressOptions } {
    const opts: StoreOptions = typeof options === 'number' ? { time: options } : (options ?? {});
    if (opts === null || typeof opts !== 'object') throw new TypeError(`${operation}: options must be an object or a number`);
    return {
      exptime: checkTime(opts.time, operation, this.binary),
      compress: {
        minCompressLen:
          opts.minCompressLen === undefined ? this.#compress.minCompressLen : checkMinCompressLen(opts.minCompressLen, operation),
        compressLevel:
          opts.compressLevel === undefined ? this.#compress.compressLevel : checkCompressLevel(opts.compressLevel, operation),
      },
    };
  }

  #store(code: StoreCode, key: Key, value: unknown, options: StoreOptions | number | undefined): Promise<boolean> {
    const operation = STORE_NAMES[code];
    return this.#guard(operation, () => {
      // append/prepend bytes are never compressed: memcached concatenates them to stored bytes.
      const raw = code === OpCode.Append || code === OpCode.Prepend;
      const { exptime, compress: compressOptions } = raw ? { exptime: 0, compress: undefined } : this.#storeOptions(operation, options);
      const encoded = this.#encode(operation, value, compressOptions);
      return this.#single(operation, code, key, encoded, exptime, 0, false, (rc) => stored(rc));
    });
  }

  #storeMulti(
    operation: string,
    code: OpCode.Set | OpCode.Add,
    mapping: Record<string, unknown> | Map<Key, unknown>,
    options: StoreMultiOptions,
  ): Promise<Key[]> {
    const failed: Key[] = [];
    return this.#guard(operation, () => {
      if (mapping === null || typeof mapping !== 'object' || Array.isArray(mapping)) {
        throw new TypeError(`${operation}: mapping must be a plain object or a Map`);
      }
      const entries: Array<[Key, unknown]> = types.isMap(mapping) ? [...(mapping as Map<Key, unknown>)] : Object.entries(mapping);
      const { exptime, compress: compressOptions } = this.#storeOptions(operation, options);
      return this.#multi(
        operation,
        code,
        entries.map(([key]) => key),
        options,
        (i) => this.#encode(operation, entries[i][1], compressOptions),
        (list) => (index, rc) => {
          if (!stored(rc)) failed.push(list[index]);
        },
        0,
        exptime,
      );
    }).then(() => failed);
  }

  #counter(operation: string, code: OpCode.Incr | OpCode.Decr, key: Key, delta: unknown): Promise<number | bigint> {
    return this.#guard(operation, () => {
      const d = checkDelta(delta, operation);
      return this.#single(operation, code, key, undefined, 0, d, false, (rc, _value, _flags, result) => {
        if (rc === RC.NOTFOUND) throw new NotFound(`${operation}(${keyText(key)}): MEMCACHED_NOTFOUND`);
        return result as number | bigint;
      });
    });
  }

  #serverOp<T>(
    operation: string,
    code: OpCode.FlushAll | OpCode.Stats | OpCode.Disconnect | OpCode.GetBehaviors | OpCode.SetBehaviors,
    exptime: () => number,
    arg: string | Buffer | undefined,
    interpret: Interpret<T>,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#closing) throw new ClientClosedError(operation);
      this.#checkUdp(operation, code);
      const time = exptime();
      const done = settle(operation, undefined, interpret, resolve, reject);
      this.#whenReady(undefined, () => this.#push(code, '', 0, arg, 0, time, 0, false, done, reject), reject);
    });
  }

  /** Settles the operations of one delivery; true when no view of `slab` was kept (see OnComplete). */
  #onComplete(meta: Uint32Array, slab: Buffer, extras: unknown[], records: number): boolean {
    let offset = 0;
    let x = 0;
    let slabShared = false;
    // Plain text (flags exactly FLAG_TEXT) under the default deserializer is decoded here,
    // straight out of the slab: no Buffer view per value. Measured on getMulti(100) against a
    // stub addon: the views and their separate decoding were 14% of the JavaScript time.
    const decodesText = !this.#customDeserialize;
    const take = (length: number, flags: number): ValueRead | undefined => {
      if (length === NO_VALUE) return undefined;
      if (length === VALUE_IN_EXTRAS) return extras[x++] as Buffer;
      const start = offset;
      offset += length;
      // (No encoding named: toString then goes straight to UTF-8, skipping the encoding lookup.)
      if (decodesText && flags === FLAG_TEXT) return slab.toString(undefined, start, offset);
      slabShared = true;
      return slab.subarray(start, offset);
    };
    const end = records * META_WORDS;
    for (let i = 0; i < end; i += META_WORDS) {
      const id = meta[i];
      const rc = meta[i + 1];
      const pending = this.#pending[id] as Pending;
      this.#pending[id] = undefined;
      this.#freeIds.push(id);
      let value: ValueRead | undefined;
      let flags = 0;
      let result: unknown;
      // The records and extras are read in full whatever a callback does: one that throws (it
      // should not) rejects its own operation, and every later one in this delivery still gets
      // its own answer, read from the right place.
      let thrown: { error: unknown } | undefined;
      if (meta[i + 3] === MULTI_RECORD) {
        const count = meta[i + 2];
        for (let k = 0; k < count; k++) {
          i += META_WORDS;
          const itemValue = take(meta[i + 2], meta[i + 1]);
          try {
            pending.item!(k, meta[i], itemValue, meta[i + 1]);
          } catch (error) {
            thrown ??= { error };
          }
        }
      } else {
        // Extras come in the order src/client.cc Deliver writes them.
        flags = meta[i + 2];
        value = take(meta[i + 3], flags);
        if (pending.wantCas && value !== undefined) result = extras[x++];
        if (rc === RC.SUCCESS && (pending.code === OpCode.Incr || pending.code === OpCode.Decr)) result = extras[x++];
        if (isSoft(rc) && (pending.code === OpCode.Stats || pending.code === OpCode.GetBehaviors)) result = extras[x++];
      }
      let error: string | undefined;
      let server: string | undefined;
      if (!isSoft(rc)) {
        error = extras[x++] as string;
        server = extras[x++] as string | undefined;
      }
      try {
        if (thrown === undefined) pending.done(rc, value, flags, result, error, server);
        else pending.reject(thrown.error);
      } catch {
        // Nothing settles by throwing (settle catches what interpret throws): this only keeps
        // the loop going, so that no later operation of the delivery is lost.
      }
    }
    return !slabShared;
  }
}
