/**
 * How the Client reads its answers where that takes more than a line: storage return codes,
 * the values of a multi-get (decoded as they arrive, partial results on failure), and stats.
 */
import type { ValueCodec } from './codecs/value-codec';
import { MISS } from './codecs/value-codec';
import { isPromise } from './codecs/prepared';
import { returnCode } from './constants';
import { MemcachedError } from './errors';
import { Key, keyText } from './keys';
import type { ItemDone, MultiReader } from './native/completion-reader';

/** libmemcached return codes the client interprets itself (numbers from the addon). */
export const RC = Object.freeze({
  SUCCESS: returnCode('MEMCACHED_SUCCESS'),
  STORED: returnCode('MEMCACHED_STORED'),
  NOTFOUND: returnCode('MEMCACHED_NOTFOUND'),
});

/** Soft results of storage commands: not stored, exists, or (binary replace/append) missing. */
export function stored(rc: number): boolean {
  return rc === RC.SUCCESS || rc === RC.STORED;
}

export type ServerStats = [server: string, stats: Record<string, string>];

/** pylibmc's get_stats() shape, from the addon's [[server, [key, value, ...]], ...]. */
export function statsRead(result: unknown): ServerStats[] {
  return (result as Array<[string, string[]]>).map(([name, flat]): ServerStats => {
    const stats: Record<string, string> = Object.create(null);
    for (let i = 0; i < flat.length; i += 2) stats[flat[i]] = flat[i + 1];
    return [name, stats];
  });
}

/**
 * From this many keys, a getMulti's result object gets all its keys, each holding RESERVED,
 * while the request is on its way, and the replies then only fill them in. The object's table
 * is then more than 128 KiB, which V8 allocates in its large-object space: fresh pages for
 * every growth, each paid in page faults (a null-prototype object of 2,000 keys is built at
 * some 19M keys/s, one of 3,000 at 3M). Built while the JavaScript thread waits for the reply,
 * that cost leaves the call's critical path (docs/performance.md#big-batches).
 */
export const RESERVE_KEYS_MIN = 2048;
const RESERVED: unique symbol = Symbol('reserved');

/**
 * The values of one getMulti, by key as given, in an object with a null prototype. Values are
 * decoded as their items arrive; large compressed ones finish later (see `settled`) and come
 * last, unless the keys were reserved, which fixes the order asked.
 */
export class MultiGetResults<T> {
  readonly values: Record<string, T> = Object.create(null);
  // Keys given RESERVED, and how many items were filled in since: when every item was, no key
  // is left holding RESERVED and `#unreserve` has nothing to look for.
  #reserved: Key[] | undefined;
  #filled = 0;
  readonly #later: Array<Promise<void>> = [];
  // The first value that could not be decoded; the others are still decoded, so that the
  // error can carry them.
  #undecodable: unknown;
  readonly #failed = (error: unknown) => {
    if (this.#undecodable === undefined) this.#undecodable = error;
  };

  constructor(readonly codec: ValueCodec) {}

  /** How the multi-get of `list` reads its items (and, for many keys, reserves them). */
  reader(list: Key[]): ItemDone | MultiReader {
    const item: ItemDone = (index, _rc, value, flags) => {
      if (value === undefined) return;
      const name = keyText(list[index]);
      try {
        const v = this.codec.decode('getMulti', list[index], value, flags);
        if (isPromise(v)) {
          this.#later.push(
            v.then((w) => {
              if (w !== MISS) this.#fill(name, w as T);
            }, this.#failed),
          );
        } else if (v !== MISS) {
          this.#fill(name, v as T);
        }
      } catch (error) {
        this.#failed(error);
      }
    };
    if (list.length < RESERVE_KEYS_MIN) return item;
    return { item, whileSent: () => this.#reserve(list) };
  }

  #fill(name: string, value: T): void {
    this.values[name] = value;
    this.#filled++;
  }

  // Gives every key of `list` a place, unless a value has arrived already (deliveries come in
  // macrotasks, after the request's flush, so none has; if one had, its place would be taken).
  #reserve(list: Key[]): void {
    if (this.#filled > 0) return;
    const values = this.values as Record<string, unknown>;
    for (let i = 0; i < list.length; i++) values[keyText(list[i])] = RESERVED;
    this.#reserved = list;
  }

  // Takes out the keys that got no value (misses, failures, values that could not be decoded).
  #unreserve(): void {
    const list = this.#reserved;
    if (list === undefined) return;
    this.#reserved = undefined;
    // Each item filled in is one key asked (a key asked twice is filled twice): all filled,
    // none is left.
    if (this.#filled >= list.length) return;
    const values = this.values as Record<string, unknown>;
    for (let i = 0; i < list.length; i++) {
      const name = keyText(list[i]);
      if (values[name] === RESERVED) delete values[name];
    }
  }

  /** The values, once every one is decoded; rejects with the first that could not be. */
  async settled(): Promise<Record<string, T>> {
    await Promise.all(this.#later);
    this.#unreserve();
    if (this.#undecodable !== undefined) throw this.#withPartial(this.#undecodable);
    return this.values;
  }

  /** A server failed: the others' values ride on the error. */
  async failed(error: unknown): Promise<never> {
    await Promise.all(this.#later);
    this.#unreserve();
    throw this.#withPartial(error);
  }

  // A failure carries what was read and decoded, for a caller that would rather use part of a
  // multi-get than none of it.
  #withPartial(error: unknown): unknown {
    if (error instanceof MemcachedError) error.partial = this.values;
    return error;
  }
}
