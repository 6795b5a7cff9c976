/**
 * Errors, named as pylibmc names them. `MemcachedError` is the base of every error that
 * libmemcached or a server reported; each carries libmemcached's return code (`rc`), its
 * constant's name (`code`) and, where known, the server involved.
 */

/** libmemcached's `memcached_return_t` names, indexed by value (libmemcached 1.1.4). */
export const RETURN_CODES = [
  'MEMCACHED_SUCCESS',
  'MEMCACHED_FAILURE',
  'MEMCACHED_HOST_LOOKUP_FAILURE',
  'MEMCACHED_CONNECTION_FAILURE',
  'MEMCACHED_CONNECTION_BIND_FAILURE',
  'MEMCACHED_WRITE_FAILURE',
  'MEMCACHED_READ_FAILURE',
  'MEMCACHED_UNKNOWN_READ_FAILURE',
  'MEMCACHED_PROTOCOL_ERROR',
  'MEMCACHED_CLIENT_ERROR',
  'MEMCACHED_SERVER_ERROR',
  'MEMCACHED_ERROR',
  'MEMCACHED_DATA_EXISTS',
  'MEMCACHED_DATA_DOES_NOT_EXIST',
  'MEMCACHED_NOTSTORED',
  'MEMCACHED_STORED',
  'MEMCACHED_NOTFOUND',
  'MEMCACHED_MEMORY_ALLOCATION_FAILURE',
  'MEMCACHED_PARTIAL_READ',
  'MEMCACHED_SOME_ERRORS',
  'MEMCACHED_NO_SERVERS',
  'MEMCACHED_END',
  'MEMCACHED_DELETED',
  'MEMCACHED_VALUE',
  'MEMCACHED_STAT',
  'MEMCACHED_ITEM',
  'MEMCACHED_ERRNO',
  'MEMCACHED_FAIL_UNIX_SOCKET',
  'MEMCACHED_NOT_SUPPORTED',
  'MEMCACHED_NO_KEY_PROVIDED',
  'MEMCACHED_FETCH_NOTFINISHED',
  'MEMCACHED_TIMEOUT',
  'MEMCACHED_BUFFERED',
  'MEMCACHED_BAD_KEY_PROVIDED',
  'MEMCACHED_INVALID_HOST_PROTOCOL',
  'MEMCACHED_SERVER_MARKED_DEAD',
  'MEMCACHED_UNKNOWN_STAT_KEY',
  'MEMCACHED_E2BIG',
  'MEMCACHED_INVALID_ARGUMENTS',
  'MEMCACHED_KEY_TOO_BIG',
  'MEMCACHED_AUTH_PROBLEM',
  'MEMCACHED_AUTH_FAILURE',
  'MEMCACHED_AUTH_CONTINUE',
  'MEMCACHED_PARSE_ERROR',
  'MEMCACHED_PARSE_USER_ERROR',
  'MEMCACHED_DEPRECATED',
  'MEMCACHED_IN_PROGRESS',
  'MEMCACHED_SERVER_TEMPORARILY_DISABLED',
  'MEMCACHED_SERVER_MEMORY_ALLOCATION_FAILURE',
] as const;

export type ReturnCodeName = (typeof RETURN_CODES)[number];

export interface MemcachedErrorDetails {
  /** libmemcached's return code; absent for errors raised before any I/O. */
  rc?: number;
  /** `host:port` of the server involved, when libmemcached could tell. */
  server?: string;
}

export class MemcachedError extends Error {
  /** The libmemcached return code this class stands for (pylibmc's `retcode`). */
  static readonly retcode: number | undefined = undefined;
  readonly rc: number | undefined;
  readonly code: string;
  readonly server: string | undefined;
  /**
   * getMulti only: what was read from the servers that did answer (unprefixed key → value),
   * for a caller that would rather use part of a multi-get than none of it.
   */
  partial?: Record<string, unknown>;

  constructor(message: string, details: MemcachedErrorDetails = {}) {
    super(message);
    this.name = new.target.name;
    this.rc = details.rc ?? (new.target as typeof MemcachedError).retcode;
    this.code = this.rc !== undefined ? (RETURN_CODES[this.rc] ?? `MEMCACHED_RC_${this.rc}`) : 'MEMCACHED_ERROR';
    this.server = details.server;
  }
}

