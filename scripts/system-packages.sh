#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages that building libmemcached and running the tests need.
# As root it installs what is missing; otherwise it stops at once with the exact command.
set -euo pipefail

PACKAGES=(
  g++ make python3 pkg-config git        # node-gyp and the addon (g++ brings gcc's ASan/UBSan runtimes,
                                          # libasan and libubsan, which npm run test:sanitize uses)
  cmake bison flex patch libsasl2-dev     # building libmemcached 1.1.4 from deps/ (with deps/patches)
  libsasl2-modules sasl2-bin              # SASL mechanisms at run time; saslpasswd2 for the SASL tests
  memcached                               # the servers the tests and the demo start
  libssl-dev libevent-dev xz-utils        # scripts/lib/memcached-tls.sh builds a memcached >= 1.6.39 with TLS
                                          # for the TLS tests (Debian 12's 1.6.18 hangs pipelined TLS sets)
  python3-pylibmc                         # the real pylibmc, for the interop tests
  libmemcached-dev                        # scripts/test-platforms.sh: a LIBMEMCACHED_LINKAGE=system build
  binutils                                # strip (prebuildify), nm and readelf (tests)
  debootstrap qemu-user                   # scripts/test-platforms.sh: Debian roots, arm64 under qemu
)

if ! command -v dpkg-query > /dev/null; then
  echo "setup: not a Debian/Ubuntu system; install the equivalents of: ${PACKAGES[*]}" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing system packages. Run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
