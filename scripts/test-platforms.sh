#!/usr/bin/env bash
# The package as users get it, on the machines they deploy to (docs/installing.md). In order:
#   1. the prebuilds, made as for a release (scripts/prebuild.sh: linux-x64 and linux-arm64),
#      their glibc/libstdc++ floor (test/platforms/binary-floor.js), and the x64 one in the
#      operation and transport tests;
#   2. the packed tarball (both prebuilds, the libmemcached source) and its size;
#   3. the tarball installed by npm into a fresh project on a PATH with no compiler;
#   4. that project run (test/platforms/smoke.js: set/get/getMulti against a real memcached on
#      the loopback, and SASL refused or working as the machine allows) in
#        - a Debian 12 minbase root (what node:*-slim images are: no libsasl2, no compiler),
#        - a Debian 11 minbase root (glibc 2.31), when the mirror still serves Debian 11,
#        - a Debian 12 arm64 root, with an arm64 Node from the npm registry under qemu-aarch64;
#   5. the tarball installed with --build-from-source, apt-get and dpkg hidden, and set/get;
#      again without SASL; linked to the system's libmemcached (no TLS, refused with the reason);
#      and without cmake, refused with what to install.
# Needs root (chroot), debootstrap and qemu-user; roots are made once and cached outside the
# repository (scripts/platform-root.sh, $LIBMEMCACHED_ROOTS).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { echo "test-platforms: $*" >&2; }
. scripts/lib/node-binary.sh

[ "$(id -u)" = 0 ] || { say "needs root (chroot)"; exit 1; }
[ -f dist/index.js ] || { say "build first (npm run build)"; exit 1; }
command -v qemu-aarch64 > /dev/null || { say "qemu-aarch64 is missing (apt-get install qemu-user)"; exit 1; }
cache=${LIBMEMCACHED_ROOTS:-/var/cache/libmemcached-roots}
export LIBMEMCACHED_ROOTS=$cache
started=$SECONDS
failed=()
fail() { say "FAILED: $*"; failed+=("$1"); }

# 1. The prebuilds and their floor (prebuild.sh fails on a prebuild above it); the x64 one also
# runs the operation and transport tests here, SASL authentication included (this machine has
# libsasl2), as the tests' addon.
bash scripts/prebuild.sh x64 arm64
LIBMEMCACHED_ADDON=$PWD/prebuilds/linux-x64/libmemcached.glibc.node node node_modules/jest/bin/jest.js \
  --selectProjects integration --testPathPatterns 'test/integration/(operations|transports)' > "$cache/prebuild-tests.log" 2>&1 &&
  say "the x64 prebuild: $(grep -E '^Tests:' "$cache/prebuild-tests.log" | tail -1)" || {
  tail -40 "$cache/prebuild-tests.log" >&2
  fail "the x64 prebuild in the operation and transport tests"
}

# 2. The tarball.
work=$(mktemp -d)
cleanup() {
  for pid in "$work"/memcached*.pid; do [ -f "$pid" ] && kill "$(cat "$pid")" 2> /dev/null; done
  [ -z "${certs:-}" ] || rm -rf "$(node -p 'JSON.parse(process.argv[1]).dir' "$certs")"
  rm -rf "$work"
}
trap cleanup EXIT
npm pack --silent --pack-destination "$work" > /dev/null
tarball=$(ls "$work"/libmemcached-*.tgz)
size=$(stat -c %s "$tarball")
say "packed: $(basename "$tarball"), $size bytes"
[ "$size" -lt 2000000 ] || fail "the packed size is $size bytes, over 2 MB"
tar tzf "$tarball" > "$work/contents"
for f in prebuilds/linux-x64/libmemcached.glibc.node prebuilds/linux-arm64/libmemcached.glibc.node \
  deps/libmemcached-1.1.4.tar.gz deps/LICENSE.libmemcached; do
  grep -qx "package/$f" "$work/contents" || fail "the tarball lacks $f"
done

# 3. Installed from the registry's point of view: npm, the tarball, no compiler on PATH.
mkdir -p "$work/bin" "$work/app"
ln -s "$(command -v node)" "$work/bin/node"
ln -s "$(readlink -f "$(command -v npm)")" "$work/bin/npm"
ln -s /bin/sh "$work/bin/sh"
(cd "$work/app" && env PATH="$work/bin" npm install --no-audit --no-fund --loglevel=error "$tarball" > "$work/install.log" 2>&1) || {
  cat "$work/install.log" >&2
  fail "npm install from the prebuild"
}
[ ! -e "$work/app/node_modules/libmemcached/build" ] || fail "npm install compiled the addon instead of using the prebuild"
cp test/platforms/smoke.js "$work/app/"

