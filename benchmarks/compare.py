#!/usr/bin/env python3
"""Training throughput, tamp against PyTorch, side by side in one run.

    python3 benchmarks/compare.py [--build-dir build] [--threads 1,2] [--rounds 5]
        [--models mlp,cnn,transformer,cnn_wide,resnet18,mobilenetv2,bert]
        [--steps S] [--warmup W] [--source cpp|onnx|both] [--torch-impl auto|eager]
        [--bench-models build/bench_models] [--json FILE]

Each model is trained by both sides (batch 64, cross-entropy, SGD lr 0.01 momentum 0.9,
random data made before timing), each round in a fresh process of its own, the sides
alternating; the table gives per model and thread count the median samples/s of each side,
their ratio and each side's peak RSS, under the CPU's name and the instruction set tamp's
kernels used. docs/benchmarks.md describes the models and how the comparison is kept fair.

  tamp side   bench_tamp. mlp/cnn/transformer: written with tamp's layers (--source cpp) or
              imported from tests/data/models (onnx; both: a row per source). The others
              are imported: cnn_wide from tests/data/models, resnet18/mobilenetv2/bert from
              --bench-models, where benchmarks/models.py exports them (run first; it exports
              a model only when its file is missing or older than the script, and needs
              Debian's python3-torch, python3-torchvision and python3-onnx).
  torch side  mlp/cnn/transformer: libtorch C++ (bench_torch) when built, else eager PyTorch;
              the others: eager PyTorch (benchmarks/torch/bench_torch_eager.py) training the
              nn.Module the ONNX file was exported from. --torch-impl eager runs every model
              in eager PyTorch (to measure eager's overhead against bench_torch).

The torch side runs with OpenBLAS-openmp (LD_LIBRARY_PATH): Debian's libtorch otherwise may
pick the reference BLAS and is ~15x slower; Debian's python3-torch calls the same system
libblas.so.3 (torch.__config__.show() says BLAS_INFO=generic), so the path switches it too.
OPENBLAS_CORETYPE matters on CPUs newer than the OpenBLAS build (0.3.21 does not know Zen 5):
--coretype probe (the default) times the torch side once per candidate the CPU can run
(SkylakeX only with AVX-512) and keeps the fastest for each model.

Standard library only (the torch side's Python needs torch).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPENBLAS_OPENMP = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
# OPENBLAS_CORETYPE candidates and the CPU flags their kernels need: forcing SkylakeX on a
# CPU without AVX-512 dies of an illegal instruction.
CORETYPE_NEEDS = {"unset": set(), "Haswell": {"avx2", "fma"}, "SkylakeX": {"avx512f"}}
CORETYPE_CANDIDATES = list(CORETYPE_NEEDS)
RUN_TIMEOUT_S = 900
# Debian's python3-torch lives in the system interpreter, whatever python3 is first on PATH.
TORCH_PYTHON = "/usr/bin/python3" if os.path.isfile("/usr/bin/python3") else sys.executable
EAGER_SCRIPT = os.path.join(ROOT, "benchmarks", "torch", "bench_torch_eager.py")
MODELS_SCRIPT = os.path.join(ROOT, "benchmarks", "models.py")

# Where tamp finds each model: the reference models (C++ layers or tests/data/models), the
# committed cnn_wide, or a file benchmarks/models.py exports. Steps per round sized so that
# a round takes roughly one to two seconds at PyTorch's speed on a 2-core AVX2 machine.
REFERENCE, COMMITTED, EXPORTED = "reference", "committed", "exported"
MODELS = {
    "mlp": dict(kind=REFERENCE, steps=400, warmup=50),
    "cnn": dict(kind=REFERENCE, steps=60, warmup=10),
    "transformer": dict(kind=REFERENCE, steps=6, warmup=2),
    "cnn_wide": dict(kind=COMMITTED, steps=15, warmup=3),
    "resnet18": dict(kind=EXPORTED, steps=5, warmup=2),
    "mobilenetv2": dict(kind=EXPORTED, steps=10, warmup=3),
    "bert": dict(kind=EXPORTED, steps=10, warmup=3),
}


def find_binary(name, explicit, build_dir):
    if explicit:
        return explicit if os.path.isfile(explicit) and os.access(explicit, os.X_OK) else None
    dirs = [build_dir] if build_dir else []
    dirs += [os.path.join(ROOT, d) for d in sorted(os.listdir(ROOT)) if d.startswith("build")]
    for d in dirs:
        for sub in ("benchmarks", "benchmarks/torch", "bin", "release/benchmarks", "."):
            path = os.path.join(d, sub, name)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
    return None


def torch_env(coretype):
    env = dict(os.environ)
    if os.path.isdir(OPENBLAS_OPENMP):
        env["LD_LIBRARY_PATH"] = OPENBLAS_OPENMP + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    env.pop("OPENBLAS_CORETYPE", None)
    if coretype != "unset":
        env["OPENBLAS_CORETYPE"] = coretype
    return env


def eager_torch_available():
    probe = subprocess.run([TORCH_PYTHON, "-c", "import torch, torchvision, onnx"], capture_output=True, text=True)
    return probe.returncode == 0


def run_side(command, env, threads, warmup, steps):
    """One process, one timed round; `command` names the program and its model. Returns the
    process's JSON line as a dict."""
    cmd = [*command, "--threads", str(threads), "--warmup", str(warmup), "--steps", str(steps), "--rounds", "1"]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{' '.join(cmd)}: no result within {RUN_TIMEOUT_S} s")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{' '.join(cmd)} printed no JSON line: {proc.stdout.strip()[-500:]}")
    result = json.loads(lines[-1])
    for key in ("samples_per_s", "peak_rss_mib"):
        if key not in result:
            raise RuntimeError(f"{' '.join(cmd)}: JSON line lacks '{key}': {lines[-1]}")
    return result


