/**
 * A client's values to and from the wire: its serializer (pylibmc's format by default, or the
 * user's hooks), then compression; inflation, then its deserializer.
 */
import { types } from 'node:util';
import { CacheMiss, DeserializationError } from '../errors';
import { Key, keyText } from '../keys';
import type { ValueRead } from '../native/completion-reader';
import { CompressOptions, compress, inflate } from './compression';
import { Prepared, isPromise } from './prepared';
import { Encoded, FLAG_ZLIB, decodeValue, encodeValue, ownBytes } from './values';

/** What decode returns when the deserializer throws CacheMiss. */
export const MISS = Symbol('miss');

/** Turns a value into the bytes stored and their flags (pylibmc's `serialize`). */
export type Serializer = (value: unknown) => [bytes: Buffer | Uint8Array, flags: number];
/**
 * Turns stored bytes (already inflated when flag 8 was set) and their flags back into a value
 * (pylibmc's `deserialize`). Throw CacheMiss to make the read behave as a miss.
 */
export type Deserializer = (bytes: Buffer, flags: number) => unknown;

export class ValueCodec {
  // Set when serialize/deserialize are replaced (by an option or a subclass): the default
  // serializer has a faster path that skips the [bytes, flags] array.
  readonly #serialize: Serializer | undefined;
  readonly #deserialize: Deserializer | undefined;

  /** `serialize`/`deserialize`: the user's hooks, or undefined for the default format. */
  constructor(serialize: Serializer | undefined, deserialize: Deserializer | undefined) {
    this.#serialize = serialize;
    this.#deserialize = deserialize;
  }

  /** Whether plain text may be decoded straight out of a delivery (the default deserializer). */
  get decodesText(): boolean {
    return this.#deserialize === undefined;
  }

  /**
   * The serialized (and maybe compressed) form of `value`; compression skipped without options.
   *
   * The call captures the value: bytes the caller still holds (a Buffer or Uint8Array value, or
   * what a custom serializer returned) are copied here when they would be read after the call
   * returns: `later` (queued behind an earlier operation's compression), or compressed on the
   * thread pool. Otherwise they are copied within the call anyway: into the request buffer when
   * small, by the addon when large (the writer hands a batch holding a Buffer over at once, see
   * RequestWriter#commit). So filling a Buffer after `set(key, buffer)` never changes what is
   * stored, whatever its size; a copy made here would cost a fresh allocation per value (at
   * 256 KiB, seven times the time of the whole set, in garbage collection).
   */
  encode(operation: string, value: unknown, options: CompressOptions | undefined, later: boolean): Prepared<Encoded> {
    let encoded: Encoded;
    let borrowed: boolean;
    if (this.#serialize !== undefined) {
      const out: unknown = this.#serialize(value);
      if (!Array.isArray(out) || out.length !== 2 || !types.isUint8Array(out[0]) || !Number.isInteger(out[1]) || out[1] < 0 || out[1] > 0xffffffff) {
        throw new TypeError(`${operation}: serialize() must return [Buffer, flags] with flags an integer from 0 to 2^32 - 1`);
      }
      const bytes = out[0] as Uint8Array;
      encoded = { bytes: Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), flags: out[1] as number };
      borrowed = true;
    } else {
      encoded = encodeValue(value, operation);
      borrowed = typeof encoded.bytes !== 'string' && types.isUint8Array(value);
    }
    if (borrowed && (later || (options !== undefined && options.minCompressLen !== 0 && options.compressLevel !== 0))) {
      encoded = { bytes: Buffer.from(encoded.bytes as Buffer), flags: encoded.flags };
    }
    return options === undefined ? encoded : compress(encoded, options);
  }

  /**
   * Decodes a value read for `key`: inflates it (flag 8), then deserializes it. MISS when the
   * deserializer throws CacheMiss. Large compressed values are inflated off-thread, so the
   * result may be a Promise (of a value or MISS).
   */
  decode(operation: string, key: Key, bytes: ValueRead, flags: number): unknown {
    if (typeof bytes === 'string') return bytes; // text, decoded already (readCompletions)
    if ((flags & FLAG_ZLIB) === 0) return this.#deserializeRead(operation, key, bytes, flags);
    let inflated: Buffer | Promise<Buffer>;
    try {
      inflated = inflate(bytes, flags);
    } catch (error) {
      throw decodeError(operation, key, error);
    }
    return isPromise(inflated)
      ? inflated.then(
          (raw) => this.#deserializeRead(operation, key, raw, flags),
          (error: unknown) => Promise.reject(decodeError(operation, key, error)),
        )
      : this.#deserializeRead(operation, key, inflated, flags);
  }

  #deserializeRead(operation: string, key: Key, bytes: Buffer, flags: number): unknown {
    try {
      if (this.#deserialize === undefined) return decodeValue(bytes, flags);
      // A user's deserializer may keep the Buffer.
      return this.#deserialize(ownBytes(bytes), flags);
    } catch (error) {
      if (error instanceof CacheMiss) return MISS;
      throw decodeError(operation, key, error);
    }
  }
}

function decodeError(operation: string, key: Key, error: unknown): unknown {
  return error instanceof DeserializationError ? new DeserializationError(`${operation}(${keyText(key)}): ${error.message}`, error.flags) : error;
}
