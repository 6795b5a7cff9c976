/**
 * The Client: pylibmc's operations as Promises. Each method says what it asks and how it reads
 * the answer; the Dispatcher (./dispatcher.ts) checks the keys and carries the operation to the
 * addon and back, the ValueCodec (./codecs/value-codec.ts) turns values into bytes and back.
 *
 * Every argument is checked before anything is queued: a bad key or number rejects with a typed
 * error and causes no I/O. Methods never throw synchronously; they return a rejected Promise.
 */
import { types } from 'node:util';
import { BEHAVIOR_IDS, Behaviors, behaviorsRead, ejectionRules, resolveBehaviors } from './behaviors';
import { ValueCodec, MISS } from './codecs/value-codec';
import { isPromise } from './codecs/prepared';
import type { CompressOptions } from './codecs/compression';
import { encodeValue, decodeValue } from './codecs/values';
import { Dispatcher } from './dispatcher';
import { ClientClosedError, NotFound } from './errors';
import { Key, keyText } from './keys';
import { OpCode } from './native/protocol';
import type { NativeClient } from './native/surface';
import {
  CasOptions,
  ClientOptions,
  IncrMultiOptions,
  MultiOptions,
  StoreMultiOptions,
  StoreOptions,
  resolveOptions,
  resolveStoreOptions,
} from './options';
import { MultiGetResults, RC, ServerStats, statsRead, stored } from './results';
import type { ServerList } from './servers';
import { ServerWatch } from './server-watch';
import { instrument } from './tracing';
import { checkCasToken, checkDelta, checkTime } from './validate';

type StoreCode = OpCode.Set | OpCode.Add | OpCode.Replace | OpCode.Append | OpCode.Prepend;
const STORE_NAMES = { [OpCode.Set]: 'set', [OpCode.Add]: 'add', [OpCode.Replace]: 'replace', [OpCode.Append]: 'append', [OpCode.Prepend]: 'prepend' };

/**
 * The options objects clone() makes, each with the native client it copies: the new client's
 * configuration handle is then a copy of that client's, which places keys exactly as it does.
 * Keyed by an object only clone() holds, so no other construction can pick one up.
 */
const cloneSources = new WeakMap<ClientOptions, NativeClient>();

export class Client {
  /** The servers, normalised ('host:port[:weight]', 'udp:...', or a socket path). */
  readonly servers: readonly string[];
  readonly binary: boolean;
  readonly options: Readonly<ClientOptions>;

  #dispatcher: Dispatcher;
  #codec: ValueCodec;
  #compress: CompressOptions;
  #namespace: string;
  #udp: boolean;
  // The behaviors set so far, as given (names for hash and distribution): some are read back
  // from here rather than from libmemcached (see getBehaviors).
  #behaviors: Record<string, number | string>;

  /**
   * `servers`: 'host[:port[:weight]]', 'udp:host...', a UNIX socket path, or a list of them (a
   * string may list several, comma-separated). Left out, `MEMCACHED_SERVERS` when set, else
   * 127.0.0.1:11211 (as memjs does).
   */
  constructor(servers?: ServerList, given: ClientOptions = {}) {
    const resolved = resolveOptions(servers, given);
    const { options } = resolved;
    this.servers = resolved.servers;
    this.binary = resolved.binary;
    this.options = options;
    this.#compress = resolved.compress;
    this.#namespace = resolved.namespace;
    this.#udp = resolved.udp;
    this.#behaviors = resolved.behaviors;
    // Options win over methods (a subclass's included); pylibmc likewise decides once, here.
    if (options.serialize) this.serialize = options.serialize;
    if (options.deserialize) this.deserialize = options.deserialize;
    this.#codec = new ValueCodec(
      this.serialize !== Client.prototype.serialize ? (value) => this.serialize(value) : undefined,
      this.deserialize !== Client.prototype.deserialize ? (bytes, flags) => this.deserialize(bytes, flags) : undefined,
    );
    const keyRules = { binary: this.binary, namespaceLength: this.#namespace.length, ascii: this.#keysMustBeAscii() };
    this.#dispatcher = new Dispatcher(resolved.config, keyRules, this.#udp, this.#codec.decodesText, cloneSources.get(given));
    this.#dispatcher.watch = new ServerWatch(this.servers, (key) => this.#dispatcher.place(key), () => ejectionRules(this.#behaviors));
  }

