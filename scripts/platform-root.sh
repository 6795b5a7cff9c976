#!/usr/bin/env bash
# Makes (once) and prints the path of a minimal Debian root for the platform tests: what the
# node:*-slim images are, `debootstrap --variant=minbase <suite>`. Roots are cached outside the
# repository ($LIBMEMCACHED_ROOTS, default /var/cache/libmemcached-roots) and reused; the mirror
# is the one this machine's apt sources name, read at run time, never written down here.
#
#   scripts/platform-root.sh bookworm|bullseye
set -euo pipefail

suite=${1:?usage: platform-root.sh SUITE}
cache=${LIBMEMCACHED_ROOTS:-/var/cache/libmemcached-roots}
root=$cache/$suite-minbase

if [ -x "$root/bin/sh" ] && [ -f "$root/.complete" ]; then
  echo "$root"
  exit 0
fi

# The first Debian archive among the apt sources, in either format (one-line or deb822).
mirror=$(
  {
    cat /etc/apt/sources.list 2> /dev/null || true
    cat /etc/apt/sources.list.d/*.list 2> /dev/null || true
  } | awk '$1 == "deb" && $2 ~ /debian\/?$/ { print $2; exit }'
)
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list.d/*.sources 2> /dev/null | awk '$1 == "URIs:" && $2 ~ /debian\/?$/ { print $2; exit }' || true)
fi
[ -n "$mirror" ] || { echo "platform-root: no Debian archive among this machine's apt sources" >&2; exit 1; }
command -v debootstrap > /dev/null || { echo "platform-root: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }

mkdir -p "$cache"
rm -rf "$root"
echo "platform-root: debootstrap --variant=minbase $suite from $mirror" >&2
debootstrap --variant=minbase "$suite" "$root" "$mirror" > "$cache/$suite-minbase.log" 2>&1 || {
  tail -20 "$cache/$suite-minbase.log" >&2
  exit 1
}
touch "$root/.complete"
echo "$root"
