/**
 * libmemcached's numbers, read from the addon (src/binding/constants.cc), which takes them from the
 * headers it was compiled against: no return code, behavior, hash or distribution id is typed
 * by hand in lib/. Each is looked up once, when a module loads, by the C enumerator's name; a
 * name the addon does not know throws then instead of becoming undefined.
 */
import { native } from './native/load';

function lookup(table: Readonly<Record<string, number>>, what: string): (name: string) => number {
  return (name) => {
    const value = Object.prototype.hasOwnProperty.call(table, name) ? table[name] : undefined;
    if (value === undefined) throw new Error(`the addon exports no ${what} named ${name}`);
    return value;
  };
}

/** memcached_return_t, by name. */
export const returnCode = lookup(native.constants.returnCodes, 'return code');
/** memcached_behavior_t, by name. */
export const behaviorId = lookup(native.constants.behaviors, 'behavior');
/** memcached_hash_t, by name. */
export const hashId = lookup(native.constants.hashes, 'hash');
/** memcached_server_distribution_t, by name. */
export const distributionId = lookup(native.constants.distributions, 'distribution');

/** memcached_return_t names, indexed by value. */
export const RETURN_CODE_NAMES: readonly string[] = Object.freeze(
  Object.entries(native.constants.returnCodes).reduce<string[]>((names, [name, value]) => {
    names[value] = name;
    return names;
  }, []),
);

const SOFT = new Uint8Array(RETURN_CODE_NAMES.length);
for (const rc of native.constants.softReturnCodes) SOFT[rc] = 1;

/** Whether `rc` is an answer (a hit, a miss, "not stored"...), not a failure: IsSoftResult's verdict. */
export function isSoft(rc: number): boolean {
  return SOFT[rc] === 1;
}
