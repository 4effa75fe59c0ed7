#!/usr/bin/env bash
# The README's demo: installs what is missing, builds `tamp` (incrementally), fine-tunes the
# teacher once (examples/recipes/teacher.yaml -> runs/teacher/model.onnx, skipped when it
# exists), then runs the one-shot distillation + 2:4 pruning + QAT recipe
# (examples/recipes/demo.yaml) on Fashion-MNIST, ending with the int8 model
# runs/demo/cnn_int8_2of4.onnx (QDQ) and runs/demo/report.html. Extra arguments go to that
# `tamp run` (--resume after an interruption, --threads N, --out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh release tamp
tamp=build/release/cli/tamp
if [ ! -f runs/teacher/model.onnx ]; then
  "$tamp" run examples/recipes/teacher.yaml --out runs/teacher
fi
exec "$tamp" run examples/recipes/demo.yaml --out runs/demo "$@"
