#!/usr/bin/env bash
# Builds the addons that ship in the npm package, prebuilds/linux-x64 and prebuilds/linux-arm64
# (libmemcached.glibc.node), so that they load on every glibc Linux that official Node binaries
# run on (glibc 2.28 and later). Why this way (docs/installing.md#the-prebuilds):
#   - in a Debian 11 root (glibc 2.31, GCC 10): a binary takes the newest version of each glibc
#     symbol it links, and glibc 2.32+ headers make libstdc++ use __libc_single_threaded;
#     Debian 11's glibc gives every symbol the addon uses a version of 2.28 or older, given
#     src/util/glibc_floor.h;
#   - libstdc++ and libgcc linked statically, their symbols hidden (--exclude-libs): no
#     GLIBCXX_/CXXABI_ version is needed from the machine, whose libstdc++ may be older;
#   - linux-arm64 with Debian's own cross toolchain (g++-aarch64-linux-gnu) of the same suite.
# The root is made once and cached (scripts/platform-root.sh bullseye build). Needs root.
#
#   sudo bash scripts/prebuild.sh [x64] [arm64]      (both when none is named)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { echo "prebuild: $*" >&2; }
. scripts/lib/node-binary.sh

[ "$(id -u)" = 0 ] || { say "needs root (it builds inside a chroot)"; exit 1; }
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(x64 arm64)
cache=${LIBMEMCACHED_ROOTS:-/var/cache/libmemcached-roots}
export LIBMEMCACHED_ROOTS=$cache
root=$(bash scripts/platform-root.sh bullseye build)

# node-gyp needs a Node to run and Node's headers; under N-API any version's headers serve every
# version. The machine's version, official build (it runs on glibc 2.28), cached by the roots.
nodedir=$(node_binary "$(node -p 'process.versions.node')" "$cache")
if [ "$("$root/opt/node/bin/node" --version 2> /dev/null || true)" != "$("$nodedir/bin/node" --version)" ]; then
  rm -rf "$root/opt/node"
  mkdir -p "$root/opt"
  cp -a "$nodedir" "$root/opt/node"
fi

# node-gyp: the one in this machine's npm (the registry's Node packages carry no npm).
npm_dir=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)
if ! cmp -s "$npm_dir/package.json" "$root/opt/npm/package.json"; then
  rm -rf "$root/opt/npm"
  cp -a "$npm_dir" "$root/opt/npm"
fi

# Cyrus SASL's headers in a folder of their own: Debian's cross compilers do not search
# /usr/include, and only the headers are needed (libsasl2 is opened at run time).
rm -rf "$root/build/sasl-include"
mkdir -p "$root/build/sasl-include"
cp -a "$root/usr/include/sasl" "$root/build/sasl-include/"

jobs=$(nproc)
for arch in "${archs[@]}"; do
  case "$arch" in
    x64) triplet=x86_64-linux-gnu cross= ;;
    arm64) triplet=aarch64-linux-gnu cross=aarch64 ;;
    *) say "unknown architecture $arch (x64 or arm64)"; exit 1 ;;
  esac
  # The sources node-gyp needs, copied with their times (so make redoes only what changed);
  # deps/.cache and build/ stay from the last run.
  work=$root/build/$arch
  mkdir -p "$work/deps" "$work/node_modules"
  rm -rf "$work/src" "$work/deps/patches" "$work/node_modules/node-addon-api"
  cp -p binding.gyp "$work/"
  cp -pR src "$work/src"
  cp -pR deps/patches "$work/deps/patches"
  cp -p deps/libmemcached.gyp deps/libmemcached.sh deps/linkage.js deps/libmemcached-*.tar.gz "$work/deps/"
  cp -pR node_modules/node-addon-api "$work/node_modules/"

  say "building linux-$arch in $(basename "$root") with $triplet-g++"
  flags="-I/build/sasl-include"
  # The chroot has no /proc, so neither make nor cmake would see more than one CPU.
  env -i PATH=/opt/node/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
    CC="$triplet-gcc" CXX="$triplet-g++" LINK="$triplet-g++" AR="$triplet-ar" \
    CFLAGS="$flags" CXXFLAGS="$flags" LDFLAGS="-static-libstdc++ -static-libgcc" \
    LIBMEMCACHED_SASL=on LIBMEMCACHED_CROSS="$cross" LIBMEMCACHED_JOBS="$jobs" \
    chroot "$root" /bin/sh -c "cd /build/$arch && node /opt/npm/node_modules/node-gyp/bin/node-gyp.js rebuild --arch=$arch --nodedir=/opt/node --jobs=$jobs" \
    > "$cache/prebuild-$arch.log" 2>&1 || {
    tail -40 "$cache/prebuild-$arch.log" >&2
    say "linux-$arch failed (whole log: $cache/prebuild-$arch.log)"
    exit 1
  }
  mkdir -p "prebuilds/linux-$arch"
  chroot "$root" "$triplet-strip" -o "/build/$arch/stripped.node" "/build/$arch/build/Release/memcached.node"
  mv "$work/stripped.node" "prebuilds/linux-$arch/libmemcached.glibc.node"
  say "prebuilds/linux-$arch/libmemcached.glibc.node ($(stat -c %s "prebuilds/linux-$arch/libmemcached.glibc.node") bytes)"
done

# A release must not ship a prebuild that asks more of the machine than the floor.
files=()
for arch in "${archs[@]}"; do files+=("prebuilds/linux-$arch/libmemcached.glibc.node"); done
node test/platforms/binary-floor.js "${files[@]}"
