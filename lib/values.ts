/**
 * Values on the wire, in pylibmc's format: strings are UTF-8 with flag 16, Buffers are raw with
 * flag 0; flag 8 marks a zlib (RFC 1950) stream, inflated on read whoever wrote it.
 */
import * as zlib from 'node:zlib';

export const FLAG_TEXT = 16;
export const FLAG_ZLIB = 8;
/** The bits that name a value's type; higher bits are ignored, as pylibmc does. */
export const TYPE_MASK = 0x17;

export type Value = string | Buffer;

export interface Encoded {
  bytes: string | Buffer;
  flags: number;
}

export interface CompressOptions {
  minCompressLen: number;
  compressLevel: number;
}

export function encodeValue(value: unknown, operation: string): Encoded {
  if (typeof value === 'string') return { bytes: value, flags: FLAG_TEXT };
  if (Buffer.isBuffer(value)) return { bytes: value, flags: 0 };
  if (value instanceof Uint8Array) return { bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength), flags: 0 };
  throw new TypeError(`${operation}: value must be a string or a Buffer, got ${value === null ? 'null' : typeof value}`);
}

/** Compresses when asked to and when it helps: kept only if strictly smaller (pylibmc's rule). */
export function compress(encoded: Encoded, options: CompressOptions): Encoded {
  const { minCompressLen, compressLevel } = options;
  if (minCompressLen === 0 || compressLevel === 0) return encoded;
  const raw = typeof encoded.bytes === 'string' ? Buffer.from(encoded.bytes, 'utf8') : encoded.bytes;
  if (raw.length < minCompressLen) return encoded;
  const deflated = zlib.deflateSync(raw, { level: compressLevel });
  return deflated.length < raw.length ? { bytes: deflated, flags: encoded.flags | FLAG_ZLIB } : encoded;
}

export function decodeValue(bytes: Buffer, flags: number): Value {
  const raw = flags & FLAG_ZLIB ? zlib.inflateSync(bytes) : bytes;
  return (flags & TYPE_MASK & ~FLAG_ZLIB) === FLAG_TEXT ? raw.toString('utf8') : raw;
}