free_port() { node -e 'require("./scripts/lib/memcached-server").freePort().then(console.log)'; }
wait_port() { for _ in $(seq 50); do (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null && return 0; sleep 0.1; done; return 1; }
port=$(free_port)
memcached -u root -l 127.0.0.1 -p "$port" -d -P "$work/memcached.pid"
wait_port "$port"

# And a TLS memcached (the one built for the tests: scripts/lib/memcached-tls.sh) with throwaway
# certificates (scripts/lib/tls-certificates.js), for TLS through the OpenSSL inside Node in roots
# that have no libssl.
tls_memcached=$(bash scripts/lib/memcached-tls.sh | tail -1)
certs=$(node scripts/lib/tls-certificates.js) || fail "making the TLS certificates"
cert_field() { node -e 'process.stdout.write(JSON.parse(process.argv[1])[process.argv[2]][process.argv[3]])' "$certs" "$1" "$2"; }
tls_port=$(free_port)
"$tls_memcached" -u root -l 127.0.0.1 -p "$tls_port" -Z -o "ssl_chain_cert=$(cert_field server certPath),ssl_key=$(cert_field server keyPath)" \
  -R 1000000 -d -P "$work/memcached-tls.pid"
wait_port "$tls_port"
cp "$(cert_field ca certPath)" "$work/app/ca.pem"

# What smoke.js printed, against what this machine should give: SASL works exactly where the
# root has libsasl2.
judge() {
  local name=$1 out=$2 arch=$3 sasl=$4
  say "$name: $out"
  node -e '
    const [out, arch, sasl] = [JSON.parse(process.argv[1]), process.argv[2], process.argv[3] === "yes"];
    const problems = [];
    if (out.arch !== arch) problems.push(`ran as ${out.arch}, not ${arch}`);
    if (!/prebuilds/.test(out.addon)) problems.push(`loaded ${out.addon}, not the prebuild`);
    if (out.set !== true || out.get !== "v") problems.push("set/get");
    if (JSON.stringify(out.getMulti) !== JSON.stringify({ "platform:k": "v" })) problems.push("getMulti");
    if (out.supportSasl !== sasl) problems.push(`supportSasl is ${out.supportSasl}`);
    if (out.supportTls !== true || out.tls?.set !== true || out.tls?.get !== "sealed") problems.push("TLS set/get through the OpenSSL in Node");
    if (!sasl && (!out.sasl?.notSupported || !/apt-get install libsasl2-2/.test(out.sasl.message)))
      problems.push("the SASL client was not refused with the packages to install");
    if (problems.length) { console.error(problems.join("; ")); process.exit(1); }
  ' "$out" "$arch" "$sasl"
}

has_sasl() { if ls "$1"/usr/lib/*-linux-gnu/libsasl2.so.2 > /dev/null 2>&1; then echo yes; else echo no; fi; }

# 4a, 4b. x64 roots, in a chroot (which shares this machine's loopback).
nodedir=$(node_binary "$(node -p 'process.versions.node')" "$cache")
for suite in bookworm bullseye; do
  status=0
  root=$(bash scripts/platform-root.sh "$suite" minbase) || status=$?
  if [ "$status" = 3 ] && [ "$suite" = bullseye ]; then
    say "bullseye: NOT RUN, the mirror no longer serves Debian 11 (LIBMEMCACHED_DEBIAN_MIRROR can name one that does); glibc 2.28 compatibility rests on the floor check above"
    continue
  elif [ "$status" != 0 ]; then
    fail "$suite root"
    continue
  fi
  rm -rf "$root/app" "$root/opt/node"
  mkdir -p "$root/opt"
  cp -a "$nodedir" "$root/opt/node"
  cp -a "$work/app" "$root/app"
  out=$(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root chroot "$root" /bin/sh -c "cd /app && /opt/node/bin/node smoke.js 127.0.0.1:$port 127.0.0.1:$tls_port") &&
    judge "$suite minbase x64" "$out" x64 "$(has_sasl "$root")" || fail "$suite minbase x64"
  rm -rf "$root/app"
done

# 4c. arm64: Debian's arm64 libraries as the root of qemu-aarch64, a current LTS Node for arm64.
if armroot=$(bash scripts/platform-root.sh bookworm arm64); then
  armnode=$(node_binary "$(newest_node 24 arm64)" "$cache" arm64)
  out=$(cd "$work/app" && QEMU_LD_PREFIX="$armroot" qemu-aarch64 "$armnode/bin/node" smoke.js "127.0.0.1:$port" "127.0.0.1:$tls_port") &&
    judge "bookworm arm64 under qemu-aarch64" "$out" arm64 "$(has_sasl "$armroot")" || fail "arm64 under qemu"
else
  fail "arm64 root"
fi

# 5. From source: the bundled libmemcached, no package manager. apt-get and dpkg are replaced by
# stubs that record the call and fail.
mkdir -p "$work/hide" "$work/src-app"
for t in apt apt-get apt-cache dpkg dpkg-query; do
  printf '#!/bin/sh\necho "%s $*" >> %s\nexit 127\n' "$t" "$work/hidden-calls" > "$work/hide/$t"
  chmod +x "$work/hide/$t"
done
(cd "$work/src-app" && env PATH="$work/hide:$PATH" npm install --no-audit --no-fund --build-from-source --foreground-scripts "$tarball" > "$work/source.log" 2>&1) || {
  tail -40 "$work/source.log" >&2
  fail "npm install --build-from-source"
}
if [ -s "$work/hidden-calls" ]; then fail "the source build called $(sort -u "$work/hidden-calls" | tr '\n' ';')"; fi
grep -q "building static libmemcached 1.1.4" "$work/source.log" || fail "the source build did not build libmemcached"
cp test/platforms/smoke.js "$work/src-app/"
out=$(cd "$work/src-app" && node smoke.js "127.0.0.1:$port") && say "from source: $out" && node -e '
  const out = JSON.parse(process.argv[1]);
  if (!/build\/Release/.test(out.addon) || out.set !== true || out.get !== "v") { console.error("not the built addon, or set/get failed"); process.exit(1); }
' "$out" || fail "from source"

# 5b. Without SASL (as where Cyrus SASL's headers are missing): builds, says so, and refuses a
# SASL client with what to install.
mkdir -p "$work/nosasl-app"
(cd "$work/nosasl-app" && env PATH="$work/hide:$PATH" LIBMEMCACHED_SASL=off npm install --no-audit --no-fund --build-from-source --foreground-scripts "$tarball" > "$work/nosasl.log" 2>&1) || {
  tail -40 "$work/nosasl.log" >&2
  fail "npm install --build-from-source without SASL"
}
grep -q "WITHOUT SASL" "$work/nosasl.log" || fail "the build without SASL did not say so"
cp test/platforms/smoke.js "$work/nosasl-app/"
out=$(cd "$work/nosasl-app" && node smoke.js "127.0.0.1:$port") && say "from source without SASL: $out" && node -e '
  const out = JSON.parse(process.argv[1]);
  const ok = /build\/Release/.test(out.addon) && out.set === true && out.get === "v" && out.supportSasl === false &&
    out.sasl?.notSupported === true && /built without SASL/.test(out.sasl.message) && /cyrus-sasl-dev/.test(out.sasl.message);
  if (!ok) { console.error("expected a working client, supportSasl false and a SASL client refused"); process.exit(1); }
' "$out" || fail "from source without SASL"

# 5c. Linked to the distribution's libmemcached (LIBMEMCACHED_LINKAGE=system, no patches): it
# builds and works, reports supportTls false, and refuses a TLS client with the reason.
mkdir -p "$work/system-app"
(cd "$work/system-app" && env LIBMEMCACHED_LINKAGE=system npm install --no-audit --no-fund --build-from-source --foreground-scripts "$tarball" > "$work/system.log" 2>&1) || {
  tail -40 "$work/system.log" >&2
  fail "npm install --build-from-source with LIBMEMCACHED_LINKAGE=system"
}
cp test/platforms/smoke.js "$work/app/ca.pem" "$work/system-app/"
out=$(cd "$work/system-app" && node smoke.js "127.0.0.1:$port" "127.0.0.1:$tls_port") && say "linked to the system's libmemcached: $out" && node -e '
  const out = JSON.parse(process.argv[1]);
  const ok = out.linkage === "system" && out.set === true && out.get === "v" && out.supportTls === false &&
    out.tls?.notSupported === true && /system.s libmemcached, which has no TLS/.test(out.tls.message);
  if (!ok) { console.error("expected a working client, supportTls false and a TLS client refused with the reason"); process.exit(1); }
' "$out" || fail "linked to the system's libmemcached"

# 5d. And without cmake, the install fails naming what to install on each system.
mkdir -p "$work/no-cmake" "$work/src-app2"
for f in /usr/bin/*; do [ "$(basename "$f")" = cmake ] || ln -s "$f" "$work/no-cmake/"; done
ln -sf "$(command -v node)" "$work/no-cmake/node"
ln -sf "$(readlink -f "$(command -v npm)")" "$work/no-cmake/npm"
if (cd "$work/src-app2" && env PATH="$work/hide:$work/no-cmake" npm install --no-audit --no-fund --build-from-source "$tarball" > "$work/no-cmake.log" 2>&1); then
  fail "the source build without cmake succeeded"
elif ! grep -q "missing cmake" "$work/no-cmake.log" || ! grep -q "apk add bash g++ make python3 cmake" "$work/no-cmake.log" ||
  ! grep -q "building the addon from source (--build-from-source) failed" "$work/no-cmake.log"; then
  tail -30 "$work/no-cmake.log" >&2
  fail "the source build without cmake did not say what to install"
else
  say "from source without cmake: refused, naming the packages for Debian, Alpine, Fedora and macOS"
fi

say "took $((SECONDS - started)) s"
[ ${#failed[@]} -eq 0 ] || { say "FAILED: ${failed[*]}"; exit 1; }
say "passed"
