/**
 * The addon's surface, declared once. Everything here is unchecked: the TypeScript layer
 * validates every argument before it crosses into C++.
 */
import * as path from 'node:path';

/** Mirrors `lmc::OpCode` in src/operation.h. */
export enum OpCode {
  Get = 0,
  Set = 1,
  Add = 2,
  Replace = 3,
  Append = 4,
  Prepend = 5,
  Cas = 6,
  Delete = 7,
  Incr = 8,
  Decr = 9,
  Touch = 10,
  FlushAll = 11,
  Stats = 12,
  Disconnect = 13,
  Close = 14,
  GetBehaviors = 15,
  SetBehaviors = 16,
}

/**
 * Request header layout, `HEADER_WORDS` uint32 words per operation (src/client.cc HeaderWord).
 * A multi-key operation is a header with the MULTI bit whose KeyLength is its item count,
 * followed by one header per item (key, value, flags and exptime words).
 */
export const enum Header {
  Code = 0, // OpCode | WANT_CAS | MULTI
  Id = 1,
  KeyOffset = 2,
  KeyLength = 3,
  ValueOffset = 4, // or IN_OBJECTS, with ValueLength = index in the objects array
  ValueLength = 5,
  Flags = 6,
  Exptime = 7,
  NumberLow = 8, // Cas token / Incr-Decr delta, low 32 bits
  NumberHigh = 9,
}
export const HEADER_WORDS = 10;
export const IN_OBJECTS = 0xffffffff;
export const WANT_CAS = 1 << 8;
export const MULTI = 1 << 9;

/**
 * Completion records, META_WORDS uint32 words each (src/client.cc Deliver). A single operation:
 * id, rc, flags, value length. A multi-key one: id, rc, item count, MULTI_RECORD, then per
 * item: rc, flags, value length, 0.
 */
export const META_WORDS = 4;
export const NO_VALUE = 0xffffffff;
export const VALUE_IN_EXTRAS = 0xfffffffe;
export const MULTI_RECORD = 0xfffffffd;

export interface NativeServer {
  transport: 'tcp' | 'udp' | 'unix';
  host: string;
  port: number;
  weight: number;
}

export interface NativeConfig {
  servers: NativeServer[];
  /** `[memcached_behavior_t, value]` pairs, applied in order. */
  behaviors: Array<[number, number]>;
  username?: string;
  password?: string;
  /** libmemcached's namespace, put in front of every key on the wire (printable ASCII). */
  namespace?: string;
  /** I/O threads per server. */
  connections: number;
  /** The largest value a reply may announce, in bytes (bundled build only). */
  maxValueSize: number;
}

/**
 * Called once per wake-up with everything completed since the last one. `extras` holds, per
 * operation and in this order, whichever apply: its value (when the length is VALUE_IN_EXTRAS),
 * its CAS token (BigInt; gets hits), the new counter value (incr/decr success), the stats
 * (Stats success), and libmemcached's message plus the server (any failure).
 *
 * `meta` and `slab` are reused by the next delivery: only the first `records` records of `meta`
 * are this one's, and onComplete returns true when it kept no view of `slab` (every value in
 * it was decoded to a string), which the addon may then overwrite.
 */
export type OnComplete = (meta: Uint32Array, slab: Buffer, extras: unknown[], records: number) => boolean;

export interface NativeClient {
  /** Queues the operations in the first `words` words of `headers`, copying them first. */
  submit(headers: Uint32Array, bytes: Buffer, words: number, objects: unknown[]): void;
  /** The index of the server `key` maps to (no I/O). */
  hash(key: string | Buffer): number;
  /** After Close has completed: joins the I/O threads and releases the completion channel. */
  dispose(): void;
  /** Applies (memcached_behavior_t, value) word pairs to the master handle; throws (with .rc) on refusal. */
  setBehaviors(pairs: Uint32Array): void;
  /** How many native I/O threads serve this client (per server, up to a number of servers). */
  ioThreads(): number;
}

/** libmemcached's enumerators by name, numbered as the addon was compiled (src/constants.cc). */
export interface NativeConstants {
  returnCodes: Readonly<Record<string, number>>;
  /** The return codes that are answers, not failures (IsSoftResult in src/operation.cc). */
  softReturnCodes: readonly number[];
  behaviors: Readonly<Record<string, number>>;
  hashes: Readonly<Record<string, number>>;
  distributions: Readonly<Record<string, number>>;
}

export interface NativeModule {
  constants: NativeConstants;
  /** With `source`, the configuration handle is a copy of source's (placement included), not built from `config`. */
  Client: new (config: NativeConfig, onComplete: OnComplete, source?: NativeClient) => NativeClient;
  /** The libmemcached version linked in (memcached_lib_version()). */
  libmemcachedVersion: string;
  /** The libmemcached headers the addon was compiled against. */
  libmemcachedCompiledVersion: string;
  supportSasl: boolean;
  /** 'static' for the bundled build, 'system' when linked against the distribution's library. */
  linkage: 'static' | 'system';
}

// node-gyp-build picks build/Release in a source checkout, else the matching prebuild.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as (dir: string) => NativeModule;

// LIBMEMCACHED_ADDON, a path to a .node file, loads that addon instead (scripts/test-sanitize.sh
// runs the tests, child processes included, against its sanitizer build that way).
export const native: NativeModule = process.env.LIBMEMCACHED_ADDON
  ? // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require(process.env.LIBMEMCACHED_ADDON) as NativeModule)
  : load(path.join(__dirname, '..'));
