#!/usr/bin/python3
"""Import time and peak RSS of a ~45 MB ONNX model: tamp against onnx.load, side by side.

    /usr/bin/python3 benchmarks/import_bench.py [--build-dir build/release] [--rounds 7]
                                                [--model /tmp/tamp_import_bench/wide_mlp.onnx]

The model is written by torch the first time (Debian's python3-torch; seeded, not committed):
a wide MLP 784-4096-2048-10, 11.6 M float32 parameters, 46.5 MB, opset 13, batch dim symbolic.

Each round runs, each in a fresh process and alternately:
  tamp   import_bench MODEL: io::load_onnx_graph (read, parse, convert every initializer to a
         Tensor, validate, fold constants), then the GraphModule over it
  onnx   onnx.load(MODEL) then numpy_helper.to_array of every initializer (protobuf's C++
         parser; what a Python tool does to get at the weights)
and prints the medians: seconds, peak RSS above the process's RSS before the import, and the
ratios (onnx / tamp: > 1 means tamp is faster or smaller).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

PEER = r"""
import json, sys, time
def rss(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024
import onnx
from onnx import numpy_helper
base = rss('VmRSS')
t = time.perf_counter()
m = onnx.load(sys.argv[1])
arrays = [numpy_helper.to_array(i) for i in m.graph.initializer]
dt = time.perf_counter() - t
print(json.dumps({'total_s': dt, 'baseline_rss': base, 'peak_rss': rss('VmHWM'),
                  'parameters': int(sum(a.size for a in arrays))}))
"""


def generate(path):
    import torch
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = torch.nn.Sequential(torch.nn.Linear(784, 4096), torch.nn.ReLU(), torch.nn.Linear(4096, 2048),
                                torch.nn.ReLU(), torch.nn.Linear(2048, 10)).eval()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    torch.onnx.export(model, torch.zeros(1, 784), path, opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


def find_bench(build_dir):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dirs = [build_dir] if build_dir else [os.path.join(root, "build", "release")]
    dirs += [os.path.join(root, d) for d in sorted(os.listdir(root)) if d.startswith("build")]
    for d in dirs:
        path = os.path.join(d, "benchmarks", "import_bench")
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    sys.exit("import_bench not found: cmake --build <build dir> --target import_bench (or give --build-dir)")


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--model", default="/tmp/tamp_import_bench/wide_mlp.onnx")
    args = ap.parse_args()
    if not os.path.exists(args.model):
        generate(args.model)
    bench = find_bench(args.build_dir)
    size = os.path.getsize(args.model)
    print(f"model {args.model}: {size / 1e6:.1f} MB; {args.rounds} rounds, fresh process each, alternating")

    tamp, peer = [], []
    for _ in range(args.rounds):
        tamp.append(run_json([bench, args.model]))
        peer.append(run_json([sys.executable, "-c", PEER, args.model]))
    assert tamp[0]["parameters"] == peer[0]["parameters"], (tamp[0], peer[0])

    def med(rows, key):
        return statistics.median(r[key] for r in rows)

    def med_rss(rows):
        return statistics.median(r["peak_rss"] - r["baseline_rss"] for r in rows)

    t_s, p_s = med(tamp, "total_s"), med(peer, "total_s")
    t_m, p_m = med_rss(tamp), med_rss(peer)
    print(f"{'':24}{'seconds':>10}{'peak RSS above baseline':>26}")
    print(f"{'tamp load_onnx':24}{t_s:>10.3f}{t_m / 2**20:>22.1f} MiB   (parse {med(tamp, 'parse_s'):.3f} s, "
          f"GraphModule {med(tamp, 'module_s'):.3f} s)")
    print(f"{'onnx.load + to_array':24}{p_s:>10.3f}{p_m / 2**20:>22.1f} MiB")
    print(f"{'ratio onnx / tamp':24}{p_s / t_s:>10.2f}{p_m / t_m:>22.2f}")
    print(f"tamp peak RSS is {t_m / size:.2f}x the file size ({tamp[0]['parameters']:,} parameters)")
    print(json.dumps({"model_bytes": size, "tamp": {"total_s": t_s, "peak_rss_above_baseline": t_m},
                      "onnx": {"total_s": p_s, "peak_rss_above_baseline": p_m}}))


if __name__ == "__main__":
    main()
