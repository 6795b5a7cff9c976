#!/usr/bin/env bash
# Makes (once) and prints the path of a Debian root for the platform tests and the prebuilds.
# Roots are cached outside the repository ($LIBMEMCACHED_ROOTS, default
# /var/cache/libmemcached-roots) and reused; the mirror is the one this machine's apt sources
# name, read at run time, never written down here.
#
#   scripts/platform-root.sh SUITE minbase   what the node:*-slim images are:
#                                            `debootstrap --variant=minbase SUITE`
#   scripts/platform-root.sh SUITE build     minbase plus the toolchains scripts/prebuild.sh
#                                            builds with (native and aarch64 cross)
#   scripts/platform-root.sh SUITE arm64     a minbase root of Debian's arm64 packages, for
#                                            programs run by qemu-aarch64 -L ROOT; unpacked only
#                                            (debootstrap's first stage: configuring would
#                                            need the arm64 programs to run in a chroot)
set -euo pipefail

suite=${1:?usage: platform-root.sh SUITE [minbase|build|arm64]}
flavour=${2:-minbase}
cache=${LIBMEMCACHED_ROOTS:-/var/cache/libmemcached-roots}
root=$cache/$suite-$flavour
case "$flavour" in
  minbase) include=() ;;
  arm64) include=(--arch=arm64 --foreign) ;;
  # The addon's build needs (python3 for node-gyp), libsasl2's headers only (it is opened at run
  # time), and Debian's cross toolchain for linux-arm64 with its own glibc of the same suite; the
  # arm64 libsasl2-dev is added below (multiarch), since libmemcached's cmake looks for the
  # library of the target architecture before it enables SASL.
  build) include=(--include=g++,make,python3,cmake,bison,flex,patch,libsasl2-dev,binutils,g++-aarch64-linux-gnu,libc6-dev-arm64-cross) ;;
  *) echo "platform-root: unknown flavour $flavour (minbase|build)" >&2; exit 1 ;;
esac

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
echo "platform-root: debootstrap --variant=minbase ${include[*]} $suite from $mirror" >&2
debootstrap --variant=minbase "${include[@]}" "$suite" "$root" "$mirror" > "$cache/$suite-$flavour.log" 2>&1 || {
  tail -20 "$cache/$suite-$flavour.log" >&2
  exit 1
}
if [ "$flavour" = build ]; then
  chroot "$root" /bin/sh -c 'dpkg --add-architecture arm64 && apt-get update -q &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends libsasl2-dev:arm64' \
    >> "$cache/$suite-$flavour.log" 2>&1 || { tail -20 "$cache/$suite-$flavour.log" >&2; exit 1; }
fi
touch "$root/.complete"
echo "$root"
