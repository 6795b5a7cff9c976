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

  constructor(message: string, details: MemcachedErrorDetails = {}) {
    super(message);
    this.name = new.target.name;
    this.rc = details.rc ?? (new.target as typeof MemcachedError).retcode;
    this.code = this.rc !== undefined ? (RETURN_CODES[this.rc] ?? `MEMCACHED_RC_${this.rc}`) : 'MEMCACHED_ERROR';
    this.server = details.server;
  }
}

function errorClass(name: string, rc: number): typeof MemcachedError {
  // A named class per return code, so `instanceof` and `err.name` read like pylibmc's.
  const cls = {
    [name]: class extends MemcachedError {
      static override readonly retcode: number = rc;
    },
  }[name];
  return cls;
}

export const Failure = errorClass('Failure', 1);
export const HostLookupError = errorClass('HostLookupError', 2);
export const ConnectionError = errorClass('ConnectionError', 3);
export const ConnectionBindError = errorClass('ConnectionBindError', 4);
export const WriteError = errorClass('WriteError', 5);
export const ReadError = errorClass('ReadError', 6);
export const UnknownReadFailure = errorClass('UnknownReadFailure', 7);
export const ProtocolError = errorClass('ProtocolError', 8);
export const ClientError = errorClass('ClientError', 9);
export const ServerError = errorClass('ServerError', 10);
/** rc 11 is the server's `ERROR` reply; pylibmc keeps libmemcached's old name for it. */
export const SocketCreateError = errorClass('SocketCreateError', 11);
export const DataExists = errorClass('DataExists', 12);
export const DataDoesNotExist = errorClass('DataDoesNotExist', 13);
export const NotFound = errorClass('NotFound', 16);
export const AllocationError = errorClass('AllocationError', 17);
export const SomeErrors = errorClass('SomeErrors', 19);
export const NoServers = errorClass('NoServers', 20);
export const UnixSocketError = errorClass('UnixSocketError', 27);
export const NotSupportedError = errorClass('NotSupportedError', 28);
export const FetchNotFinished = errorClass('FetchNotFinished', 30);
/** Not in pylibmc (which raises its base Error for rc 31). */
export const TimeoutError = errorClass('TimeoutError', 31);
export const BadKeyProvided = errorClass('BadKeyProvided', 33);
export const InvalidHostProtocolError = errorClass('InvalidHostProtocolError', 34);
export const ServerDead = errorClass('ServerDead', 35);
export const UnknownStatKey = errorClass('UnknownStatKey', 36);
export const TooBig = errorClass('TooBig', 37);
export const InvalidArguments = errorClass('InvalidArguments', 38);
/** Not in pylibmc (which raises its base Error for rc 41). */
export const AuthFailure = errorClass('AuthFailure', 41);
export const ServerDown = errorClass('ServerDown', 47);

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

/** Raise it from a deserializer to make a read behave as a miss (pylibmc's CacheMiss). */
export class CacheMiss extends Error {
  constructor(message = 'cache miss') {
    super(message);
    this.name = 'CacheMiss';
  }
}

/** The client was closed; nothing more can be done with it. */
export class ClientClosedError extends MemcachedError {
  constructor(operation: string) {
    super(`${operation}: the client is closed`);
  }
}

// libmemcached appends " -> /path/to/source.cc:123" to its messages: noise for a user.
const SOURCE_LOCATION = /\s*->\s*\S+:\d+\s*$/;

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
  const explanation = detail?.replace(SOURCE_LOCATION, '').replace(/^\(0x[0-9a-f]+\)\s*/, '');
  if (explanation) message += ` (${explanation})`;
  if (server) message += ` [${server}]`;
  return new cls(message, { rc, server });
}
