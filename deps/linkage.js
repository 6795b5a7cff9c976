// Which libmemcached the addon links, for deps/libmemcached.gyp: LIBMEMCACHED_LINKAGE=internal
// (the default: the bundled static build) or system (the distribution's shared library). The
// older switch, npm_config_libmemcached (`--libmemcached=system`), still works but npm 11 warns
// that it will stop passing unknown config keys on, hence a variable of our own.
'use strict';

const chosen = process.env.LIBMEMCACHED_LINKAGE;
const legacy = process.env.npm_config_libmemcached;
const value = chosen || legacy || 'internal';
if (!chosen && legacy) {
  process.stderr.write('libmemcached: npm_config_libmemcached is deprecated (npm 11 warns about unknown config keys); set LIBMEMCACHED_LINKAGE instead\n');
}
if (value !== 'internal' && value !== 'system') {
  process.stderr.write(`libmemcached: LIBMEMCACHED_LINKAGE must be "internal" or "system", not ${JSON.stringify(value)}\n`);
  process.exit(1);
}
process.stdout.write(value);
