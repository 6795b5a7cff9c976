#!/usr/bin/env bash
# Obtains the libmemcached 1.1.4 source, verifies it, and builds static, position-independent
# Release archives of libmemcached, libhashkit and libmemcachedutil for the addon to link.
#
#   deps/libmemcached.sh build      build (or reuse) and print nothing but errors
#   deps/libmemcached.sh prefix     print the install prefix (include/ and lib/ below it)
#   deps/libmemcached.sh fetch      only obtain and verify the source tarball
#
# Why static and Release: Debian's shared libmemcached keeps its assertions, so misuse
# (an unknown behavior, a protocol desync) calls abort() and takes the Node process down.
# A -DNDEBUG build returns an error code instead.
#
# Where the source comes from, first match wins:
#   1. $LIBMEMCACHED_TARBALL, a path to libmemcached_1.1.4.orig.tar.gz (any distribution)
#   2. the cache, deps/.cache/ (or $LIBMEMCACHED_CACHE_DIR)
#   3. Debian's source package, through `apt-get source` with a private apt configuration in a
#      temporary folder whose deb-src entries are derived from this machine's own apt sources.
# Whatever the origin, the tarball must match the sha256 below.
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
TARBALL=libmemcached_${VERSION}.orig.tar.gz
SHA256=285b21a138fc693ea44b0ea5d050e2d796ca8ee78023724a2bd385f25fbd1da1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${LIBMEMCACHED_CACHE_DIR:-$here/.cache}
src=$cache/libmemcached-$VERSION
build=$cache/build
prefix=$cache/install

