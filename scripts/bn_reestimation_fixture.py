#!/usr/bin/python3
"""Writes tests/data/fixtures/bn_reestimation: PyTorch's BatchNorm re-estimation of
models/cnn_bn_train.onnx on three fixed batches, the reference of
tests/compression/quantization/ptq/batch_norm_reestimation_test.cpp.

    /usr/bin/python3 scripts/bn_reestimation_fixture.py [--data tests/data]

The recipe PyTorch users run after pruning: reset the running statistics, momentum=None
(a cumulative average over the batches), train mode, forward every batch without gradients.
The batches are seeded normal values of different sizes (16, 16, 8), so the expected
statistics differ from the stored ones and batches of unequal size are averaged per batch.
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_test_models import Cnn, save_pb  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data"))
    a = p.parse_args()
    torch.set_num_threads(1)
    proto = onnx.load(os.path.join(a.data, "models", "cnn_bn_train.onnx"))
    model = Cnn(batch_norm=True, dropout=0.25)
    state = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in proto.graph.initializer}
    model.load_state_dict({k: state[k] for k in model.state_dict() if k in state}, strict=False)
    out = os.path.join(a.data, "fixtures", "bn_reestimation")
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(20261207)
    batches = [torch.randn(n, 1, 28, 28, generator=g) * 0.5 + 0.3 for n in (16, 16, 8)]
    for i, x in enumerate(batches):
        save_pb(x.numpy(), os.path.join(out, f"batch{i}.pb"), "input")
    for bn in (model.bn1, model.bn2):
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    model.dropout.eval()
    with torch.no_grad():
        for x in batches:
            model(x)
    for key, value in model.state_dict().items():
        if "running_mean" in key or "running_var" in key:
            save_pb(value.numpy(), os.path.join(out, f"{key}.pb"), key)
            print(key, value[:4].tolist())


if __name__ == "__main__":
    main()
