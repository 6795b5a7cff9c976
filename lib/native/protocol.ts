/**
 * The batch format between JavaScript and the addon, mirrored from src/protocol.h (its one
 * definition): the words of a request, the records of a completion and the order of a
 * completion's extras. Const enums, so that the hot paths read plain numbers;
 * test/unit/native-contract.test.ts checks every name here against what the addon exports.
 */

/** What a request asks for (`lmc::OpCode`). */
export const enum OpCode {
  Get = 0,
  Set = 1,
  Add = 2,
  Replace = 3,
  Append = 4,
  Prepend = 5,
  Cas = 6,
  Delete = 7,
  Incr = 8,
  Decr = 9,
  Touch = 10,
  FlushAll = 11,
  Stats = 12,
  Disconnect = 13,
  Close = 14,
  GetBehaviors = 15,
  SetBehaviors = 16,
}

/**
 * The words of a request, REQUEST_WORDS uint32 each. A multi-key operation is a request with
 * MULTI whose KeyLength is its item count, followed by one request per item (key, value, flags
 * and exptime words).
 */
export const enum RequestWord {
  Code = 0, // OpCode | WANT_CAS | MULTI
  Id = 1,
  KeyOffset = 2,
  KeyLength = 3,
  ValueOffset = 4, // or IN_OBJECTS, with ValueLength = index in the objects array
  ValueLength = 5,
  Flags = 6,
  Exptime = 7,
  NumberLow = 8, // Cas token / Incr-Decr delta, low 32 bits
  NumberHigh = 9,
}
export const REQUEST_WORDS = 10;
export const CODE_MASK = 0xff;
export const WANT_CAS = 1 << 8;
export const MULTI = 1 << 9;
export const IN_OBJECTS = 0xffffffff;

/**
 * The words of a completion record, RECORD_WORDS uint32 each. A multi-key operation's record
 * has MULTI_RECORD as its value length and its item count as flags; one Item record per key
 * follows, in key order.
 */
export const enum RecordWord {
  Id = 0,
  Rc = 1,
  Flags = 2,
  ValueLength = 3, // bytes in the slab, NO_VALUE, VALUE_IN_EXTRAS (or MULTI_RECORD)
}
export const enum ItemWord {
  Rc = 0,
  Flags = 1,
  ValueLength = 2,
  Unused = 3,
}
export const RECORD_WORDS = 4;
export const NO_VALUE = 0xffffffff;
export const VALUE_IN_EXTRAS = 0xfffffffe;
export const MULTI_RECORD = 0xfffffffd;

/**
 * A completion's extras, each when it applies: per item `value` (a Buffer of its own, when the
 * length is VALUE_IN_EXTRAS) and `casToken` (a BigInt, when asked for and found); then per
 * operation `counterValue` (single-key incr/decr success), `stats` (stats and getBehaviors answered),
 * `errorMessage` and `errorServer` (a failure). lib/native/completion-reader.ts reads them in
 * this order.
 */
export const ITEM_EXTRAS = ['value', 'casToken'] as const;
export const OPERATION_EXTRAS = ['counterValue', 'stats', 'errorMessage', 'errorServer'] as const;
