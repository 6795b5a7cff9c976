/**
 * The `failover` option: the behaviors that make libmemcached 1.1.4 take an unreachable server
 * out of the key distribution and put it back later. Each one is needed:
 *
 * - a consistent distribution (ketama): modula never re-routes a key
 *   (docs/pylibmc-compatibility.md, Dead servers);
 * - `remove_failed`: eject a server once it has failed `failure_limit` times;
 * - `failure_limit: 1`: eject at the first failed connection. Read timeouts never count (a
 *   slow server is not ejected, only one that cannot be reached), so one is enough, and every
 *   extra failure costs another `retry_timeout` of rejected operations;
 * - `retry_timeout: 1`: how long a failed server's keys reject before it is tried again;
 * - `dead_timeout: 10`: how long an ejected server stays out before it is tried again. Without
 *   it libmemcached 1.1.4 puts the server back after retry_timeout and rejects its keys with
 *   ServerDead forever (docs/libmemcached-notes.md, Failure handling).
 *
 * Behaviors given explicitly win over these, so `{ failover: true, behaviors: { dead_timeout: 30 } }`
 * tunes one of them.
 */
import type { Behaviors } from './behaviors';

export const FAILOVER_BEHAVIORS: Readonly<Behaviors> = Object.freeze({
  remove_failed: 1,
  failure_limit: 1,
  retry_timeout: 1,
  dead_timeout: 10,
});

// Distributions under which libmemcached rebuilds the continuum without an ejected server.
const CONSISTENT = new Set(['consistent', 'consistent ketama', 'consistent ketama spy', 'consistent weighted']);

/** The behaviors to apply for `failover: true`, given the ones the caller set. */
export function withFailover(behaviors: Behaviors | undefined): Behaviors {
  // Checked here, before the spread below would turn a number or a string into {} unnoticed.
  if (behaviors !== undefined && behaviors !== null && (typeof behaviors !== 'object' || Array.isArray(behaviors))) {
    throw new TypeError('Client: behaviors must be an object');
  }
  const given: Behaviors = behaviors ?? {};
  const out: Behaviors = { ...FAILOVER_BEHAVIORS, ...given };
  const distribution = given.distribution;
  if (distribution !== undefined && distribution !== null) {
    if (typeof distribution !== 'string' || !CONSISTENT.has(distribution)) {
      throw new RangeError(
        `failover needs a consistent distribution (keys of a failed server move to the others only there), not ${JSON.stringify(distribution)}`,
      );
    }
  } else if (!truthy(given.ketama) && !truthy(given.ketama_weighted)) {
    if (given.ketama !== undefined || given.ketama_weighted !== undefined) {
      throw new RangeError('failover needs a consistent distribution: leave ketama unset or true');
    }
    // pylibmc's `ketama: True`, so keys land where pylibmc (and php-memcached's ketama) put them.
    out.ketama = 1;
  }
  if (!truthy(out.remove_failed)) {
    throw new RangeError('failover needs remove_failed (it is what ejects a failed server)');
  }
  if (out.dead_timeout === 0) {
    throw new RangeError('failover needs dead_timeout > 0: with 0, libmemcached 1.1.4 never gives an ejected server back its keys');
  }
  return out;
}

function truthy(value: unknown): boolean {
  return value !== undefined && value !== null && value !== 0 && value !== false;
}
