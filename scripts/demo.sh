#!/usr/bin/env bash
# The demo: from a fresh clone, installs what is missing, builds `tamp`, installs ONNX Runtime
# (onnxruntime-node, the outside reference), then compresses the trained float CNN of
# tests/data/models/cnn_fmnist.onnx (made by examples/recipes/float_cnn.yaml) with
# examples/recipes/demo.yaml: one stage of distillation from the float model + 2:4 pruning +
# quantization-aware training, exported as int8 QDQ. It ends with a table of the float and the
# compressed model as ONNX Runtime runs them on raw Fashion-MNIST test images (accuracy, file
# size, sparsity, latency) and the path of the HTML report.
#   scripts/demo.sh                 (again: rebuilds what changed, replaces runs/demo)
#   scripts/demo.sh --threads 2     extra arguments go to `tamp run`
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
scripts/setup.sh release tamp
tests/ort/setup.sh
built=$(date +%s)

tamp=build/release/cli/tamp
float=tests/data/models/cnn_fmnist.onnx
out=runs/demo
"$tamp" run examples/recipes/demo.yaml --out "$out" --overwrite "$@"
compressed="$out/cnn_int8_2of4.onnx"
ran=$(date +%s)

# Accuracy and latency in ONNX Runtime; sparsity of the Conv/Gemm weights from `tamp inspect`
# (int8 weights read through their DequantizeLinear).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for model in "$float" "$compressed"; do
  node tests/ort/eval_classifier.js "$model" --threads 1 >"$work/$(basename "$model").ort.json"
  "$tamp" inspect "$model" --json >"$work/$(basename "$model").inspect.json"
done
node -e '
  const fs = require("fs"), path = require("path");
  const [work, ...models] = process.argv.slice(1);
  const read = (m, kind) => JSON.parse(fs.readFileSync(path.join(work, `${path.basename(m)}.${kind}.json`)));
  const rows = [["model", "ORT top-1", "size", "sparsity", "ORT latency"]];
  const top1 = [];
  for (const m of models) {
    const ort = read(m, "ort"), inspect = read(m, "inspect");
    let zeros = 0, count = 0;
    for (const w of inspect.weights) if (w.structure !== null) { zeros += w.zeros; count += w.count; }
    top1.push(100 * ort.top1);
    rows.push([m, `${(100 * ort.top1).toFixed(2)} %`, `${(fs.statSync(m).size / 1024).toFixed(1)} KiB`,
               `${(100 * zeros / count).toFixed(1)} %`, `${ort.latency_ms.toFixed(3)} ms`]);
  }
  const width = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  console.log("\nFashion-MNIST test set (10,000 raw images) in ONNX Runtime, 1 thread; latency: median, one image");
  for (const r of rows) console.log(r.map((v, c) => (c ? v.padStart(width[c]) : v.padEnd(width[c]))).join("  "));
  console.log(`compressed vs float: ${(top1[1] - top1[0]).toFixed(2)} pt`);
' "$work" "$float" "$compressed"
echo "report: $out/report.html (summary.json, metrics.jsonl beside it)"
echo "time: $((built - start)) s setup and build, $((ran - built)) s compression run, $(($(date +%s) - ran)) s measuring"
