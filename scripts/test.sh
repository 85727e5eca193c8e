#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit, integration,
# contract) with ctest. `--sanitize` does the same in an ASan+UBSan build.
# Extra arguments go to ctest (e.g. -L unit, -R consume).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=""
if [ "${1:-}" = "--sanitize" ]; then mode=--sanitize; shift; fi

scripts/deps.sh --tests
if [ ! -d tests/contract/node_modules ] || [ tests/contract/package-lock.json -nt tests/contract/node_modules ]; then
  (cd tests/contract && npm ci --no-audit --no-fund --loglevel=error)
fi
scripts/build.sh $mode

dir=build
[ "$mode" = "--sanitize" ] && dir=build-sanitize
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$dir" --output-on-failure -j2 "$@"
