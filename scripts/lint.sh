#!/usr/bin/env bash
# Static checks: cppcheck and clang-tidy over common/, services/, tools/
# (with build/compile_commands.json), and clang-format in check mode.
# Quiet means clean. Usage: scripts/lint.sh [FILE.c ...]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/compile_commands.json ] || scripts/build.sh >/dev/null
if [ "$#" -gt 0 ]; then files=("$@"); else
  mapfile -t files < <(ls common/*.c services/*/*.c tools/*/*.c)
fi
status=0
clang-format --dry-run --Werror "${files[@]}" || status=1
# cppcheck reads no system header, so cJSON's iteration macro is unknown to it.
cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
  --inline-suppr --std=c11 -I common \
  --suppress=unknownMacro \
  "${files[@]}" || status=1
clang-tidy --quiet -p build "${files[@]}" 2>/dev/null | grep -E "warning:|error:" && status=1
exit $status
