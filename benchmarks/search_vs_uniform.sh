#!/usr/bin/env bash
# The architecture-search figure of docs/search.md: `tamp search` on the CNN trained on
# Fashion-MNIST (tests/data/models/cnn_fmnist.onnx, 90.63 % test top-1) with --compare-uniform,
# which fine-tunes uniform channel pruning at each --seed-ratios width and the front's most
# accurate candidate at no more MACs the same two ways and measures them on the 10,000 test
# images.
#
#   benchmarks/search_vs_uniform.sh [BUILD_DIR] [OUT_DIR]
#   (defaults: build/release, runs/search_vs_uniform)
# Knobs (environment): MODEL (default the trained CNN), STRATEGY (basic or dynas, default basic),
# CANDIDATE_STEPS (basic: fine-tuning steps per candidate, 200), STEPS (steps per epoch, 400),
# SUPERNET_EPOCHS (dynas: 1), FINETUNE_EPOCHS (1), POPULATION (16), GENERATIONS (6),
# WIDTHS (--width-ratios), RATIOS (the uniform widths compared, 0.125,0.25,0.5),
# VAL_BATCHES (batches of 256 validation examples per candidate, 20 = all 5,000), SEED (0),
# ORT=1 (latency of the front).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build/release}"
out="${2:-$root/runs/search_vs_uniform}"
tamp="$build/cli/tamp"
[ -x "$tamp" ] || { echo "no tamp binary at $tamp (build the 'tamp' target)" >&2; exit 2; }
mkdir -p "$out"
strategy="${STRATEGY:-basic}"
supernet_epochs="${SUPERNET_EPOCHS:-$([ "$strategy" = dynas ] && echo 1 || echo 0)}"
OMP_NUM_THREADS=1 nice -n "${NICE:-10}" "$tamp" search "${MODEL:-$root/tests/data/models/cnn_fmnist.onnx}" \
  --dataset fashion-mnist --out-dir "$out" --threads 1 \
  --strategy "$strategy" --candidate-steps "${CANDIDATE_STEPS:-200}" \
  --supernet-epochs "$supernet_epochs" --finetune-epochs "${FINETUNE_EPOCHS:-1}" \
  --steps "${STEPS:-400}" --population "${POPULATION:-16}" --generations "${GENERATIONS:-6}" \
  --width-ratios "${WIDTHS:-0.0625,0.09375,0.125,0.1875,0.25,0.375,0.5}" \
  --seed-ratios "${RATIOS:-0.125,0.25,0.5}" --val-size 5000 --validation-batches "${VAL_BATCHES:-20}" \
  --pick under:0.1 --seed "${SEED:-0}" --compare-uniform \
  ${ORT:+--ort-runner "$root/tests/ort/run_ort.js"}