def probe_coretype(command, warmup, steps, cpu_flags):
    """Alternates the candidates this CPU runs twice with a short 1-thread run each; the best
    median wins."""
    speeds = {c: [] for c, needs in CORETYPE_NEEDS.items() if needs <= cpu_flags}
    for _ in range(2):
        for c in speeds:
            speeds[c].append(run_side(command, torch_env(c), 1, warmup, steps)["samples_per_s"])
    medians = {c: statistics.median(v) for c, v in speeds.items()}
    return max(medians, key=medians.get), medians


def cpu_info():
    """The CPU's model name and flags (/proc/cpuinfo)."""
    name, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and name == "unknown CPU":
                    name = value.strip()
                elif key.strip() in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return name, flags


def cpu_description(name, flags):
    """The CPU's name and the vector extensions that decide tamp's kernels."""
    wanted = ["avx512f", "avx512_vnni", "avx2", "fma", "sse4_2", "asimd", "sve"]
    have = [f for f in wanted if f in flags]
    return f"{name}, {os.cpu_count()} logical CPUs, {' '.join(have) or 'none of ' + ' '.join(wanted)}"


def export_models(models, bench_models):
    """Runs benchmarks/models.py, which exports the models missing or older than itself."""
    exported = [m for m in models if MODELS[m]["kind"] == EXPORTED]
    if not exported:
        return
    proc = subprocess.run([TORCH_PYTHON, MODELS_SCRIPT, bench_models, "--models", ",".join(exported)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmarks/models.py failed: {proc.stderr.strip()[-2000:]}")
    print(proc.stdout.strip(), flush=True)


def tamp_commands(tamp, model, sources, bench_models):
    """(row label, command) for each tamp side of a model."""
    kind = MODELS[model]["kind"]
    if kind == REFERENCE:
        return [(src, [tamp, "--model", model, "--source", src]) for src in sources]
    folder = os.path.join(ROOT, "tests", "data", "models") if kind == COMMITTED else bench_models
    return [("onnx", [tamp, "--onnx", os.path.join(folder, model + ".onnx")])]


def torch_command(torch_cpp, eager, model, impl):
    """(implementation, command) of the torch side of a model, or (None, None)."""
    if torch_cpp and MODELS[model]["kind"] == REFERENCE and impl == "auto":
        return "libtorch", [torch_cpp, "--model", model]
    if eager:
        return "eager", [TORCH_PYTHON, EAGER_SCRIPT, "--model", model]
    return None, None


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def print_table(rows):
    header = ("model", "tamp source", "torch", "threads", "tamp samples/s", "torch samples/s", "tamp/torch",
              "tamp RSS MiB", "torch RSS MiB", "OPENBLAS_CORETYPE")
    table = [header] + [(m, src, impl or "-", str(n), fmt(a, ".0f"), fmt(b, ".0f"), fmt(r, ".2f"), fmt(ra, ".0f"),
                         fmt(rb, ".0f"), c or "-") for m, src, impl, n, a, b, r, ra, rb, c in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print("  ".join(cell.rjust(w) if j > 2 else cell.ljust(w) for j, (cell, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", help="where to look for the binaries first (default: every build*/ folder)")
    parser.add_argument("--tamp", help="path of bench_tamp")
    parser.add_argument("--torch", help="path of bench_torch (libtorch C++)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per side (median is reported)")
    parser.add_argument("--steps", type=int, default=0, help="training steps per round (default: per model)")
    parser.add_argument("--warmup", type=int, default=0, help="untimed steps in each process (default: per model)")
    parser.add_argument("--coretype", default="probe", choices=["probe"] + CORETYPE_CANDIDATES,
                        help="OPENBLAS_CORETYPE for the torch side")
    parser.add_argument("--source", default="cpp", choices=["cpp", "onnx", "both"],
                        help="tamp's mlp/cnn/transformer: C++ layers, imported ONNX, or both (one tamp side each)")
    parser.add_argument("--torch-impl", default="auto", choices=["auto", "eager"],
                        help="auto: libtorch C++ for mlp/cnn/transformer when built; eager: eager PyTorch for all")
    parser.add_argument("--bench-models", default=os.path.join(ROOT, "build", "bench_models"),
                        help="folder of the ONNX files benchmarks/models.py exports")
    parser.add_argument("--json", help="also write every round's result to this file")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not CORETYPE_NEEDS.get(args.coretype, set()) <= cpu_info()[1]:
        parser.error(f"--coretype {args.coretype} needs {' '.join(sorted(CORETYPE_NEEDS[args.coretype]))}, "
                     "which this CPU lacks")
    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    sources = ["cpp", "onnx"] if args.source == "both" else [args.source]
    threads = [int(t) for t in args.threads.split(",") if t]

    tamp = find_binary("bench_tamp", args.tamp, args.build_dir)
    torch_cpp = find_binary("bench_torch", args.torch, args.build_dir)
    eager = eager_torch_available()
    if not tamp and not torch_cpp and not eager:
        sys.exit("compare.py: neither bench_tamp nor a torch side found; build bench_tamp/bench_torch or install "
                 "python3-torch python3-torchvision python3-onnx")
    cpu_name, cpu_flags = cpu_info()
    cpu = cpu_description(cpu_name, cpu_flags)
    print(f"CPU:   {cpu}")
    print(f"tamp:  {tamp or 'not built: torch figures only'}")
    print(f"torch: libtorch {torch_cpp or 'not built'}; eager "
          + (f"{TORCH_PYTHON} {EAGER_SCRIPT}" if eager else f"unavailable ({TORCH_PYTHON} lacks torch/torchvision/onnx)"))
    if not os.path.isdir(OPENBLAS_OPENMP):
        print(f"warning: {OPENBLAS_OPENMP} missing: torch runs on the system BLAS (install libopenblas0-openmp)")
    if tamp:
        if not eager and any(MODELS[m]["kind"] == EXPORTED for m in models):
            sys.exit("compare.py: exporting the benchmark models needs python3-torch python3-torchvision python3-onnx")
        export_models(models, args.bench_models)

    rows, records = [], []
    for model in models:
        steps = args.steps or MODELS[model]["steps"]
        warmup = args.warmup or MODELS[model]["warmup"]
        impl, torch_cmd = torch_command(torch_cpp, eager, model, args.torch_impl)
        coretype = args.coretype
        if torch_cmd and coretype == "probe":
            coretype, medians = probe_coretype(torch_cmd, warmup, max(1, steps // 2), cpu_flags)
            print(f"{model}: OPENBLAS_CORETYPE probe (samples/s, 1 thread): "
                  + ", ".join(f"{c} {v:.0f}" for c, v in medians.items()) + f" -> {coretype}")
        tamp_sides = tamp_commands(tamp, model, sources, args.bench_models) if tamp else []
        for n in threads:
            sides = [(f"tamp:{label}", cmd, dict(os.environ)) for label, cmd in tamp_sides]
            if torch_cmd:
                sides.append(("torch", torch_cmd, torch_env(coretype)))
            results = {name: [] for name, _, _ in sides}
            for r in range(args.rounds):
                # Alternate which side goes first so drift on a shared machine hits both.
                for name, cmd, env in (sides if r % 2 == 0 else sides[::-1]):
                    res = run_side(cmd, env, n, warmup, steps)
                    res.update(side=name, round=r)
                    results[name].append(res)
                    records.append(res)
            med = {k: statistics.median(x["samples_per_s"] for x in v) for k, v in results.items()}
            rss = {k: max(x["peak_rss_mib"] for x in v) for k, v in results.items()}
            for label in [lbl for lbl, _ in tamp_sides] or [None]:
                mine = f"tamp:{label}"
                ratio = med[mine] / med["torch"] if mine in med and "torch" in med else None
                rows.append((model, label or "-", impl, n, med.get(mine), med.get("torch"), ratio, rss.get(mine),
                             rss.get("torch"), coretype if torch_cmd else None))
            print(f"{model} threads={n}: " + ", ".join(f"{k} {v:.0f} samples/s" for k, v in med.items()), flush=True)

    print()
    print(f"CPU: {cpu}")
    simd = sorted({r["simd"] for r in records if r["side"].startswith("tamp") and "simd" in r})
    print(f"tamp kernels: {', '.join(simd) or '-'}"
          + (f" (TAMP_SIMD={os.environ['TAMP_SIMD']})" if os.environ.get("TAMP_SIMD") else ""))
    blas = sorted({r["blas"] for r in records if r.get("blas")})
    if blas:
        print(f"eager torch BLAS: {', '.join(blas)}")
    print()
    print_table(rows)
    print(f"\nmedian of {args.rounds} rounds per side, each round a fresh process; ratio > 1: tamp is faster")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)


if __name__ == "__main__":
    try:
        main()
    except RuntimeError as e:
        sys.exit(f"compare.py: {e}")
