/**
 * Errors, named as pylibmc names them. `MemcachedError` is the base of every error that
 * libmemcached or a server reported; each carries libmemcached's return code (`rc`), its
 * constant's name (`code`) and, where known, the server involved.
 */

import { RETURN_CODE_NAMES, returnCode } from './constants';

/** libmemcached's `memcached_return_t` names, indexed by value, as the addon was compiled. */
export const RETURN_CODES: readonly string[] = RETURN_CODE_NAMES;

/** The name of a `memcached_return_t` constant, such as `'MEMCACHED_NOTFOUND'`. */
export type ReturnCodeName = string;

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
export class Failure extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_FAILURE'); }
export class HostLookupError extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_HOST_LOOKUP_FAILURE'); }
export class ConnectionError extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_CONNECTION_FAILURE'); }
export class ConnectionBindError extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_CONNECTION_BIND_FAILURE'); }
export class WriteError extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_WRITE_FAILURE'); }
export class ReadError extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_READ_FAILURE'); }
export class UnknownReadFailure extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_UNKNOWN_READ_FAILURE'); }
export class ProtocolError extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_PROTOCOL_ERROR'); }
export class ClientError extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_CLIENT_ERROR'); }
export class ServerError extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_SERVER_ERROR'); }
/** MEMCACHED_ERROR is the server's `ERROR` reply; pylibmc keeps libmemcached's old name for it. */
export class SocketCreateError extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_ERROR'); }
export class DataExists extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_DATA_EXISTS'); }
export class DataDoesNotExist extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_DATA_DOES_NOT_EXIST'); }
export class NotFound extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_NOTFOUND'); }
export class AllocationError extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_MEMORY_ALLOCATION_FAILURE'); }
export class SomeErrors extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_SOME_ERRORS'); }
export class NoServers extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_NO_SERVERS'); }
export class UnixSocketError extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_FAIL_UNIX_SOCKET'); }
export class NotSupportedError extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_NOT_SUPPORTED'); }
export class FetchNotFinished extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_FETCH_NOTFINISHED'); }
/** Not in pylibmc (which raises its base Error for MEMCACHED_TIMEOUT). */
export class TimeoutError extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_TIMEOUT'); }
export class BadKeyProvided extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_BAD_KEY_PROVIDED'); }
export class InvalidHostProtocolError extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_INVALID_HOST_PROTOCOL'); }
export class ServerDead extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_SERVER_MARKED_DEAD'); }
export class UnknownStatKey extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_UNKNOWN_STAT_KEY'); }
export class TooBig extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_E2BIG'); }
export class InvalidArguments extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_INVALID_ARGUMENTS'); }
/** Not in pylibmc (which raises its base Error for MEMCACHED_AUTH_FAILURE). */
export class AuthFailure extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_AUTH_FAILURE'); }
export class ServerDown extends MemcachedError { static override readonly retcode: number = returnCode('MEMCACHED_SERVER_TEMPORARILY_DISABLED'); }

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
// (with MEMCACHED_ERRNO as its rc and code), not an untyped error.
BY_RC.set(returnCode('MEMCACHED_ERRNO'), ConnectionError);

/**
 * A TLS connection could not be set up (the `tls` option): the handshake failed or the server's
 * certificate was refused. The message carries OpenSSL's reason: "unable to get local issuer
 * certificate" (unknown CA), "hostname mismatch", "certificate has expired", "unsupported
 * protocol"... It is a `ConnectionError`, and counts for failover as a refused connection does;
 * `rc` is libmemcached's code (MEMCACHED_CONNECTION_FAILURE, or MEMCACHED_TIMEOUT for a handshake
 * that did not finish within `connect_timeout`).
 */
export class TLSError extends ConnectionError {}

// libmemcached's TLS messages (deps/patches/0007-tls.patch) start with "TLS: ".
const TLS_DETAIL = /(^|[\s,(])TLS: /;

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
  const cls = detail !== undefined && TLS_DETAIL.test(detail) ? TLSError : (BY_RC.get(rc) ?? MemcachedError);
  const name = RETURN_CODES[rc] ?? `rc ${rc}`;
  const what = key === undefined ? operation : `${operation}(${key.length > 64 ? key.slice(0, 64) + '…' : key})`;
  let message = `${what}: ${name}`;
  const explanation = detail?.replace(SOURCE_LOCATION, '').replace(/\(0x[0-9a-f]+\)\s*/g, '').replace(HOST_SUFFIX, '');
  if (explanation) message += ` (${explanation})`;
  if (server) message += ` [${server}]`;
  return new cls(message, { rc, server });
}
