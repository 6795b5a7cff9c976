// Checks that a prebuilt addon loads on every glibc Linux that official Node binaries support
// (docs/installing.md#the-prebuilds): reads the .node files named on the command line with
// readelf (which reads any architecture's ELF) and fails on a glibc symbol version above 2.28,
// on any GLIBCXX_/CXXABI_ version (libstdc++ is linked statically, so none may be asked of the
// machine), on GLIBC_PRIVATE, or on a NEEDED library outside glibc's own. Prints one line per
// file.
//
//   node test/platforms/binary-floor.js prebuilds/linux-*/libmemcached.glibc.node
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');

const GLIBC_FLOOR = [2, 28];
const ALLOWED_NEEDED = /^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|ld-linux-(x86-64|aarch64)\.so\.[12])$/;

function readelf(args, file) {
  return execFileSync('readelf', [...args, file], { encoding: 'utf8' });
}

function newer(version, floor) {
  for (let i = 0; i < Math.max(version.length, floor.length); i++) {
    const a = version[i] ?? 0;
    const b = floor[i] ?? 0;
    if (a !== b) return a > b;
  }
  return false;
}

function check(file) {
  if (!fs.existsSync(file)) return { needed: [], highest: '', problems: ['missing (sudo npm run prebuilds makes it)'] };
  const problems = [];
  const needed = [...readelf(['-d', '-W'], file).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  if (needed.length === 0) problems.push('readelf -d lists no NEEDED library: not a dynamically linked addon?');
  for (const lib of needed) if (!ALLOWED_NEEDED.test(lib)) problems.push(`needs ${lib}`);

  // The version-needs section: every version the loader will demand, with its library.
  // GLIBC_PRIVATE is glibc's internal interface, which changes between any two releases.
  if (/Name: GLIBC_PRIVATE/.test(readelf(['-V', '-W'], file))) problems.push('needs GLIBC_PRIVATE');
  const versions = new Set([...readelf(['-V', '-W'], file).matchAll(/Name: ((GLIBC|GLIBCXX|CXXABI)_[0-9.]+)/g)].map((m) => m[1]));
  // And the dynamic symbols that carry them, to name the culprit of a failure.
  const symbols = readelf(['--dyn-syms', '-W'], file);
  let highest = '';
  for (const version of versions) {
    const [family, number] = version.split('_');
    const parts = number.split('.').map(Number);
    const pattern = new RegExp(`\\s([^\\s@]+)@@?${version.replace(/\./g, '\\.')}(?![0-9.])`, 'g');
    const named = [...new Set([...symbols.matchAll(pattern)].map((m) => m[1]))];
    const users = named.length > 4 ? [...named.slice(0, 4), `${named.length - 4} more`] : named;
    if (family === 'GLIBC') {
      if (!highest || newer(parts, highest.split('_')[1].split('.').map(Number))) highest = version;
      if (newer(parts, GLIBC_FLOOR)) problems.push(`${version} (${users.join(', ') || 'symbol not named'}) is above GLIBC_${GLIBC_FLOOR.join('.')}`);
    } else {
      problems.push(`${version} (${users.join(', ') || 'symbol not named'}): libstdc++ must be linked statically`);
    }
  }
  if (!highest) problems.push('no GLIBC_ version found: readelf -V output not understood');
  return { needed, highest, problems };
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: binary-floor.js FILE.node...');
  process.exit(2);
}
let failed = false;
for (const file of files) {
  const { needed, highest, problems } = check(file);
  if (problems.length) {
    failed = true;
    console.error(`binary-floor: ${file}: FAILED\n  ${problems.join('\n  ')}`);
  } else {
    console.log(`binary-floor: ${file}: highest ${highest}, no GLIBCXX_/CXXABI_, needs ${needed.join(' ')}`);
  }
}
process.exit(failed ? 1 : 0);
