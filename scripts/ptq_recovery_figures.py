#!/usr/bin/python3
"""Figures of docs/ptq_smoothquant_adaround.md: static PTQ with and without SmoothQuant on the
tiny transformer and the BERT-style encoder, RTN vs AdaRound (and a bf16 fallback) on the
Fashion-MNIST CNN, every model run in ONNX Runtime (tests/ort/run_ort.js, eval_classifier.js).

    /usr/bin/python3 scripts/ptq_recovery_figures.py --tamp build/release/cli/tamp --work /tmp/ptqfig

The transformer and the encoder are the untrained test models (no labelled task exists for
them on this machine), so their figure is agreement with the float model: top-1 agreement of
the quantized model's argmax with the float model's, and the relative L2 error of the logits,
on 512 inputs drawn like the calibration data (transformer: N(0, 1) [64, 16] sequences;
encoder: uniform token ids in [0, 100) of length 16). Needs numpy, h5py and onnx (Debian).
"""
import argparse
import json
import os
import subprocess
import sys

import h5py
import numpy as np
from onnx import TensorProto, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "tests", "data", "models")


def run(cmd, ok=(0,)):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode not in ok:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
    return r.stdout


def ort(model, name, x, work):
    """Logits of `model` for input `name` = x in ONNX Runtime."""
    inp = os.path.join(work, "x.pb")
    with open(inp, "wb") as f:
        f.write(numpy_helper.from_array(x, name).SerializeToString())
    out_dir = os.path.join(work, "ort_out")
    os.makedirs(out_dir, exist_ok=True)
    line = run(["node", os.path.join(ROOT, "tests", "ort", "run_ort.js"), model, "--input", f"{name}={inp}",
                "--output-dir", out_dir])
    files = json.loads(line.strip().splitlines()[-1])["outputs"]
    path = list(files.values())[0]["file"]
    t = TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def sequence_models(args):
    rng = np.random.default_rng(0)
    rows = []
    for model, name, make in [
        ("transformer", "input", lambda n: rng.standard_normal((n, 64, 16)).astype(np.float32)),
        ("bert_encoder", "input", lambda n: rng.integers(0, 100, (n, 16)).astype(np.int64)),
    ]:
        path = os.path.join(MODELS, model + ".onnx")
        calib, evalx = make(256), make(512)
        h5 = os.path.join(args.work, model + "_calib.h5")
        with h5py.File(h5, "w") as f:
            f["x"] = calib
            f["y"] = np.zeros(len(calib), np.int64)
        ref = ort(path, name, evalx, args.work)
        for label, extra in [("min-max", []), ("min-max + SmoothQuant α 0.5", ["--smooth-quant"]),
                             ("min-max + SmoothQuant α searched", ["--smooth-quant=search"])]:
            out = os.path.join(args.work, f"{model}_{len(extra)}_{extra[0][-6:] if extra else 'plain'}.onnx")
            j = json.loads(run([args.tamp, "quantize", path, "--method", "static", "--calib-data", "hdf5:" + h5,
                                "--calib-batches", "4", "--out", out, "--json"] + extra, ok=(0, 4)))
            y = ort(out, name, evalx, args.work)
            agree = float(np.mean(y.argmax(1) == ref.argmax(1)))
            rel = float(np.linalg.norm(y - ref) / np.linalg.norm(ref))
            groups = len(j.get("smooth_quant", {}).get("groups", [])) if extra else None
            rows.append((model, label, agree, rel, groups, j["parity"]["passed"]))
    return rows


def cnn(args):
    path = os.path.join(MODELS, "cnn_fmnist.onnx")
    rows = []

    def top1(model):
        line = run(["node", os.path.join(ROOT, "tests", "ort", "eval_classifier.js"), model, "--bench", "0"])
        return json.loads(line.strip().splitlines()[-1])["top1"]

    rows.append(("float", top1(path), None))
    for label, extra in [("min-max RTN", []), ("min-max + AdaRound 500 steps", ["--adaround"]),
                         ("min-max + bf16 fallback of the most sensitive layer", ["--fallback-bf16", "1"])]:
        out = os.path.join(args.work, f"cnn_{len(rows)}.onnx")
        j = json.loads(run([args.tamp, "quantize", path, "--method", "static", "--calib-data", "fashion-mnist",
                            "--calib-batches", "8", "--out", out, "--json"] + extra, ok=(0, 4)))
        rows.append((label, top1(out), j))
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tamp", default=os.path.join(ROOT, "build", "release", "cli", "tamp"))
    p.add_argument("--work", default="/tmp/ptq_recovery_figures")
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    print("| model | static PTQ | top-1 agreement with float (ORT) | relative logit error (ORT) | smoothed activations | parity |")
    print("|---|---|---|---|---|---|")
    for model, label, agree, rel, groups, parity in sequence_models(args):
        print(f"| {model} | {label} | {100 * agree:.1f} % | {rel:.4f} | {'-' if groups is None else groups} | "
              f"{'passed' if parity else 'FAILED'} |")
    print()
    print("| CNN (cnn_fmnist) | Fashion-MNIST top-1, ONNX Runtime, 10000 test images |")
    print("|---|---|")
    for label, acc, j in cnn(args):
        note = ""
        if j and "adaround" in j:
            layers = j["adaround"]["layers"]
            note = " (layer MSE " + ", ".join(f"{l['node']} {l['mse_nearest']:.3g}→{l['mse_adaround']:.3g}" for l in layers) + ")"
        if j and "fallback_bf16" in j:
            note = f" ({', '.join(j['fallback_bf16'])} in bf16)"
        print(f"| {label} | {100 * acc:.2f} %{note} |")


if __name__ == "__main__":
    main()
