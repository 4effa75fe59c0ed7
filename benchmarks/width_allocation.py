#!/usr/bin/python3
"""Uniform against non-uniform channel widths of the trained CNN at equal MACs, in PyTorch.

    /usr/bin/python3 benchmarks/width_allocation.py STEPS C1,C2,F [C1,C2,F ...] [--seed S]

The cross-check of docs/search.md's figure: each architecture (conv1 C1 channels, conv2 C2,
fc1 F units) is cut out of tests/data/models/cnn_fmnist.onnx the way `tamp search` cuts it
(each layer keeps its output channels of largest L1 norm; the next layer's input columns
follow), fine-tuned for STEPS steps (batch 64, SGD lr 0.01 momentum 0.9, cosine decay; the
first 55,000 training images, the order of --seed) and measured on the last 5,000 training
images (validation, as tamp search holds them out) and the 10,000 test images. One thread.
Needs Debian's python3-torch and python3-onnx; Fashion-MNIST in $TAMP_FASHION_MNIST_DIR or
/usr/share/datasets/fashion-mnist.
"""

import argparse
import gzip
import math
import os
import pathlib

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = pathlib.Path(os.environ.get("TAMP_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist")


def idx(name, offset):
    return np.frombuffer(gzip.open(DATA / name).read(), np.uint8, offset=offset)


def images(name):
    return torch.tensor(idx(name, 16).reshape(-1, 1, 28, 28) / 255.0, dtype=torch.float32)


def labels(name):
    return torch.tensor(idx(name, 8).astype(np.int64))


def macs(c1, c2, f):
    """conv1 26x26 outputs, conv2 11x11 (after 2x2 pooling), fc1 from 5x5xC2, fc2 to 10."""
    return c1 * 9 * 26 * 26 + c2 * c1 * 9 * 11 * 11 + 25 * c2 * f + f * 10


class Cnn:
    def __init__(self, path):
        w = {i.name: torch.tensor(numpy_helper.to_array(i).copy()) for i in onnx.load(path).graph.initializer}
        self.w = w
        self.mean, self.std = w["normalize_input/mean"], w["normalize_input/std"]
        order = lambda t: torch.argsort(-t.abs().flatten(1).sum(1), stable=True)
        self.order = [order(w["conv1.weight"]), order(w["conv2.weight"]), order(w["fc1.weight"])]

    def extract(self, c1, c2, f):
        w = self.w
        k1, k2, kf = (o[:n].sort().values for o, n in zip(self.order, (c1, c2, f)))
        cols = (k2[:, None] * 25 + torch.arange(25)[None]).reshape(-1)
        params = [w["conv1.weight"][k1], w["conv1.bias"][k1], w["conv2.weight"][k2][:, k1],
                  w["conv2.bias"][k2], w["fc1.weight"][kf][:, cols], w["fc1.bias"][kf],
                  w["fc2.weight"][:, kf], w["fc2.bias"]]
        return [p.clone().requires_grad_() for p in params]

    def forward(self, p, x):
        x = (x - self.mean) / self.std
        x = F.max_pool2d(F.relu(F.conv2d(x, p[0], p[1])), 2)
        x = F.max_pool2d(F.relu(F.conv2d(x, p[2], p[3])), 2)
        return F.linear(F.relu(F.linear(x.flatten(1), p[4], p[5])), p[6], p[7])


def accuracy(net, p, x, y):
    with torch.no_grad():
        right = sum((net.forward(p, x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
                    for i in range(0, len(x), 1000))
    return right / len(x)


def finetune(net, p, x, y, steps, seed, lr=0.01, batch=64):
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    opt = torch.optim.SGD(p, lr=lr, momentum=0.9)
    for s in range(steps):
        start = (s * batch) % len(x)
        rows = order[start:start + batch]
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * s / steps))
        loss = F.cross_entropy(net.forward(p, x[rows]), y[rows])
        opt.zero_grad()
        loss.backward()
        opt.step()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("steps", type=int)
    ap.add_argument("widths", nargs="+", help="C1,C2,F")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default=str(ROOT / "tests/data/models/cnn_fmnist.onnx"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    x, y = images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz")
    x_test, y_test = images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz")
    net = Cnn(a.model)
    print("conv1,conv2,fc1  MACs     validation %  test %")
    for spec in a.widths:
        c1, c2, f = (int(v) for v in spec.split(","))
        p = net.extract(c1, c2, f)
        finetune(net, p, x[:55000], y[:55000], a.steps, a.seed)
        print(f"{c1},{c2},{f:<10} {macs(c1, c2, f):>8}  {100 * accuracy(net, p, x[55000:], y[55000:]):6.2f}"
              f"       {100 * accuracy(net, p, x_test, y_test):6.2f}", flush=True)


if __name__ == "__main__":
    main()