// One class per return code, so that `instanceof`, `err.name` and types read like pylibmc's.
export class Failure extends MemcachedError { static override readonly retcode: number = 1; }
export class HostLookupError extends MemcachedError { static override readonly retcode: number = 2; }
export class ConnectionError extends MemcachedError { static override readonly retcode: number = 3; }
export class ConnectionBindError extends MemcachedError { static override readonly retcode: number = 4; }
export class WriteError extends MemcachedError { static override readonly retcode: number = 5; }
export class ReadError extends MemcachedError { static override readonly retcode: number = 6; }
export class UnknownReadFailure extends MemcachedError { static override readonly retcode: number = 7; }
export class ProtocolError extends MemcachedError { static override readonly retcode: number = 8; }
export class ClientError extends MemcachedError { static override readonly retcode: number = 9; }
export class ServerError extends MemcachedError { static override readonly retcode: number = 10; }
/** rc 11 is the server's `ERROR` reply; pylibmc keeps libmemcached's old name for it. */
export class SocketCreateError extends MemcachedError { static override readonly retcode: number = 11; }
export class DataExists extends MemcachedError { static override readonly retcode: number = 12; }
export class DataDoesNotExist extends MemcachedError { static override readonly retcode: number = 13; }
export class NotFound extends MemcachedError { static override readonly retcode: number = 16; }
export class AllocationError extends MemcachedError { static override readonly retcode: number = 17; }
export class SomeErrors extends MemcachedError { static override readonly retcode: number = 19; }
export class NoServers extends MemcachedError { static override readonly retcode: number = 20; }
export class UnixSocketError extends MemcachedError { static override readonly retcode: number = 27; }
export class NotSupportedError extends MemcachedError { static override readonly retcode: number = 28; }
export class FetchNotFinished extends MemcachedError { static override readonly retcode: number = 30; }
/** Not in pylibmc (which raises its base Error for rc 31). */
export class TimeoutError extends MemcachedError { static override readonly retcode: number = 31; }
export class BadKeyProvided extends MemcachedError { static override readonly retcode: number = 33; }
export class InvalidHostProtocolError extends MemcachedError { static override readonly retcode: number = 34; }
export class ServerDead extends MemcachedError { static override readonly retcode: number = 35; }
export class UnknownStatKey extends MemcachedError { static override readonly retcode: number = 36; }
export class TooBig extends MemcachedError { static override readonly retcode: number = 37; }
export class InvalidArguments extends MemcachedError { static override readonly retcode: number = 38; }
/** Not in pylibmc (which raises its base Error for rc 41). */
export class AuthFailure extends MemcachedError { static override readonly retcode: number = 41; }
export class ServerDown extends MemcachedError { static override readonly retcode: number = 47; }

const BY_RC = new Map<number, typeof MemcachedError>(
  [
    Failure,
    HostLookupError,
    ConnectionError,
    ConnectionBindError,
    WriteError,
    ReadError,
    UnknownReadFailure,
    ProtocolError,
    ClientError,
    ServerError,
    SocketCreateError,
    DataExists,
    DataDoesNotExist,
    NotFound,
    AllocationError,
    SomeErrors,
    NoServers,
    UnixSocketError,
    NotSupportedError,
    FetchNotFinished,
    TimeoutError,
    BadKeyProvided,
    InvalidHostProtocolError,
    ServerDead,
    UnknownStatKey,
    TooBig,
    InvalidArguments,
    AuthFailure,
    ServerDown,
  ].map((cls) => [cls.retcode as number, cls]),
);

// MEMCACHED_ERRNO: an operating-system error that libmemcached passes on as it is. Every one it
// can meet comes from a socket call (connect, send, recv, poll), so it is a ConnectionError
// (with rc 26 and its own code), not an untyped error.
BY_RC.set(26, ConnectionError);

/** Raise it from a deserializer to make a read behave as a miss (pylibmc's CacheMiss). */
export class CacheMiss extends Error {
  constructor(message = 'cache miss') {
    super(message);
    this.name = 'CacheMiss';
  }
}

/**
 * A stored value that the deserializer cannot read: unknown flags, a pickle of something other
 * than None, bool, int, float, str, bytes, list, tuple, dict or set, bad JSON, or a value
 * marked compressed that does not inflate. `flags` are the value's flags as stored.
 */
export class DeserializationError extends MemcachedError {
  readonly flags: number;
  constructor(message: string, flags: number) {
    super(message);
    this.flags = flags;
  }
}

/** The client was closed; nothing more can be done with it. */
export class ClientClosedError extends MemcachedError {
  constructor(operation: string) {
    super(`${operation}: the client is closed`);
  }
}

// libmemcached appends " -> /path/to/source.cc:123" to its messages, and "host: name:port" to
// those about a server (which the message names already): noise for a user.
const SOURCE_LOCATION = /\s*->\s*\S+:\d+\s*$/;
const HOST_SUFFIX = /,?\s*host: \S+$/;

/** Builds the error for a failed libmemcached call: `<operation>(<key>): <message>`. */
export function errorFromReturnCode(
  rc: number,
  operation: string,
  key: string | undefined,
  detail: string | undefined,
  server: string | undefined,
): MemcachedError {
  const cls = BY_RC.get(rc) ?? MemcachedError;
  const name = RETURN_CODES[rc] ?? `rc ${rc}`;
  const what = key === undefined ? operation : `${operation}(${key.length > 64 ? key.slice(0, 64) + '…' : key})`;
  let message = `${what}: ${name}`;
  const explanation = detail?.replace(SOURCE_LOCATION, '').replace(/\(0x[0-9a-f]+\)\s*/g, '').replace(HOST_SUFFIX, '');
  if (explanation) message += ` (${explanation})`;
  if (server) message += ` [${server}]`;
  return new cls(message, { rc, server });
}
