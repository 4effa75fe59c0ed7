#!/usr/bin/python3
"""Puts a Fashion-MNIST front on a model that takes 3x32x32 images (tests/data/models/
mobilenet_v2.onnx, resnet18.onnx): the new input `image` [batch, 1, 28, 28] is zero-padded by 2
pixels on each side and repeated over 3 channels (Pad, Concat), then feeds the old input. So
`tamp train/quantize --dataset fashion-mnist` and tests/ort/eval_classifier.js feed it the
28x28 images as they are.

    /usr/bin/python3 scripts/fashion_mnist_front.py IN.onnx OUT.onnx
"""
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    m = onnx.load(sys.argv[1])
    g = m.graph
    old = g.input[0]
    dims = [d.dim_value for d in old.type.tensor_type.shape.dim[1:]]
    if dims != [3, 32, 32]:
        sys.exit(f"{sys.argv[1]}: input '{old.name}' is {dims}, expected [3, 32, 32]")
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 28, 28])
    pads = numpy_helper.from_array(np.array([0, 0, 2, 2, 0, 0, 2, 2], dtype=np.int64), "front_pads")
    front = [helper.make_node("Pad", ["image", "front_pads"], ["front_padded"], name="front_pad"),
             helper.make_node("Concat", ["front_padded"] * 3, [old.name], name="front_channels", axis=1)]
    g.initializer.append(pads)
    nodes = front + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    del g.input[0]
    g.input.insert(0, image)
    onnx.checker.check_model(m)
    onnx.save(m, sys.argv[2])


if __name__ == "__main__":
    main()
