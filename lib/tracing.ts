/**
 * Tracing and server events through node:diagnostics_channel (docs/tracing.md): every public
 * operation of a Client runs inside the TracingChannel `libmemcached:command` when that channel
 * has subscribers, and what the client learns about its servers goes to `libmemcached:server`.
 * With no subscriber an operation costs one check of a boolean.
 */
import * as diagnostics from 'node:diagnostics_channel';
import { types } from 'node:util';
import { isKey, prefixedKey, readKeys } from './keys';
import { serverAddress } from './servers';

/** The context object of `libmemcached:command`'s events (docs/tracing.md). */
export interface CommandContext {
  /** The method called: 'get', 'getMulti', 'set', ... */
  operation: string;
  /** The key, as given, for single-key operations. */
  key?: string | Buffer;
  /** The number of keys of a multi-key operation. */
  keyCount?: number;
  /** The servers the keys map to ('host:port', or a socket path), when known; every server for server-wide operations. */
  servers?: string[];
  /** Set by the channel when the operation resolves. */
  result?: unknown;
  /** Set by the channel when it rejects. */
  error?: unknown;
}

/** A message of `libmemcached:server`. */
export interface ServerEvent {
  /** 'failed': an operation failed on it (connection, timeout); 'ejected': taken out of the distribution (failover); 'recovered': it answered again. */
  event: 'failed' | 'ejected' | 'recovered';
  /** 'host:port', or a socket path. */
  server: string;
  /** For 'failed' and 'ejected': the error that told. */
  error?: unknown;
}

export const commandChannel = diagnostics.tracingChannel<object, CommandContext>('libmemcached:command');
export const serverChannel = diagnostics.channel('libmemcached:server');

/** TracingChannel#hasSubscribers exists from Node 20.13; before that, ask each of its channels. */
const { start, end, asyncStart, asyncEnd, error } = commandChannel;
export const tracing: () => boolean =
  typeof Object.getOwnPropertyDescriptor(Object.getPrototypeOf(commandChannel), 'hasSubscribers')?.get === 'function'
    ? () => commandChannel.hasSubscribers
    : () => start.hasSubscribers || end.hasSubscribers || asyncStart.hasSubscribers || asyncEnd.hasSubscribers || error.hasSubscribers;

/** How a method's arguments describe its keys. */
type Shape = 'key' | 'keys' | 'mapping' | 'servers';

/** Every public operation of Client, with the shape of its first argument. */
export const TRACED_OPERATIONS: Readonly<Record<string, Shape>> = {
  get: 'key',
  has: 'key',
  gets: 'key',
  set: 'key',
  add: 'key',
  replace: 'key',
  append: 'key',
  prepend: 'key',
  cas: 'key',
  incr: 'key',
  decr: 'key',
  delete: 'key',
  touch: 'key',
  hash: 'key',
  getMulti: 'keys',
  deleteMulti: 'keys',
  incrMulti: 'keys',
  setMulti: 'mapping',
  addMulti: 'mapping',
  flushAll: 'servers',
  getStats: 'servers',
  disconnectAll: 'servers',
  getBehaviors: 'servers',
  setBehaviors: 'servers',
  close: 'servers',
};

/** What the instrumentation needs of a client beyond its public surface. */
export interface Placement<C> {
  /** The index into `servers` of the server `key` maps to; throws for a key that cannot be placed. */
  serverIndex(client: C, key: string | Buffer): number;
  /** The servers as the client lists them ('host:port[:weight]', 'udp:...', a path). */
  servers(client: C): readonly string[];
}

