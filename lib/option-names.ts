/**
 * The option names each call takes, and the check that refuses any other: from JavaScript a
 * misspelt or foreign option (`{ timeout: 100 }`, `{ ttl: 60 }`) would otherwise be ignored.
 */
import type { ClientOptions, IncrMultiOptions, MultiOptions, StoreMultiOptions, StoreOptions } from './options';

/** Every name of T, checked by the compiler: a list that leaves one out does not compile. */
const everyName =
  <T>() =>
  <const A extends ReadonlyArray<keyof T>>(names: A & ([keyof T] extends [A[number]] ? unknown : never)): readonly string[] =>
    names as readonly string[];

export const CLIENT_OPTION_NAMES = everyName<ClientOptions>()([
  'binary',
  'username',
  'password',
  'behaviors',
  'failover',
  'connections',
  'maxValueSize',
  'minCompressLen',
  'compressLevel',
  'namespace',
  'tls',
  'serialize',
  'deserialize',
]);

export const STORE_OPTION_NAMES = everyName<StoreOptions>()(['time', 'minCompressLen', 'compressLevel']);
export const STORE_MULTI_OPTION_NAMES = everyName<StoreMultiOptions>()(['time', 'minCompressLen', 'compressLevel', 'keyPrefix']);
export const MULTI_OPTION_NAMES = everyName<MultiOptions>()(['keyPrefix']);
export const INCR_MULTI_OPTION_NAMES = everyName<IncrMultiOptions>()(['keyPrefix', 'delta']);

/**
 * Throws a TypeError naming `given`'s first own property that is not among `known`. A property
 * whose value is undefined counts as absent, as it does when the options are read.
 */
export function checkOptionNames(given: object, known: readonly string[], what: string): void {
  for (const name of Object.keys(given)) {
    if (!known.includes(name) && (given as Record<string, unknown>)[name] !== undefined) {
      throw new TypeError(`${what}: unknown option ${JSON.stringify(name)}; the options are ${known.join(', ')}`);
    }
  }
}
