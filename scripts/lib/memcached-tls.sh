#!/usr/bin/env bash
# Builds (once) and prints the path of a memcached with TLS for the TLS tests
# (test/harness/tls.ts, docs/testing-tls.md).
#
# Why not Debian 12's own /usr/bin/memcached: it is 1.6.18, and memcached before 1.6.39 can hang a
# TLS connection when pipelined sets span more than one TLS record: the server stops reading the
# rest of the pipeline and the client waits for replies that never come. Upstream fixed it in
# memcached 1.6.39 ("tls: fix potential hang when pipelining sets"). Any client that batches
# writes over TLS meets this, so the tests run a fixed server; the stock one stays installed and
# is what one test uses to show the server's bug (test/integration/tls-server.test.ts). A related
# hang, when memcached yields a connection after -R requests, is still in 1.6.45: the harness
# avoids it with a large -R, not with a patch (docs/testing-tls.md).
#
#   scripts/lib/memcached-tls.sh [build]   build (or reuse) and print the binary's path
#   scripts/lib/memcached-tls.sh fetch     only obtain and verify the source tarball
#   scripts/lib/memcached-tls.sh path      print the binary's path if it is built; fail otherwise
#
# Where the source comes from, first match wins:
#   1. $MEMCACHED_TLS_TARBALL, a path to memcached_$VERSION.orig.tar.xz (Debian's orig tarball)
#   2. the cache, $LIBMEMCACHED_TEST_CACHE/memcached-tls (default /var/cache/libmemcached-test)
#   3. Debian's source package from testing or unstable (trixie, Debian 13, has 1.6.38: too old),
#      through `apt-get source` with a private apt configuration in a temporary folder whose
#      deb-src entries are this machine's own Debian sources with the suite replaced. No mirror
#      is named here: the hosts are read from /etc/apt at run time.
# Whatever the origin, the tarball must match the sha256 below. When Debian has moved past
# $VERSION and no longer serves its tarball, this fails and says which version it serves now:
# update VERSION and SHA256 (the new tarball's sha256 is in `apt-cache showsrc memcached`).
#
# The build is ./configure --enable-tls --enable-sasl (SASL over TLS is tested) against the system's OpenSSL and libevent (libssl-dev,
# libevent-dev, pkg-config: scripts/system-packages.sh). Only the memcached binary is kept; a
# second run reuses it unless the stamp (version, checksum, options, compiler) changed. Runs
# that overlap (two jest workers) wait for each other on a lock in the cache.
set -euo pipefail

VERSION=1.6.45
TARBALL=memcached_${VERSION}.orig.tar.xz
SHA256=c383a2ad8f973b627c3de472702f46ee33b402750de4fd2d25cef65a00140110
# The Debian suites searched for the tarball.
SUITES=(testing unstable)
CONFIGURE_OPTIONS=(--enable-tls --enable-sasl --disable-docs --disable-coverage --disable-dependency-tracking)

cache=${LIBMEMCACHED_TEST_CACHE:-/var/cache/libmemcached-test}/memcached-tls
prefix=$cache/memcached-$VERSION-tls
binary=$prefix/bin/memcached

