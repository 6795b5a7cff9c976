/**
 * What counts as a correct outcome: which errors are typed, which a valid call may meet
 * against a healthy local memcached, and the shape each method's result must have.
 */
import {
  BadKeyProvided,
  ClientClosedError,
  ClientError,
  DeserializationError,
  MemcachedError,
  NotFound,
  ServerError,
  TooBig,
} from '../../lib';
import type { Method } from './calls';
import { FuzzBoom } from './hostile';

/**
 * The name of the built-in error class an error descends from. Not `instanceof`: errors
 * thrown by Node's own code (Buffer, zlib) come from another realm than jest's sandbox.
 */
function builtinName(error: unknown): string | undefined {
  for (let p: unknown = error; p !== null && typeof p === 'object'; p = Object.getPrototypeOf(p)) {
    const name = (Object.getOwnPropertyDescriptor(p, 'constructor')?.value as { name?: unknown } | undefined)?.name;
    if (name === 'TypeError' || name === 'RangeError' || name === 'SyntaxError' || name === 'ReferenceError' || name === 'Error') return name;
  }
  return undefined;
}

/** The class name shown for an error: its own constructor's (MemcachedError subclasses included). */
export function className(error: unknown): string {
  try {
    return classNameUnsafe(error);
  } catch {
    return 'an unprintable value';
  }
}

function classNameUnsafe(error: unknown): string {
  if (error === null || (typeof error !== 'object' && typeof error !== 'function')) return `a thrown ${typeof error}`;
  const ctor = (error as { constructor?: { name?: unknown } }).constructor;
  return typeof ctor?.name === 'string' && ctor.name !== '' ? ctor.name : 'an object';
}

export function messageOf(error: unknown): string {
  try {
    if (error !== null && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string') return (error as Error).message;
    return String(error);
  } catch {
    return '(no message)';
  }
}

/**
 * A documented error: TypeError, RangeError or a MemcachedError subclass, or a hostile
 * object's own exception passed on as it was (the caller's own error, not the client's).
 */
export function isTyped(error: unknown): boolean {
  if (error instanceof MemcachedError || error instanceof FuzzBoom) return true;
  const name = builtinName(error);
  // A plain Error, or a TypeError that is really a MemcachedError from another copy, are not.
  return name === 'TypeError' || name === 'RangeError';
}

type ErrorClass = abstract new (...args: never[]) => Error;

const READS: ErrorClass[] = [DeserializationError, TooBig];
const WRITES: ErrorClass[] = [TooBig, ServerError];
const COUNTERS: ErrorClass[] = [NotFound, ClientError];

/**
 * The errors a valid call may meet against a healthy local memcached: a value nobody can
 * decode or too large, a missing counter, a stored value that is no number. Anything else
 * (a ProtocolError, a TypeError, a RangeError) is the client's fault.
 */
const ALLOWED: Partial<Record<Method, ErrorClass[]>> = {
  get: READS,
  gets: READS,
  getMulti: READS,
  has: READS,
  set: WRITES,
  add: WRITES,
  replace: WRITES,
  append: WRITES,
  prepend: WRITES,
  setMulti: WRITES,
  addMulti: WRITES,
  cas: [...WRITES, NotFound],
  incr: COUNTERS,
  decr: COUNTERS,
  incrMulti: COUNTERS,
};

/** Whether a valid call on a healthy client may reject with `error`. */
export function allowedForValid(method: Method, error: unknown): boolean {
  // With the verify_keys behavior on (text protocol; the fuzz does not track which client has
  // it), a key outside printable ASCII is refused before anything is sent: documented.
  if (error instanceof BadKeyProvided && /verify_keys/.test(error.message)) return true;
  return (ALLOWED[method] ?? []).some((cls) => error instanceof cls);
}

export function isClosedError(error: unknown): boolean {
  return error instanceof ClientClosedError;
}

/** What is wrong with a resolved value's shape, or undefined. */
export function shapeComplaint(method: Method, value: unknown, servers: number): string | undefined {
  const bool = typeof value === 'boolean' ? undefined : `resolved ${describe(value)}, not a boolean`;
  switch (method) {
    case 'getMulti': {
      if (value === null || typeof value !== 'object') return `resolved ${describe(value)}, not an object`;
      if (Object.getPrototypeOf(value) !== null) return 'resolved an object whose prototype is not null';
      const missing = Object.keys(value).find((k) => (value as Record<string, unknown>)[k] === undefined);
      return missing === undefined ? undefined : `key ${JSON.stringify(missing)} is present with the value undefined`;
    }
    case 'gets': {
      if (!Array.isArray(value) || value.length !== 2) return `resolved ${describe(value)}, not a pair`;
      if (value[0] === undefined && value[1] === undefined) return undefined;
      return typeof value[1] === 'bigint' && value[1] > 0n ? undefined : `resolved a pair whose cas is ${describe(value[1])}`;
    }
    case 'set':
    case 'add':
    case 'replace':
    case 'append':
    case 'prepend':
    case 'cas':
    case 'delete':
    case 'deleteMulti':
    case 'touch':
    case 'has':
      return bool;
    case 'setMulti':
    case 'addMulti':
      return Array.isArray(value) ? undefined : `resolved ${describe(value)}, not an array`;
    case 'incr':
    case 'decr':
      if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return undefined;
      if (typeof value === 'bigint' && value > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
      return `resolved ${describe(value)}, not a counter value`;
    case 'incrMulti':
    case 'disconnectAll':
    case 'setBehaviors':
    case 'close':
    case 'asyncDispose':
      return value === undefined ? undefined : `resolved ${describe(value)}, not undefined`;
    case 'flushAll':
      return value === true ? undefined : `resolved ${describe(value)}, not true`;
    case 'getStats':
      return Array.isArray(value) && value.every((s) => Array.isArray(s) && typeof s[0] === 'string' && typeof s[1] === 'object')
        ? undefined
        : `resolved ${describe(value)}, not a list of [server, stats]`;
    case 'hash':
      return Number.isInteger(value) && (value as number) >= 0 && (value as number) < servers ? undefined : `resolved ${describe(value)}, not a server index below ${servers}`;
    case 'getBehaviors':
      return value !== null && typeof value === 'object' ? undefined : `resolved ${describe(value)}, not an object`;
    default:
      return undefined;
  }
}

/** A few words about a value; never throws, whatever hostile object it is given. */
export function describe(value: unknown): string {
  try {
    return describeUnsafe(value);
  } catch {
    return 'an unprintable value';
  }
}

function describeUnsafe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol' || typeof value === 'function') return typeof value;
  if (Buffer.isBuffer(value)) return `<Buffer ${value.length} bytes>`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value !== null && typeof value === 'object') return 'an object';
  return String(value);
}
