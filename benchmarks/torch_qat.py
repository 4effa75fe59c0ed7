#!/usr/bin/python3
"""PyTorch's own eager-mode QAT (fbgemm qconfig) on the test CNN, for comparison with tamp's.

The same model (tests/data/models/cnn.onnx: scripts/export_test_models.py's Cnn, conv 32 -
conv 64 - fc 128, ReLU, 2x2 max pooling), the same schedule as tamp's slow test
(tests/compression/quantization/slow_fashion_mnist_quant_test.cpp): fp32 for 2 epochs
(SGD 0.02, momentum 0.9, cosine decay per step, batch 64), then one epoch of QAT (SGD 0.002,
momentum 0.9), convert to int8 (the onednn engine when the build lacks FBGEMM) and evaluate on the 10000 test images. Prints both accuracies
and the fp32 / QAT step times (median of STEPS steps each, alternating in rounds, one thread).

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp OMP_NUM_THREADS=1 \
        /usr/bin/python3 benchmarks/torch_qat.py [--epochs 2] [--qat-epochs 1] [--limit N]

Debian's python3-torch (1.13): `apt-get install python3-torch libopenblas0-openmp`.
"""
import argparse
import gzip
import os
import statistics
import struct
import subprocess
import time
import warnings

import numpy as np
import torch
import torch.ao.quantization as tq
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"
warnings.filterwarnings("ignore", message="Please use quant_min and quant_max")


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(DATA, f"{prefix}-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = read_idx(os.path.join(DATA, f"{prefix}-labels-idx1-ubyte.gz")).astype(np.int64)
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


class Cnn(nn.Module):
    """scripts/export_test_models.py's Cnn with the stubs and ReLU modules eager QAT needs."""

    def __init__(self):
        super().__init__()
        self.quant = tq.QuantStub()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(64 * 5 * 5, 128)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(128, 10)
        self.dequant = tq.DeQuantStub()

    def forward(self, x):
        x = self.quant(x)
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.dequant(self.fc2(self.relu3(self.fc1(x))))


def batches(n, batch, gen):
    perm = torch.randperm(n, generator=gen)
    for i in range(0, n, batch):
        yield perm[i:i + batch]


def step(model, opt, x, y):
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss.item()


def train(model, opt, x, y, epochs, batch, gen, sched=None):
    model.train()
    for _ in range(epochs):
        for idx in batches(len(x), batch, gen):
            step(model, opt, x[idx], y[idx])
            if sched:
                sched.step()


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    hits = 0
    for i in range(0, len(x), 1000):
        hits += (model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
    return hits / len(x)


def qat_prepare(model):
    model.train()
    model.qconfig = tq.get_default_qat_qconfig("fbgemm")
    tq.fuse_modules_qat(model, [["conv1", "relu1"], ["conv2", "relu2"], ["fc1", "relu3"]], inplace=True)
    return tq.prepare_qat(model, inplace=True)


def step_times(x, y, batch, steps, rounds):
    """Median ms per step of fp32 and of QAT training, alternating in rounds."""
    torch.manual_seed(3)
    fp32 = Cnn()
    qat = Cnn()
    qat.load_state_dict(fp32.state_dict())
    qat = qat_prepare(qat)
    models = {"fp32": fp32, "qat": qat}
    opts = {k: torch.optim.SGD(m.parameters(), lr=0.002, momentum=0.9) for k, m in models.items()}
    xb, yb = x[:batch], y[:batch]
    times = {k: [] for k in models}
    for k, m in models.items():
        m.train()
        for _ in range(3):
            step(m, opts[k], xb, yb)
    for _ in range(rounds):
        for k, m in models.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                step(m, opts[k], xb, yb)
            times[k].append((time.perf_counter() - t0) * 1000 / steps)
    return {k: statistics.median(v) for k, v in times.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=2, help="fp32 epochs before QAT")
    ap.add_argument("--qat-epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--limit", type=int, default=0, help="first N training images only (quick runs)")
    ap.add_argument("--steps", type=int, default=20, help="steps per timing round")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    # Debian's torch is built without FBGEMM: the fbgemm qconfig (per-channel symmetric int8
    # weights, uint8 activations with reduce_range) still trains the model; the converted int8
    # model runs on the x86 engine the build has (onednn).
    engines = torch.backends.quantized.supported_engines
    engine = next(e for e in ("fbgemm", "onednn", "x86", "qnnpack") if e in engines)
    torch.backends.quantized.engine = engine
    xtr, ytr = load("train")
    xte, yte = load("test")
    if a.limit:
        xtr, ytr = xtr[:a.limit], ytr[:a.limit]
    print(f"torch {torch.__version__}, fbgemm qconfig, int8 engine {engine}, {a.threads} thread(s); load: {subprocess.check_output(['uptime']).decode().strip()}")

    times = step_times(xtr, ytr, a.batch, a.steps, a.rounds)
    print(f"step time (batch {a.batch}, median of {a.rounds} rounds of {a.steps}): fp32 {times['fp32']:.3f} ms, "
          f"QAT {times['qat']:.3f} ms, ratio {times['qat'] / times['fp32']:.3f}")

    torch.manual_seed(1)
    gen = torch.Generator().manual_seed(1)
    model = Cnn()
    steps = a.epochs * ((len(xtr) + a.batch - 1) // a.batch)
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    t0 = time.perf_counter()
    train(model, opt, xtr, ytr, a.epochs, a.batch, gen, sched)
    fp32_s = time.perf_counter() - t0
    fp32_acc = accuracy(model, xte, yte)
    print(f"fp32: {a.epochs} epoch(s) in {fp32_s:.0f} s, test top-1 {100 * fp32_acc:.2f} %")

    model = qat_prepare(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.002, momentum=0.9)
    t0 = time.perf_counter()
    train(model, opt, xtr, ytr, a.qat_epochs, a.batch, gen)
    qat_s = time.perf_counter() - t0
    sim_acc = accuracy(model, xte, yte)
    int8 = tq.convert(model.eval(), inplace=False)
    int8_acc = accuracy(int8, xte, yte)
    print(f"QAT: {a.qat_epochs} epoch(s) in {qat_s:.0f} s, simulated top-1 {100 * sim_acc:.2f} %, "
          f"converted int8 ({engine}) top-1 {100 * int8_acc:.2f} % (drop {100 * (fp32_acc - int8_acc):.2f} pt)")
    print(f"load: {subprocess.check_output(['uptime']).decode().strip()}")


if __name__ == "__main__":
    main()
