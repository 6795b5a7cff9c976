/**
 * Operations queued during one turn of the event loop, handed to the addon in one call at the
 * next microtask checkpoint: one lock and at most one thread wake per batch instead of per
 * operation, and one contiguous run of gets (or sets) for the I/O thread to coalesce.
 *
 * Keys and small values are written straight into a reusable byte buffer (no per-operation
 * Buffer); the addon copies everything out before `submit` returns.
 */
import { IN_OBJECTS, MULTI, OpCode, REQUEST_WORDS, RequestWord, WANT_CAS } from './protocol';
import type { NativeClient } from './surface';

/** Values larger than this travel as their own object: one copy instead of two. */
export const INLINE_VALUE_MAX = 16 * 1024;
const INITIAL_REQUESTS = 256;
const INITIAL_BYTES = 64 * 1024;
/**
 * Offsets into the byte buffer are 32-bit words: past this many bytes queued in one turn, values
 * travel as objects and what is queued is handed over before more keys are written, so that no
 * offset can wrap (the addon's bounds check would not catch a wrapped one).
 */
const INLINE_BYTES_MAX = 64 * 1024 * 1024;
const FLUSH_BYTES = 256 * 1024 * 1024;
/** After a batch larger than this, the buffers go back to their initial size (as the addon's do). */
const KEPT_BYTES_MAX = 1024 * 1024;
const KEPT_REQUESTS_MAX = 16 * 1024;

export type Bytes = string | Buffer;

/** Called with the ids of a batch the addon refused (it threw), so that each can be settled. */
export type Refused = (ids: number[], error: unknown) => void;

export class RequestWriter {
  #native: NativeClient;
  #refused: Refused;
  #requests = new Uint32Array(INITIAL_REQUESTS * REQUEST_WORDS);
  #bytes = Buffer.allocUnsafeSlow(INITIAL_BYTES);
  #objects: unknown[] = [];
  #ids: number[] = [];
  #words = 0;
  #used = 0;
  #scheduled = false;
  // A Buffer value travels by reference (see item): the batch goes to the addon, which copies
  // it, as soon as its operation is written (commit), not at the next microtask.
  #holdsBuffer = false;
  // Work to run once the operations written so far are with the addon (see whenSent).
  #whenSent: Array<() => void> = [];
  // Where the operation being written began (see begin/rollback).
  #savedWords = 0;
  #savedUsed = 0;
  #savedObjects = 0;
  #savedIds = 0;
  readonly #flush = () => this.flush();

  constructor(nativeClient: NativeClient, refused: Refused) {
    this.#native = nativeClient;
    this.#refused = refused;
  }

