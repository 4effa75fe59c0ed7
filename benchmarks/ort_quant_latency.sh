#!/usr/bin/env bash
# ONNX Runtime latency of tamp's post-training exports against the fp32 model, side by side:
# dynamic int8 (DynamicQuantizeMatMul), weight-only int4 / int8 (MatMulNBits; "_l4": with
# accuracy_level 4, ORT's int8-activation kernel) and fp16 (tamp convert --keep-io-types), for
# the MLP and the tiny transformer, batch 1 and 64, one
# intra-op thread. Each configuration runs ROUNDS times in turn (interleaved, so a busy moment
# of a shared machine hits all of them); the table shows the best of the rounds' medians and
# the ratio to fp32 (below 1: faster).
#
#   benchmarks/ort_quant_latency.sh [BUILD_DIR] [RUNS] [ROUNDS]
#   (defaults: build/release, 200 runs per median, 3 rounds; needs tests/ort/setup.sh)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build/release}"
runs="${2:-200}"
rounds="${3:-3}"
tamp="$build/cli/tamp"
ort="$root/tests/ort/run_ort.js"
[ -x "$tamp" ] || { echo "no tamp binary at $tamp (build the 'tamp' target)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Random float32 input of a shape as a TensorProto file.
make_input() {  # FILE NAME DIM...
  local file="$1" name="$2"; shift 2
  node -e '
    const { encode } = require(process.argv[1]);
    const dims = process.argv.slice(4).map(Number);
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    let s = 12345;
    for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) % 2147483648; data[i] = s / 2147483648 - 0.5; }
    require("fs").writeFileSync(process.argv[2], encode({ name: process.argv[3], type: "float32", dims, data }));
  ' "$root/tests/ort/tensor_proto.js" "$file" "$name" "$@"
}

declare -A shape=([mlp]="784" [transformer]="64 16")
variants=(fp32 dynamic w8_g32 w8_g32_l4 w4_g32 w4_g32_l4 w4_g128 fp16)
for model in mlp transformer; do
  src="$root/tests/data/models/$model.onnx"
  cp "$src" "$work/${model}_fp32.onnx"
  "$tamp" quantize "$src" --method dynamic --out "$work/${model}_dynamic.onnx" >/dev/null
  "$tamp" quantize "$src" --method weight-only --bits 8 --group-size 32 --out "$work/${model}_w8_g32.onnx" >/dev/null
  "$tamp" quantize "$src" --method weight-only --bits 4 --group-size 32 --out "$work/${model}_w4_g32.onnx" >/dev/null
  "$tamp" quantize "$src" --method weight-only --bits 4 --group-size 128 --out "$work/${model}_w4_g128.onnx" >/dev/null
  for b in 4 8; do  # accuracy_level 4: ORT's int8-activation kernel
    "$tamp" quantize "$src" --method weight-only --bits $b --group-size 32 --accuracy-level 4 \
      --out "$work/${model}_w${b}_g32_l4.onnx" >/dev/null
  done
  "$tamp" convert "$src" --to fp16 --keep-io-types --out "$work/${model}_fp16.onnx" >/dev/null
  for batch in 1 64; do
    # shellcheck disable=SC2086
    make_input "$work/${model}_b$batch.pb" input "$batch" ${shape[$model]}
  done
done

declare -A best
for ((round = 0; round < rounds; round++)); do
  for model in mlp transformer; do
    for batch in 1 64; do
      for v in "${variants[@]}"; do
        ms=$(node "$ort" "$work/${model}_$v.onnx" --input "input=$work/${model}_b$batch.pb" --bench "$runs" --threads 1 |
             node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).median_ms));')
        key="$model/$batch/$v"
        if [ -z "${best[$key]:-}" ] || awk "BEGIN { exit !($ms < ${best[$key]}) }"; then best[$key]=$ms; fi
      done
    done
  done
done

echo "ONNX Runtime $(node -e "console.log(require('$root/tests/ort/node_modules/onnxruntime-node/package.json').version)"), 1 thread, best of $rounds medians of $runs runs; $(uptime | sed 's/.*load/load/')"
printf "%-12s %5s" model batch
for v in "${variants[@]}"; do printf " %16s" "$v"; done
printf "\n"
for model in mlp transformer; do
  for batch in 1 64; do
    base=${best[$model/$batch/fp32]}
    printf "%-12s %5s" "$model" "$batch"
    for v in "${variants[@]}"; do
      printf " %16s" "$(awk "BEGIN { printf \"%.3f ms %.2fx\", ${best[$model/$batch/$v]}, ${best[$model/$batch/$v]} / $base }")"
    done
    printf "\n"
  done
done
printf "file sizes:"
for model in mlp transformer; do
  for v in "${variants[@]}"; do printf " %s_%s %s KiB;" "$model" "$v" "$(( $(stat -c %s "$work/${model}_$v.onnx") / 1024 ))"; done
done
printf "\n"
