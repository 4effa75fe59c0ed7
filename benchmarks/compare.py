#!/usr/bin/env python3
"""Training throughput, tamp against libtorch, side by side in one run.

    python3 benchmarks/compare.py [--build-dir build] [--models mlp,cnn,transformer]
                                  [--threads 1,2] [--rounds 5] [--steps 50] [--warmup 10]
                                  [--source cpp|onnx|both]

Runs bench_tamp and bench_torch (same flags, one JSON line per round on stdout) alternately,
each round in a fresh process of its own, and prints per model and thread count the median
samples/s of each side, their ratio and each side's peak RSS. With only bench_torch built it
prints the torch figures alone. --source picks tamp's model: written with tamp's layers (cpp),
imported from the ONNX files PyTorch exported (onnx, tests/data/models), or both, which adds
a tamp side per source to every round and a row per source to the table.

The torch side runs with OpenBLAS-openmp (LD_LIBRARY_PATH): Debian's libtorch otherwise
picks the reference BLAS and is ~15x slower. OPENBLAS_CORETYPE matters on CPUs newer than
the OpenBLAS build (0.3.21 does not know Zen 5): --coretype probe (the default) times
bench_torch once per candidate and keeps the fastest for every model.

Standard library only.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

OPENBLAS_OPENMP = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
CORETYPE_CANDIDATES = ["unset", "Haswell", "SkylakeX"]
RUN_TIMEOUT_S = 900


def find_binary(name, explicit, build_dir):
    if explicit:
        return explicit if os.path.isfile(explicit) and os.access(explicit, os.X_OK) else None
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dirs = [build_dir] if build_dir else []
    dirs += [os.path.join(root, d) for d in sorted(os.listdir(root)) if d.startswith("build")]
    for d in dirs:
        for sub in ("benchmarks", "benchmarks/torch", "bin", "."):
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


def run_side(binary, env, model, threads, warmup, steps, extra=()):
    """One process, one timed round; returns its JSON line as a dict."""
    cmd = [binary, "--model", model, "--threads", str(threads), "--warmup", str(warmup),
           "--steps", str(steps), "--rounds", "1", *extra]
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


def probe_coretype(binary, model, threads, warmup, steps):
    """Alternates the candidates twice with a short run each; the best median wins."""
    speeds = {c: [] for c in CORETYPE_CANDIDATES}
    for _ in range(2):
        for c in list(speeds):
            try:
                speeds[c].append(run_side(binary, torch_env(c), model, threads, warmup, steps)["samples_per_s"])
            except RuntimeError:  # kernels this CPU lacks (SkylakeX without AVX-512: SIGILL)
                del speeds[c]
    medians = {c: statistics.median(v) for c, v in speeds.items()}
    return max(medians, key=medians.get), medians


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", help="where to look for the binaries first (default: every build*/ folder)")
    parser.add_argument("--tamp", help="path of bench_tamp")
    parser.add_argument("--torch", help="path of bench_torch")
    parser.add_argument("--models", default="mlp,cnn,transformer")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per side (median is reported)")
    parser.add_argument("--steps", type=int, default=0, help="training steps per round (default: per model)")
    parser.add_argument("--warmup", type=int, default=0, help="untimed steps in each process (default: per model)")
    parser.add_argument("--coretype", default="probe", choices=["probe"] + CORETYPE_CANDIDATES,
                        help="OPENBLAS_CORETYPE for the torch side")
    parser.add_argument("--source", default="cpp", choices=["cpp", "onnx", "both"],
                        help="tamp's model: C++ layers, imported ONNX, or both (one tamp side each)")
    parser.add_argument("--json", help="also write every round's result to this file")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    # Steps per round sized so a round takes roughly a second at libtorch's speed.
    default_steps = {"mlp": 400, "cnn": 60, "transformer": 6}
    default_warmup = {"mlp": 50, "cnn": 10, "transformer": 2}
    models = [m for m in args.models.split(",") if m]
    sources = ["cpp", "onnx"] if args.source == "both" else [args.source]
    threads = [int(t) for t in args.threads.split(",") if t]

    tamp = find_binary("bench_tamp", args.tamp, args.build_dir)
    torch = find_binary("bench_torch", args.torch, args.build_dir)
    if not tamp and not torch:
        sys.exit("compare.py: neither bench_tamp nor bench_torch found; build them or pass --tamp/--torch")
    print(f"tamp:  {tamp or 'not built: torch figures only'}")
    print(f"torch: {torch or 'not built: tamp figures only'}")
    if torch and not os.path.isdir(OPENBLAS_OPENMP):
        print(f"warning: {OPENBLAS_OPENMP} missing: libtorch runs on the reference BLAS (install libopenblas0-openmp)")

    rows, records = [], []
    for model in models:
        steps = args.steps or default_steps.get(model, 50)
        warmup = args.warmup or default_warmup.get(model, 5)
        coretype = args.coretype
        if torch and coretype == "probe":
            coretype, medians = probe_coretype(torch, model, 1, warmup, max(1, steps // 2))
            print(f"{model}: OPENBLAS_CORETYPE probe (samples/s, 1 thread): "
                  + ", ".join(f"{c} {v:.0f}" for c, v in medians.items()) + f" -> {coretype}")
        for n in threads:
            sides = [(f"tamp:{src}", tamp, dict(os.environ), ["--source", src]) for src in sources if tamp]
            if torch:
                sides.append(("torch", torch, torch_env(coretype), []))
            results = {name: [] for name, _, _, _ in sides}
            for r in range(args.rounds):
                # Alternate which side goes first so drift on a shared machine hits both.
                for name, binary, env, extra in (sides if r % 2 == 0 else sides[::-1]):
                    res = run_side(binary, env, model, n, warmup, steps, extra)
                    res.update(side=name, round=r)
                    results[name].append(res)
                    records.append(res)
            med = {k: statistics.median(x["samples_per_s"] for x in v) for k, v in results.items()}
            rss = {k: max(x["peak_rss_mib"] for x in v) for k, v in results.items()}
            for src in sources if tamp else [None]:
                mine = f"tamp:{src}"
                ratio = med[mine] / med["torch"] if mine in med and "torch" in med else None
                rows.append((model, src or "-", n, med.get(mine), med.get("torch"), ratio, rss.get(mine),
                             rss.get("torch"), coretype if torch else None))
            print(f"{model} threads={n}: " + ", ".join(f"{k} {v:.0f} samples/s" for k, v in med.items()), flush=True)

    header = ("model", "tamp source", "threads", "tamp samples/s", "torch samples/s", "tamp/torch", "tamp RSS MiB",
              "torch RSS MiB", "OPENBLAS_CORETYPE")
    table = [header] + [(m, src, str(n), fmt(a, ".0f"), fmt(b, ".0f"), fmt(r, ".2f"), fmt(ra, ".0f"), fmt(rb, ".0f"),
                         c or "-") for m, src, n, a, b, r, ra, rb, c in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print()
    for i, row in enumerate(table):
        print("  ".join(cell.rjust(w) if j else cell.ljust(w) for j, (cell, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\nmedian of {args.rounds} rounds per side, each round a fresh process; ratio > 1: tamp is faster")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)


if __name__ == "__main__":
    try:
        main()
    except RuntimeError as e:
        sys.exit(f"compare.py: {e}")