# SASL on (mechanisms are plugins loaded by the system libsasl2 at run time, so libsasl2 stays
# dynamic); HSIEH off (its own licence, as in Debian); OpenSSL off (libmemcached bundles the AES
# it needs for its optional encryption); tests, docs, memaslap and dtrace off. The command-line
# tools are never built: only the three library targets are.
CMAKE_OPTIONS=(
  -DCMAKE_BUILD_TYPE=Release
  -DBUILD_SHARED_LIBS=OFF
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON
  -DENABLE_SASL=ON
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

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$SHA256" ]; }

# Turns every `deb` entry of this machine's apt sources into a `deb-src` entry, in deb822 form.
# Both one-line (.list) and deb822 (.sources) files are read; no host is written anywhere but
# into the temporary folder.
derive_deb_src() {
  local out=$1 f
  : > "$out"
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -nE 's/^[[:space:]]*deb([[:space:]]+\[[^]]*\])?[[:space:]]+/deb-src\1 /p' "$f" \
      >> "${out%.sources}.list"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822 stanzas are separated by blank lines; keep those whose Types include `deb`.
    awk 'BEGIN { RS = ""; ORS = "\n\n" }
         /(^|\n)Types:[^\n]*(^|[[:space:]])deb([[:space:]]|$)/ {
           sub(/Types:[^\n]*/, "Types: deb-src"); print }' "$f" >> "$out"
  done
}

fetch_from_apt() {
  command -v apt-get > /dev/null || return 1
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  mkdir -p "$tmp/lists/partial" "$tmp/parts" "$tmp/cache/archives/partial" "$tmp/dl"
  derive_deb_src "$tmp/parts/src.sources"
  [ -s "$tmp/parts/src.sources" ] || [ -s "$tmp/parts/src.list" ] || return 1
  local opts=(
    -o "Dir::Etc::SourceList=/dev/null"
    -o "Dir::Etc::SourceParts=$tmp/parts"
    -o "Dir::State::Lists=$tmp/lists"
    -o "Dir::Cache=$tmp/cache"
    -o "APT::Sandbox::User=root"
    -q
  )
  log "fetching the Debian source package of libmemcached $VERSION"
  apt-get "${opts[@]}" update > "$tmp/update.log" 2>&1 || { cat "$tmp/update.log" >&2; return 1; }
  # --tar-only: the upstream tarball is all we use (Debian's orig is pristine upstream).
  # The checksum, not apt, pins the version: a newer Debian revision fails verification loudly.
  (cd "$tmp/dl" && apt-get "${opts[@]}" source --download-only --tar-only libmemcached \
      > "$tmp/source.log" 2>&1) || true
  if [ -f "$tmp/dl/$TARBALL" ]; then
    mv "$tmp/dl/$TARBALL" "$cache/$TARBALL.part"
    return 0
  fi
  cat "$tmp/source.log" >&2
  return 1
}

fetch() {
  mkdir -p "$cache"
  if [ -n "${LIBMEMCACHED_TARBALL:-}" ]; then
    sha_ok "$LIBMEMCACHED_TARBALL" || die "\$LIBMEMCACHED_TARBALL ($LIBMEMCACHED_TARBALL) does not have sha256 $SHA256"
    cp "$LIBMEMCACHED_TARBALL" "$cache/$TARBALL.part"
    mv "$cache/$TARBALL.part" "$cache/$TARBALL"
    return
  fi
  sha_ok "$cache/$TARBALL" && return
  rm -f "$cache/$TARBALL" "$cache/$TARBALL.part"
  fetch_from_apt || die "could not obtain $TARBALL. On Debian/Ubuntu, apt-get must reach the \
distribution's mirror; elsewhere, download libmemcached $VERSION and set LIBMEMCACHED_TARBALL to it, \
or link a system libmemcached >= $VERSION with LIBMEMCACHED_LINKAGE=system."
  sha_ok "$cache/$TARBALL.part" || { rm -f "$cache/$TARBALL.part"; die "$TARBALL failed sha256 verification"; }
  mv "$cache/$TARBALL.part" "$cache/$TARBALL"
}

require_tools() {
  local missing=() t
  for t in cmake bison flex patch make c++; do command -v "$t" > /dev/null || missing+=("$t"); done
  [ -f /usr/include/sasl/sasl.h ] || missing+=("sasl/sasl.h")
  [ ${#missing[@]} -eq 0 ] && return
  die "missing build tools: ${missing[*]}. On Debian/Ubuntu: apt-get install -y cmake bison flex patch make g++ libsasl2-dev"
}

patches_text() {
  local p
  for p in "${PATCHES[@]}"; do [ -f "$p" ] && printf '%s %s\n' "$(basename "$p")" "$(sha256sum "$p" | cut -d' ' -f1)"; done
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
  printf '%s\n' "$VERSION" "$SHA256" "${CMAKE_OPTIONS[@]}" "$(c++ --version | head -1)"
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
  built && return
  fetch
  # The marker records the patches applied: a changed patch means a fresh extraction.
  if [ ! -f "$src/.extracted" ] || [ "$(cat "$src/.extracted")" != "$(patches_text)" ]; then
    rm -rf "$src"
    tar -xzf "$cache/$TARBALL" -C "$cache"
    local p
    for p in "${PATCHES[@]}"; do
      [ -f "$p" ] || continue
      patch -d "$src" -p1 --forward --quiet < "$p" || die "patch $(basename "$p") does not apply"
    done
    patches_text > "$src/.extracted"
  fi
  log "building static libmemcached $VERSION (Release, PIC, SASL)"
  # A build tree configured for another source folder (a checkout or cache that was moved or
  # copied) makes cmake refuse to configure: it is started afresh instead.
  if [ -f "$build/CMakeCache.txt" ] && ! grep -qxF "CMAKE_HOME_DIRECTORY:INTERNAL=$src" "$build/CMakeCache.txt"; then
    rm -rf "$build"
  fi
  local jobs
  jobs=$(getconf _NPROCESSORS_ONLN 2> /dev/null || echo 2)
  # The environment's flags are given explicitly, not left to cmake, which reads CFLAGS and
  # friends only when it first configures a build tree and would then keep stale ones; and
  # after the Release flags, which CMake puts last. Empty, these equal cmake's defaults.
  local flags=(
    -DCMAKE_C_FLAGS= -DCMAKE_CXX_FLAGS=
    -DCMAKE_C_FLAGS_RELEASE="-O3 -DNDEBUG${CFLAGS:+ $CFLAGS}"
    -DCMAKE_CXX_FLAGS_RELEASE="-O3 -DNDEBUG${CXXFLAGS:+ $CXXFLAGS}"
    -DCMAKE_EXE_LINKER_FLAGS="${LDFLAGS:-}"
  )
  cmake -S "$src" -B "$build" "${CMAKE_OPTIONS[@]}" "${flags[@]}" -DCMAKE_INSTALL_PREFIX="$prefix" > "$cache/cmake.log" 2>&1 \
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
  stamp_text > "$prefix/.stamp"
}

case "${1:-build}" in
  build) do_build ;;
  fetch) fetch ;;
  prefix) echo "$prefix" ;;
  *) die "usage: $0 build|fetch|prefix" ;;
esac
