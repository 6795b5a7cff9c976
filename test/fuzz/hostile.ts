/**
 * The hostile objects the fuzzer hands the client (throwing getters and iterables, revoked and
 * trapping Proxies, values read differently each time, hostile pickles). The failure report
 * prints these functions' source, so that a reproduction that names them runs as printed.
 */

/** What every hostile object throws: the client may pass it on as the rejection, as it is. */
export class FuzzBoom extends Error {
  constructor(where: string) {
    super(`fuzz: ${where}`);
    this.name = 'FuzzBoom';
  }
}

/**
 * `items` whose element `index` is a getter: read number i returns reads[i - 1] (the last one
 * again once they run out), and from read number `throwAt` on (0: never) it throws instead.
 */
export function readsAt(items: unknown[], index: number, reads: unknown[], throwAt = 0): unknown[] {
  let count = 0;
  return Object.defineProperty(items, index, {
    enumerable: true,
    configurable: true,
    get() {
      count++;
      if (throwAt > 0 && count >= throwAt) throw new FuzzBoom(`read ${count} of [${index}]`);
      return reads[Math.min(count, reads.length) - 1];
    },
  });
}

/** An iterable (not an array) of `items` that throws instead of yielding item `throwAt` (-1: never). */
export function* iterate(items: unknown[], throwAt = -1): Generator<unknown> {
  for (let i = 0; i < items.length; i++) {
    if (i === throwAt) throw new FuzzBoom(`iteration ${i}`);
    yield items[i];
  }
}

/** A Proxy of `target` that was revoked: every operation on it is a TypeError. */
export function revoked(target: object): object {
  const { proxy, revoke } = Proxy.revocable(target, {});
  revoke();
  return proxy;
}

/** A Proxy of `target` whose `trap` throws. */
export function trapping<T extends object>(target: T, trap: keyof ProxyHandler<T>): T {
  return new Proxy(target, {
    [trap]() {
      throw new FuzzBoom(`${String(trap)} trap`);
    },
  });
}

/** `object` with a property `name` whose getter throws. */
export function throwingGetter<T extends object>(object: T, name: string): T {
  return Object.defineProperty(object, name, {
    enumerable: true,
    get() {
      throw new FuzzBoom(`get ${name}`);
    },
  });
}

/** An object that contains itself. */
export function cyclic(): Record<string, unknown> {
  const o: Record<string, unknown> = { a: 1 };
  o.self = o;
  return o;
}

/** A Buffer whose own `length` property lies. */
export function lyingLength(buffer: Buffer, length: number): Buffer {
  return Object.defineProperty(buffer, 'length', { value: length });
}

/** A protocol-5 pickle of a list nested `depth` deep: [[[...]]]. */
export function deepList(depth: number): Buffer {
  return Buffer.concat([Buffer.from([0x80, 5]), Buffer.alloc(depth, 0x5d), Buffer.alloc(depth - 1, 0x61), Buffer.from('.')]);
}

/** A protocol-5 pickle of a dict nested `depth` deep: {'k': {'k': ... None}}. */
export function deepDict(depth: number): Buffer {
  const open = Buffer.from([0x7d, 0x8c, 1, 0x6b]); // EMPTY_DICT, SHORT_BINUNICODE 'k'
  return Buffer.concat([Buffer.from([0x80, 5]), Buffer.concat(Array(depth).fill(open)), Buffer.from('N'), Buffer.alloc(depth, 0x73), Buffer.from('.')]);
}

/** A protocol-5 pickle of a list of `count` Nones, appended by one APPENDS. */
export function manyAppends(count: number): Buffer {
  return Buffer.concat([Buffer.from([0x80, 5, 0x5d, 0x28]), Buffer.alloc(count, 0x4e), Buffer.from([0x65, 0x2e])]);
}

/** Every helper, by name, for the report's preamble. */
export const HELPERS: ReadonlyArray<{ name: string; source: string }> = [
  FuzzBoom,
  readsAt,
  iterate,
  revoked,
  trapping,
  throwingGetter,
  cyclic,
  lyingLength,
  deepList,
  deepDict,
  manyAppends,
].map((fn) => ({ name: fn.name, source: fn.toString() }));
