/**
 * libmemcached for Node.js: a memcached client on libmemcached, the C client behind pylibmc
 * and php-memcached.
 */
import { native } from './native/load';

export { Client } from './client';
export type { Behaviors, DistributionName, HashName } from './behaviors';
export type { CasOptions, ClientOptions, Deserializer, IncrMultiOptions, MultiOptions, Serializer, StoreMultiOptions, StoreOptions } from './options';
export type { ServerStats } from './results';
export { FLAG_EXACT_TYPE, FLAG_INTEGER, FLAG_JSON, FLAG_LONG, FLAG_NONE, FLAG_PICKLE, FLAG_TEXT, FLAG_ZLIB } from './codecs/values';
export * from './errors';
export { FAILOVER_BEHAVIORS } from './failover';
export type { Key } from './keys';
export type { ServerList } from './servers';
export type { TlsOptions } from './tls';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const pkg = require('../package.json') as { version: string };

/** This package's version. */
export const version: string = pkg.version;
/** The libmemcached version linked into the addon (pylibmc reports only the compile-time one). */
export const libmemcachedVersion: string = native.libmemcachedVersion;
/** The libmemcached version whose headers the addon was compiled against (pylibmc's `libmemcached_version`). */
export const libmemcachedCompiledVersion: string = native.libmemcachedCompiledVersion;
/** True when SASL authentication is available (pylibmc's `support_sasl`). */
export const supportSasl: boolean = native.supportSasl;
/** Whether TLS (the `tls` option) works here: the bundled libmemcached, and Node's OpenSSL 3. */
export const supportTls: boolean = native.supportTls;
/** True: zlib compression is always available, through node:zlib (pylibmc's `support_compression`). */
export const supportCompression = true;
/** 'static' for the bundled libmemcached, 'system' when built against the distribution's library. */
export const linkage: 'static' | 'system' = native.linkage;
