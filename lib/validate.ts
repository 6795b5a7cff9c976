/**
 * Numeric argument checks. pylibmc passes these to C unchecked, so -1 seconds silently becomes
 * 136 years and a negative delta wraps; here every out-of-range value is a RangeError (and
 * a value of the wrong type a TypeError) before any I/O.
 */

const UINT32_LIMIT = 2 ** 32;
const INT32_LIMIT = 2 ** 31;
const UINT32_MAX = UINT32_LIMIT - 1;
const UINT64_MAX = (1n << 64n) - 1n;

/**
 * Expiration: seconds (up to 30 days) or a Unix time, as memcached reads it; 0 = never. The
 * text protocol carries it as a signed 32-bit number: memcached reads 2^31 and above as
 * negative, i.e. already expired, so a set "succeeds" and the item is gone at once. The binary
 * protocol carries an unsigned 32-bit field, read as such (a Unix time up to the year 2106).
 * Measured with memcached 1.6.18 (test/unit/validation.test.ts and test/integration/operations.test.ts).
 */
export function checkTime(time: unknown, operation: string, binary: boolean, name = 'time'): number {
  if (time === undefined) return 0;
  if (typeof time !== 'number') throw new TypeError(`${operation}: ${name} must be a number of seconds, got ${typeof time}`);
  const limit = binary ? UINT32_LIMIT : INT32_LIMIT;
  if (!Number.isInteger(time) || time < 0 || time >= limit) {
    throw new RangeError(
      `${operation}: ${name} must be an integer from 0 to 2^${binary ? 32 : 31} - 1 in the ${binary ? 'binary' : 'text'} protocol, got ${String(time)}`,
    );
  }
  return time;
}

/**
 * A counter delta: an integer from 0 to 2^32 - 1, as a number or a bigint. libmemcached's
 * memcached_increment takes a 32-bit delta and would silently truncate a larger one (the
 * counter itself is 64 bits wide).
 */
export function checkDelta(delta: unknown, operation: string): number {
  if (delta === undefined) return 1;
  if (typeof delta !== 'number' && typeof delta !== 'bigint') {
    throw new TypeError(`${operation}: delta must be a number or a bigint, got ${typeof delta}`);
  }
  if ((typeof delta === 'number' && !Number.isInteger(delta)) || delta < 0 || delta > UINT32_MAX) {
    throw new RangeError(`${operation}: delta must be an integer from 0 to 2^32 - 1, got ${String(delta)}`);
  }
  return Number(delta);
}

/**
 * A CAS token as gets() returns it. 0 is never a real token, and libmemcached's text protocol
 * sends a cas command without its token field for 0, desynchronising the connection.
 */
export function checkCasToken(cas: unknown, operation: string): bigint {
  const token = typeof cas === 'number' && Number.isSafeInteger(cas) ? BigInt(cas) : cas;
  if (typeof token !== 'bigint') throw new TypeError(`${operation}: cas must be a bigint token from gets(), got ${typeof cas}`);
  if (token <= 0n || token > UINT64_MAX) throw new RangeError(`${operation}: cas token must be from 1 to 2^64 - 1, got ${token}`);
  return token;
}

/** zlib level: -1 (zlib's default, 6) or 0 (no compression) to 9. */
export function checkCompressLevel(level: unknown, operation: string): number {
  if (level === undefined) return -1;
  if (typeof level !== 'number') throw new TypeError(`${operation}: compressLevel must be a number, got ${typeof level}`);
  if (!Number.isInteger(level) || level < -1 || level > 9) {
    throw new RangeError(`${operation}: compressLevel must be an integer from -1 to 9, got ${String(level)}`);
  }
  return level;
}

/** Values at least this many bytes long are compressed; 0 = never. */
export function checkMinCompressLen(length: unknown, operation: string): number {
  if (length === undefined) return 0;
  if (typeof length !== 'number') throw new TypeError(`${operation}: minCompressLen must be a number, got ${typeof length}`);
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`${operation}: minCompressLen must be a non-negative integer, got ${String(length)}`);
  }
  return length;
}

/** The default of the `maxValueSize` option: 64 MiB. */
export const DEFAULT_MAX_VALUE_SIZE = 64 * 1024 * 1024;

/**
 * The largest value a reply may announce: an integer from 1 to 2^32 - 1 bytes (a limit
 * libmemcached keeps so that no length can wrap). memcached's own ceiling (`-I`) is 1 GiB.
 */
export function checkMaxValueSize(size: unknown, operation: string): number {
  if (size === undefined) return DEFAULT_MAX_VALUE_SIZE;
  if (typeof size !== 'number') throw new TypeError(`${operation}: maxValueSize must be a number of bytes, got ${typeof size}`);
  if (!Number.isInteger(size) || size < 1 || size > UINT32_MAX) {
    throw new RangeError(`${operation}: maxValueSize must be an integer from 1 to 2^32 - 1, got ${String(size)}`);
  }
  return size;
}

/**
 * libmemcached's namespace: 1 to 127 printable ASCII bytes without spaces. libmemcached checks
 * it with its own key rules; this says why before any server is involved. Returned as given.
 */
export function checkNamespace(namespace: unknown, operation: string): string | undefined {
  if (namespace === undefined || namespace === '') return undefined;
  if (typeof namespace !== 'string') throw new TypeError(`${operation}: namespace must be a string, got ${typeof namespace}`);
  if (namespace.length > 127 || !/^[\x21-\x7e]+$/.test(namespace)) {
    throw new RangeError(`${operation}: namespace must be 1 to 127 printable ASCII characters without spaces, got ${JSON.stringify(namespace)}`);
  }
  return namespace;
}
