#!/usr/bin/env bash
# The architecture-search figure of docs/search.md: the CNN trained on Fashion-MNIST, then
# `tamp search` (weight-sharing super-network, NSGA-II on validation accuracy and MACs) with
# --compare-uniform, which fine-tunes uniform channel pruning and the front's best candidate at
# no more MACs with the same budget and measures them on the 10,000 test images.
#
#   benchmarks/search_vs_uniform.sh [BUILD_DIR] [OUT_DIR]
#   (defaults: build/release, runs/search_vs_uniform; about 30 CPU minutes on one core)
# Knobs (environment): STEPS (steps per epoch, default 400), PRETRAIN_EPOCHS (2),
# SUPERNET_EPOCHS (2), FINETUNE_EPOCHS (1), POPULATION (12), GENERATIONS (3), RATIOS (0.25,0.5),
# VAL_BATCHES (batches of 256 validation examples per candidate, 8), ORT=1 (latency of the front).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build/release}"
out="${2:-$root/runs/search_vs_uniform}"
tamp="$build/cli/tamp"
[ -x "$tamp" ] || { echo "no tamp binary at $tamp (build the 'tamp' target)" >&2; exit 2; }
mkdir -p "$out"
steps="${STEPS:-400}"
nice="nice -n ${NICE:-15}"
if [ ! -f "$out/cnn_trained.onnx" ]; then
  $nice "$tamp" train "$root/tests/data/models/cnn.onnx" --dataset fashion-mnist --epochs "${PRETRAIN_EPOCHS:-2}" \
    --steps "$steps" --lr-schedule cosine --threads 1 --out "$out/cnn_trained.onnx" --log-every 200
fi
$nice "$tamp" search "$out/cnn_trained.onnx" --dataset fashion-mnist --out-dir "$out" --threads 1 \
  --strategy dynas --supernet-epochs "${SUPERNET_EPOCHS:-2}" --finetune-epochs "${FINETUNE_EPOCHS:-1}" \
  --steps "$steps" --population "${POPULATION:-12}" --generations "${GENERATIONS:-3}" \
  --seed-ratios "${RATIOS:-0.25,0.5}" --val-size 5000 --validation-batches "${VAL_BATCHES:-8}" --pick within:1 \
  --compare-uniform \
  ${ORT:+--ort-runner "$root/tests/ort/run_ort.js"}
