#!/usr/bin/env bash
# The package as users deploy it, in a minimal Debian 12 root (what node:*-slim images are: no
# libsasl2, no compiler): the built addon installed as the package's prebuild, an official Node
# binary from the npm registry, and set/get/getMulti against a real memcached on this machine's
# loopback (a chroot shares it). A SASL client there must be refused with the packages to
# install. Needs root (chroot) and debootstrap; roots are cached (scripts/platform-root.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { echo "test-platforms: $*" >&2; }
. scripts/lib/node-binary.sh

[ "$(id -u)" = 0 ] || { say "needs root (chroot)"; exit 1; }
[ -f build/Release/memcached.node ] && [ -f dist/index.js ] || { say "build first (npm run build)"; exit 1; }
cache=${LIBMEMCACHED_ROOTS:-/var/cache/libmemcached-roots}
export LIBMEMCACHED_ROOTS=$cache

# An official Node binary of this machine's version, for glibc systems, cached next to the roots.
nodedir=$(node_binary "$(node -p 'process.versions.node')" "$cache")

# The package as npm installs it from the registry: the packed files, the addon as its prebuild
# (build/ is not packed), and its one runtime dependency.
pack=$(mktemp -d)
trap 'rm -rf "$pack"' EXIT
npm pack --silent --pack-destination "$pack" > /dev/null
mkdir -p "$pack/app/node_modules/libmemcached/prebuilds/linux-x64"
tar xzf "$pack"/libmemcached-*.tgz -C "$pack/app/node_modules/libmemcached" --strip-components=1
cp build/Release/memcached.node "$pack/app/node_modules/libmemcached/prebuilds/linux-x64/libmemcached.glibc.node"
cp -r node_modules/node-gyp-build "$pack/app/node_modules/"
cp test/platforms/smoke.js "$pack/app/"

port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
memcached -u root -l 127.0.0.1 -p "$port" -d -P "$pack/memcached.pid"
trap 'kill "$(cat "$pack/memcached.pid")" 2> /dev/null || true; rm -rf "$pack"' EXIT

failed=0
for suite in bookworm; do
  root=$(scripts/platform-root.sh "$suite")
  rm -rf "$root/app" "$root/opt/node"
  mkdir -p "$root/opt"
  cp -a "$nodedir" "$root/opt/node"
  cp -a "$pack/app" "$root/app"
  if [ -e "$root/usr/lib/x86_64-linux-gnu/libsasl2.so.2" ]; then say "$suite: the root has libsasl2, so it tests nothing"; exit 1; fi
  out=$(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root chroot "$root" /bin/sh -c "cd /app && /opt/node/bin/node smoke.js 127.0.0.1:$port") || {
    say "$suite minbase: the smoke test failed"
    failed=1
    continue
  }
  say "$suite minbase: $out"
  node -e '
    const out = JSON.parse(process.argv[1]);
    const problems = [];
    if (out.set !== true || out.get !== "v") problems.push("set/get");
    if (JSON.stringify(out.getMulti) !== JSON.stringify({ "platform:k": "v" })) problems.push("getMulti");
    if (out.supportSasl !== false) problems.push("supportSasl should be false without libsasl2");
    if (!out.sasl?.notSupported || !/apt-get install libsasl2-2/.test(out.sasl.message)) problems.push("the SASL client was not refused with the packages to install");
    if (problems.length) { console.error(problems.join("; ")); process.exit(1); }
  ' "$out" || failed=1
done
[ "$failed" = 0 ] && say "passed" || { say "FAILED"; exit 1; }