log() { printf 'memcached-tls: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$SHA256" ]; }

# Turns every `deb` entry of this machine's apt sources for a Debian release (a suite without a
# dash: not -updates, -security or -backports) into `deb-src` entries for $SUITES, in the same
# format. Both one-line (.list) and deb822 (.sources) files are read; the result goes only into
# the temporary folder.
derive_deb_src() {
  local out=$1 f
  : > "$out.sources"
  : > "$out.list"
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # deb [options] URI SUITE COMPONENTS...
    awk -v suites="${SUITES[*]}" '
      $1 == "deb" {
        i = 2; opts = ""
        if ($i ~ /^\[/) { while ($i !~ /\]$/) { opts = opts " " $i; i++ } opts = opts " " $i; i++ }
        uri = $i; suite = $(i + 1)
        if (suite ~ /-/) next
        n = split(suites, s, " ")
        for (k = 1; k <= n; k++) print "deb-src" opts " " uri " " s[k] " main"
      }' "$f" >> "$out.list"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822 stanzas are separated by blank lines; keep those whose Types include `deb` and whose
    # Suites include a release (not only -updates/-security), with $SUITES as the suites.
    awk -v suites="${SUITES[*]}" 'BEGIN { RS = ""; ORS = "\n\n" }
      /(^|\n)Types:[^\n]*(^|[[:space:]])deb([[:space:]]|$)/ {
        if (!match($0, /(^|\n)Suites:[^\n]*/)) next
        line = substr($0, RSTART, RLENGTH); sub(/^\n/, "", line); sub(/^Suites:/, "", line)
        n = split(line, have, /[[:space:]]+/); release = 0
        for (k = 1; k <= n; k++) if (have[k] != "" && have[k] !~ /-/) release = 1
        if (!release) next
        sub(/Types:[^\n]*/, "Types: deb-src")
        sub(/Suites:[^\n]*/, "Suites: " suites)
        sub(/Components:[^\n]*/, "Components: main")
        print }' "$f" >> "$out.sources"
  done
}

fetch_from_apt() {
  command -v apt-get > /dev/null || {
    log "apt-get not found"
    return 1
  }
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  mkdir -p "$tmp/lists/partial" "$tmp/parts" "$tmp/cache/archives/partial" "$tmp/dl"
  derive_deb_src "$tmp/parts/src"
  [ -s "$tmp/parts/src.sources" ] || [ -s "$tmp/parts/src.list" ] || {
    log "no Debian release among this machine's apt sources to derive deb-src entries from"
    return 1
  }
  local opts=(
    -o "Dir::Etc::SourceList=/dev/null"
    -o "Dir::Etc::SourceParts=$tmp/parts"
    -o "Dir::State::Lists=$tmp/lists"
    -o "Dir::Cache=$tmp/cache"
    -o "APT::Sandbox::User=root"
    -o "Acquire::Languages=none"
    -q
  )
  log "looking for $TARBALL in Debian ${SUITES[*]} (source indexes, about 25 MB)"
  apt-get "${opts[@]}" update > "$tmp/update.log" 2>&1 || {
    cat "$tmp/update.log" >&2
    log "apt-get update failed with the derived deb-src entries (above)"
    return 1
  }
  # The Debian revision that ships this orig tarball (any revision of $VERSION will do: the
  # checksum pins the tarball itself).
  local showsrc revision
  showsrc=$(apt-cache "${opts[@]}" showsrc memcached 2> /dev/null || true)
  revision=$(printf '%s\n' "$showsrc" | awk -v tarball="$TARBALL" 'BEGIN { RS = "" }
    index($0, " " tarball "\n") || index($0, " " tarball "\r") {
      if (match($0, /(^|\n)Version: [^\n]*/)) { v = substr($0, RSTART, RLENGTH); sub(/^\n?Version: /, "", v); print v; exit } }')
  if [ -z "$revision" ]; then
    local served
    served=$(printf '%s\n' "$showsrc" | sed -n 's/^Version: //p' | sort -uV | paste -sd ' ')
    log "Debian ${SUITES[*]} no longer serve $TARBALL; they serve memcached ${served:-nothing}."
    log "Update VERSION and SHA256 in ${BASH_SOURCE[0]} to one of them (>= 1.6.39), or set MEMCACHED_TLS_TARBALL."
    return 1
  fi
  log "downloading the orig tarball of Debian's memcached $revision"
  (cd "$tmp/dl" && apt-get "${opts[@]}" source --download-only --tar-only "memcached=$revision" \
    > "$tmp/source.log" 2>&1) || true
  if [ -f "$tmp/dl/$TARBALL" ]; then
    mv "$tmp/dl/$TARBALL" "$cache/$TARBALL.part"
    return 0
  fi
  cat "$tmp/source.log" >&2
  return 1
}

fetch() {
  if [ -n "${MEMCACHED_TLS_TARBALL:-}" ]; then
    sha_ok "$MEMCACHED_TLS_TARBALL" || die "\$MEMCACHED_TLS_TARBALL ($MEMCACHED_TLS_TARBALL) does not have sha256 $SHA256"
    cp "$MEMCACHED_TLS_TARBALL" "$cache/$TARBALL.part"
    mv "$cache/$TARBALL.part" "$cache/$TARBALL"
    return
  fi
  sha_ok "$cache/$TARBALL" && return
  rm -f "$cache/$TARBALL" "$cache/$TARBALL.part"
  fetch_from_apt || die "could not obtain $TARBALL. apt-get must reach the Debian mirror named by \
this machine's apt sources; elsewhere, get Debian's memcached_$VERSION.orig.tar.xz and set MEMCACHED_TLS_TARBALL to it."
  sha_ok "$cache/$TARBALL.part" || {
    rm -f "$cache/$TARBALL.part"
    die "$TARBALL failed sha256 verification (expected $SHA256)"
  }
  mv "$cache/$TARBALL.part" "$cache/$TARBALL"
}

require_tools() {
  local missing=() t
  for t in cc make pkg-config tar xz; do command -v "$t" > /dev/null || missing+=("$t"); done
  if command -v pkg-config > /dev/null; then
    pkg-config --exists libssl || missing+=("libssl (OpenSSL headers)")
    pkg-config --exists libevent || missing+=("libevent (headers)")
  fi
  [ ${#missing[@]} -eq 0 ] && return
  die "missing to build memcached with TLS: ${missing[*]}. On Debian/Ubuntu: \
apt-get install -y gcc make pkg-config xz-utils libssl-dev libevent-dev (or: bash scripts/system-packages.sh)"
}

stamp_text() {
  printf '%s\n' "$VERSION" "$SHA256" "${CONFIGURE_OPTIONS[@]}" "$(cc --version | head -1)" "recipe-1"
}

built() {
  [ -x "$binary" ] && [ -f "$prefix/.stamp" ] && [ "$(cat "$prefix/.stamp")" = "$(stamp_text)" ]
}

do_build() {
  require_tools
  built && return
  fetch
  local work jobs
  work=$(mktemp -d "$cache/build.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" EXIT
  tar -xJf "$cache/$TARBALL" -C "$work"
  local src=$work/memcached-$VERSION
  [ -f "$src/configure" ] || die "$TARBALL has no memcached-$VERSION/configure"
  jobs=$(getconf _NPROCESSORS_ONLN 2> /dev/null || echo 2)
  log "building memcached $VERSION with TLS (once; cached in $cache)"
  (cd "$src" && ./configure "${CONFIGURE_OPTIONS[@]}" > "$cache/configure.log" 2>&1) \
    || {
      tail -40 "$cache/configure.log" >&2
      die "memcached's ./configure failed (above)"
    }
  (cd "$src" && make -j "$jobs" memcached > "$cache/make.log" 2>&1) \
    || {
      tail -40 "$cache/make.log" >&2
      die "building memcached failed (above)"
    }
  local help
  help=$("$src/memcached" -h 2> /dev/null || true)
  [[ $help == *--enable-ssl* ]] || die "the memcached just built has no TLS (-Z): see $cache/configure.log"
  rm -rf "$prefix"
  mkdir -p "$prefix/bin"
  cp "$src/memcached" "$binary.part"
  chmod 755 "$prefix" "$prefix/bin" "$binary.part"
  mv "$binary.part" "$binary"
  stamp_text > "$prefix/.stamp"
}

prepare_cache() {
  mkdir -p "$cache" 2> /dev/null || die "cannot create $cache: set LIBMEMCACHED_TEST_CACHE to a writable folder"
  [ -w "$cache" ] || die "$cache is not writable: set LIBMEMCACHED_TEST_CACHE to a writable folder"
  # As root, memcached drops to `nobody`; the binary's folders must stay reachable.
  chmod 755 "$cache" 2> /dev/null || true
}

# Runs "$@" holding the cache's lock (a second build waits for the first, then reuses it).
locked() {
  exec 9> "$cache/.lock"
  flock 9
  "$@"
}

case "${1:-build}" in
  build)
    prepare_cache
    locked do_build
    "$binary" -V > /dev/null 2>&1 || die "$binary does not run"
    echo "$binary"
    ;;
  fetch)
    prepare_cache
    locked fetch
    ;;
  path)
    built || die "memcached $VERSION with TLS is not built: run $0 build"
    echo "$binary"
    ;;
  *) die "usage: $0 [build|fetch|path]" ;;
esac