/** The servers `keys` map to, in server order; undefined if one cannot be placed. */
function serversOf<C>(client: C, placement: Placement<C>, keys: Iterable<unknown>, prefix: unknown): string[] | undefined {
  const all = placement.servers(client);
  const used = new Set<number>();
  try {
    for (const key of keys) {
      if (!isKey(key)) return undefined;
      used.add(placement.serverIndex(client, prefixedKey(isKey(prefix) ? prefix : undefined, key)));
      if (used.size === all.length) break;
    }
  } catch {
    return undefined; // a key the operation will refuse: it says why
  }
  return [...used].sort((a, b) => a - b).map((i) => serverAddress(all[i]));
}

/**
 * The context of one call. A multi-key call's keys, if not an array, are read here once into
 * one (the operation then gets that array), since an iterator can be read only once.
 */
function contextOf<C>(client: C, placement: Placement<C>, operation: string, shape: Shape, args: unknown[]): CommandContext {
  const context: CommandContext = { operation };
  const first = args[0];
  // The options read once, here, and that copy is what the operation reads (a getter is not
  // asked twice).
  if ((shape === 'keys' || shape === 'mapping') && args[1] !== null && typeof args[1] === 'object') args[1] = { ...(args[1] as object) };
  const options = args[1] as { keyPrefix?: unknown } | undefined;
  if (shape === 'key') {
    if (isKey(first)) {
      context.key = first;
      const servers = serversOf(client, placement, [first], undefined);
      if (servers) context.servers = servers;
    }
  } else if (shape === 'keys') {
    // Read as the operation reads keys (dispatcher's readKeys): its errors are the call's.
    if (!Array.isArray(first) && first !== null && typeof first === 'object' && Symbol.iterator in first) args[0] = readKeys(first, operation);
    if (Array.isArray(args[0])) {
      context.keyCount = args[0].length;
      const servers = serversOf(client, placement, args[0], options !== null && typeof options === 'object' ? options.keyPrefix : undefined);
      if (servers) context.servers = servers;
    }
  } else if (shape === 'mapping') {
    if (first !== null && typeof first === 'object') {
      const keys: unknown[] = types.isMap(first) ? [...(first as Map<unknown, unknown>).keys()] : Object.keys(first);
      context.keyCount = keys.length;
      const servers = serversOf(client, placement, keys, options !== null && typeof options === 'object' ? options.keyPrefix : undefined);
      if (servers) context.servers = servers;
    }
  } else {
    context.servers = placement.servers(client).map(serverAddress);
  }
  return context;
}

/**
 * Wraps each of TRACED_OPERATIONS on `prototype`: with subscribers, the call runs inside
 * `libmemcached:command`'s tracePromise (start, end, asyncStart, asyncEnd or error, one each);
 * without, the original method is called at once.
 */
export function instrument<C extends object>(prototype: C, placement: Placement<C>): void {
  const methods = prototype as unknown as Record<string, (this: C, ...args: unknown[]) => Promise<unknown>>;
  for (const [operation, shape] of Object.entries(TRACED_OPERATIONS)) {
    const original = methods[operation];
    if (typeof original !== 'function') throw new Error(`tracing: Client has no method ${operation}`);
    // Four parameters, the most any operation takes: no rest array on the untraced path.
    const traced = function (this: C, a?: unknown, b?: unknown, c?: unknown, d?: unknown): Promise<unknown> {
      if (!tracing()) return original.call(this, a, b, c, d);
      const args = [a, b, c, d];
      let context: CommandContext;
      try {
        context = contextOf(this, placement, operation, shape, args);
      } catch (error) {
        // Reading the caller's keys failed (a throwing iterator): that is the call's answer.
        context = { operation };
        return commandChannel.tracePromise(() => Promise.reject(error), context);
      }
      return commandChannel.tracePromise(original, context, this, ...args);
    };
    Object.defineProperty(traced, 'name', { value: operation });
    Object.defineProperty(prototype, operation, { value: traced, writable: true, configurable: true, enumerable: false });
  }
}

/** Publishes a server event, when anyone listens. */
export function publishServerEvent(event: ServerEvent): void {
  if (serverChannel.hasSubscribers) serverChannel.publish(event);
}
