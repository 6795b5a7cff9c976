/**
 * The Client: pylibmc's operations as Promises over the native engine.
 *
 * Every argument is checked here, before anything is queued: a bad key or number rejects with
 * a typed error and causes no I/O. Methods never throw synchronously; they return a rejected
 * Promise instead. A multi-key method queues one multi-key operation; the I/O thread turns
 * any run of gets (single or multi-key) into multi-gets and pipelines runs of sets and deletes.
 */
import { ClientClosedError, NotFound, errorFromReturnCode } from './errors';
import { Key, checkKey, isKey } from './keys';
import { META_WORDS, MULTI_RECORD, NO_VALUE, NativeClient, NativeConfig, OpCode, VALUE_IN_EXTRAS, native } from './native';
import { ServerList, formatServer, parseServers } from './servers';
import { Submission } from './submission';
import { checkCasToken, checkCompressLevel, checkDelta, checkMinCompressLen, checkTime } from './validate';
import { CompressOptions, Encoded, Value, compress, decodeValue, encodeValue } from './values';

export type { Value };

export interface ClientOptions {
  /** The binary protocol (needed for SASL). Default false: libmemcached's text protocol is faster. */
  binary?: boolean;
  /**
   * Native I/O threads, each with its own connection to every server. Operations on one key
   * always use the same thread, so they stay in order. Default 1 (see the README for why).
   */
  connections?: number;
  /** Defaults for set/add/replace/setMulti/addMulti/cas: compress values at least this long (0 = never). */
  minCompressLen?: number;
  /** Defaults for the same: zlib level, -1 (zlib's default) or 0..9. */
  compressLevel?: number;
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

/** libmemcached return codes the client interprets itself. */
const enum RC {
  SUCCESS = 0,
  DATA_EXISTS = 12,
  NOTSTORED = 14,
  STORED = 15,
  NOTFOUND = 16,
  END = 21,
  DELETED = 22,
  BUFFERED = 32,
}

/** Return codes that are answers, not failures; mirrors IsSoftResult in src/operation.cc. */
function isSoft(rc: number): boolean {
  return (
    rc === RC.SUCCESS ||
    rc === RC.DATA_EXISTS ||
    rc === RC.NOTSTORED ||
    rc === RC.STORED ||
    rc === RC.NOTFOUND ||
    rc === RC.END ||
    rc === RC.DELETED ||
    rc === RC.BUFFERED
  );
}

/**
 * What a completed operation reports to its waiter, as positional arguments (no object per
 * operation): the return code, the value read, its flags, the operation's result (gets: CAS
 * token; incr/decr: new value; stats: the raw list), and for failures libmemcached's message and
 * the server involved.
 */
type Done = (
  rc: number,
  value: Buffer | undefined,
  flags: number,
  result: unknown,
  error: string | undefined,
  server: string | undefined,
) => void;

/** The part of a completion a method's `interpret` needs. */
type Interpret<T> = (rc: number, value: Buffer | undefined, flags: number, result: unknown) => T;

interface Pending {
  code: OpCode;
  wantCas: boolean;
  /** Multi-key operations: called for each item, in key order, before `done`. */
  item?: (index: number, rc: number, value: Buffer | undefined, flags: number) => void;
  done: Done;
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

export class Client {
  /** The servers, normalised ('host:port[:weight]', 'udp:...', or a socket path). */
  readonly servers: readonly string[];
  readonly binary: boolean;
  readonly options: Readonly<ClientOptions>;

  #native: NativeClient;
  #submission: Submission;
  // Held strongly here: the addon holds it weakly while idle, so that an unused client can be
  // collected, and strongly while operations are in flight.
  #onCompleteCallback: (meta: Uint32Array, slab: Buffer, extras: unknown[]) => void;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #closing: Promise<void> | undefined;
  #compress: CompressOptions;

