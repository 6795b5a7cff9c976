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
import type { ItemDone } from './native/completion-reader';

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
 * The values of one getMulti, by key as given, in an object with a null prototype. Values are
 * decoded as their items arrive; large compressed ones finish later (see `settled`).
 */
export class MultiGetResults<T> {
  readonly values: Record<string, T> = Object.create(null);
  readonly #later: Array<Promise<void>> = [];
  // The first value that could not be decoded; the others are still decoded, so that the
  // error can carry them.
  #undecodable: unknown;
  readonly #failed = (error: unknown) => {
    if (this.#undecodable === undefined) this.#undecodable = error;
  };

  constructor(readonly codec: ValueCodec) {}

  /** The item callback of the multi-get of `list`. */
  reader(list: Key[]): ItemDone {
    return (index, _rc, value, flags) => {
      if (value === undefined) return;
      const name = keyText(list[index]);
      try {
        const v = this.codec.decode('getMulti', list[index], value, flags);
        if (isPromise(v)) {
          this.#later.push(
            v.then((w) => {
              if (w !== MISS) this.values[name] = w as T;
            }, this.#failed),
          );
        } else if (v !== MISS) {
          this.values[name] = v as T;
        }
      } catch (error) {
        this.#failed(error);
      }
    };
  }

  /** The values, once every one is decoded; rejects with the first that could not be. */
  async settled(): Promise<Record<string, T>> {
    await Promise.all(this.#later);
    if (this.#undecodable !== undefined) throw this.#withPartial(this.#undecodable);
    return this.values;
  }

  /** A server failed: the others' values ride on the error. */
  async failed(error: unknown): Promise<never> {
    await Promise.all(this.#later);
    throw this.#withPartial(error);
  }

  // A failure carries what was read and decoded, for a caller that would rather use part of a
  // multi-get than none of it.
  #withPartial(error: unknown): unknown {
    if (error instanceof MemcachedError) error.partial = this.values;
    return error;
  }
}
