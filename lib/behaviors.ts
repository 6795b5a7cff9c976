/**
 * pylibmc's behaviors: its names, its symbolic values for `hash` and `distribution`, its units,
 * and its order of application (pylibmc applies them in the order of its C table, not in the
 * order given, so `{ ketama: true, distribution: 'modula' }` ends up modula in both clients).
 *
 * Units, as libmemcached and pylibmc take them: connect_timeout and _poll_timeout in
 * milliseconds, send_timeout and receive_timeout in microseconds, retry_timeout and dead_timeout
 * in seconds.
 */

import { behaviorId, distributionId, hashId } from './constants';

// Integers (booleans count as 0 and 1), or names from a table for the symbolic ones.
type Kind = 'integer' | 'hash' | 'ketama_hash' | 'distribution' | 'pickle_protocol';

interface Behavior {
  /** memcached_behavior_t; undefined for pylibmc-only ones. */
  id: number | undefined;
  kind: Kind;
}

/** pylibmc's names of hash functions (`hash`, `ketama_hash`). */
export type HashName = 'default' | 'md5' | 'crc' | 'fnv1_64' | 'fnv1a_64' | 'fnv1_32' | 'fnv1a_32' | 'hsieh' | 'murmur' | 'jenkins';
/** pylibmc's names of key distributions (`distribution`). */
export type DistributionName =
  | 'modula'
  | 'consistent'
  | 'consistent ketama'
  | 'random'
  | 'consistent ketama spy'
  | 'consistent weighted'
  | 'virtual bucket';
/** A behavior that is on or off: a boolean, or 0/1 (any integer, as pylibmc takes it). */
type Flag = boolean | number;

/**
 * libmemcached behaviors by pylibmc's names and units (see the README's Behaviors section): a
 * misspelt name is a compile error here, and a RangeError at run time from JavaScript.
 */
export interface Behaviors {
  no_block?: Flag;
  tcp_nodelay?: Flag;
  tcp_keepalive?: Flag;
  /** The key hash; null leaves it unchanged (as pylibmc's None). */
  hash?: HashName | null;
  /** The hash the continuum uses: a name, or pylibmc's number for one. */
  ketama_hash?: HashName | number;
  ketama?: Flag;
  ketama_weighted?: Flag;
  /** null leaves it unchanged (as pylibmc's None). */
  distribution?: DistributionName | null;
  cas?: Flag;
  buffer_requests?: Flag;
  verify_keys?: Flag;
  /** Milliseconds. */
  connect_timeout?: number;
  /** Microseconds. */
  send_timeout?: number;
  /** Microseconds. */
  receive_timeout?: number;
  num_replicas?: number;
  auto_eject?: Flag;
  /** Seconds. */
  retry_timeout?: number;
  /** pylibmc's older spelling of retry_timeout. */
  _retry_timeout?: number;
  remove_failed?: Flag;
  failure_limit?: number;
  _io_msg_watermark?: number;
  _io_bytes_watermark?: number;
  _io_key_prefetch?: number;
  _hash_with_prefix_key?: Flag;
  /** Refused when on: see the README. */
  _noreply?: Flag;
  _sort_hosts?: Flag;
  /** Milliseconds. */
  _poll_timeout?: number;
  _socket_send_size?: number;
  _socket_recv_size?: number;
  /** Seconds. */
  dead_timeout?: number;
  /** pylibmc's pickle protocol: accepted and read back, for shared configuration. */
  pickle_protocol?: number;
  /** libmemcached's namespace, as pylibmc accepts it among the behaviors (the namespace option is the same). */
  namespace?: string | Buffer;
}

/** The names of the table below: every behavior of the interface but the two aliases. */
type BehaviorName = Exclude<keyof Behaviors, '_retry_timeout' | 'namespace'>;

