/**
 * Values on the wire, in pylibmc 1.6's format (docs/pylibmc-compatibility.md, Wire format), so that a Node service
 * and a Python service sharing a memcached read each other's values:
 *
 *   JavaScript                      flags              bytes              pylibmc reads
 *   Buffer, Uint8Array              0                  raw                bytes
 *   string                          16                 UTF-8              str
 *   boolean                         2 | 64             "1" / "0"          int 1 / 0
 *   safe-integer number             4                  decimal            int
 *   bigint                          4 | 64             decimal            int
 *   null, other numbers, arrays,    32                 JSON               bytes (the JSON text)
 *   plain objects
 *
 * 32 (JSON) and 64 (exact JavaScript type) are this client's own bits. pylibmc picks a value's
 * type from `flags & 23` and ignores the rest, so it reads them without error; here 64 restores
 * what the value was (a boolean, a bigint) where pylibmc's flag alone would give a number.
 * Reading, flag 1 (pickle) is decoded by a safe subset reader (./pickle.ts); flag 8 (zlib)
 * is inflated first, whoever wrote it (./compression.ts).
 */
import { types } from 'node:util';
import { DeserializationError } from '../errors';
import { UnpickleError, toInteger, unpickle } from './pickle';

export const FLAG_NONE = 0;
export const FLAG_PICKLE = 1;
export const FLAG_INTEGER = 2;
export const FLAG_LONG = 4;
export const FLAG_ZLIB = 8;
export const FLAG_TEXT = 16;
/** This client's: the bytes are JSON (pylibmc sees raw bytes). */
export const FLAG_JSON = 32;
/** This client's: with FLAG_INTEGER a boolean, with FLAG_LONG a bigint (pylibmc sees an int). */
export const FLAG_EXACT_TYPE = 64;
/** The bits that name a value's type for pylibmc; the others are ignored when decoding. */
export const TYPE_MASK = FLAG_PICKLE | FLAG_INTEGER | FLAG_LONG | FLAG_TEXT;

export interface Encoded {
  /** Strings stay strings until they are copied into the submission buffer (no extra Buffer). */
  bytes: string | Buffer;
  flags: number;
}

/**
 * `bytes` itself when it is the whole of its memory, else a copy: the values of one delivery
 * share one buffer, and a value kept must pin nothing else (nor be overwritten when the
 * buffer is reused).
 */
export function ownBytes(bytes: Buffer): Buffer {
  return bytes.byteLength === bytes.buffer.byteLength ? bytes : Buffer.from(bytes);
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  const name = (value as object).constructor?.name;
  return name ? `a ${name}` : 'an object';
}

/**
 * `value` as JSON text. JSON.stringify returns undefined for a value whose toJSON() returns
 * undefined (and throws for a cycle or a bigint inside): such a value serializes to nothing and
 * is refused, rather than stored (or appended) as zero bytes.
 */
function toJson(value: object, operation: string): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw new TypeError(`${operation}: the value cannot be stored as JSON: ${(error as Error)?.message ?? String(error)}`, { cause: error });
  }
  if (json === undefined) throw new TypeError(`${operation}: the value serializes to nothing (its toJSON() returned undefined)`);
  return json;
}

/** The default serializer: see the table at the top of this file. */
export function encodeValue(value: unknown, operation: string): Encoded {
  switch (typeof value) {
    case 'string':
      return { bytes: value, flags: FLAG_TEXT };
    case 'boolean':
      return { bytes: value ? '1' : '0', flags: FLAG_INTEGER | FLAG_EXACT_TYPE };
    case 'bigint':
      return { bytes: value.toString(), flags: FLAG_LONG | FLAG_EXACT_TYPE };
    case 'number':
      if (Number.isSafeInteger(value) && !Object.is(value, -0)) return { bytes: String(value), flags: FLAG_LONG };
      if (!Number.isFinite(value)) throw new TypeError(`${operation}: ${value} cannot be stored (JSON has no NaN or Infinity)`);
      // JSON writes the shortest text that reads back as the same double; -0 needs spelling out.
      return { bytes: Object.is(value, -0) ? '-0' : JSON.stringify(value), flags: FLAG_JSON };
    case 'object':
      if (value === null) return { bytes: 'null', flags: FLAG_JSON };
      if (Buffer.isBuffer(value)) return { bytes: value, flags: FLAG_NONE };
      if (types.isUint8Array(value)) return { bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength), flags: FLAG_NONE };
      // JSON would turn these into {} (or an object of indices) without a word: refuse instead.
      // (util.types rather than instanceof: values may come from another realm.)
      if (types.isMap(value) || types.isSet(value) || types.isWeakMap(value) || types.isWeakSet(value) || ArrayBuffer.isView(value) || types.isAnyArrayBuffer(value) || types.isPromise(value)) {
        throw new TypeError(`${operation}: ${describeType(value)} cannot be stored as JSON; serialize it yourself (see the serialize option)`);
      }
      return { bytes: toJson(value, operation), flags: FLAG_JSON };
    default:
      throw new TypeError(`${operation}: ${typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`} cannot be stored`);
  }
}

/**
 * An ASCII decimal integer, as pylibmc reads flags 2 and 4: surrounding whitespace is trimmed
 * (memcached pads a decr that shortens a number with spaces) and `_` separators are allowed.
 */
function parseInteger(bytes: Buffer, flags: number): number | bigint {
  const text = bytes.toString('latin1').trim();
  if (!/^[+-]?\d+(_\d+)*$/.test(text)) throw new DeserializationError(`flags ${flags}: ${JSON.stringify(text.slice(0, 40))} is not an integer`, flags);
  const digits = text.replace(/_/g, '');
  if (digits.length <= 15) return Number(digits);
  return toInteger(BigInt(digits));
}

/** The default deserializer, for bytes already inflated. A Buffer result is its own (ownBytes). */
export function decodeValue(bytes: Buffer, flags: number): unknown {
  switch (flags & TYPE_MASK) {
    case FLAG_NONE:
      if (flags & FLAG_JSON) {
        try {
          return JSON.parse(bytes.toString('utf8'));
        } catch (error) {
          throw new DeserializationError(`flags ${flags} (JSON): ${(error as Error).message}`, flags);
        }
      }
      return ownBytes(bytes);
    case FLAG_TEXT:
      return bytes.toString('utf8');
    case FLAG_INTEGER: {
      const n = parseInteger(bytes, flags);
      // A boolean written here; pylibmc's own (flag 2 alone) read as 1 and 0, as pylibmc does.
      return flags & FLAG_EXACT_TYPE && (n === 0 || n === 1) ? n === 1 : n;
    }
    case FLAG_LONG: {
      const n = parseInteger(bytes, flags);
      return flags & FLAG_EXACT_TYPE && typeof n === 'number' ? BigInt(n) : n;
    }
    case FLAG_PICKLE:
      try {
        return unpickle(bytes);
      } catch (error) {
        if (error instanceof UnpickleError) throw new DeserializationError(`flags ${flags} (Python pickle): ${error.message}`, flags);
        throw error;
      }
    default:
      throw new DeserializationError(`unknown flags ${flags}: type bits ${flags & TYPE_MASK} name no known type`, flags);
  }
}
