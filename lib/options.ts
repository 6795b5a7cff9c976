/**
 * The Client's options: their types, and their translation into the native client's
 * configuration (servers, libmemcached behaviors by id, SASL, namespace, threads), checked
 * before anything is built.
 */
import { Behaviors, resolveBehaviors } from './behaviors';
import type { Deserializer, Serializer } from './codecs/value-codec';
import type { CompressOptions } from './codecs/compression';
import { behaviorId } from './constants';
import { withFailover } from './failover';
import type { Key } from './keys';
import type { NativeConfig } from './native/surface';
import { ServerList, formatServer, parseServers } from './servers';
import { NotSupportedError } from './errors';
import { native } from './native/load';
import { CLIENT_OPTION_NAMES, STORE_MULTI_OPTION_NAMES, STORE_OPTION_NAMES, checkOptionNames } from './option-names';
import { TlsOptions, resolveTls } from './tls';
import { checkCompressLevel, checkMaxValueSize, checkMinCompressLen, checkNamespace, checkTime } from './validate';

export type { Deserializer, Serializer } from './codecs/value-codec';

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
  /**
   * TLS for every server (TCP only): `true` verifies each server's certificate against the
   * system's CAs and its host name; an object takes Node's `tls.connect` names (ca, cert, key,
   * passphrase, servername, rejectUnauthorized, minVersion). See the README's TLS section.
   */
  tls?: boolean | TlsOptions;
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


/** A client's options, checked, and the native configuration they make. */
export interface ResolvedOptions {
  /** A frozen copy of the options, read once. */
  options: Readonly<ClientOptions>;
  binary: boolean;
  udp: boolean;
  /** The servers, normalised ('host:port[:weight]', 'udp:...', or a socket path). */
  servers: readonly string[];
  compress: CompressOptions;
  /** The behaviors given, by pylibmc's names (getBehaviors reads some back from here). */
  behaviors: Record<string, number | string>;
  namespace: string;
  config: NativeConfig;
}

/** Checks `given` (every option) and translates it; throws TypeError/RangeError on bad input. */
export function resolveOptions(servers: ServerList | undefined, given: ClientOptions): ResolvedOptions {
  if (given === null || typeof given !== 'object' || Array.isArray(given)) throw new TypeError('options must be an object');
  // Read once: a getter (or Proxy) answering differently on each read cannot pass the checks
  // with one value and configure the client with another.
  const options: ClientOptions = { ...given };
  checkOptionNames(options, CLIENT_OPTION_NAMES, 'Client');
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
  const binary = options.binary === true || sasl;
  const connections = options.connections ?? 1;
  if (typeof connections !== 'number') throw new TypeError(`connections must be a number, got ${typeof connections}`);
  if (!Number.isInteger(connections) || connections < 1 || connections > 64) {
    throw new RangeError(`connections must be an integer from 1 to 64, got ${String(connections)}`);
  }
  const maxValueSize = checkMaxValueSize(options.maxValueSize, 'Client');
  const compress = {
    minCompressLen: checkMinCompressLen(options.minCompressLen, 'Client'),
    compressLevel: checkCompressLevel(options.compressLevel, 'Client'),
  };
  if (options.failover !== undefined && typeof options.failover !== 'boolean') throw new TypeError('failover must be a boolean');
  const udp = parsed.some((server) => server.transport === 'udp');
  const tls = resolveTls(options.tls, parsed);
  // Never clear text by mistake: an addon that does not say it does TLS (one built without the
  // TLS patch, or older than this JavaScript) would take the option and ignore it.
  if (tls !== undefined && native.supportTls !== true) {
    const why = native.tlsUnavailableReason || 'this addon predates TLS';
    throw new NotSupportedError(`Client: tls is not available: ${why} (supportTls is false; see docs/tls.md)`);
  }
  const behaviors = resolveBehaviors(options.failover ? withFailover(options.behaviors) : options.behaviors, binary, 'Client', udp);
  if (options.namespace !== undefined && behaviors.namespace !== undefined && options.namespace !== behaviors.namespace) {
    throw new RangeError('namespace given twice (as an option and among the behaviors) with different values');
  }
  const namespace = checkNamespace(options.namespace ?? behaviors.namespace, 'Client');
  for (const hook of ['serialize', 'deserialize'] as const) {
    if (options[hook] !== undefined && typeof options[hook] !== 'function') throw new TypeError(`${hook} must be a function`);
  }
  const config: NativeConfig = {
    servers: parsed,
    behaviors: [
      [behaviorId('MEMCACHED_BEHAVIOR_BINARY_PROTOCOL'), binary ? 1 : 0],
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
    tls,
  };
  return {
    options: Object.freeze(options),
    binary,
    udp,
    servers: Object.freeze(parsed.map(formatServer)),
    compress,
    behaviors: behaviors.given,
    namespace: namespace ?? '',
    config,
  };
}

/** Expiration and compression settings of a store call; the client's defaults fill the gaps. */
export function resolveStoreOptions(
  operation: string,
  options: StoreOptions | number | undefined,
  defaults: CompressOptions,
  binary: boolean,
  multi = false,
): { exptime: number; compress: CompressOptions } {
  const opts: StoreOptions = typeof options === 'number' ? { time: options } : (options ?? {});
  if (opts === null || typeof opts !== 'object') throw new TypeError(`${operation}: options must be an object or a number`);
  checkOptionNames(opts, multi ? STORE_MULTI_OPTION_NAMES : STORE_OPTION_NAMES, operation);
  return {
    exptime: checkTime(opts.time, operation, binary),
    compress: {
      minCompressLen: opts.minCompressLen === undefined ? defaults.minCompressLen : checkMinCompressLen(opts.minCompressLen, operation),
      compressLevel: opts.compressLevel === undefined ? defaults.compressLevel : checkCompressLevel(opts.compressLevel, operation),
    },
  };
}