/** In pylibmc's table order, which is the order of application. */
export const BEHAVIORS: { readonly [name in BehaviorName]: Behavior } = Object.freeze({
  no_block: { id: behaviorId('MEMCACHED_BEHAVIOR_NO_BLOCK'), kind: 'integer' },
  tcp_nodelay: { id: behaviorId('MEMCACHED_BEHAVIOR_TCP_NODELAY'), kind: 'integer' },
  tcp_keepalive: { id: behaviorId('MEMCACHED_BEHAVIOR_TCP_KEEPALIVE'), kind: 'integer' },
  hash: { id: behaviorId('MEMCACHED_BEHAVIOR_HASH'), kind: 'hash' },
  ketama_hash: { id: behaviorId('MEMCACHED_BEHAVIOR_KETAMA_HASH'), kind: 'ketama_hash' },
  ketama: { id: behaviorId('MEMCACHED_BEHAVIOR_KETAMA'), kind: 'integer' },
  ketama_weighted: { id: behaviorId('MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED'), kind: 'integer' },
  distribution: { id: behaviorId('MEMCACHED_BEHAVIOR_DISTRIBUTION'), kind: 'distribution' },
  cas: { id: behaviorId('MEMCACHED_BEHAVIOR_SUPPORT_CAS'), kind: 'integer' },
  buffer_requests: { id: behaviorId('MEMCACHED_BEHAVIOR_BUFFER_REQUESTS'), kind: 'integer' },
  verify_keys: { id: behaviorId('MEMCACHED_BEHAVIOR_VERIFY_KEY'), kind: 'integer' },
  connect_timeout: { id: behaviorId('MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT'), kind: 'integer' },
  send_timeout: { id: behaviorId('MEMCACHED_BEHAVIOR_SND_TIMEOUT'), kind: 'integer' },
  receive_timeout: { id: behaviorId('MEMCACHED_BEHAVIOR_RCV_TIMEOUT'), kind: 'integer' },
  num_replicas: { id: behaviorId('MEMCACHED_BEHAVIOR_NUMBER_OF_REPLICAS'), kind: 'integer' },
  auto_eject: { id: behaviorId('MEMCACHED_BEHAVIOR_AUTO_EJECT_HOSTS'), kind: 'integer' },
  retry_timeout: { id: behaviorId('MEMCACHED_BEHAVIOR_RETRY_TIMEOUT'), kind: 'integer' },
  remove_failed: { id: behaviorId('MEMCACHED_BEHAVIOR_REMOVE_FAILED_SERVERS'), kind: 'integer' },
  failure_limit: { id: behaviorId('MEMCACHED_BEHAVIOR_SERVER_FAILURE_LIMIT'), kind: 'integer' },
  _io_msg_watermark: { id: behaviorId('MEMCACHED_BEHAVIOR_IO_MSG_WATERMARK'), kind: 'integer' },
  _io_bytes_watermark: { id: behaviorId('MEMCACHED_BEHAVIOR_IO_BYTES_WATERMARK'), kind: 'integer' },
  _io_key_prefetch: { id: behaviorId('MEMCACHED_BEHAVIOR_IO_KEY_PREFETCH'), kind: 'integer' },
  _hash_with_prefix_key: { id: behaviorId('MEMCACHED_BEHAVIOR_HASH_WITH_PREFIX_KEY'), kind: 'integer' },
  _noreply: { id: behaviorId('MEMCACHED_BEHAVIOR_NOREPLY'), kind: 'integer' },
  _sort_hosts: { id: behaviorId('MEMCACHED_BEHAVIOR_SORT_HOSTS'), kind: 'integer' },
  _poll_timeout: { id: behaviorId('MEMCACHED_BEHAVIOR_POLL_TIMEOUT'), kind: 'integer' },
  _socket_send_size: { id: behaviorId('MEMCACHED_BEHAVIOR_SOCKET_SEND_SIZE'), kind: 'integer' },
  _socket_recv_size: { id: behaviorId('MEMCACHED_BEHAVIOR_SOCKET_RECV_SIZE'), kind: 'integer' },
  dead_timeout: { id: behaviorId('MEMCACHED_BEHAVIOR_DEAD_TIMEOUT'), kind: 'integer' },
  pickle_protocol: { id: undefined, kind: 'pickle_protocol' },
});

export const BEHAVIOR_NAMES = Object.keys(BEHAVIORS) as BehaviorName[];

/** pylibmc's `hashers`: its names for libmemcached's memcached_hash_t values. */
export const HASHERS: Readonly<Record<string, number>> = Object.freeze({
  default: hashId('MEMCACHED_HASH_DEFAULT'),
  md5: hashId('MEMCACHED_HASH_MD5'),
  crc: hashId('MEMCACHED_HASH_CRC'),
  fnv1_64: hashId('MEMCACHED_HASH_FNV1_64'),
  fnv1a_64: hashId('MEMCACHED_HASH_FNV1A_64'),
  fnv1_32: hashId('MEMCACHED_HASH_FNV1_32'),
  fnv1a_32: hashId('MEMCACHED_HASH_FNV1A_32'),
  hsieh: hashId('MEMCACHED_HASH_HSIEH'),
  murmur: hashId('MEMCACHED_HASH_MURMUR'),
  jenkins: hashId('MEMCACHED_HASH_JENKINS'),
});

