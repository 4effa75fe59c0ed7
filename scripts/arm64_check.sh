#!/usr/bin/env bash
# The ARM64 check: cross-compiles the autograd layer and its tests for aarch64 (Debian's
# g++-aarch64-linux-gnu and :arm64 libraries, preset arm64) and runs them under qemu-user, so
# the kernels run on NEON and on the scalar fallback (docs/kernels.md, section ARM64).
# Not part of the default test run (scripts/test.sh, CI): emulation makes it take minutes.
# Idempotent: scripts/setup.sh installs only what is missing and builds incrementally.
# Arguments go to ctest (e.g. -R Gemm).
#   scripts/arm64_check.sh [CTEST_ARGUMENT ...]
set -euo pipefail
cd "$(dirname "$0")/.."

nice -n 10 scripts/setup.sh arm64
echo "arm64_check: tests under $(qemu-aarch64 --version | head -1), CPU model 'max' (its default)"
# The kernel suites' test names end in the target they ran on (.../neon, .../scalar).
nice -n 10 ctest --preset arm64 "$@"
