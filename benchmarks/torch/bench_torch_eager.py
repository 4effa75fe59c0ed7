#!/usr/bin/python3
"""The PyTorch side of tamp's training benchmark in eager Python, for every model of
benchmarks/models.py (resnet18, mobilenetv2, bert, cnn_wide, mlp, cnn, transformer).

    /usr/bin/python3 benchmarks/torch/bench_torch_eager.py --model resnet18 [--threads N]
        [--warmup W] [--steps S] [--rounds R] [--batch B]

Same flags and JSON line per round as bench_torch (libtorch C++), plus "impl":"eager" and
"blas", the BLAS library the process loaded. A training step: zero_grad, forward,
cross-entropy, backward, SGD (lr 0.01, momentum 0.9), at batch 64 on 8 random batches made
before timing; torch.set_num_threads(N), one inter-op thread.

Why eager Python and not libtorch C++ for these models: the model torch trains must be the
very nn.Module tamp imports, and torchvision's ResNet-18 and MobileNetV2 and
nn.TransformerEncoderLayer have no C++ definition in Debian (no libtorchvision); rewriting
them in C++ would benchmark a copy that may differ. Eager Python is also what a PyTorch user
runs. Its cost, Python's dispatch of each op (microseconds), is small against steps of tens
of milliseconds and more; compare.py --torch-side eager runs mlp/cnn/transformer through
this script too, so the gap to bench_torch on the same models can be measured.

BLAS: Debian's torch calls the system libblas.so.3. Run it with
LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp (compare.py does) so that it gets
OpenBLAS-openmp whatever update-alternatives selects; convolutions go through oneDNN.
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import models  # noqa: E402  (benchmarks/models.py)

BATCHES = 8


def peak_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return -1.0


def loaded_blas():
    """The libblas the process mapped (resolved), or "" when none is."""
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if "libblas" in os.path.basename(path) or "libopenblas" in os.path.basename(path):
                return os.path.realpath(path)
    return ""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, choices=list(models.MODELS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    for flag in ("threads", "steps", "rounds", "batch"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be positive")
    if args.warmup < 0:
        parser.error("--warmup must not be negative")

    torch.set_num_interop_threads(1)
    torch.set_num_threads(args.threads)
    model = models.build(args.model).train()
    gen = torch.Generator().manual_seed(0)
    batches = [models.random_batch(args.model, args.batch, gen) for _ in range(BATCHES)]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    step = 0

    def train_step():
        nonlocal step
        x, y = batches[step % BATCHES]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        step += 1
        return loss

    for _ in range(args.warmup):
        train_step()
    blas = loaded_blas()
    for r in range(args.rounds):
        t0 = time.perf_counter()
        for _ in range(args.steps):
            loss = train_step()
        last_loss = loss.item()
        seconds = time.perf_counter() - t0
        print(json.dumps({"side": "torch", "impl": "eager", "model": args.model, "threads": args.threads,
                          "batch": args.batch, "round": r, "steps": args.steps, "seconds": round(seconds, 6),
                          "samples_per_s": round(args.steps * args.batch / seconds, 1),
                          "peak_rss_mib": round(peak_rss_mib(), 1), "loss": round(last_loss, 5), "blas": blas}),
              flush=True)


if __name__ == "__main__":
    main()
