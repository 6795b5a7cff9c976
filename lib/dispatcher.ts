/**
 * Carries the Client's operations to the addon and their completions back: the table of
 * operations in flight, the gate that keeps issue order behind values still being compressed,
 * and the closing and UDP guards. Every key is checked here, before anything is queued.
 */
import { ClientClosedError, Failure, NotSupportedError, errorFromReturnCode } from './errors';
import { isSoft } from './constants';
import { Key, checkKey, isKey, keyText, readKeys } from './keys';
import { Done, ItemDone, MultiReader, ValueRead, Waiter, readCompletions } from './native/completion-reader';
import { native } from './native/load';
import { OpCode } from './native/protocol';
import { RequestWriter } from './native/request-writer';
import type { NativeClient, NativeConfig, OnComplete } from './native/surface';
import { Encoded, Prepared, isPromise } from './codecs/prepared';
import { FLAG_TEXT } from './codecs/values';
import type { ServerWatch } from './server-watch';
import { serverChannel } from './tracing';
import { INCR_MULTI_OPTION_NAMES, MULTI_OPTION_NAMES, STORE_MULTI_OPTION_NAMES, checkOptionNames } from './option-names';

/** The part of a completion a method's interpreter needs. */
export type Interpret<T> = (rc: number, value: ValueRead | undefined, flags: number, result: unknown) => T;

/** A submission waiting for an earlier operation's value to be compressed (see whenReady). */
interface Gated {
  ready: boolean;
  submit: () => void;
  /** Settles the operation instead, when `submit` throws. */
  fail: (error: unknown) => void;
}

/** What a UDP client can do: writes that need no answer, and what never touches a server. */
const UDP_OPERATIONS = new Set([OpCode.Set, OpCode.Delete, OpCode.Close, OpCode.Disconnect, OpCode.GetBehaviors, OpCode.SetBehaviors]);


/**
 * The completion of a single operation: a failing return code rejects with its error class, a
 * soft one resolves with what `interpret` makes of it (an exception it throws rejects too, and
 * never reaches the delivery loop).
 */
function settle<T>(
  operation: string,
  key: Key | undefined,
  interpret: Interpret<T>,
  resolve: (value: T) => void,
  reject: (error: unknown) => void,
  watch?: ServerWatch,
  keys?: readonly Key[] | 'all',
  prefix?: Key,
): Done {
  return (rc, value, flags, result, error, server) => {
    // (libmemcached:server: only with subscribers; a check of a boolean otherwise, and what was
    // known is dropped once nobody listens.)
    const watching = watch !== undefined && serverChannel.hasSubscribers;
    if (!watching && watch !== undefined && watch.holding) watch.reset();
    if (!isSoft(rc)) {
      const failure = errorFromReturnCode(rc, operation, key === undefined ? undefined : keyText(key), error, server);
      if (watching) watch.completed(rc, true, server, failure, undefined);
      reject(failure);
      return;
    }
    if (watching) watch.completed(rc, false, undefined, undefined, keys ?? key, prefix);
    try {
      resolve(interpret(rc, value, flags, result));
    } catch (failure) {
      reject(failure);
    }
  };
}

/** The option names each multi-key operation takes (setMulti/addMulti: the store options too). */
const MULTI_OPTIONS: Readonly<Record<string, readonly string[]>> = {
  incrMulti: INCR_MULTI_OPTION_NAMES,
  setMulti: STORE_MULTI_OPTION_NAMES,
  addMulti: STORE_MULTI_OPTION_NAMES,
};

/**
 * `keyPrefix` of a multi-key call's options, read inside the call (a getter may throw), after
 * checking that every option is one the operation takes.
 */
function readPrefix(options: unknown, operation: string): Key | undefined {
  if (options === undefined || options === null) return undefined;
  if (typeof options !== 'object') throw new TypeError(`${operation}: options must be an object`);
  checkOptionNames(options, MULTI_OPTIONS[operation] ?? MULTI_OPTION_NAMES, operation);
  return (options as { keyPrefix?: Key }).keyPrefix;
}

/** How keys are checked: the rules of the protocol and of the behaviors set (see checkKey). */
export interface KeyRules {
  binary: boolean;
  /** The namespace's length: libmemcached puts it in front of every key, within its 250 bytes. */
  namespaceLength: number;
  /** verify_keys in the text protocol: keys must be printable ASCII. */
  ascii: boolean;
}

