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
}

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
  connections: number;
}

export type NativeKey = string | Buffer;

/**
 * Completions, five slots per operation: id, rc, a, b, c (see Client::Deliver in
 * src/client.cc for what a, b and c hold per operation).
 */
export type CompletionBatch = unknown[];

export interface NativeClient {
  get(id: number, keys: NativeKey[], multi: boolean): void;
  store(
    id: number,
    op: OpCode,
    key: NativeKey,
    value: Buffer,
    flags: number,
    exptime: number,
    cas?: bigint,
  ): void;
  keyOp(id: number, op: OpCode.Delete | OpCode.Touch, key: NativeKey, exptime?: number): void;
  counter(id: number, op: OpCode.Incr | OpCode.Decr, key: NativeKey, delta: bigint): void;
  serverOp(id: number, op: OpCode.FlushAll | OpCode.Stats | OpCode.Disconnect, arg?: number | string): void;
  close(id: number): void;
  dispose(): void;
}

export interface NativeModule {
  Client: new (config: NativeConfig, onComplete: (batch: CompletionBatch) => void) => NativeClient;
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

export const native: NativeModule = load(path.join(__dirname, '..'));
