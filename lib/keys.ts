/**
 * Key rules, checked before any I/O. A key that breaks them must never reach libmemcached's
 * text protocol: a space injects a second key into a `get`, a CR/LF desyncs the connection for
 * every later operation, and a namespaced key over 250 bytes makes the server answer
 * CLIENT_ERROR and leaves the stream out of step (docs/libmemcached-notes.md, Text-protocol keys).
 */
import { BadKeyProvided } from './errors';

/** memcached's limit, counted with the key prefix and the namespace. */
export const MAX_KEY_LENGTH = 250;

export type Key = string | Buffer;

/**
 * The most keys one multi-key call takes: beyond it (a sparse array of length 2^32 - 1, an
 * endless iterator) reading the keys would take the event loop down with it.
 */
export const MAX_MULTI_KEYS = 1 << 24;

export function isKey(key: unknown): key is Key {
  return typeof key === 'string' || Buffer.isBuffer(key);
}

function describe(key: Key): string {
  return typeof key === 'string' ? JSON.stringify(key.length > 40 ? key.slice(0, 40) + '…' : key) : `<Buffer ${key.length} bytes>`;
}

/**
 * Checks `key` and returns its byte length (which, for a string, equals its `length` exactly
 * when it is ASCII: lib/native/request-writer.ts relies on that).
 * @param extra bytes added in front on the wire (namespace), counted in the limit
 * @param binary the binary protocol is length-prefixed and carries any byte; the text protocol does not
 * @param verifyKeys the verify_keys behavior (text protocol): libmemcached then refuses any byte
 *   outside printable ASCII, in a multi-get for every key of the batch: refused here instead
 */
export function checkKey(key: unknown, operation: string, extra: number, binary: boolean, verifyKeys = false): number {
  let length: number;
  let forbidden = -1;
  if (typeof key === 'string') {
    // One pass over the UTF-16 code units finds both a forbidden byte (multi-byte UTF-8 never
    // contains one) and whether the key is ASCII, whose UTF-8 length is then its length: cheaper
    // than a call into Buffer.byteLength for the short keys caches use.
    let ascii = true;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      if (c >= 0x80) ascii = false;
      else if ((c <= 0x20 || c === 0x7f) && forbidden < 0) forbidden = c;
    }
    length = ascii ? key.length : Buffer.byteLength(key);
  } else if (Buffer.isBuffer(key)) {
    length = key.length;
    if (!binary) {
      for (let i = 0; i < length; i++) {
        const c = key[i];
        if (c <= 0x20 || c === 0x7f) {
          forbidden = c;
          break;
        }
      }
    }
  } else {
    throw new TypeError(`${operation}: a key must be a string or a Buffer, got ${key === null ? 'null' : typeof key}`);
  }
  if (length === 0) throw new BadKeyProvided(`${operation}: empty key`);
  if (length + extra > MAX_KEY_LENGTH) {
    throw new BadKeyProvided(`${operation}: key ${describe(key)} is ${length + extra} bytes, over ${MAX_KEY_LENGTH}`);
  }
  if (!binary && forbidden >= 0) {
    throw new BadKeyProvided(
      `${operation}: key ${describe(key)} contains byte 0x${forbidden.toString(16).padStart(2, '0')}, not allowed in the text protocol`,
    );
  }
  if (verifyKeys && !binary && (typeof key === 'string' ? length !== key.length : (key as Buffer).some((byte) => byte >= 0x80))) {
    throw new BadKeyProvided(`${operation}: key ${describe(key)} is not printable ASCII, which verify_keys requires`);
  }
  return length;
}

/** A key as text: result objects and messages use it (a Buffer key is read as UTF-8). */
export function keyText(key: Key): string {
  return typeof key === 'string' ? key : key.toString('utf8');
}

/**
 * The keys of a multi-key call, copied into a dense array before anything is queued. An array
 * is read index by index (a hole reads as undefined, which checkKey refuses, where Array#map
 * would skip it and leave the call one key short); any other iterable is iterated, up to
 * MAX_MULTI_KEYS. A getter, Proxy trap or iterator that throws rejects the call with its error.
 */
export function readKeys(keys: unknown, operation: string): Key[] {
  const tooMany = () => new RangeError(`${operation}: more than ${MAX_MULTI_KEYS} keys in one call`);
  if (Array.isArray(keys)) {
    const length = keys.length;
    if (length > MAX_MULTI_KEYS) throw tooMany();
    const list = new Array<Key>(length);
    for (let i = 0; i < length; i++) list[i] = keys[i] as Key;
    return list;
  }
  if (keys === null || typeof keys !== 'object' || typeof (keys as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw new TypeError(`${operation}: keys must be an iterable of keys (an array, a Set, ...)`);
  }
  const list: Key[] = [];
  for (const key of keys as Iterable<Key>) {
    if (list.length === MAX_MULTI_KEYS) throw tooMany();
    list.push(key);
  }
  return list;
}

/** `prefix` and `key` as one key (what libmemcached places and sends), or `key` alone. */
export function prefixedKey(prefix: Key | undefined, key: Key): Key {
  return prefix === undefined ? key : Buffer.concat([Buffer.from(prefix as string), Buffer.from(key as string)]);
}