  // Every public operation is traced through libmemcached:command when it has subscribers.
  static {
    instrument(Client.prototype, { serverIndex: (client, key) => client.#dispatcher.place(key), servers: (client) => client.servers });
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
    return this.#get(key, defaultValue);
  }

  /** get() itself, for has(): a traced has() is one operation, not a has() and a get(). */
  #get(key: Key, defaultValue?: unknown): Promise<unknown> {
    return this.#dispatcher.single('get', OpCode.Get, key, undefined, 0, 0, false, (_rc, value, flags) => {
      if (value === undefined) return defaultValue;
      const v = this.#codec.decode('get', key, value, flags);
      if (isPromise(v)) return v.then((w) => (w === MISS ? defaultValue : w));
      return v === MISS ? defaultValue : v;
    });
  }

  /** pylibmc's `key in client`: true when `key` has a value (fetched, as pylibmc does). */
  async has(key: Key): Promise<boolean> {
    const miss = Symbol('miss');
    return (await this.#get(key, miss)) !== miss;
  }

  /**
   * The values of `keys`, by key as given (without the prefix), in an object with a null
   * prototype; misses are left out. All gets queued together travel as one multi-get. On a
   * failure, the values read ride on the error as `partial`.
   */
  getMulti<T = unknown>(keys: Iterable<Key>, options: MultiOptions = {}): Promise<Record<string, T>> {
    const results = new MultiGetResults<T>(this.#codec);
    return this.#dispatcher
      .multi('getMulti', OpCode.Get, keys, options, undefined, (list) => results.reader(list))
      .then(() => results.settled(), (error: unknown) => results.failed(error));
  }

  /** `[value, cas]` for `key`, or `[undefined, undefined]` on a miss. */
  gets<T = unknown>(key: Key): Promise<[T, bigint] | [undefined, undefined]> {
    type Result = [T, bigint] | [undefined, undefined];
    return this.#dispatcher.single('gets', OpCode.Get, key, undefined, 0, 0, true, (_rc, value, flags, cas) => {
      const pair = (v: unknown): Result => (v === MISS ? [undefined, undefined] : [v as T, cas as bigint]);
      if (value === undefined) return pair(MISS);
      const v = this.#codec.decode('gets', key, value, flags);
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
    return this.#dispatcher.guard('cas', () => {
      const token = checkCasToken(cas, 'cas');
      const { exptime, compress } = resolveStoreOptions('cas', options, this.#compress, this.binary);
      const encoded = this.#codec.encode('cas', value, compress, this.#dispatcher.gated);
      return this.#dispatcher.single('cas', OpCode.Cas, key, encoded, exptime, token, false, (rc) => {
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
    const countMissing = () => (_index: number, rc: number) => {
      if (rc === RC.NOTFOUND) missing++;
    };
    return this.#dispatcher
      .guard('incrMulti', () => this.#dispatcher.multi('incrMulti', OpCode.Incr, keys, options, undefined, countMissing, checkDelta(options?.delta, 'incrMulti')))
      .then(() => {
        if (missing > 0) throw new NotFound(`incrMulti: ${missing} keys not found`);
      });
  }

  // Deleting and touching ---------------------------------------------------------------------

  /** Deletes `key`; false when it had no value. */
  delete(key: Key): Promise<boolean> {
    return this.#dispatcher.single('delete', OpCode.Delete, key, undefined, 0, 0, false, (rc) => rc === RC.SUCCESS);
  }

  /** Deletes every key; true only when every one of them was deleted. */
  deleteMulti(keys: Iterable<Key>, options: MultiOptions = {}): Promise<boolean> {
    let all = true;
    const deleted = () => (_index: number, rc: number) => {
      if (rc !== RC.SUCCESS) all = false;
    };
    return this.#dispatcher.multi('deleteMulti', OpCode.Delete, keys, options, undefined, deleted).then(() => all);
  }

  /** Sets a new expiration on `key`; false when it had no value. */
  touch(key: Key, time: number): Promise<boolean> {
    return this.#dispatcher.guard('touch', () => {
      const exptime = checkTime(time, 'touch', this.binary);
      return this.#dispatcher.single('touch', OpCode.Touch, key, undefined, exptime, 0, false, (rc) => rc === RC.SUCCESS);
    });
  }

  // Whole client ------------------------------------------------------------------------------

  /** Invalidates every item on every server (after `time` seconds, if given). */
  flushAll(time?: number): Promise<boolean> {
    return this.#dispatcher.serverOp('flushAll', OpCode.FlushAll, () => checkTime(time, 'flushAll', this.binary), undefined, () => true);
  }

  /**
   * Statistics of every server, as pylibmc returns them: `[['host:port (index)', stats], ...]`.
   * `group` asks for a stats group ('items', 'slabs', ...).
   */
  getStats(group?: string): Promise<ServerStats[]> {
    if (group !== undefined && (typeof group !== 'string' || /[\s\u0000-\u001f]/.test(group) || group === '')) {
      return Promise.reject(new TypeError('getStats: group must be a non-empty string without spaces'));
    }
    return this.#dispatcher.serverOp('getStats', OpCode.Stats, () => 0, group, (_rc, _value, _flags, result) => statsRead(result));
  }

  /** Closes every connection; the next operation reconnects. */
  disconnectAll(): Promise<void> {
    return this.#dispatcher.serverOp('disconnectAll', OpCode.Disconnect, () => 0, undefined, () => undefined);
  }

  /** The index (into `servers`) of the server `key` maps to. */
  hash(key: Key): Promise<number> {
    return this.#dispatcher.guard('hash', () => Promise.resolve(this.#dispatcher.hash(key)));
  }

  /** A new client with the same configuration and its own connections and I/O threads. */
  clone(): Client {
    if (this.#dispatcher.closing) throw new ClientClosedError('clone');
    // The namespace too: it may have come among the behaviors, which #behaviors leaves out.
    const options: ClientOptions = { ...this.options, namespace: this.#namespace || undefined, behaviors: { ...this.#behaviors } };
    // The behaviors are checked again and kept for getBehaviors, but libmemcached's handle is
    // copied from this client's rather than made from them: behaviors changed by setBehaviors
    // on a weighted server list, or merged from several calls, would place keys differently
    // from this client if applied anew (see the README's Distribution).
    cloneSources.set(options, this.#dispatcher.nativeClient);
    return new Client([...this.servers], options);
  }

  /**
   * The behaviors, as pylibmc's `get_behaviors()` returns them: every name, `hash` and
   * `distribution` as names, the rest as numbers. Read on an I/O thread: reading the socket
   * buffer sizes makes libmemcached connect to the first server.
   */
  getBehaviors(): Promise<Record<string, number | string>> {
    return this.#dispatcher.serverOp('getBehaviors', OpCode.GetBehaviors, () => 0, BEHAVIOR_IDS, (_rc, _value, _flags, result) =>
      behaviorsRead((result as Array<[string, string[]]>)[0][1], this.#behaviors),
    );
  }

  /**
   * Changes behaviors on the live client: checked and applied to the configuration at once (so
   * hash() follows), then on every I/O thread after the operations already issued.
   */
  setBehaviors(behaviors: Behaviors): Promise<void> {
    return this.#dispatcher.guard('setBehaviors', () => {
      const resolved = resolveBehaviors(behaviors, this.binary, 'setBehaviors', this.#udp);
      if (resolved.namespace !== undefined) throw new RangeError('setBehaviors: the namespace is fixed when the client is made');
      const applied = this.#dispatcher.setBehaviors(resolved.pairs);
      Object.assign(this.#behaviors, resolved.given);
      this.#dispatcher.keyRules.ascii = this.#keysMustBeAscii();
      return applied;
    });
  }

  /** Waits for in-flight operations, then closes every connection and stops the I/O threads. */
  close(): Promise<void> {
    return this.#dispatcher.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // Shared by the methods above ---------------------------------------------------------------

  /** Whether verify_keys is on in the text protocol (the binary protocol refuses it). */
  #keysMustBeAscii(): boolean {
    return !this.binary && Boolean(this.#behaviors.verify_keys);
  }

  #store(code: StoreCode, key: Key, value: unknown, options: StoreOptions | number | undefined): Promise<boolean> {
    const operation = STORE_NAMES[code];
    return this.#dispatcher.guard(operation, () => {
      // append/prepend bytes are never compressed: memcached concatenates them to stored bytes.
      const raw = code === OpCode.Append || code === OpCode.Prepend;
      const { exptime, compress } = raw ? { exptime: 0, compress: undefined } : resolveStoreOptions(operation, options, this.#compress, this.binary);
      const encoded = this.#codec.encode(operation, value, compress, this.#dispatcher.gated);
      return this.#dispatcher.single(operation, code, key, encoded, exptime, 0, false, (rc) => stored(rc));
    });
  }

  #storeMulti(operation: string, code: OpCode.Set | OpCode.Add, mapping: Record<string, unknown> | Map<Key, unknown>, options: StoreMultiOptions): Promise<Key[]> {
    const failed: Key[] = [];
    const notStored = (list: Key[]) => (index: number, rc: number) => {
      if (!stored(rc)) failed.push(list[index]);
    };
    return this.#dispatcher
      .guard(operation, () => {
        if (mapping === null || typeof mapping !== 'object' || Array.isArray(mapping)) {
          throw new TypeError(`${operation}: mapping must be a plain object or a Map`);
        }
        const entries: Array<[Key, unknown]> = types.isMap(mapping) ? [...(mapping as Map<Key, unknown>)] : Object.entries(mapping);
        const { exptime, compress } = resolveStoreOptions(operation, options, this.#compress, this.binary, true);
        const encode = (i: number) => this.#codec.encode(operation, entries[i][1], compress, this.#dispatcher.gated);
        return this.#dispatcher.multi(operation, code, entries.map(([key]) => key), options, encode, notStored, 0, exptime);
      })
      .then(() => failed);
  }

  #counter(operation: string, code: OpCode.Incr | OpCode.Decr, key: Key, delta: unknown): Promise<number | bigint> {
    return this.#dispatcher.guard(operation, () => {
      const d = checkDelta(delta, operation);
      return this.#dispatcher.single(operation, code, key, undefined, 0, d, false, (rc, _value, _flags, result) => {
        if (rc === RC.NOTFOUND) throw new NotFound(`${operation}(${keyText(key)}): MEMCACHED_NOTFOUND`);
        return result as number | bigint;
      });
    });
  }
}
