/** Loads the addon: the matching prebuild or build/Release, or the file LIBMEMCACHED_ADDON names. */
import * as path from 'node:path';
import type { NativeModule } from './surface';

// LIBMEMCACHED_ADDON, a path to a .node file, loads that addon instead (scripts/test-sanitize.sh
// runs the tests, child processes included, against its sanitizer build that way).
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const native: NativeModule = process.env.LIBMEMCACHED_ADDON ? require(process.env.LIBMEMCACHED_ADDON) : require('node-gyp-build')(path.join(__dirname, '..', '..'));