export class Dispatcher {
  readonly keyRules: KeyRules;
  /** Told every operation's outcome while `libmemcached:server` has subscribers (set by Client). */
  watch: ServerWatch | undefined;
  #native: NativeClient;
  #writer: RequestWriter;
  // Held strongly here: the addon holds it weakly while idle, so that an unused client can be
  // collected, and strongly while operations are in flight.
  #onComplete: OnComplete;
  // Operations in flight, indexed by their id, which is a slot number reused once the operation
  // completes. Not a Map: a Map churned by an add and a delete per operation rehashes its table
  // every few hundred operations, and once that table lives in the old generation each new one
  // is allocated there too; the discarded tables keep their entries, so every scavenge found
  // the in-flight operations (and whatever their promises held) alive through dead tables.
  // Measured: after one large getMulti had tenured the Map, 64 gets in flight spent 4-7 ms per
  // scavenge with 20-35% of the young generation surviving; with slots, 0.3 ms and under 1%.
  #waiters: Array<Waiter | undefined> = [];
  #freeIds: number[] = [];
  readonly #take = (id: number): Waiter => {
    const waiter = this.#waiters[id] as Waiter;
    this.#waiters[id] = undefined;
    this.#freeIds.push(id);
    return waiter;
  };
  // Operations issued after one whose value is still being compressed off-thread wait here, in
  // issue order, so that a get issued after a set still sees that set.
  #gate: Gated[] = [];
  #closing: Promise<void> | undefined;
  // Over UDP libmemcached sends requests without reading any reply: only writes whose answer
  // can be "sent" are offered (see #checkUdp).
  #udp: boolean;
  // How many native I/O threads serve this client (see the connections option).
  #ioThreads: number;

  /**
   * `decodesText`: the client deserializes with the default deserializer, so plain text may be
   * decoded straight out of a delivery (see readCompletions). `source`: a native client whose
   * configuration handle the new one copies (Client#clone).
   */
  constructor(config: NativeConfig, keyRules: KeyRules, udp: boolean, decodesText: boolean, source: NativeClient | undefined) {
    this.keyRules = keyRules;
    this.#udp = udp;
    this.#onComplete = (meta, slab, extras, records) => readCompletions(meta, slab, extras, records, this.#take, decodesText);
    try {
      // textFlags: the addon delivers large plain text as a string, made without a copy where
      // it can be (src/binding/client.cc, LargeValue), as readCompletions does for small text.
      this.#native = new native.Client(decodesText ? { ...config, textFlags: FLAG_TEXT } : config, this.#onComplete, source);
    } catch (error) {
      // libmemcached refusing a server or a behavior: its return code's error class, never a
      // plain Error.
      const rc = (error as { rc?: unknown }).rc;
      if (typeof rc !== 'number') throw error;
      throw errorFromReturnCode(rc, 'Client', undefined, (error as Error).message, undefined);
    }
    this.#ioThreads = this.#native.ioThreads();
    this.#writer = new RequestWriter(this.#native, (ids, error) => this.#refused(ids, error));
  }

  /** The native client (clone copies its configuration handle). */
  get nativeClient(): NativeClient {
    return this.#native;
  }

  get closing(): boolean {
    return this.#closing !== undefined;
  }

  /** Whether operations wait behind a compression: a value read after the call must be copied. */
  get gated(): boolean {
    return this.#gate.length > 0;
  }

  /** Runs `start` so that any exception it throws becomes a rejection. */
  guard<T>(operation: string, start: () => Promise<T>): Promise<T> {
    try {
      if (this.#closing) throw new ClientClosedError(operation);
      return start();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The index of the server `key` maps to: computed on the master handle, no I/O. */
  hash(key: Key): number {
    checkKey(key, 'hash', 0, true);
    return this.#native.hash(key);
  }

  /** hash() for a key this client's operations take (its protocol's rules): throws for any other. */
  place(key: Key): number {
    const rules = this.keyRules;
    checkKey(key, 'place', rules.namespaceLength, rules.binary, rules.ascii);
    return this.#native.hash(key);
  }

  /**
   * One single-key operation. `interpret` turns the outcome of a soft return code into the
   * method's result (it may throw, or return a Promise); any other return code rejects with its
   * error class.
   */
  single<T>(
    operation: string,
    code: OpCode,
    key: Key,
    encoded: Prepared<Encoded> | undefined,
    exptime: number,
    number: bigint | number,
    wantCas: boolean,
    interpret: Interpret<Prepared<T>>,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#closing) throw new ClientClosedError(operation);
      this.#checkUdp(operation, code);
      const rules = this.keyRules;
      const keyBytes = checkKey(key, operation, rules.namespaceLength, rules.binary, rules.ascii);
      const done = settle(operation, key, interpret, resolve, reject, this.watch);
      // The common case, without the closure #whenReady needs: nothing waits for compression.
      if (!isPromise(encoded) && this.#gate.length === 0) {
        this.#push(code, key, keyBytes, encoded?.bytes, encoded?.flags ?? 0, exptime, number, wantCas, done, reject);
        return;
      }
      // Sent later, behind a compression: the key is captured now, as checked (a Buffer changed
      // by the caller meanwhile would otherwise be sent as changed, unchecked).
      const held = Buffer.isBuffer(key) ? Buffer.from(key) : key;
      this.#whenReady(
        encoded,
        (e) => this.#push(code, held, keyBytes, e?.bytes, e?.flags ?? 0, exptime, number, wantCas, done, reject),
        reject,
      );
    });
  }

  /**
   * One multi-key operation. Every key (and the prefix, from `options`) is read and validated,
   * and every value encoded, before anything is queued: a hole in the array, a throwing getter
   * or iterator, or a bad key rejects this call alone. `onItem` sees each key's outcome; the call
   * rejects with the first failure that is not a soft answer.
   */
  multi(
    operation: string,
    code: OpCode,
    keys: unknown,
    options: unknown,
    values: ((index: number) => Prepared<Encoded>) | undefined,
    onItem: (list: Key[]) => ItemDone | MultiReader,
    number: bigint | number = 0,
    exptime = 0,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.#closing) throw new ClientClosedError(operation);
      this.#checkUdp(operation, code);
      const rules = this.keyRules;
      const list = readKeys(keys, operation);
      let prefix = readPrefix(options, operation);
      const extra = this.#checkPrefix(prefix, operation);
      const lengths = new Array<number>(list.length);
      for (let i = 0; i < list.length; i++) lengths[i] = checkKey(list[i], operation, extra + rules.namespaceLength, rules.binary, rules.ascii) + extra;
      const prepared = values ? list.map((_key, i) => values(i)) : [];
      if (list.length === 0) {
        resolve();
        return;
      }
      const submit = (encoded: Encoded[]) => {
        const done = settle(operation, undefined, () => undefined, resolve, reject, this.watch, list, prefix);
        const reader = onItem(list);
        const item = typeof reader === 'function' ? reader : reader.item;
        this.#write({ code, wantCas: false, item, done, reject }, (id, writer) => {
          writer.pushMulti(code, id, list.length, number);
          for (let i = 0; i < list.length; i++) {
            const e = encoded[i];
            writer.item(undefined, prefix, list[i], lengths[i], e?.bytes, e?.flags, exptime);
          }
        });
        if (typeof reader !== 'function' && reader.whileSent !== undefined) this.#writer.whenSent(reader.whileSent);
      };
      const anyAsync = prepared.some(isPromise);
      if (anyAsync || this.#gate.length > 0) {
        // Sent later, behind a compression: Buffer keys (and prefix) are captured now, as checked.
        for (let i = 0; i < list.length; i++) if (Buffer.isBuffer(list[i])) list[i] = Buffer.from(list[i] as Buffer);
        if (Buffer.isBuffer(prefix)) prefix = Buffer.from(prefix);
      }
      this.#whenReady(anyAsync ? Promise.all(prepared) : (prepared as Encoded[]), submit, reject);
    });
  }

  /** A whole-client operation (flush, stats, behaviors, disconnect), after what was issued before it. */
  serverOp<T>(
    operation: string,
    code: OpCode.FlushAll | OpCode.Stats | OpCode.Disconnect | OpCode.GetBehaviors | OpCode.SetBehaviors,
    exptime: () => number,
    arg: string | Buffer | undefined,
    interpret: Interpret<T>,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#closing) throw new ClientClosedError(operation);
      this.#checkUdp(operation, code);
      const time = exptime();
      // A flush or stats that succeeded was answered by every server.
      const answered = code === OpCode.FlushAll || code === OpCode.Stats ? 'all' : undefined;
      const done = settle(operation, undefined, interpret, resolve, reject, this.watch, answered);
      this.#whenReady(undefined, () => this.#push(code, '', 0, arg, 0, time, 0, false, done, reject), reject);
    });
  }

  /**
   * Applies behaviors to the master handle now (so hash() follows), then on every I/O thread
   * after the operations already issued.
   */
  setBehaviors(pairs: Array<[number, number]>): Promise<void> {
    // (id, value) uint32 pairs: behavior values are checked to fit 31 bits. The same words go
    // to the master now and to every I/O thread through the queue.
    const words = new Uint32Array(pairs.flat());
    try {
      this.#native.setBehaviors(words);
    } catch (error) {
      const rc = (error as { rc?: number }).rc;
      throw rc === undefined ? error : errorFromReturnCode(rc, 'setBehaviors', undefined, (error as Error).message, undefined);
    }
    const applied = this.serverOp('setBehaviors', OpCode.SetBehaviors, () => 0, Buffer.from(words.buffer), () => undefined);
    if (this.#ioThreads > 1) {
      // Each server has I/O threads of its own, and a new distribution may give a key another
      // server, hence another thread: operations issued from now on wait until every thread
      // has applied the change, so that none overtakes an earlier one on its key.
      const settled = applied.then(
        () => undefined,
        () => undefined,
      );
      this.#whenReady(settled, () => undefined, () => undefined);
    }
    return applied;
  }

  /** Waits for in-flight operations, then closes every connection and stops the I/O threads. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = new Promise<void>((resolve) => {
      // Closing cannot fail: should the addon refuse the close itself, it is disposed of all the
      // same (which joins its threads).
      const finish = () => {
        this.#native.dispose();
        resolve();
      };
      // After anything still waiting for its value's compression: close waits for it too.
      this.#whenReady(
        undefined,
        () => this.#write({ code: OpCode.Close, wantCas: false, done: finish, reject: finish }, (id, writer) => writer.push(OpCode.Close, id)),
        finish,
      );
    });
    return this.#closing;
  }

  #push(
    code: OpCode,
    key: Key,
    keyBytes: number,
    value: string | Buffer | undefined,
    flags: number,
    exptime: number,
    number: bigint | number,
    wantCas: boolean,
    done: Done,
    reject: (error: unknown) => void,
  ): void {
    this.#write({ code, wantCas, done, reject }, (id, writer) => {
      writer.item(writer.push(code, id, number, wantCas), undefined, key, keyBytes, value, flags, exptime);
    });
  }

  /**
   * Registers `waiter` under a free id and writes its operation with `write`. Should the writing
   * throw, everything written of it is taken back and the id freed: the batch never holds half
   * an operation, and the error settles this call alone.
   */
  #write(waiter: Waiter, write: (id: number, writer: RequestWriter) => void): void {
    const id = this.#freeIds.length > 0 ? (this.#freeIds.pop() as number) : this.#waiters.length;
    this.#waiters[id] = waiter;
    const writer = this.#writer;
    writer.begin();
    try {
      write(id, writer);
    } catch (error) {
      writer.rollback();
      this.#waiters[id] = undefined;
      this.#freeIds.push(id);
      throw error;
    }
    writer.commit();
  }

  /**
   * The addon refused a whole batch (it threw in submit: released under us, or a malformed
   * batch, which the writer's rollback should make impossible): none of its operations will
   * complete, so each is settled here instead of being left pending.
   */
  #refused(ids: number[], error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    for (const id of ids) {
      const waiter = this.#waiters[id];
      if (waiter === undefined) continue;
      this.#waiters[id] = undefined;
      this.#freeIds.push(id);
      const failure = new Failure(`the native client refused the request: ${message}`);
      try {
        waiter.reject(failure);
      } catch {
        // (a close whose disposal failed: nothing else to settle)
      }
    }
  }

  /**
   * Runs `submit` now, or after the operations issued before it that still wait for a value to
   * be compressed. `encoded` is what `submit` needs; a Promise gates everything issued later
   * until it settles (`failed` then settles this operation instead of submitting it).
   */
  #whenReady<T>(encoded: Prepared<T>, submit: (value: T) => void, failed: (error: unknown) => void): void {
    if (!isPromise(encoded)) {
      if (this.#gate.length === 0) submit(encoded);
      else this.#gate.push({ ready: true, submit: () => submit(encoded), fail: failed });
      return;
    }
    const entry: Gated = { ready: false, submit: () => undefined, fail: failed };
    this.#gate.push(entry);
    encoded.then(
      (value) => {
        entry.submit = () => submit(value);
      },
      (error: unknown) => {
        entry.submit = () => failed(error);
      },
    ).then(() => {
      entry.ready = true;
      this.#drainGate();
    });
  }

  /**
   * Submits the operations at the head of the gate that are ready, in order. One whose submit
   * throws is settled with the error; the others go on.
   */
  #drainGate(): void {
    while (this.#gate.length > 0 && this.#gate[0].ready) {
      const entry = this.#gate.shift() as Gated;
      try {
        entry.submit();
      } catch (error) {
        entry.fail(error);
      }
    }
  }

  /** Over UDP, only set and delete (and their multi forms) make sense; the rest is refused here. */
  #checkUdp(operation: string, code: OpCode): void {
    if (this.#udp && !UDP_OPERATIONS.has(code)) {
      throw new NotSupportedError(
        `${operation}: not supported over UDP (libmemcached sends UDP requests without reading replies; only set and delete are sent, fire and forget)`,
      );
    }
  }

  #checkPrefix(prefix: unknown, operation: string): number {
    if (prefix === undefined) return 0;
    if (!isKey(prefix)) throw new TypeError(`${operation}: keyPrefix must be a string or a Buffer`);
    if (prefix.length === 0) return 0;
    // A prefix alone must be a valid key fragment: no forbidden bytes in the text protocol.
    const rules = this.keyRules;
    return checkKey(prefix, `${operation} keyPrefix`, 0, rules.binary, rules.ascii);
  }
}
