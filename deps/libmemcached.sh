#!/usr/bin/env bash
# Obtains the libmemcached 1.1.4 source, verifies it, and builds static, position-independent
# Release archives of libmemcached, libhashkit and libmemcachedutil for the addon to link.
#
#   deps/libmemcached.sh build [DIR] build (or reuse) and print nothing but errors; DIR holds the
#                                   OpenSSL headers for TLS (openssl/ssl.h): Node's, which
#                                   deps/libmemcached.gyp passes (<nodedir>/include/node)
#   deps/libmemcached.sh prefix     print the install prefix (include/ and lib/ below it)
#   deps/libmemcached.sh fetch      only verify the source tarball and copy it into the cache
#
# Why static and Release: Debian's shared libmemcached keeps its assertions, so misuse
# (an unknown behavior, a protocol desync) calls abort() and takes the Node process down.
# A -DNDEBUG build returns an error code instead.
#
# The source is the libmemcached 1.1.4 release tarball that ships inside this package
# (deps/libmemcached-1.1.4.tar.gz, the same bytes as Debian's libmemcached_1.1.4.orig.tar.gz),
# so a build needs no package manager and no download. $LIBMEMCACHED_TARBALL names another copy.
# Either way the tarball must match the sha256 below.
#
# Tools: a C/C++ compiler, make, cmake, bison, flex and patch. SASL is built in when Cyrus SASL's
# headers (sasl/sasl.h) are found, and left out, with a line saying so, when they are not
# (LIBMEMCACHED_SASL=off leaves it out on purpose, =on makes missing headers an error).
# CC and CXX choose the compilers. LIBMEMCACHED_CROSS=<cpu> (e.g. aarch64) makes it a cross
# build for Linux on that CPU, with CC and CXX naming the cross compilers, as scripts/prebuild.sh
# does for linux-arm64. LIBMEMCACHED_JOBS sets the parallel jobs (default: the CPUs online).
#
# A second run reuses the cached tarball, the cmake build tree and the installed archives:
# the archives are rebuilt only when the stamp (version, checksum, options, patches, and the
# CFLAGS/CXXFLAGS/LDFLAGS of the environment when set) changes.
#
# CFLAGS and CXXFLAGS go on the compile line after the Release flags (so an -O level given
# there wins), LDFLAGS on the link line of cmake's checks; scripts/test-sanitize.sh builds a
# sanitizer copy that way, into its own LIBMEMCACHED_CACHE_DIR. Unset, nothing changes.
set -euo pipefail

VERSION=1.1.4
TARBALL=libmemcached-${VERSION}.tar.gz
SHA256=285b21a138fc693ea44b0ea5d050e2d796ca8ee78023724a2bd385f25fbd1da1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${LIBMEMCACHED_CACHE_DIR:-$here/.cache}
src=$cache/libmemcached-$VERSION
build=$cache/build
prefix=$cache/install

