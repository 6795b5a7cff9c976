// What to install to build the addon from source, per system: printed by deps/libmemcached.sh
// when a tool is missing (`tools`), and by the package's install script when neither a prebuild
// fits nor the source build succeeded (`failed`), so that the cause is on screen without
// --loglevel=verbose (node-gyp's own message is only "Could not find any Python installation").
'use strict';

const TABLE = `  Debian, Ubuntu:  apt-get install g++ make python3 cmake bison flex patch libsasl2-dev
  Alpine:          apk add bash g++ make python3 cmake bison flex patch linux-headers cyrus-sasl-dev
  Fedora, RHEL:    dnf install gcc-c++ make python3 cmake bison flex patch cyrus-sasl-devel
  macOS:           xcode-select --install && brew install python cmake bison flex cyrus-sasl
(libsasl2-dev / cyrus-sasl-dev / cyrus-sasl-devel / cyrus-sasl only for SASL authentication)
`;

const what = process.argv[2] || 'tools';
if (what === 'failed') {
  let libc = 'glibc';
  try {
    if (!process.report.getReport().header.glibcVersionRuntime) libc = 'musl or another libc';
  } catch {
    libc = 'unknown libc';
  }
  const why = process.env.npm_config_build_from_source
    ? 'building the addon from source (--build-from-source) failed'
    : `no prebuilt addon fits this machine (${process.platform}-${process.arch}, ${libc}; prebuilds cover ` +
      'linux-x64 and linux-arm64 with glibc 2.28+), and building it from source failed';
  process.stderr.write(
    `\nlibmemcached: ${why} (the lines above say why). The source build needs these tools:\n` +
      TABLE +
      'See https://www.npmjs.com/package/libmemcached (docs/installing.md in the package).\n',
  );
  process.exit(1);
}
process.stderr.write(TABLE);
