/**
 * pylibmc's behaviors: its names, its symbolic values for `hash` and `distribution`, its units,
 * and its order of application (pylibmc applies them in the order of its C table, not in the
 * order given, so `{ ketama: true, distribution: 'modula' }` ends up modula in both clients).
 *
 * Units, as libmemcached and pylibmc take them: connect_timeout and _poll_timeout in
 * milliseconds, send_timeout and receive_timeout in microseconds, retry_timeout and dead_timeout
 * in seconds.
 */

// Integers (booleans count as 0 and 1), or names from a table for the symbolic ones.
type Kind = 'integer' | 'hash' | 'ketama_hash' | 'distribution' | 'pickle_protocol';

interface Behavior {
  /** memcached_behavior_t; undefined for pylibmc-only ones. */
  id: number | undefined;
  kind: Kind;
}

/** In pylibmc's table order, which is the order of application. */
export const BEHAVIORS: Readonly<Record<string, Behavior>> = Object.freeze({
  no_block: { id: 0, kind: 'integer' },
  tcp_nodelay: { id: 1, kind: 'integer' },
  tcp_keepalive: { id: 32, kind: 'integer' },
  hash: { id: 2, kind: 'hash' },
  ketama_hash: { id: 17, kind: 'ketama_hash' },
  ketama: { id: 3, kind: 'integer' },
  ketama_weighted: { id: 16, kind: 'integer' },
  distribution: { id: 9, kind: 'distribution' },
  cas: { id: 7, kind: 'integer' },
  buffer_requests: { id: 10, kind: 'integer' },
  verify_keys: { id: 13, kind: 'integer' },
  connect_timeout: { id: 14, kind: 'integer' },
  send_timeout: { id: 19, kind: 'integer' },
  receive_timeout: { id: 20, kind: 'integer' },
  num_replicas: { id: 29, kind: 'integer' },
  auto_eject: { id: 28, kind: 'integer' },
  retry_timeout: { id: 15, kind: 'integer' },
  remove_failed: { id: 35, kind: 'integer' },
  failure_limit: { id: 21, kind: 'integer' },
  _io_msg_watermark: { id: 22, kind: 'integer' },
  _io_bytes_watermark: { id: 23, kind: 'integer' },
  _io_key_prefetch: { id: 24, kind: 'integer' },
  _hash_with_prefix_key: { id: 25, kind: 'integer' },
  _noreply: { id: 26, kind: 'integer' },
  _sort_hosts: { id: 12, kind: 'integer' },
  _poll_timeout: { id: 8, kind: 'integer' },
  _socket_send_size: { id: 4, kind: 'integer' },
  _socket_recv_size: { id: 5, kind: 'integer' },
  dead_timeout: { id: 36, kind: 'integer' },
  pickle_protocol: { id: undefined, kind: 'pickle_protocol' },
});

export const BEHAVIOR_NAMES = Object.keys(BEHAVIORS);

/** pylibmc's `hashers`: libmemcached's memcached_hash_t values. */
export const HASHERS: Readonly<Record<string, number>> = Object.freeze({
  default: 0,
  md5: 1,
  crc: 2,
  fnv1_64: 3,
  fnv1a_64: 4,
  fnv1_32: 5,
  fnv1a_32: 6,
  hsieh: 7,
  murmur: 8,
  jenkins: 9,
});

/** pylibmc's `distributions`: memcached_server_distribution_t values. */
export const DISTRIBUTIONS: Readonly<Record<string, number>> = Object.freeze({
  modula: 0,
  consistent: 1,
  'consistent ketama': 2,
  random: 3,
  'consistent ketama spy': 4,
  'consistent weighted': 5,
  'virtual bucket': 6,
});

/** Hashes this build of libmemcached leaves out (HSIEH needs a configure flag we do not set). */
const NOT_COMPILED = new Set(['hsieh']);

const INT32_MAX = 2 ** 31 - 1;

export type BehaviorValue = number | boolean | string;
export type Behaviors = Record<string, BehaviorValue>;

/**
 * Over UDP libmemcached refuses buffer_requests (any value) and turning noreply off, with a bare
 * InvalidArguments from deep in the native setup; refused here first, with the reason.
 */
export function checkUdpBehaviors(given: Record<string, number | string>, operation: string): void {
  if ('buffer_requests' in given) throw new RangeError(`${operation}: behavior buffer_requests cannot be set on a UDP client (libmemcached refuses it)`);
  if (given._noreply === 0) throw new RangeError(`${operation}: behavior _noreply cannot be turned off on a UDP client: UDP requests get no reply`);
}

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
 * pylibmc's order. `binary` says which protocol the client speaks.
 */
export function resolveBehaviors(behaviors: unknown, binary: boolean, operation: string): ResolvedBehaviors {
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
          : integer(value, name, 0, kind === 'ketama_hash' ? 9 : INT32_MAX);
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
  return resolved;
}
