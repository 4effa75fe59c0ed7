#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds (incrementally), then trains
# the C++ example CNN on Fashion-MNIST (Debian's dataset-fashion-mnist) for 2 epochs and
# prints its test accuracy. Extra arguments go to the example (--epochs, --threads, --seed).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh release train_cnn
exec build/release/examples/train_cnn "$@"
