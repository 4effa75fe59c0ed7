#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs the fast test suite,
# then the sanitized (ASan + UBSan) build of the fast tests. Idempotent and incremental.
#   scripts/test.sh            everything CI runs
#   TAMP_SKIP_ASAN=1 scripts/test.sh   only the release suite
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh release
[ -x tests/ort/setup.sh ] && tests/ort/setup.sh
[ -x tests/ui/setup.sh ] && tests/ui/setup.sh   # Chromium for the browser test of tamp ui
ctest --preset release

if [ "${TAMP_SKIP_ASAN:-0}" != 1 ]; then
  scripts/setup.sh asan
  ctest --preset asan
fi
echo "test.sh: all tests passed"
