/**
 * The addon's surface, declared once (types only: lib/native/load.ts loads it). Nothing here
 * is checked: the TypeScript layer validates every argument before it crosses into C++. The
 * batch format of submit and OnComplete is in ./protocol.ts.
 */

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
  /** TLS for every TCP server (lib/tls.ts normalises the option). */
  tls?: NativeTlsConfig;
  /** The flags of plain text under the default deserializer: such a large value arrives as a string. */
  textFlags?: number;
}

/** The `tls` option as the addon reads it: PEM as text, defaults filled in. */
export interface NativeTlsConfig {
  ca?: string;
  cert?: string;
  key?: string;
  passphrase?: string;
  servername?: string;
  rejectUnauthorized: boolean;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
}

/**
 * Called once per wake-up with everything completed since the last one: `records` completion
 * records in `meta`, small values back to back in `slab`, and the extras (see ./protocol.ts).
 *
 * `meta` and `slab` are reused by the next delivery: only the first `records` records of `meta`
 * are this one's, and onComplete returns true when it kept no view of `slab` (every value in
 * it was decoded to a string), which the addon may then overwrite.
 */
export type OnComplete = (meta: Uint32Array, slab: Buffer, extras: unknown[], records: number) => boolean;

export interface NativeClient {
  /** Queues the operations in the first `words` words of `requests`, copying them first. */
  submit(requests: Uint32Array, bytes: Buffer, words: number, objects: unknown[]): void;
  /** The index of the server `key` maps to (no I/O). */
  hash(key: string | Buffer): number;
  /** After Close has completed: joins the I/O threads and releases the completion channel. */
  dispose(): void;
  /** Applies (memcached_behavior_t, value) word pairs to the master handle; throws (with .rc) on refusal. */
  setBehaviors(pairs: Uint32Array): void;
  /** How many native I/O threads serve this client (per server, up to a number of servers). */
  ioThreads(): number;
}

/** libmemcached's enumerators by name, numbered as the addon was compiled (src/binding/constants.cc). */
export interface NativeConstants {
  returnCodes: Readonly<Record<string, number>>;
  /** The return codes that are answers, not failures (IsSoftResult in src/core/operation.cc). */
  softReturnCodes: readonly number[];
  behaviors: Readonly<Record<string, number>>;
  hashes: Readonly<Record<string, number>>;
  distributions: Readonly<Record<string, number>>;
}

/** src/protocol.h by name (src/protocol.cc), for the contract test of ./protocol.ts. */
export interface NativeProtocol {
  opCodes: Readonly<Record<string, number>>;
  request: Readonly<Record<string, number>>;
  requestWords: number;
  codeMask: number;
  wantCas: number;
  multi: number;
  inObjects: number;
  record: Readonly<Record<string, number>>;
  item: Readonly<Record<string, number>>;
  recordWords: number;
  noValue: number;
  valueInExtras: number;
  multiRecord: number;
  itemExtras: readonly string[];
  operationExtras: readonly string[];
}

export interface NativeModule {
  constants: NativeConstants;
  protocol: NativeProtocol;
  /** With `source`, the configuration handle is a copy of source's (placement included), not built from `config`. */
  Client: new (config: NativeConfig, onComplete: OnComplete, source?: NativeClient) => NativeClient;
  /** The libmemcached version linked in (memcached_lib_version()). */
  libmemcachedVersion: string;
  /** The libmemcached headers the addon was compiled against. */
  libmemcachedCompiledVersion: string;
  supportSasl: boolean;
  supportTls: boolean;
  /** Why TLS cannot be used in this process; empty when it can. */
  tlsUnavailableReason: string;
  /** 'static' for the bundled build, 'system' when linked against the distribution's library. */
  linkage: 'static' | 'system';
  /** The large-value pool (src/core/value_pool.h): bytes in free blocks, blocks handed out again. */
  valuePoolStats(): { freeBytes: number; recycled: number };
}
