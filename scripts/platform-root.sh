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
  *) echo "platform-root: unknown flavour $flavour (minbase|build|arm64)" >&2; exit 1 ;;
esac

# What the root is made of; a cached root made by another recipe is made again.
recipe="$suite $flavour ${include[*]} recipe-2"
if [ -x "$root/bin/sh" ] && [ -f "$root/.complete" ] && [ "$(cat "$root/.complete")" = "$recipe" ]; then
  echo "$root"
  exit 0
fi

# The first Debian archive among the apt sources, in either format (one-line, with or without
# [options], or deb822), following apt's mirror+file: lists (Debian's cloud images use one).
# LIBMEMCACHED_DEBIAN_MIRROR overrides it, e.g. with Debian's archive of old releases once a suite has left
# the mirrors.
mirror_from_sources() {
  local uri listed
  for uri in $(
    { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2> /dev/null || true; } |
      sed -nE 's/^[[:space:]]*deb([[:space:]]+\[[^]]*\])?[[:space:]]+([^[:space:]]+).*/\2/p'
    { cat /etc/apt/sources.list.d/*.sources 2> /dev/null || true; } |
      awk '$1 == "URIs:" { for (i = 2; i <= NF; i++) print $i }'
  ); do
    case "$uri" in
      mirror+file://*)
        listed=$(awk '$1 ~ /^[a-z]+:\/\// { print $1; exit }' "${uri#mirror+file://}" 2> /dev/null || true)
        uri=${listed:-$uri}
        ;;
    esac
    case "$uri" in */debian | */debian/) echo "$uri"; return ;; esac
  done
}
mirror=${LIBMEMCACHED_DEBIAN_MIRROR:-$(mirror_from_sources)}
[ -n "$mirror" ] || { echo "platform-root: no Debian archive among this machine's apt sources; set LIBMEMCACHED_DEBIAN_MIRROR" >&2; exit 1; }
command -v debootstrap > /dev/null || { echo "platform-root: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }

mkdir -p "$cache"
rm -rf --one-file-system "$root"
echo "platform-root: debootstrap --variant=minbase ${include[*]} $suite from $mirror" >&2
debootstrap --variant=minbase "${include[@]}" "$suite" "$root" "$mirror" > "$cache/$suite-$flavour.log" 2>&1 || {
  tail -20 "$cache/$suite-$flavour.log" >&2
  # Exit status 3: the mirror does not serve the suite (callers may treat that apart).
  if grep -q "Failed getting release file" "$cache/$suite-$flavour.log"; then
    echo "platform-root: $mirror does not serve $suite (set LIBMEMCACHED_DEBIAN_MIRROR to a mirror that does)" >&2
    exit 3
  fi
  exit 1
}
if [ "$flavour" = build ]; then
  # libsasl2-dev is not co-installable across architectures (installing the arm64 one removes
  # the amd64 one), so arm64 gets the library and the link-time name the -dev package would
  # add. Check-Valid-Until off: an archived suite's Release file has expired on purpose.
  chroot "$root" /bin/sh -c 'dpkg --add-architecture arm64 && apt-get -o Acquire::Check-Valid-Until=false update -q &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends libsasl2-2:arm64 &&
    ln -sf libsasl2.so.2 /usr/lib/aarch64-linux-gnu/libsasl2.so &&
    test -e /usr/lib/x86_64-linux-gnu/libsasl2.so' \
    >> "$cache/$suite-$flavour.log" 2>&1 || { tail -20 "$cache/$suite-$flavour.log" >&2; exit 1; }
fi
echo "$recipe" > "$root/.complete"
echo "$root"
