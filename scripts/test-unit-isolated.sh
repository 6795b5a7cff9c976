#!/usr/bin/env bash
# Proves that the unit tests need no memcached and no python3: runs `npx jest --selectProjects
# unit` on a PATH that has neither, and fails if any test fails (the harness throws at once,
# naming what is missing, when a test tries to start a server or pylibmc) or if a unit test file
# refers to what starts one.
#
#   bash scripts/test-unit-isolated.sh [JEST ARGS]
#
# The PATH is a temporary folder of symlinks to every program on the current PATH except
# memcached* and python*; the pylibmc harness runs $PYLIBMC_PYTHON (an absolute path, Debian's
# python3 by default), so it is pointed at a file that does not exist, and MEMCACHED_BIN is
# unset. Prints the wall time: the unit project is meant to take under 20 s.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The static half: a unit test file must not use the harness's server or pylibmc starters at all
# (even a call that would fail is a test in the wrong project).
if grep -nE '\b(startMemcached|startSaslMemcached|runPylibmc|runPylibmcBatch|requirePython)\b|harness/pylibmc' test/unit/*.ts; then
  echo "test-unit-isolated: the unit test files above start memcached or python3; they belong in test/integration/" >&2
  exit 1
fi

bin=$(mktemp -d "${TMPDIR:-/tmp}/lmc-unit-path.XXXXXX")
trap 'rm -rf "$bin"' EXIT
IFS=: read -r -a dirs <<< "$PATH"
declare -A seen
for dir in "${dirs[@]}"; do
  [ -d "$dir" ] || continue
  targets=()
  for program in "$dir"/*; do
    name=${program##*/}
    case $name in memcached* | python*) continue ;; esac
    # The first of a name on PATH wins, as it would in a lookup.
    [ -z "${seen[$name]:-}" ] && [ -x "$program" ] || continue
    seen[$name]=1
    targets+=("$program")
  done
  # One ln per folder: thousands of programs, one process each, would take seconds.
  [ ${#targets[@]} -eq 0 ] || ln -s "${targets[@]}" "$bin/"
done
for missing in memcached python3 python; do
  if PATH=$bin command -v "$missing" > /dev/null; then
    echo "test-unit-isolated: $missing is still reachable on the filtered PATH" >&2
    exit 1
  fi
done

start=$(date +%s.%N)
status=0
env -u MEMCACHED_BIN PATH="$bin" PYLIBMC_PYTHON="$bin/no-python3-here" npx jest --selectProjects unit "$@" || status=$?
seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
if [ "$status" -ne 0 ]; then
  echo "test-unit-isolated: the unit project failed without memcached and python3 (${seconds} s)" >&2
  exit "$status"
fi
echo "test-unit-isolated: the unit project passed without memcached and python3 on PATH in ${seconds} s wall time"
if awk -v s="$seconds" 'BEGIN { exit !(s >= 20) }'; then
  echo "test-unit-isolated: warning: that is over the 20 s the unit project is meant to take (a busy machine?)" >&2
fi
