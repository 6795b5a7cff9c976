/**
 * Key rules, checked before any I/O. A key that breaks them must never reach libmemcached's
 * text protocol: a space injects a second key into a `get`, a CR/LF desyncs the connection for
 * every later operation, and a namespaced key over 250 bytes makes the server answer
 * CLIENT_ERROR and leaves the stream out of step (libmemcached-facts.md §0, §3).
 */
import { BadKeyProvided } from './errors';

/** memcached's limit, counted with the key prefix and the namespace. */
export const MAX_KEY_LENGTH = 250;

export type Key = string | Buffer;

export function isKey(key: unknown): key is Key {
  return typeof key === 'string' || Buffer.isBuffer(key);
}

function describe(key: Key): string {
  return typeof key === 'string' ? JSON.stringify(key.length > 40 ? key.slice(0, 40) + '…' : key) : `<Buffer ${key.length} bytes>`;
}

function forbiddenByte(key: Key): number {
  // For strings, UTF-16 code units suffice: multi-byte UTF-8 never contains bytes <= 0x20 or 0x7f.
  for (let i = 0; i < key.length; i++) {
    const c = typeof key === 'string' ? key.charCodeAt(i) : key[i];
    if (c <= 0x20 || c === 0x7f) return c;
  }
  return -1;
}

/**
 * The UTF-8 length of a string key. Keys are short and nearly always ASCII, for which a scan
 * here is cheaper than a call into Buffer.byteLength.
 */
function utf8Length(key: string): number {
  for (let i = 0; i < key.length; i++) {
    if (key.charCodeAt(i) >= 0x80) return Buffer.byteLength(key);
  }
  return key.length;
}

/**
 * Checks `key` and returns its byte length (which, for a string, equals its `length` exactly
 * when it is ASCII: lib/submission.ts relies on that).
 * @param extra bytes added in front on the wire (namespace), counted in the limit
 * @param binary the binary protocol is length-prefixed and carries any byte; the text protocol does not
 */
export function checkKey(key: unknown, operation: string, extra: number, binary: boolean): number {
  if (!isKey(key)) {
    throw new TypeError(`${operation}: a key must be a string or a Buffer, got ${key === null ? 'null' : typeof key}`);
  }
  const length = typeof key === 'string' ? utf8Length(key) : key.length;
  if (length === 0) throw new BadKeyProvided(`${operation}: empty key`);
  if (length + extra > MAX_KEY_LENGTH) {
    throw new BadKeyProvided(`${operation}: key ${describe(key)} is ${length + extra} bytes, over ${MAX_KEY_LENGTH}`);
  }
  if (!binary) {
    const c = forbiddenByte(key);
    if (c >= 0) {
      throw new BadKeyProvided(
        `${operation}: key ${describe(key)} contains byte 0x${c.toString(16).padStart(2, '0')}, not allowed in the text protocol`,
      );
    }
  }
  return length;
}