  constructor(servers: ServerList, options: ClientOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    const parsed = parseServers(servers);
    this.binary = options.binary === true;
    const connections = options.connections ?? 1;
    if (!Number.isInteger(connections) || connections < 1 || connections > 64) {
      throw new RangeError(`connections must be an integer from 1 to 64, got ${String(connections)}`);
    }
    this.#compress = {
      minCompressLen: checkMinCompressLen(options.minCompressLen, 'Client'),
      compressLevel: checkCompressLevel(options.compressLevel, 'Client'),
    };
    this.options = Object.freeze({ ...options });
    const config: NativeConfig = {
      servers: parsed,
      behaviors: [
        [18 /* BINARY_PROTOCOL */, this.binary ? 1 : 0],
        [1 /* TCP_NODELAY */, 1],
        // libmemcached waits 5 s per operation on a server that stops answering and 4 s per
        // connection attempt; a cache should give up sooner.
        [8 /* POLL_TIMEOUT, ms */, 1000],
        [14 /* CONNECT_TIMEOUT, ms */, 1000],
      ],
      connections,
    };
    this.servers = Object.freeze(parsed.map(formatServer));
    this.#onCompleteCallback = (meta, slab, extras) => this.#onComplete(meta, slab, extras);
    this.#native = new native.Client(config, this.#onCompleteCallback);
    this.#submission = new Submission(this.#native);
  }

  // Reading -----------------------------------------------------------------------------------

