#!/usr/bin/env bash
# Makes a checkout ready to run: system packages, npm dependencies, the native addon (with
# libmemcached built statically from deps/), and the compiled TypeScript. Each step is skipped
# when its output is newer than its inputs, so running it again costs about a second.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/system-packages.sh

if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
  echo "setup: Node.js >= 18 with npm is required" >&2
  exit 1
fi
node -e 'if (+process.versions.node.split(".")[0] < 18) { console.error("setup: Node.js >= 18 is required, this is " + process.version); process.exit(1) }'

newer() { # newer OUTPUT INPUT...: true when OUTPUT is missing or older than any INPUT
  local out=$1; shift
  [ -e "$out" ] || return 0
  [ -n "$(find "$@" -newer "$out" -print -quit 2> /dev/null)" ]
}

if newer node_modules/.package-lock.json package-lock.json package.json; then
  # Scripts are skipped here because the addon is built just below, once.
  npm ci --ignore-scripts --no-audit --no-fund
fi
if newer build/Release/memcached.node binding.gyp src deps/libmemcached.gyp deps/libmemcached.sh deps/patches; then
  npm run build:native
fi
if newer dist/index.js lib tsconfig.json tsconfig.build.json package.json; then
  npm run build:ts
fi
# The memcached with TLS that the TLS tests run (Debian 12's hangs pipelined sets over TLS:
# docs/testing-tls.md): built once, here, rather than by whichever test file asks first.
bash scripts/lib/memcached-tls.sh > /dev/null
