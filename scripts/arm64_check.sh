#!/usr/bin/env bash
# The ARM64 check: cross-compiles the autograd layer and its tests for aarch64 (Debian's
# g++-aarch64-linux-gnu and :arm64 libraries, preset arm64) and runs them under qemu-user, so
# the kernels run on NEON and on the scalar fallback (docs/kernels.md, section ARM64).
# Not part of the default test run (scripts/test.sh, CI): emulation makes it take minutes.
# Idempotent: installs only what is missing (as root, or with sudo), then configures, builds
# and tests incrementally. Arguments go to ctest (e.g. -R Gemm).
#   scripts/arm64_check.sh [CTEST_ARGUMENT ...]
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
# The :arm64 libraries install beside the host's (multiarch), once dpkg knows the architecture.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "arm64_check: adding the arm64 architecture to dpkg"
  $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -qq
fi
packages=(
  cmake ninja-build ccache g++-aarch64-linux-gnu qemu-user libeigen3-dev
  libhwy-dev:arm64 libfmt-dev:arm64 libgtest-dev:arm64
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "arm64_check: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# One configure-and-build per preset at a time (as scripts/setup.sh does).
mkdir -p build
exec {lock}>build/.arm64.lock
flock "$lock"
cmake --preset arm64 >/dev/null
nice -n 10 cmake --build --preset arm64
# The kernel suites' test names end in the target they ran on (.../neon, .../scalar).
echo "arm64_check: $(qemu-aarch64 --version | head -1), CPU model 'max' (qemu-user's default)"
nice -n 10 ctest --preset arm64 "$@"
