/**
 * The Client: pylibmc's operations as Promises over the native engine.
 *
 * Every argument is checked here, before anything is queued: a bad key or number rejects with
 * a typed error and causes no I/O. Methods never throw synchronously; they return a rejected
 * Promise instead.
 */
import { ClientClosedError, MemcachedError, errorFromReturnCode } from './errors';
import { Key, checkKey } from './keys';
import { CompletionBatch, NativeClient, NativeConfig, OpCode, native } from './native';
import { ServerList, formatServer, parseServers } from './servers';

export interface ClientOptions {
  /** Use the binary protocol (required for SASL). Default false: the text protocol is faster in libmemcached 1.1.4. */
  binary?: boolean;
  /** Native I/O threads, each with its own connection to every server. Default 1. */
  connections?: number;
}

export type Value = string | Buffer;

/** Flags of pylibmc's wire format for the two types that round-trip before serialization lands. */
const FLAG_TEXT = 16;

// libmemcached return codes the client interprets itself.
const RC = {
  SUCCESS: 0,
  DATA_EXISTS: 12,
  NOTSTORED: 14,
  STORED: 15,
  NOTFOUND: 16,
  END: 21,
  DELETED: 22,
  BUFFERED: 32,
} as const;

type Settle = (rc: number, a: unknown, b: unknown, c: unknown) => void;

interface Pending {
  settle: Settle;
  reject: (error: unknown) => void;
}

function isSoft(rc: number): boolean {
  return (
    rc === RC.SUCCESS ||
    rc === RC.DATA_EXISTS ||
    rc === RC.NOTSTORED ||
    rc === RC.STORED ||
    rc === RC.NOTFOUND ||
    rc === RC.END ||
    rc === RC.DELETED ||
    rc === RC.BUFFERED
  );
}

function encodeValue(value: unknown, operation: string): [Buffer, number] {
  if (typeof value === 'string') return [Buffer.from(value, 'utf8'), FLAG_TEXT];
  if (Buffer.isBuffer(value)) return [value, 0];
  throw new TypeError(`${operation}: value must be a string or a Buffer`);
}

function decodeValue(value: Buffer, flags: number): Value {
  return (flags & 0xff) === FLAG_TEXT ? value.toString('utf8') : value;
}

function checkTime(time: unknown, operation: string): number {
  if (time === undefined) return 0;
  if (typeof time !== 'number' || !Number.isInteger(time) || time < 0 || time >= 2 ** 32) {
    throw new RangeError(`${operation}: time must be an integer from 0 to 2^32 - 1 seconds, got ${String(time)}`);
  }
  return time;
}

export class Client {
  readonly servers: readonly string[];
  readonly binary: boolean;

  #native: NativeClient;
  #onCompleteCallback: (batch: CompletionBatch) => void;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(servers: ServerList, options: ClientOptions = {}) {
    const parsed = parseServers(servers);
    this.binary = options.binary === true;
    const connections = options.connections ?? 1;
    if (!Number.isInteger(connections) || connections < 1 || connections > 64) {
      throw new RangeError(`connections must be an integer from 1 to 64, got ${String(connections)}`);
    }
    const config: NativeConfig = {
      servers: parsed,
      behaviors: [
        [18 /* BINARY_PROTOCOL */, this.binary ? 1 : 0],
        [1 /* TCP_NODELAY */, 1],
      ],
      connections,
    };
    this.servers = parsed.map(formatServer);
    // Held here, strongly: the addon holds it only weakly while idle so that an unused client
    // can be collected, and strongly only while operations are in flight.
    this.#onCompleteCallback = (batch) => this.#onComplete(batch);
    this.#native = new native.Client(config, this.#onCompleteCallback);
  }

  /** The value stored under `key`, or `defaultValue` on a miss. */
  get(key: Key): Promise<Value | undefined>;
  get<D>(key: Key, defaultValue: D): Promise<Value | D>;
  get(key: Key, defaultValue?: unknown): Promise<unknown> {
    return this.#request('get', key, (id) => this.#native.get(id, [key], false), (rc, a, b) => {
      if (rc === RC.SUCCESS && a !== undefined) return decodeValue(a as Buffer, b as number);
      return defaultValue;
    });
  }

  /** Stores `value` under `key`. */
  set(key: Key, value: Value, time?: number): Promise<boolean> {
    return this.#store('set', OpCode.Set, key, value, time);
  }

  /** Stores only if `key` is absent. */
  add(key: Key, value: Value, time?: number): Promise<boolean> {
    return this.#store('add', OpCode.Add, key, value, time);
  }

  /** Stores only if `key` is present. */
  replace(key: Key, value: Value, time?: number): Promise<boolean> {
    return this.#store('replace', OpCode.Replace, key, value, time);
  }

  /** Deletes `key`; false when it was not there. */
  delete(key: Key): Promise<boolean> {
    return this.#request('delete', key, (id) => this.#native.keyOp(id, OpCode.Delete, key), (rc) => rc === RC.SUCCESS);
  }

  /** Waits for in-flight operations, then closes every connection and stops the I/O threads. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#closing = new Promise<void>((resolve, reject) => {
      const id = this.#nextId++;
      this.#pending.set(id, {
        settle: () => {
          this.#native.dispose();
          resolve();
        },
        reject,
      });
      this.#native.close(id);
    });
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #store(operation: string, code: OpCode, key: Key, value: Value, time: number | undefined): Promise<boolean> {
    return this.#request(
      operation,
      key,
      (id) => {
        const exptime = checkTime(time, operation);
        const [bytes, flags] = encodeValue(value, operation);
        this.#native.store(id, code, key, bytes, flags, exptime);
      },
      (rc) => rc === RC.SUCCESS,
    );
  }

  /**
   * Checks the key, queues the operation and returns its Promise. `interpret` turns a soft
   * return code (an answer, not a failure) into the method's result; anything else rejects.
   */
  #request<T>(
    operation: string,
    key: Key,
    submit: (id: number) => void,
    interpret: (rc: number, a: unknown, b: unknown, c: unknown) => T,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#closed) throw new ClientClosedError(operation);
      checkKey(key, operation, 0, this.binary);
      const id = this.#nextId++;
      if (this.#nextId > 0xffffffff) this.#nextId = 1;
      const settle: Settle = (rc, a, b, c) => {
        if (isSoft(rc)) {
          try {
            resolve(interpret(rc, a, b, c));
          } catch (error) {
            reject(error);
          }
        } else {
          reject(errorFromReturnCode(rc, operation, keyText(key), a as string, b as string | undefined));
        }
      };
      submit(id);
      this.#pending.set(id, { settle, reject });
    });
  }

  #onComplete(batch: CompletionBatch): void {
    for (let i = 0; i < batch.length; i += 5) {
      const id = batch[i] as number;
      const pending = this.#pending.get(id);
      if (pending === undefined) continue;
      this.#pending.delete(id);
      pending.settle(batch[i + 1] as number, batch[i + 2], batch[i + 3], batch[i + 4]);
    }
  }
}

function keyText(key: Key): string {
  return typeof key === 'string' ? key : key.toString('latin1');
}

export { MemcachedError };
