#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit, integration,
# contract) with ctest. `--sanitize` does the same in an ASan+UBSan build.
# Extra arguments go to ctest (e.g. -L unit, -R consume).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=""
if [ "${1:-}" = "--sanitize" ]; then mode=--sanitize; shift; fi

scripts/deps.sh --tests
for dir in tests/contract tests/deploy; do
  [ -f "$dir/package-lock.json" ] || continue
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
scripts/build.sh $mode

dir=build
[ "$mode" = "--sanitize" ] && dir=build-sanitize
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$dir" --output-on-failure -j2 "$@"
