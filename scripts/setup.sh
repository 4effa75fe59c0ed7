#!/usr/bin/env bash
# Installs what tamp needs from Debian 12 (as root, or with sudo), then configures and builds
# a preset (all of it, or only the given targets). Idempotent: does nothing but an
# incremental build when everything is there.
#   scripts/setup.sh [PRESET [TARGET ...]]        (default: release, every target)
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
targets=("${@:2}")

packages=(
  build-essential cmake ninja-build pkg-config git
  libeigen3-dev libhwy-dev libprotobuf-dev protobuf-compiler libonnx-dev
  libopenmpi-dev openmpi-bin libhdf5-dev libfmt-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libyaml-cpp-dev nlohmann-json3-dev libcpp-httplib-dev
  dataset-fashion-mnist libonnx-testdata
  clang-format  # the style.clang_format test
)
# NodeSource's nodejs bundles npm and conflicts with Debian's npm package.
command -v npm >/dev/null || packages+=(nodejs npm)
case "$preset" in
  asan) packages+=(clang libclang-rt-14-dev libomp-14-dev) ;;  # clang presets; libomp: OpenMP
  fuzz) packages+=(clang libclang-rt-14-dev libomp-14-dev time) ;;  # time: fuzz.sh records CPU seconds
  # The cross build run under qemu (scripts/arm64_check.sh); Eigen's headers serve every arch.
  arm64) packages+=(g++-aarch64-linux-gnu qemu-user libhwy-dev:arm64 libfmt-dev:arm64 libgtest-dev:arm64) ;;
esac
[ "${TAMP_WITH_PEERS:-0}" = 1 ] && packages+=(libtorch-dev python3-torch python3-torchvision python3-onnx libopenblas0-openmp)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  # :arm64 packages install beside the host's (multiarch) once dpkg knows the architecture.
  if [ "$preset" = arm64 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# One configure-and-build per preset at a time: two runs at once (fuzz.sh for two targets,
# a demo beside the tests) would otherwise race in the same ninja build folder and fail.
mkdir -p build
exec {lock}>"build/.$preset.lock"
flock "$lock"
cmake --preset "$preset" >/dev/null
if [ ${#targets[@]} -gt 0 ]; then
  cmake --build --preset "$preset" --target "${targets[@]}"
else
  cmake --build --preset "$preset"
fi