/** pylibmc's `distributions`: its names for memcached_server_distribution_t values. */
export const DISTRIBUTIONS: Readonly<Record<string, number>> = Object.freeze({
  modula: distributionId('MEMCACHED_DISTRIBUTION_MODULA'),
  consistent: distributionId('MEMCACHED_DISTRIBUTION_CONSISTENT'),
  'consistent ketama': distributionId('MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA'),
  random: distributionId('MEMCACHED_DISTRIBUTION_RANDOM'),
  'consistent ketama spy': distributionId('MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA_SPY'),
  'consistent weighted': distributionId('MEMCACHED_DISTRIBUTION_CONSISTENT_WEIGHTED'),
  'virtual bucket': distributionId('MEMCACHED_DISTRIBUTION_VIRTUAL_BUCKET'),
});

/** Hashes this build of libmemcached leaves out (HSIEH needs a configure flag we do not set). */
const NOT_COMPILED = new Set(['hsieh']);

const INT32_MAX = 2 ** 31 - 1;
/** The highest hash id pylibmc names (a ketama_hash given as a number is one of them). */
const LAST_HASHER = Math.max(...Object.values(HASHERS));


/** What the behaviors option resolves to: libmemcached pairs in order, and the rest. */
export interface ResolvedBehaviors {
  /** `[memcached_behavior_t, value]`, in pylibmc's order. */
  pairs: Array<[number, number]>;
  /** As given, by name, normalised (numbers for flags and numbers, names for hash/distribution). */
  given: Record<string, number | string>;
  /** The `namespace` callback, if given among the behaviors (pylibmc accepts it there). */
  namespace?: string;
}

function lookup(table: Readonly<Record<string, number>>, value: unknown, name: string, what: string): number {
  if (typeof value === 'string' && Object.prototype.hasOwnProperty.call(table, value)) {
    if (NOT_COMPILED.has(value)) throw new RangeError(`behavior ${name}: ${value} is not compiled into this libmemcached`);
    return table[value];
  }
  throw new RangeError(`behavior ${name}: unknown ${what} ${JSON.stringify(value)}; one of ${Object.keys(table).filter((k) => !NOT_COMPILED.has(k)).join(', ')}`);
}

function integer(value: unknown, name: string, min: number, max: number): number {
  const n = typeof value === 'boolean' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(`behavior ${name} must be an integer from ${min} to ${max} (or a boolean), got ${String(value)}`);
  }
  return n;
}

/**
 * Checks every name and value (unknown ones are errors, as in pylibmc) and puts them in
 * pylibmc's order. `binary` says which protocol the client speaks, `udp` whether it is a UDP
 * client: over UDP libmemcached refuses buffer_requests (any value) and turning noreply off,
 * with a bare InvalidArguments from deep in the native setup, so they are refused here first.
 */
export function resolveBehaviors(behaviors: unknown, binary: boolean, operation: string, udp = false): ResolvedBehaviors {
  const resolved: ResolvedBehaviors = { pairs: [], given: {} };
  if (behaviors === undefined || behaviors === null) return resolved;
  if (typeof behaviors !== 'object' || Array.isArray(behaviors)) throw new TypeError(`${operation}: behaviors must be an object`);
  const input: Record<string, unknown> = { ...(behaviors as Record<string, unknown>) };
  // pylibmc's old spelling, still accepted by it.
  if ('_retry_timeout' in input) {
    if (!('retry_timeout' in input)) input.retry_timeout = input._retry_timeout;
    delete input._retry_timeout;
  }
  if ('namespace' in input) {
    const ns = input.namespace;
    resolved.namespace = Buffer.isBuffer(ns) ? ns.toString('latin1') : (ns as string);
    delete input.namespace;
  }
  const unknown = Object.keys(input).filter((name) => !Object.prototype.hasOwnProperty.call(BEHAVIORS, name));
  if (unknown.length > 0) {
    throw new RangeError(`${operation}: unknown behavior names: ${unknown.sort().join(', ')} (known: ${BEHAVIOR_NAMES.join(', ')})`);
  }
  for (const name of BEHAVIOR_NAMES) {
    if (!(name in input)) continue;
    const value = input[name];
    // pylibmc skips a None hash or distribution.
    if ((value === null || value === undefined) && (name === 'hash' || name === 'distribution')) continue;
    const { id, kind } = BEHAVIORS[name];
    if (kind === 'pickle_protocol') {
      // Only pylibmc pickles; accepted (and read back) so that shared configuration works.
      resolved.given[name] = integer(value, name, -1, 5);
      continue;
    }
    const number =
      kind === 'hash' || (kind === 'ketama_hash' && typeof value === 'string')
        ? lookup(HASHERS, value, name, 'hash')
        : kind === 'distribution'
          ? lookup(DISTRIBUTIONS, value, name, 'distribution')
          : integer(value, name, 0, kind === 'ketama_hash' ? LAST_HASHER : INT32_MAX);
    // Read back as pylibmc does: hash and distribution by name, everything else as a number.
    resolved.given[name] = kind === 'hash' || kind === 'distribution' ? (value as string) : number;
    if (name === '_noreply' && number !== 0) {
      // With noreply every write reports success whatever happened, and libmemcached 1.1.4 mixes
      // up replies when noreply meets the binary protocol (its bug #142): refused.
      throw new RangeError(
        `behavior _noreply is not supported: a write could not tell its caller whether it was stored. Writes are pipelined already (see the README)`,
      );
    }
    if (name === 'verify_keys' && binary) {
      throw new RangeError(
        'behavior verify_keys applies to the text protocol only (libmemcached refuses it with binary); keys are always checked by this client',
      );
    }
    if (name === 'failure_limit' && number === 0) throw new RangeError('behavior failure_limit must be at least 1 (libmemcached refuses 0)');
    if (name === 'num_replicas' && number !== 0 && binary) {
      // libmemcached 1.1.4 replicates (binary protocol only) with quiet commands, and a
      // replica's error reply to one of them (a delete of a missing key) arrives where no reply
      // is expected: it becomes the answer to some later request. Refused, as _noreply is. The
      // text protocol never replicates, so there it is only read back, as pylibmc does.
      throw new RangeError(
        'behavior num_replicas is not supported with the binary protocol: libmemcached 1.1.4 cannot match the replicas\' replies to requests',
      );
    }
    // (By name, `hash` refuses hsieh already: lookup() below knows it is not compiled in.)
    if (kind === 'ketama_hash' && number === HASHERS.hsieh) {
      throw new RangeError(`behavior ketama_hash ${String(value)} is hsieh, which this build of libmemcached does not include`);
    }
    resolved.pairs.push([id as number, number]);
  }
  if (udp && 'buffer_requests' in resolved.given) {
    throw new RangeError(`${operation}: behavior buffer_requests cannot be set on a UDP client (libmemcached refuses it)`);
  }
  if (udp && resolved.given._noreply === 0) {
    throw new RangeError(`${operation}: behavior _noreply cannot be turned off on a UDP client: UDP requests get no reply`);
  }
  return resolved;
}

