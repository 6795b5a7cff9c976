/**
 * Reads one delivery of completions (the format of ./protocol.ts) and hands each operation its
 * outcome: the return code, the value read, its flags, its result and, for a failure,
 * libmemcached's message and the server involved.
 */
import { isSoft, returnCode } from '../constants';
import { FLAG_TEXT } from '../codecs/values';
import { ItemWord, MULTI_RECORD, NO_VALUE, OpCode, RECORD_WORDS, RecordWord, VALUE_IN_EXTRAS } from './protocol';

const SUCCESS = returnCode('MEMCACHED_SUCCESS');

/**
 * A value read: its bytes, or, for plain text under the default deserializer, the string it
 * decodes to (decoded straight out of the delivery's shared slab).
 */
export type ValueRead = Buffer | string;

/**
 * What a completed operation reports, as positional arguments (no object per operation): the
 * return code, the value read, its flags, the operation's result (gets: CAS token; incr/decr:
 * new value; stats and getBehaviors: the raw list), and for failures libmemcached's message and
 * the server involved.
 */
export type Done = (
  rc: number,
  value: ValueRead | undefined,
  flags: number,
  result: unknown,
  error: string | undefined,
  server: string | undefined,
) => void;

/** One key's outcome of a multi-key operation, in key order. */
export type ItemDone = (index: number, rc: number, value: ValueRead | undefined, flags: number) => void;

/**
 * How a multi-key call reads its items (`item`), with work to do while its request is on its
 * way (`whileSent`, see RequestWriter#whenSent).
 */
export interface MultiReader {
  item: ItemDone;
  whileSent?: () => void;
}

/** An operation waiting for its completion. */
export interface Waiter {
  code: OpCode;
  wantCas: boolean;
  /** Multi-key operations: called for each item, in key order, before `done`. */
  item?: ItemDone;
  done: Done;
  /** Settles the operation with `error` instead (an `item` threw; see also Dispatcher#refused). */
  reject: (error: unknown) => void;
}

/**
 * Settles the `records` operations of one delivery, each taken from the table of operations in
 * flight by `take(id)`. Returns true when no view of `slab` was kept (see OnComplete).
 *
 * `decodesText`: plain text (flags exactly FLAG_TEXT) is decoded here, straight out of the slab,
 * with no Buffer view per value (the default deserializer's reading of it). Measured on
 * getMulti(100) against a stub addon: the views and their separate decoding were 14% of the
 * JavaScript time.
 */
export function readCompletions(
  meta: Uint32Array,
  slab: Buffer,
  extras: unknown[],
  records: number,
  take: (id: number) => Waiter,
  decodesText: boolean,
): boolean {
  let offset = 0;
  let x = 0;
  let slabShared = false;
  const value = (length: number, flags: number): ValueRead | undefined => {
    if (length === NO_VALUE) return undefined;
    if (length === VALUE_IN_EXTRAS) return extras[x++] as Buffer;
    const start = offset;
    offset += length;
    // (No encoding named: toString then goes straight to UTF-8, skipping the encoding lookup.)
    if (decodesText && flags === FLAG_TEXT) return slab.toString(undefined, start, offset);
    slabShared = true;
    return slab.subarray(start, offset);
  };
  const end = records * RECORD_WORDS;
  for (let i = 0; i < end; i += RECORD_WORDS) {
    const rc = meta[i + RecordWord.Rc];
    const waiter = take(meta[i + RecordWord.Id]);
    const soft = isSoft(rc);
    let read: ValueRead | undefined;
    let flags = 0;
    let result: unknown;
    // The records and extras are read in full whatever a callback does: one that throws (it
    // should not) rejects its own operation, and every later one in this delivery still gets
    // its own answer, read from the right place.
    let thrown: { error: unknown } | undefined;
    // Item extras (ITEM_EXTRAS): the value, then the CAS token.
    const multi = meta[i + RecordWord.ValueLength] === MULTI_RECORD;
    if (multi) {
      const count = meta[i + RecordWord.Flags];
      for (let k = 0; k < count; k++) {
        i += RECORD_WORDS;
        const itemFlags = meta[i + ItemWord.Flags];
        const itemValue = value(meta[i + ItemWord.ValueLength], itemFlags);
        if (waiter.wantCas && itemValue !== undefined) x++; // (no multi-key operation asks for them)
        try {
          waiter.item!(k, meta[i + ItemWord.Rc], itemValue, itemFlags);
        } catch (error) {
          thrown ??= { error };
        }
      }
    } else {
      flags = meta[i + RecordWord.Flags];
      read = value(meta[i + RecordWord.ValueLength], flags);
      if (waiter.wantCas && read !== undefined) result = extras[x++];
    }
    // Operation extras (OPERATION_EXTRAS): counter value, stats, error message and server.
    if (!multi && rc === SUCCESS && (waiter.code === OpCode.Incr || waiter.code === OpCode.Decr)) result = extras[x++];
    if (soft && (waiter.code === OpCode.Stats || waiter.code === OpCode.GetBehaviors)) result = extras[x++];
    let error: string | undefined;
    let server: string | undefined;
    if (!soft) {
      error = extras[x++] as string;
      server = extras[x++] as string | undefined;
    }
    try {
      if (thrown === undefined) waiter.done(rc, read, flags, result, error, server);
      else waiter.reject(thrown.error);
    } catch {
      // Nothing settles by throwing (the dispatcher's settle catches what an interpreter
      // throws): this only keeps the loop going, so that no later operation is lost.
    }
  }
  return !slabShared;
}