  /** The value stored under `key`, or `defaultValue` (undefined when omitted) on a miss. */
  get(key: Key): Promise<Value | undefined>;
  get<D>(key: Key, defaultValue: D): Promise<Value | D>;
  get(key: Key, defaultValue?: unknown): Promise<unknown> {
    return this.#single('get', OpCode.Get, key, undefined, 0, 0, 0, false, (_rc, value, flags) =>
      value !== undefined ? decodeValue(value, flags) : defaultValue,
    );
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
  getMulti(keys: Iterable<Key>, options: MultiOptions = {}): Promise<Record<string, Value>> {
    const results: Record<string, Value> = Object.create(null);
    return this.#multi('getMulti', OpCode.Get, keys, options?.keyPrefix, undefined, (list) => (index, _rc, value, flags) => {
      if (value !== undefined) results[keyText(list[index])] = decodeValue(value, flags);
    }).then(() => results);
  }

  /** `[value, cas]` for `key`, or `[undefined, undefined]` on a miss. */
  gets(key: Key): Promise<[Value, bigint] | [undefined, undefined]> {
    return this.#single('gets', OpCode.Get, key, undefined, 0, 0, 0, true, (_rc, value, flags, cas) =>
      value !== undefined ? [decodeValue(value, flags), cas as bigint] : [undefined, undefined],
    );
  }

  // Writing -----------------------------------------------------------------------------------

  /** Stores `value`; `options` is `{ time, minCompressLen, compressLevel }` or a number meaning `time`. */
  set(key: Key, value: Value, options?: StoreOptions | number): Promise<boolean> {
    return this.#store(OpCode.Set, key, value, options);
  }

  /** Stores only if `key` has no value. */
  add(key: Key, value: Value, options?: StoreOptions | number): Promise<boolean> {
    return this.#store(OpCode.Add, key, value, options);
  }

  /** Stores only if `key` has a value; false otherwise, in both protocols. */
  replace(key: Key, value: Value, options?: StoreOptions | number): Promise<boolean> {
    return this.#store(OpCode.Replace, key, value, options);
  }

  /** Appends bytes to an existing value (never compressed: memcached concatenates raw bytes). */
  append(key: Key, value: Value): Promise<boolean> {
    return this.#store(OpCode.Append, key, value, undefined);
  }

  /** Prepends bytes to an existing value. */
  prepend(key: Key, value: Value): Promise<boolean> {
    return this.#store(OpCode.Prepend, key, value, undefined);
  }

  /** Stores every entry; resolves with the keys (as given) that were not stored. */
  setMulti(mapping: Record<string, Value> | Map<Key, Value>, options: StoreMultiOptions = {}): Promise<Key[]> {
    return this.#storeMulti('setMulti', OpCode.Set, mapping, options);
  }

  /** Stores every entry whose key has no value; resolves with the keys that were not stored. */
  addMulti(mapping: Record<string, Value> | Map<Key, Value>, options: StoreMultiOptions = {}): Promise<Key[]> {
    return this.#storeMulti('addMulti', OpCode.Add, mapping, options);
  }

  /** Stores `value` if `key` still has the token `cas` from gets(): true if swapped, false if stale. */
  cas(key: Key, value: Value, cas: bigint, options?: CasOptions | number): Promise<boolean> {
    return this.#guard('cas', () => {
      const token = checkCasToken(cas, 'cas');
      const { exptime, encoded } = this.#prepareStore('cas', value, options);
      return this.#single('cas', OpCode.Cas, key, encoded.bytes, encoded.flags, exptime, token, false, (rc) => {
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
      return this.#multi('incrMulti', OpCode.Incr, keys, options?.keyPrefix, undefined, () => (_index, rc) => {
        if (rc === RC.NOTFOUND) missing++;
      }, delta);
    }).then(() => {
      if (missing > 0) throw new NotFound(`incrMulti: ${missing} keys not found`);
    });
  }

  // Deleting and touching ---------------------------------------------------------------------

  /** Deletes `key`; false when it had no value. */
  delete(key: Key): Promise<boolean> {
    return this.#single('delete', OpCode.Delete, key, undefined, 0, 0, 0, false, (rc) => rc === RC.SUCCESS);
  }

  /** Deletes every key; true only when every one of them was deleted. */
  deleteMulti(keys: Iterable<Key>, options: MultiOptions = {}): Promise<boolean> {
    let all = true;
    return this.#multi('deleteMulti', OpCode.Delete, keys, options?.keyPrefix, undefined, () => (_index, rc) => {
      if (rc !== RC.SUCCESS) all = false;
    }).then(() => all);
  }

  /** Sets a new expiration on `key`; false when it had no value. */
  touch(key: Key, time: number): Promise<boolean> {
    return this.#guard('touch', () => {
      const exptime = checkTime(time, 'touch');
      return this.#single('touch', OpCode.Touch, key, undefined, 0, exptime, 0, false, (rc) => rc === RC.SUCCESS);
    });
  }

  // Whole client ------------------------------------------------------------------------------

  /** Invalidates every item on every server (after `time` seconds, if given). */
  flushAll(time?: number): Promise<boolean> {
    return this.#serverOp('flushAll', OpCode.FlushAll, () => checkTime(time, 'flushAll'), undefined, () => true);
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
    return new Client([...this.servers], this.options);
  }

  /** Waits for in-flight operations, then closes every connection and stops the I/O threads. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = new Promise<void>((resolve) => {
      const id = this.#newId();
      this.#pending.set(id, {
        code: OpCode.Close,
        wantCas: false,
        done: () => {
          this.#native.dispose();
          resolve();
        },
      });
      this.#submission.push(OpCode.Close, id);
      this.#submission.flush();
    });
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // Internals ---------------------------------------------------------------------------------

  #newId(): number {
    const id = this.#nextId;
    this.#nextId = id === 0xffffffff ? 1 : id + 1;
    return id;
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
  ): void {
    const id = this.#newId();
    this.#pending.set(id, { code, wantCas, done });
    const h = this.#submission.push(code, id, number, wantCas);
    this.#submission.item(h, undefined, key, keyBytes, value, flags, exptime);
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
   * One single-key operation. `interpret` turns the outcome of a soft return code into the
   * method's result (it may throw); any other return code rejects with its error class.
   */
  #single<T>(
    operation: string,
    code: OpCode,
    key: Key,
    value: string | Buffer | undefined,
    flags: number,
    exptime: number,
    number: bigint | number,
    wantCas: boolean,
    interpret: Interpret<T>,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#closing) throw new ClientClosedError(operation);
      const keyBytes = checkKey(key, operation, 0, this.binary);
      this.#push(code, key, keyBytes, value, flags, exptime, number, wantCas, (rc, v, f, result, error, server) => {
        if (!isSoft(rc)) {
          reject(errorFromReturnCode(rc, operation, keyText(key), error, server));
          return;
        }
        try {
          resolve(interpret(rc, v, f, result));
        } catch (failure) {
          reject(failure);
        }
      });
    });
  }

  /**
   * One multi-key operation: every key is validated before anything is queued; `onItem` sees
   * each key's outcome; the call rejects with the first failure that is not a soft answer.
   */
  #multi(
    operation: string,
    code: OpCode,
    keys: Iterable<Key>,
    prefix: Key | undefined,
    values: ((key: Key, index: number) => Encoded & { exptime: number }) | undefined,
    onItem: (list: Key[]) => NonNullable<Pending['item']>,
    number: bigint | number = 0,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.#closing) throw new ClientClosedError(operation);
      if (keys === null || typeof keys !== 'object' || typeof (keys as Iterable<Key>)[Symbol.iterator] !== 'function') {
        throw new TypeError(`${operation}: keys must be an iterable of keys (an array, a Set, ...)`);
      }
      const list = Array.isArray(keys) ? (keys as Key[]) : [...keys];
      const extra = this.#checkPrefix(prefix, operation);
      const lengths = list.map((key) => checkKey(key, operation, extra, this.binary) + extra);
      const encoded = values ? list.map(values) : undefined;
      if (list.length === 0) {
        resolve();
        return;
      }
      const id = this.#newId();
      this.#pending.set(id, {
        code,
        wantCas: false,
        item: onItem(list),
        done: (rc, _value, _flags, _result, error, server) => {
          if (isSoft(rc)) resolve();
          else reject(errorFromReturnCode(rc, operation, undefined, error, server));
        },
      });
      this.#submission.pushMulti(code, id, list.length, number);
      for (let i = 0; i < list.length; i++) {
        const e = encoded?.[i];
        this.#submission.item(undefined, prefix, list[i], lengths[i], e?.bytes, e?.flags, e?.exptime);
      }
    });
  }

  #checkPrefix(prefix: Key | undefined, operation: string): number {
    if (prefix === undefined) return 0;
    if (!isKey(prefix)) throw new TypeError(`${operation}: keyPrefix must be a string or a Buffer`);
    if (prefix.length === 0) return 0;
    // A prefix alone must be a valid key fragment: no forbidden bytes in the text protocol.
    return checkKey(prefix, `${operation} keyPrefix`, 0, this.binary);
  }

  #prepareStore(operation: string, value: unknown, options: StoreOptions | number | undefined) {
    const opts: StoreOptions = typeof options === 'number' ? { time: options } : (options ?? {});
    if (opts === null || typeof opts !== 'object') throw new TypeError(`${operation}: options must be an object or a number`);
    const exptime = checkTime(opts.time, operation);
    const compressOptions: CompressOptions = {
      minCompressLen:
        opts.minCompressLen === undefined ? this.#compress.minCompressLen : checkMinCompressLen(opts.minCompressLen, operation),
      compressLevel:
        opts.compressLevel === undefined ? this.#compress.compressLevel : checkCompressLevel(opts.compressLevel, operation),
    };
    const encoded: Encoded = compress(encodeValue(value, operation), compressOptions);
    return { exptime, encoded };
  }

  #store(code: StoreCode, key: Key, value: Value, options: StoreOptions | number | undefined): Promise<boolean> {
    const operation = STORE_NAMES[code];
    return this.#guard(operation, () => {
      const raw = code === OpCode.Append || code === OpCode.Prepend;
      const { exptime, encoded } = raw
        ? { exptime: 0, encoded: encodeValue(value, operation) }
        : this.#prepareStore(operation, value, options);
      return this.#single(operation, code, key, encoded.bytes, encoded.flags, exptime, 0, false, (rc) => stored(rc));
    });
  }

  #storeMulti(
    operation: string,
    code: OpCode.Set | OpCode.Add,
    mapping: Record<string, Value> | Map<Key, Value>,
    options: StoreMultiOptions,
  ): Promise<Key[]> {
    const failed: Key[] = [];
    return this.#guard(operation, () => {
      if (mapping === null || typeof mapping !== 'object' || Array.isArray(mapping)) {
        throw new TypeError(`${operation}: mapping must be a plain object or a Map`);
      }
      const entries: Array<[Key, unknown]> = mapping instanceof Map ? [...mapping] : Object.entries(mapping);
      const prepared = entries.map(([, value]) => this.#prepareStore(operation, value, options));
      return this.#multi(
        operation,
        code,
        entries.map(([key]) => key),
        options?.keyPrefix,
        (_key, i) => ({ ...prepared[i].encoded, exptime: prepared[i].exptime }),
        (list) => (index, rc) => {
          if (!stored(rc)) failed.push(list[index]);
        },
      );
    }).then(() => failed);
  }

  #counter(operation: string, code: OpCode.Incr | OpCode.Decr, key: Key, delta: unknown): Promise<number | bigint> {
    return this.#guard(operation, () => {
      const d = checkDelta(delta, operation);
      return this.#single(operation, code, key, undefined, 0, 0, d, false, (rc, _value, _flags, result) => {
        if (rc === RC.NOTFOUND) throw new NotFound(`${operation}(${keyText(key)}): MEMCACHED_NOTFOUND`);
        return result as number | bigint;
      });
    });
  }

  #serverOp<T>(
    operation: string,
    code: OpCode.FlushAll | OpCode.Stats | OpCode.Disconnect,
    exptime: () => number,
    arg: string | undefined,
    interpret: Interpret<T>,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#closing) throw new ClientClosedError(operation);
      this.#push(code, '', 0, arg, 0, exptime(), 0, false, (rc, value, flags, result, error, server) => {
        if (!isSoft(rc)) reject(errorFromReturnCode(rc, operation, undefined, error, server));
        else resolve(interpret(rc, value, flags, result));
      });
    });
  }

  #onComplete(meta: Uint32Array, slab: Buffer, extras: unknown[]): void {
    let offset = 0;
    let x = 0;
    const take = (length: number): Buffer | undefined => {
      if (length === NO_VALUE) return undefined;
      if (length === VALUE_IN_EXTRAS) return extras[x++] as Buffer;
      const value = slab.subarray(offset, offset + length);
      offset += length;
      return value;
    };
    for (let i = 0; i < meta.length; i += META_WORDS) {
      const id = meta[i];
      const rc = meta[i + 1];
      const pending = this.#pending.get(id) as Pending;
      this.#pending.delete(id);
      let value: Buffer | undefined;
      let flags = 0;
      let result: unknown;
      if (meta[i + 3] === MULTI_RECORD) {
        const count = meta[i + 2];
        for (let k = 0; k < count; k++) {
          i += META_WORDS;
          const itemValue = take(meta[i + 2]);
          pending.item!(k, meta[i], itemValue, meta[i + 1]);
        }
      } else {
        // Extras come in the order src/client.cc Deliver writes them.
        flags = meta[i + 2];
        value = take(meta[i + 3]);
        if (pending.wantCas && value !== undefined) result = extras[x++];
        if (rc === RC.SUCCESS && (pending.code === OpCode.Incr || pending.code === OpCode.Decr)) result = extras[x++];
        if (isSoft(rc) && pending.code === OpCode.Stats) result = extras[x++];
      }
      let error: string | undefined;
      let server: string | undefined;
      if (!isSoft(rc)) {
        error = extras[x++] as string;
        server = extras[x++] as string | undefined;
      }
      pending.done(rc, value, flags, result, error, server);
    }
  }
}
