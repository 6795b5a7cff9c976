/**
 * What a client learns about its servers from its operations' outcomes, published on the
 * `libmemcached:server` channel (docs/tracing.md): a server failed, was ejected from the key
 * distribution, or answered again. Kept only while that channel has subscribers; each change is
 * published once, not every failed operation.
 */
import { returnCode } from './constants';
import { Key, prefixedKey } from './keys';
import { serverAddress } from './servers';
import { publishServerEvent } from './tracing';

/** Return codes that say a server could not be reached or did not answer. */
const UNREACHABLE = new Set(
  [
    'MEMCACHED_CONNECTION_FAILURE',
    'MEMCACHED_FAIL_UNIX_SOCKET',
    'MEMCACHED_HOST_LOOKUP_FAILURE',
    'MEMCACHED_ERRNO',
    'MEMCACHED_TIMEOUT',
    'MEMCACHED_WRITE_FAILURE',
    'MEMCACHED_READ_FAILURE',
    'MEMCACHED_UNKNOWN_READ_FAILURE',
    'MEMCACHED_SERVER_TEMPORARILY_DISABLED',
  ].map(returnCode),
);
/** libmemcached has marked the server dead: ejected (failover), or refused until it is retried. */
const MARKED_DEAD = returnCode('MEMCACHED_SERVER_MARKED_DEAD');
/** libmemcached refuses the server until its retry_timeout, after a failure. */
const TEMPORARILY_DISABLED = returnCode('MEMCACHED_SERVER_TEMPORARILY_DISABLED');

/** The behaviors that decide when an ejected server's keys come back to it. */
export interface EjectionRules {
  removeFailed: boolean;
  failureLimit: number;
  deadTimeoutMs: number;
}

interface Down {
  state: 'failed' | 'ejected';
  /** Its failures seen since it was reported failed (connection errors, timeouts). */
  failures: number;
  /** When it failed or was ejected (ms): under failover its keys go elsewhere until dead_timeout passes. */
  since: number;
}

export class ServerWatch {
  #down = new Map<string, Down>();
  #addresses: readonly string[];
  #serverIndex: (key: Key) => number;
  #rules: () => EjectionRules;

  /** `servers` as Client lists them; `serverIndex` places a key (with any prefix) on one. */
  constructor(servers: readonly string[], serverIndex: (key: Key) => number, rules: () => EjectionRules) {
    this.#addresses = servers.map(serverAddress);
    this.#serverIndex = serverIndex;
    this.#rules = rules;
  }

  /**
   * An operation's outcome: `rc` and, for a failure, the server libmemcached named and the error
   * the caller gets; for a success, the keys it touched (a prefix in front), or 'all' for an
   * operation every server answered.
   */
  completed(rc: number, failed: boolean, server: string | undefined, error: unknown, keys: Key | readonly Key[] | 'all' | undefined, prefix?: Key): void {
    if (failed) {
      if (server !== undefined) this.#failure(rc, server, error);
      return;
    }
    if (this.#down.size === 0 || keys === undefined) return;
    if (keys === 'all') {
      for (const address of [...this.#down.keys()]) this.#answered(address);
      return;
    }
    for (const key of Array.isArray(keys) ? (keys as readonly Key[]) : [keys as Key]) {
      let index: number;
      try {
        index = this.#serverIndex(prefixedKey(prefix, key));
      } catch {
        continue;
      }
      this.#answered(this.#addresses[index]);
      if (this.#down.size === 0) return;
    }
  }

  /** Whether it holds any server's state (to forget when nobody listens any more). */
  get holding(): boolean {
    return this.#down.size > 0;
  }

  /** Forgets every state: without subscribers nothing is watched, so what it knew may go stale. */
  reset(): void {
    this.#down.clear();
  }

  #failure(rc: number, named: string, error: unknown): void {
    const unreachable = UNREACHABLE.has(rc);
    if (!unreachable && rc !== MARKED_DEAD) return; // an answer the server gave: it is up
    // libmemcached names a UNIX socket server 'path:0'; events name it by its path.
    const server = named.startsWith('/') && named.endsWith(':0') ? named.slice(0, -2) : named;
    let down = this.#down.get(server);
    if (down === undefined) {
      down = { state: 'failed', failures: 0, since: Date.now() };
      this.#down.set(server, down);
      publishServerEvent({ event: 'failed', server, error });
    }
    // Ejected: libmemcached said it marked the server dead, or, under remove_failed, the server
    // failed failure_limit times, which is when libmemcached takes it out of the distribution
    // (it says so to no operation: the one that failed gets the connection's error). Its
    // "temporarily disabled" answers between retries are not failures of their own.
    if (rc !== TEMPORARILY_DISABLED && rc !== MARKED_DEAD) down.failures++;
    const rules = this.#rules();
    const ejected = rc === MARKED_DEAD || (rules.removeFailed && down.failures >= rules.failureLimit);
    if (ejected && down.state !== 'ejected') {
      down.state = 'ejected';
      down.since = Date.now();
      publishServerEvent({ event: 'ejected', server, error });
    }
  }

  #answered(address: string): void {
    const down = this.#down.get(address);
    if (down === undefined) return;
    // Ejected under failover, its keys are served by the others until dead_timeout has passed:
    // their answers say nothing about it.
    const rules = this.#rules();
    if (down.state === 'ejected' && rules.removeFailed && Date.now() - down.since < rules.deadTimeoutMs) return;
    this.#down.delete(address);
    publishServerEvent({ event: 'recovered', server: address });
  }
}
