/**
 * A Keyv storage adapter on this client (`libmemcached/keyv`): Keyv 5's KeyvStoreAdapter (TTLs
 * in milliseconds, keys prefixed by Keyv) and Keyv 6's KeyvStorageAdapter (absolute expiry
 * times, namespace kept by the adapter) from one class. How it lays out keys and clears a
 * namespace without flushing the server: docs/keyv.md.
 */
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Client } from './client';
import type { ClientOptions } from './options';
import type { ServerList } from './servers';

/** memcached reads an expiration above 30 days (in seconds) as a Unix time. */
const MAX_RELATIVE_SECONDS = 30 * 24 * 60 * 60;
const MAX_KEY_BYTES = 250;
/** A key part kept as it is: printable ASCII but space, not starting with '#'. */
const PLAIN = /^[!-"$-~][!-~]*$/;
/**
 * Stored values: the namespace's generation, a space, the expiry time in Unix ms (empty for
 * none), a newline, a type letter, the payload. memcached's expiry is in whole seconds, rounded
 * up; reads hold values to the millisecond with the time kept here.
 */
const STRING = 0x73; // 's': UTF-8 text
const JSON_VALUE = 0x6a; // 'j': JSON text
const BYTES = 0x62; // 'b': raw bytes (a Buffer or typed array given to set)

export interface KeyvLibmemcachedOptions {
  /** Options of the Client the store makes from `servers` (not with a Client given). */
  client?: ClientOptions;
  /** The Keyv namespace, until Keyv sets one (it does when it takes the store). */
  namespace?: string;
  /**
   * Which Keyv contract the store follows: 5 (`set(key, value, ttlMs)`, keys prefixed by Keyv) or
   * 6 (`set(key, value, expiresAt)`, keys prefixed here). Default: 6 once Keyv 6 has asked for
   * the store's `capabilities` (it does so when given the store), 5 until then; Keyv 5 never asks.
   */
  contract?: 5 | 6;
}

/** What Keyv 6 reads to decide that the store takes absolute expiry times directly. */
export interface KeyvLibmemcachedCapabilities {
  compatible: true;
  store: 'keyvStorage';
  methods: Record<string, { exists: boolean; methodType: 'async' | 'none' }>;
  expires: true;
}

/** An entry of setMany: Keyv 5 gives `ttl` (ms), Keyv 6 `expires` (Unix ms). */
export interface KeyvLibmemcachedEntry {
  key: string;
  value: unknown;
  ttl?: number;
  expires?: number;
}

interface WriteItem {
  key: string;
  value: unknown;
  /** memcached's expiration (seconds, or a Unix time past 30 days). */
  exptime: number;
  /** Unix ms, for reads to the millisecond; undefined: never. */
  expiresAt: number | undefined;
}

const METHODS = ['get', 'getMany', 'has', 'hasMany', 'set', 'setMany', 'delete', 'deleteMany', 'clear', 'disconnect'];

const digest = (text: string, length = 43) => createHash('sha256').update(text).digest('base64url').slice(0, length);

/** A key part as memcached can take it: as given when plain and short enough, else hashed. */
function keyPart(text: string, room: number): string {
  return PLAIN.test(text) && text.length <= room ? text : `#${digest(text)}`;
}

function encodeValue(generation: string, expiresAt: number | undefined, value: unknown): Buffer {
  const head = `${generation} ${expiresAt ?? ''}\n`;
  if (typeof value === 'string') return Buffer.concat([Buffer.from(head), Buffer.from([STRING]), Buffer.from(value, 'utf8')]);
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.concat([Buffer.from(head), Buffer.from([BYTES]), value]);
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError(`KeyvLibmemcached: a ${typeof value} value cannot be stored (Keyv serializes values first)`);
  return Buffer.concat([Buffer.from(head), Buffer.from([JSON_VALUE]), Buffer.from(json, 'utf8')]);
}

/** The value stored under a key if it belongs to `generation` and has not expired, else undefined. */
function decodeValue(generation: string | undefined, stored: unknown, now: number): unknown {
  if (generation === undefined || !Buffer.isBuffer(stored)) return undefined;
  const newline = stored.indexOf(0x0a);
  if (newline < 0 || newline + 1 >= stored.length) return undefined;
  const [storedGeneration, expiresAt] = stored.toString('latin1', 0, newline).split(' ');
  if (storedGeneration !== generation || (expiresAt !== '' && !(Number(expiresAt) > now))) return undefined;
  const payload = stored.subarray(newline + 2);
  switch (stored[newline + 1]) {
    case STRING:
      return payload.toString('utf8');
    case BYTES:
      return Buffer.from(payload);
    case JSON_VALUE:
      return JSON.parse(payload.toString('utf8'));
    default:
      return undefined;
  }
}

/** The latest Unix time memcached takes as an expiration (it is read as a signed 32-bit number). */
const MAX_UNIX_TIME = 2 ** 31 - 1;

/**
 * memcached's expiration for a TTL of `ms` milliseconds, 0 for none. Whole seconds, rounded up
 * (500 ms must expire, not become 0, "never"), plus one: memcached's clock ticks once a second,
 * so an item given N seconds can go after N - 1; the value's own expiry time (in its envelope)
 * makes reads exact. Past 30 days, an absolute Unix time; past 2038, none (the envelope's time
 * still expires it for reads).
 */
export function expirationFromTtl(ms: number | undefined, now = Date.now()): number {
  if (ms === undefined || ms === null || !Number.isFinite(ms) || ms <= 0) return 0;
  const seconds = Math.ceil(ms / 1000) + 1;
  if (seconds <= MAX_RELATIVE_SECONDS) return seconds;
  const at = Math.ceil((now + ms) / 1000) + 1;
  return at > MAX_UNIX_TIME ? 0 : at;
}

/** A fresh generation: unique across processes and restarts (never reused, so never confused). */
const newGeneration = () => `${Date.now().toString(36)}.${randomBytes(9).toString('base64url')}`;

export class KeyvLibmemcached extends EventEmitter {
  /** Keyv 5 reads (and may set) the adapter's options here. */
  opts: Record<string, unknown>;
  namespace: string | undefined;
  readonly client: Client;

  #ownsClient: boolean;
  #contract: 5 | 6 | undefined;
  #room: number;
  /** The last generation seen per namespace: what writes stamp values with. */
  #generations = new Map<string, string>();

  /** `servers` (a Client's), or a Client to use; nothing: MEMCACHED_SERVERS, else 127.0.0.1:11211. */
  constructor(servers?: ServerList | Client, options: KeyvLibmemcachedOptions = {}) {
    super();
    if (options === null || typeof options !== 'object') throw new TypeError('KeyvLibmemcached: options must be an object');
    for (const name of Object.keys(options)) {
      if (!['client', 'namespace', 'contract'].includes(name)) {
        throw new TypeError(`KeyvLibmemcached: unknown option ${JSON.stringify(name)}; the options are client, namespace, contract`);
      }
    }
    if (options.contract !== undefined && options.contract !== 5 && options.contract !== 6) throw new RangeError('KeyvLibmemcached: contract must be 5 or 6');
    if (servers instanceof Client) {
      if (options.client !== undefined) throw new TypeError('KeyvLibmemcached: client options go with servers, not with a Client');
      // Values are stored as Buffers and read back as such, which only the defaults guarantee.
      const custom =
        servers.options.serialize !== undefined ||
        servers.options.deserialize !== undefined ||
        servers.serialize !== Client.prototype.serialize ||
        servers.deserialize !== Client.prototype.deserialize;
      if (custom) throw new TypeError('KeyvLibmemcached: the Client must use the default serializer and deserializer (values are stored as Buffers)');
      this.client = servers;
      this.#ownsClient = false;
    } else {
      this.client = new Client(servers, options.client);
      this.#ownsClient = true;
    }
    const ns = this.client.options.namespace ?? this.client.options.behaviors?.namespace;
    this.#room = MAX_KEY_BYTES - (ns === undefined ? 0 : Buffer.byteLength(ns));
    this.#contract = options.contract;
    this.namespace = options.namespace;
    this.opts = { dialect: 'memcached' };
  }

  /**
   * Keyv 6 reads this when it takes the store, to learn that the store takes absolute expiry
   * times and keeps its namespace itself; from then on the store follows that contract.
   */
  get capabilities(): KeyvLibmemcachedCapabilities {
    this.#contract ??= 6;
    const methods: KeyvLibmemcachedCapabilities['methods'] = Object.fromEntries(METHODS.map((m) => [m, { exists: true, methodType: 'async' as const }]));
    methods.iterator = { exists: false, methodType: 'none' };
    return { compatible: true, store: 'keyvStorage', methods, expires: true };
  }

  /** The contract the store follows now (see the `contract` option). */
  get contract(): 5 | 6 {
    return this.#contract ?? 5;
  }

  // Keys ---------------------------------------------------------------------------------------

  /** The namespace as a key part: plain, or hashed (which also keeps ':' out of it). */
  #namespacePart(): string {
    const ns = this.namespace;
    if (ns === undefined || ns === '') return '';
    return PLAIN.test(ns) && !ns.includes(':') && ns.length <= 64 ? ns : `#${digest(ns, 16)}`;
  }

  /**
   * The memcached key of a Keyv key: 'namespace:key', or ':key' without a namespace. A plain
   * namespace has no ':' and is never empty (others are hashed), so no two namespaces share a
   * key. Keyv 5 hands keys over with 'namespace:' in front already; that is taken off first
   * (a key without it, under Keyv 5's useKeyPrefix: false, is laid out as without a namespace).
   */
  #key(key: string): string {
    if (typeof key !== 'string') throw new TypeError(`KeyvLibmemcached: a key must be a string, got ${typeof key}`);
    let own = key;
    let ns = this.#namespacePart();
    if (this.contract === 5) {
      const prefix = this.namespace ? `${this.namespace}:` : undefined;
      if (prefix !== undefined && key.startsWith(prefix)) own = key.slice(prefix.length);
      else ns = ''; // no namespace in the key: laid out as one without a namespace
    }
    return `${ns}:${keyPart(own, this.#room - ns.length - 1)}`;
  }

  /** Where the namespace's generation lives: a '#g:' key, which no data key can be. */
  #generationKey(): string {
    return `#g:${this.#namespacePart()}`;
  }

  // The namespace generation -------------------------------------------------------------------

  /** The current generation, made if there is none yet (the first write, or after an eviction). */
  async #currentGeneration(generationKey: string): Promise<string> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const stored = await this.client.get(generationKey);
      if (typeof stored === 'string') return this.#remember(generationKey, stored);
      const fresh = newGeneration();
      // add: of two writers starting a namespace at once, one generation wins; the other reads it.
      if (await this.client.add(generationKey, fresh)) return this.#remember(generationKey, fresh);
    }
    throw new Error(`KeyvLibmemcached: the generation of namespace ${JSON.stringify(this.namespace)} neither reads nor adds (evicted as fast as it is written?)`);
  }

  #remember(generationKey: string, generation: string): string {
    this.#generations.set(generationKey, generation);
    return generation;
  }

  /** The values of `keys` (memcached keys) that belong to the namespace's current generation. */
  async #read(keys: string[]): Promise<unknown[]> {
    const generationKey = this.#generationKey();
    // One multi-get: the generation and the values together.
    const found = await this.client.getMulti([generationKey, ...keys]);
    const generation = typeof found[generationKey] === 'string' ? (found[generationKey] as string) : undefined;
    if (generation !== undefined) this.#remember(generationKey, generation);
    const now = Date.now();
    return keys.map((key) => decodeValue(generation, found[key], now));
  }

  /**
   * Stores `items` stamped with the namespace's generation. With a generation already known, the
   * write and a read of the generation go out together; if the generation has changed meanwhile
   * (a clear() elsewhere), the items are written again with the new one.
   */
  async #write(items: WriteItem[]): Promise<boolean[]> {
    const generationKey = this.#generationKey();
    const known = this.#generations.get(generationKey);
    const writeWith = async (generation: string): Promise<boolean[]> => {
      // Encoded before anything is sent: a value that cannot be stored fails the call alone.
      const encoded = items.map((item) => encodeValue(generation, item.expiresAt, item.value));
      const byTime = new Map<number, number[]>();
      items.forEach((item, i) => byTime.set(item.exptime, [...(byTime.get(item.exptime) ?? []), i]));
      const stored = new Array<boolean>(items.length).fill(true);
      // One pipelined setMulti per expiration (usually one).
      await Promise.all(
        [...byTime].map(async ([exptime, indexes]) => {
          const notStored = new Set(await this.client.setMulti(new Map(indexes.map((i) => [items[i].key, encoded[i]])), { time: exptime }));
          for (const i of indexes) if (notStored.has(items[i].key)) stored[i] = false;
        }),
      );
      return stored;
    };
    if (known === undefined) return writeWith(await this.#currentGeneration(generationKey));
    const [results, current] = await Promise.all([writeWith(known), this.#currentGeneration(generationKey)]);
    return current === known ? results : writeWith(current);
  }

  // Keyv's methods -----------------------------------------------------------------------------

  async get(key: string): Promise<unknown> {
    return this.#reported(async () => (await this.#read([this.#key(key)]))[0]);
  }

  async getMany(keys: string[]): Promise<unknown[]> {
    if (!Array.isArray(keys)) throw new TypeError('KeyvLibmemcached: getMany takes an array of keys');
    return keys.length === 0 ? [] : this.#read(keys.map((k) => this.#key(k)));
  }

  /**
   * Every failure rejects the call. Keyv 5 turns a failed get (and only get) into a silent miss
   * (unless throwOnErrors), so under its contract a failed get is also emitted as 'error', which
   * Keyv forwards; Keyv 6 reports failures itself.
   */
  async #reported<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      if (this.contract === 5 && this.listenerCount('error') > 0) this.emit('error', error);
      throw error;
    }
  }

  async has(key: string): Promise<boolean> {
    return (await this.get(key)) !== undefined;
  }

  async hasMany(keys: string[]): Promise<boolean[]> {
    return (await this.getMany(keys)).map((v) => v !== undefined);
  }

  /** Keyv 5: `expiry` is a TTL in ms; Keyv 6: an absolute Unix time in ms. undefined: none. */
  async set(key: string, value: unknown, expiry?: number): Promise<boolean> {
    return (await this.setMany([{ key, value, [this.contract === 5 ? 'ttl' : 'expires']: expiry }]))[0];
  }

  async setMany(entries: KeyvLibmemcachedEntry[]): Promise<boolean[]> {
    if (!Array.isArray(entries)) throw new TypeError('KeyvLibmemcached: setMany takes an array of entries');
    const now = Date.now();
    const live: Array<WriteItem & { index: number }> = [];
    const expired: string[] = [];
    entries.forEach((entry, index) => {
      const key = this.#key(entry.key);
      // Keyv 5 gives a TTL in ms, Keyv 6 an expiry time; either way, none for 0 or less (Keyv
      // 5's "no TTL") or anything that is not a finite number.
      const ttl = this.contract === 6 ? (typeof entry.expires === 'number' ? entry.expires - now : undefined) : entry.ttl;
      if (this.contract === 6 && typeof entry.expires === 'number' && entry.expires <= now) {
        // Already past: nothing to keep, and what was there must not outlive the write.
        expired.push(key);
      } else if (typeof ttl === 'number' && Number.isFinite(ttl) && ttl > 0) {
        live.push({ key, value: entry.value, exptime: expirationFromTtl(ttl, now), expiresAt: now + ttl, index });
      } else {
        live.push({ key, value: entry.value, exptime: 0, expiresAt: undefined, index });
      }
    });
    const results = new Array<boolean>(entries.length).fill(true);
    const [written] = await Promise.all([live.length ? this.#write(live) : [], expired.length ? this.client.deleteMulti(expired) : undefined]);
    live.forEach((item, i) => (results[item.index] = written[i]));
    return results;
  }

  async delete(key: string): Promise<boolean> {
    return this.client.delete(this.#key(key));
  }

  /** Keyv 5: true when every key was deleted; Keyv 6: one boolean per key. */
  async deleteMany(keys: string[]): Promise<boolean | boolean[]> {
    if (!Array.isArray(keys)) throw new TypeError('KeyvLibmemcached: deleteMany takes an array of keys');
    const memcachedKeys = keys.map((k) => this.#key(k));
    if (this.contract === 5) return keys.length > 0 && this.client.deleteMulti(memcachedKeys);
    // Deletes called together are sent as one pipelined write (docs/architecture.md); each
    // keeps its own answer.
    return Promise.all(memcachedKeys.map((k) => this.client.delete(k)));
  }

  /**
   * Empties this store's namespace, and only it: a new generation makes every value written
   * under the old one unreadable (memcached drops them as they expire or are evicted). The
   * server is never flushed, so other namespaces and other users' keys stay.
   */
  async clear(): Promise<void> {
    const generationKey = this.#generationKey();
    const fresh = newGeneration();
    await this.client.set(generationKey, fresh);
    this.#remember(generationKey, fresh);
  }

  /** Closes the client the store made; a Client passed in is left to its owner. */
  async disconnect(): Promise<void> {
    if (this.#ownsClient) await this.client.close();
  }
}