# SASL on when its headers are there (libsasl2 itself is opened at run time by the addon,
# src/core/sasl_loader.cc, and its mechanisms are plugins it loads); HSIEH off (its own licence, as in Debian); OpenSSL off (libmemcached bundles the AES
# it needs for its optional encryption); tests, docs, memaslap and dtrace off. The command-line
# tools are never built: only the three library targets are.
CMAKE_OPTIONS=(
  -DCMAKE_BUILD_TYPE=Release
  -DBUILD_SHARED_LIBS=OFF
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON
  -DENABLE_HASH_HSIEH=OFF
  -DENABLE_HASH_FNV64=ON
  -DENABLE_HASH_MURMUR=ON
  -DENABLE_OPENSSL_CRYPTO=OFF
  -DENABLE_MEMASLAP=OFF
  -DENABLE_DTRACE=OFF
  -DBUILD_TESTING=OFF
  -DBUILD_DOCS=OFF
  -DBUILD_DOCS_HTML=OFF
  -DBUILD_DOCS_MAN=OFF
)
ARCHIVES=(libmemcachedutil libmemcached libhashkit)
# Changes of our own to libmemcached's source, applied in order after extraction (each one says
# why at the top of the hunk it changes).
PATCHES=("$here"/patches/*.patch)

log() { printf 'libmemcached deps: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# sha256sum (GNU) or shasum (macOS, whose /bin/bash 3.2 this script also keeps to).
sha256_of() { if command -v sha256sum > /dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d' ' -f1; }
sha_ok() { [ -f "$1" ] && [ "$(sha256_of "$1")" = "$SHA256" ]; }

fetch() {
  mkdir -p "$cache"
  local from=${LIBMEMCACHED_TARBALL:-$here/$TARBALL}
  sha_ok "$cache/$TARBALL" && [ -z "${LIBMEMCACHED_TARBALL:-}" ] && return
  [ -f "$from" ] || die "$from is missing: the package's copy of the libmemcached $VERSION source. \
Reinstall the package, or set LIBMEMCACHED_TARBALL to libmemcached-$VERSION.tar.gz \
(https://github.com/awesomized/libmemcached/releases)."
  sha_ok "$from" || die "$from does not have sha256 $SHA256"
  cp "$from" "$cache/$TARBALL.part"
  mv "$cache/$TARBALL.part" "$cache/$TARBALL"
}

# What to install for a missing tool, per system (one table, in install-help.js).
install_hint() { node "$here/install-help.js" tools || true; }

cxx() { echo "${CXX:-c++}"; }

require_tools() {
  local missing=() t
  for t in cmake bison flex patch make "$(cxx)" "${CC:-cc}"; do command -v "$t" > /dev/null || missing+=("$t"); done
  [ ${#missing[@]} -eq 0 ] && return
  log "error: cannot build libmemcached $VERSION from source: missing ${missing[*]}. Install:"
  install_hint
  exit 1
}

# Whether the compiler finds Cyrus SASL's header (CXXFLAGS may add -I folders).
have_sasl_headers() {
  # shellcheck disable=SC2086
  echo '#include <sasl/sasl.h>' | "$(cxx)" ${CXXFLAGS:-} -x c++ -E - > /dev/null 2>&1
}

# The SASL choice: on with headers, off without (said out loud by do_build).
sasl_option() {
  case "${LIBMEMCACHED_SASL:-auto}" in
    off) echo OFF ;;
    on) have_sasl_headers || die "LIBMEMCACHED_SASL=on but sasl/sasl.h is not found"; echo ON ;;
    auto) if have_sasl_headers; then echo ON; else echo OFF; fi ;;
    *) die "LIBMEMCACHED_SASL must be auto, on or off" ;;
  esac
}

# A cross build is asked for, never guessed: compilers' target names and `uname -m` differ
# in spelling on many native systems (armv7l against arm-linux-gnueabihf).
cross_options() {
  [ -n "${LIBMEMCACHED_CROSS:-}" ] || return 0
  printf '%s\n' -DCMAKE_SYSTEM_NAME=Linux "-DCMAKE_SYSTEM_PROCESSOR=$LIBMEMCACHED_CROSS" \
    "-DCMAKE_C_COMPILER=${CC:?LIBMEMCACHED_CROSS needs CC to name the C cross compiler}" \
    "-DCMAKE_CXX_COMPILER=${CXX:?LIBMEMCACHED_CROSS needs CXX to name the C++ cross compiler}"
}

patches_text() {
  local p
  for p in "${PATCHES[@]}"; do [ -f "$p" ] && printf '%s %s\n' "$(basename "$p")" "$(sha256_of "$p")"; done
  return 0
}

# The compiler and linker flags taken from the environment, one line each that is set (none for
# the normal build, whose stamp thus stays what it was).
flags_text() {
  local v
  for v in CFLAGS CXXFLAGS LDFLAGS; do [ -z "${!v:-}" ] || printf '%s=%s\n' "$v" "${!v}"; done
  return 0
}

stamp_text() {
  printf '%s\n' "$VERSION" "$SHA256" "${CMAKE_OPTIONS[@]}" "SASL=$SASL" "OPENSSL=$OPENSSL_INCLUDE" "$(cxx): $("$(cxx)" --version | head -1)"
  patches_text
  flags_text
}

built() {
  local a
  [ -f "$prefix/.stamp" ] && [ "$(cat "$prefix/.stamp")" = "$(stamp_text)" ] || return 1
  for a in "${ARCHIVES[@]}"; do [ -f "$prefix/lib/$a.a" ] || return 1; done
  [ -f "$prefix/include/libmemcached-1.0/configure.h" ]
}

do_build() {
  require_tools
  SASL=$(sasl_option)
  # TLS is built with the OpenSSL headers of the Node.js the addon is for (Node's official
  # headers carry them); without them there is no TLS build at all.
  OPENSSL_INCLUDE=${1:-${LIBMEMCACHED_OPENSSL_INCLUDE:-}}
  if [ -z "$OPENSSL_INCLUDE" ] || [ ! -f "$OPENSSL_INCLUDE/openssl/ssl.h" ]; then
    die "OpenSSL's headers are not in ${OPENSSL_INCLUDE:-(no folder given)}: build through node-gyp, which passes Node's headers (they include OpenSSL's), or set LIBMEMCACHED_OPENSSL_INCLUDE to a folder holding openssl/ssl.h"
  fi
  built && return
  fetch
  # The marker records the patches applied: a changed patch means a fresh extraction.
  if [ ! -f "$src/.extracted" ] || [ "$(cat "$src/.extracted")" != "$(patches_text)" ]; then
    # The build tree goes too: files the patches leave alone come out of the tarball with its old
    # times, so make would keep objects compiled against the previous patches' headers.
    rm -rf "$src" "$build"
    tar -xzf "$cache/$TARBALL" -C "$cache"
    local p
    for p in "${PATCHES[@]}"; do
      [ -f "$p" ] || continue
      patch -d "$src" -p1 --forward --quiet < "$p" || die "patch $(basename "$p") does not apply"
    done
    patches_text > "$src/.extracted"
  fi
  if [ "$SASL" = ON ]; then
    log "building static libmemcached $VERSION (Release, PIC, SASL) with $(cxx)"
  else
    log "building static libmemcached $VERSION (Release, PIC) WITHOUT SASL (sasl/sasl.h not found, or LIBMEMCACHED_SASL=off): a client with a username will be refused. For SASL, install Cyrus SASL's headers and rebuild:"
    install_hint
  fi
  # A build tree configured for another source folder (a checkout or cache that was moved or
  # copied) makes cmake refuse to configure: it is started afresh instead.
  if [ -f "$build/CMakeCache.txt" ] && ! grep -qxF "CMAKE_HOME_DIRECTORY:INTERNAL=$src" "$build/CMakeCache.txt"; then
    rm -rf "$build"
  fi
  local jobs
  jobs=${LIBMEMCACHED_JOBS:-$(getconf _NPROCESSORS_ONLN 2> /dev/null || echo 2)}
  # The environment's flags are given explicitly, not left to cmake, which reads CFLAGS and
  # friends only when it first configures a build tree and would then keep stale ones; and
  # after the Release flags, which CMake puts last. Empty, these equal cmake's defaults.
  local flags=(
    -DCMAKE_C_FLAGS= -DCMAKE_CXX_FLAGS=
    -DCMAKE_C_FLAGS_RELEASE="-O3 -DNDEBUG${CFLAGS:+ $CFLAGS}"
    -DCMAKE_CXX_FLAGS_RELEASE="-O3 -DNDEBUG${CXXFLAGS:+ $CXXFLAGS}"
    -DCMAKE_EXE_LINKER_FLAGS="${LDFLAGS:-}"
  )
  local cross=() line text
  text=$(cross_options)
  while IFS= read -r line; do [ -z "$line" ] || cross+=("$line"); done <<< "$text"
  cmake -S "$src" -B "$build" "${CMAKE_OPTIONS[@]}" -DENABLE_SASL="$SASL" -DLIBMEMCACHED_OPENSSL_INCLUDE_DIR="$OPENSSL_INCLUDE" ${cross[@]+"${cross[@]}"} "${flags[@]}" -DCMAKE_INSTALL_PREFIX="$prefix" > "$cache/cmake.log" 2>&1 \
    || { cat "$cache/cmake.log" >&2; die "cmake configure failed"; }
  cmake --build "$build" -j "$jobs" --target "${ARCHIVES[@]}" >> "$cache/cmake.log" 2>&1 \
    || { tail -50 "$cache/cmake.log" >&2; die "cmake build failed"; }
  rm -rf "$prefix"
  # The `dev` component is the public headers (with the generated configure.h); the archives are
  # copied by hand because a full install would demand the tools we did not build.
  cmake --install "$build" --component dev --prefix "$prefix" >> "$cache/cmake.log" 2>&1 \
    || { tail -20 "$cache/cmake.log" >&2; die "installing the headers failed"; }
  mkdir -p "$prefix/lib"
  local a f
  for a in "${ARCHIVES[@]}"; do
    f=$(find "$build/src" -name "$a.a" -print -quit)
    [ -n "$f" ] || die "$a.a was not built"
    cp "$f" "$prefix/lib/"
  done
  # libmemcached's cmake turns SASL off by itself when it cannot find the library of the target
  # architecture: what it decided is in configure.h.
  if [ "$SASL" = ON ] && ! grep -q 'define LIBMEMCACHED_WITH_SASL_SUPPORT 1' "$prefix/include/libmemcached-1.0/configure.h"; then
    [ "${LIBMEMCACHED_SASL:-auto}" != on ] || die "LIBMEMCACHED_SASL=on but libmemcached's cmake found no libsasl2 to build with (cmake.log)"
    log "libmemcached was built WITHOUT SASL: its cmake found sasl/sasl.h but no libsasl2 library (libsasl2-dev)"
  fi
  stamp_text > "$prefix/.stamp"
}

case "${1:-build}" in
  build) do_build "${2:-}" ;;
  fetch) fetch ;;
  prefix) echo "$prefix" ;;
  *) die "usage: $0 build|fetch|prefix" ;;
esac