/** GetBehaviors' request: the ids of every behavior libmemcached knows, as uint32 words. */
export const BEHAVIOR_IDS = Buffer.from(
  new Uint32Array(BEHAVIOR_NAMES.map((name) => BEHAVIORS[name].id).filter((id): id is number => id !== undefined)).buffer,
);

/** The name of `value` in a table of names (pylibmc's hashers, distributions), else the number. */
function nameOf(table: Readonly<Record<string, number>>, value: number | undefined): string | number {
  const found = Object.keys(table).find((name) => table[name] === value);
  return found ?? (value as number);
}

/**
 * The behaviors as pylibmc's `get_behaviors()` returns them, from the (id, value) list an I/O
 * thread read for BEHAVIOR_IDS: every name, `hash` and `distribution` as names, the rest as
 * numbers. `given` holds what was set: some behaviors read back from there.
 */
export function behaviorsRead(flat: readonly string[], given: Readonly<Record<string, number | string>>): Record<string, number | string> {
  const byId = new Map<number, number>();
  for (let i = 0; i < flat.length; i += 2) byId.set(Number(flat[i]), Number(flat[i + 1]));
  const out: Record<string, number | string> = {};
  for (const name of BEHAVIOR_NAMES) {
    const { id } = BEHAVIORS[name];
    if (name === 'pickle_protocol') out[name] = given[name] ?? -1;
    // The I/O threads always ask for CAS tokens and buffer writes to pipeline them (results
    // stay truthful): these two read back as set, not as the threads run.
    else if (name === 'cas' || name === 'buffer_requests') out[name] = given[name] ?? 0;
    else if (name === 'hash') out[name] = nameOf(HASHERS, byId.get(id as number));
    else if (name === 'distribution') out[name] = nameOf(DISTRIBUTIONS, byId.get(id as number));
    else out[name] = byId.get(id as number) as number;
  }
  return out;
}

/**
 * When libmemcached takes a failed server out of the distribution, and for how long, from the
 * behaviors set (by name, as given) and libmemcached's defaults: remove_failed off,
 * failure_limit 5, dead_timeout 0.
 */
export function ejectionRules(given: Readonly<Record<string, number | string>>): { removeFailed: boolean; failureLimit: number; deadTimeoutMs: number } {
  const number = (name: string, fallback: number) => (typeof given[name] === 'number' ? (given[name] as number) : fallback);
  return {
    removeFailed: number('remove_failed', number('auto_eject', 0)) !== 0,
    failureLimit: number('failure_limit', 5),
    deadTimeoutMs: number('dead_timeout', 0) * 1000,
  };
}