  /**
   * Marks the start of one operation's writes (push, then its items). Should any of them throw,
   * `rollback` takes back everything written since, so that a batch never holds half an
   * operation: the addon would refuse the whole batch, and every other caller in it with it.
   */
  begin(): void {
    if (this.#used > FLUSH_BYTES) this.flush();
    this.#savedWords = this.#words;
    this.#savedUsed = this.#used;
    this.#savedObjects = this.#objects.length;
    this.#savedIds = this.#ids.length;
  }

  rollback(): void {
    this.#words = this.#savedWords;
    this.#used = this.#savedUsed;
    this.#objects.length = this.#savedObjects;
    this.#ids.length = this.#savedIds;
  }

  /**
   * Ends one operation's writes. If it holds a caller's Buffer by reference, the batch is handed
   * over now, so that the addon copies the value within the caller's call: a caller may reuse
   * or fill its Buffer as soon as the call returns, whatever its size. (Small values are copied
   * into the byte buffer as they are written; strings cannot change.)
   */
  commit(): void {
    if (this.#holdsBuffer) this.flush();
  }

  /**
   * Runs `task` once everything written so far has been handed to the addon: at the end of the
   * flush that carries it, or in a microtask when it has gone already. For work a caller would
   * otherwise do after its answer arrives, and can do while the request is on its way instead.
   * A task that throws is ignored: it cannot take the batch, or another task, with it.
   */
  whenSent(task: () => void): void {
    if (this.#words === 0) queueMicrotask(task);
    else this.#whenSent.push(task);
  }

  /** Queues a single-key (or key-less) operation. */
  push(code: OpCode, id: number, number: bigint | number = 0, wantCas = false): number {
    const h = this.#request();
    this.#ids.push(id);
    const requests = this.#requests;
    requests[h + RequestWord.Code] = code | (wantCas ? WANT_CAS : 0);
    requests[h + RequestWord.Id] = id;
    // An operation without a key (close) gets no `item`: its key and value words read empty.
    requests[h + RequestWord.KeyOffset] = 0;
    requests[h + RequestWord.KeyLength] = 0;
    requests[h + RequestWord.ValueOffset] = 0;
    requests[h + RequestWord.ValueLength] = 0;
    requests[h + RequestWord.Flags] = 0;
    requests[h + RequestWord.Exptime] = 0;
    if (typeof number === 'bigint') {
      requests[h + RequestWord.NumberLow] = Number(number & 0xffffffffn);
      requests[h + RequestWord.NumberHigh] = Number(number >> 32n);
    } else {
      requests[h + RequestWord.NumberLow] = number % 0x100000000;
      requests[h + RequestWord.NumberHigh] = Math.floor(number / 0x100000000);
    }
    return h;
  }

  /** Queues a multi-key operation; its `count` items must follow, through `item`. */
  pushMulti(code: OpCode, id: number, count: number, number: bigint | number = 0): void {
    const h = this.push(code, id, number);
    this.#requests[h + RequestWord.Code] |= MULTI;
    this.#requests[h + RequestWord.KeyLength] = count;
  }

  /**
   * Writes the key (`prefix + key`, pylibmc's key_prefix: `keyBytes` is their total, already
   * validated) and value of the operation whose request starts at `h`, or, with `h` undefined,
   * of the next item of a multi-key operation.
   */
  item(h: number | undefined, prefix: Bytes | undefined, key: Bytes, keyBytes: number, value?: Bytes, flags = 0, exptime = 0): void {
    const valueBytes = value === undefined ? 0 : typeof value === 'string' ? Buffer.byteLength(value) : value.length;
    const inline = valueBytes <= INLINE_VALUE_MAX && this.#used + valueBytes <= INLINE_BYTES_MAX;
    this.#reserve(keyBytes + (inline ? valueBytes : 0));
    if (h === undefined) h = this.#request();
    const requests = this.#requests;
    requests[h + RequestWord.KeyOffset] = this.#used;
    requests[h + RequestWord.KeyLength] = keyBytes;
    // Each part's UTF-8 length is at least its length in UTF-16 units, equal only for ASCII: so
    // when the total equals the sum of the lengths, both parts are ASCII.
    if (typeof key === 'string' && (prefix === undefined ? 0 : prefix.length) + key.length === keyBytes && (prefix === undefined || typeof prefix === 'string')) {
      if (prefix !== undefined) this.#writeAscii(prefix as string);
      this.#writeAscii(key);
    } else {
      if (prefix !== undefined) this.#write(prefix);
      this.#write(key);
    }
    if (value === undefined || valueBytes === 0) {
      requests[h + RequestWord.ValueOffset] = 0;
      requests[h + RequestWord.ValueLength] = 0;
    } else if (inline) {
      requests[h + RequestWord.ValueOffset] = this.#used;
      requests[h + RequestWord.ValueLength] = valueBytes;
      this.#write(value);
    } else {
      requests[h + RequestWord.ValueOffset] = IN_OBJECTS;
      requests[h + RequestWord.ValueLength] = this.#objects.length;
      this.#objects.push(value);
      if (typeof value !== 'string') this.#holdsBuffer = true;
    }
    requests[h + RequestWord.Flags] = flags;
    requests[h + RequestWord.Exptime] = exptime;
  }

  /**
   * Hands everything queued to the addon now. Should the addon refuse the batch (it throws:
   * the client was released under it, or the batch is malformed), its operations are reported
   * to `refused` instead of being left waiting for completions that will never come.
   */
  flush(): void {
    this.#scheduled = false;
    this.#holdsBuffer = false;
    if (this.#words === 0) return;
    const words = this.#words;
    const objects = this.#objects;
    this.#words = 0;
    this.#used = 0;
    this.#objects = [];
    try {
      this.#native.submit(this.#requests, this.#bytes, words, objects);
    } catch (error) {
      const ids = this.#ids;
      this.#ids = [];
      this.#refused(ids, error);
    }
    this.#ids.length = 0;
    if (this.#whenSent.length > 0) {
      const tasks = this.#whenSent;
      this.#whenSent = [];
      for (const task of tasks) {
        try {
          task();
        } catch {
          // (see whenSent)
        }
      }
    }
    // A batch far larger than usual leaves its buffers behind: they are not kept for the next.
    if (this.#bytes.length > KEPT_BYTES_MAX) this.#bytes = Buffer.allocUnsafeSlow(INITIAL_BYTES);
    if (this.#requests.length > KEPT_REQUESTS_MAX * REQUEST_WORDS) this.#requests = new Uint32Array(INITIAL_REQUESTS * REQUEST_WORDS);
  }

  /**
   * Claims the next request and schedules a flush. Not zeroed: `push` writes every word of an
   * operation's request, `item` every word the addon reads of an item's.
   */
  #request(): number {
    if (this.#words + REQUEST_WORDS > this.#requests.length) {
      const grown = new Uint32Array(this.#requests.length * 2);
      grown.set(this.#requests);
      this.#requests = grown;
    }
    const h = this.#words;
    this.#words += REQUEST_WORDS;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
    return h;
  }

  #write(data: Bytes): void {
    if (typeof data === 'string') {
      this.#used += this.#bytes.write(data, this.#used, 'utf8');
    } else {
      data.copy(this.#bytes, this.#used);
      this.#used += data.length;
    }
  }

  /** Short ASCII text byte by byte: cheaper than a call into Buffer#write for a key. */
  #writeAscii(text: string): void {
    const bytes = this.#bytes;
    let at = this.#used;
    for (let i = 0; i < text.length; i++) bytes[at++] = text.charCodeAt(i);
    this.#used = at;
  }

  #reserve(bytes: number): void {
    // (Unreachable in practice: begin() flushes long before, and values go out of line.)
    if (this.#used + bytes >= 0xffffffff) throw new RangeError('too many keys queued at once');
    if (this.#used + bytes > this.#bytes.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(this.#bytes.length * 2, this.#used + bytes));
      this.#bytes.copy(grown, 0, 0, this.#used);
      this.#bytes = grown;
    }
  }
}
