"""Narrow versions of the architectures tamp's users bring, and the opset upgrade that turns
torch 1.13's opset-17 exports into the opset 18-21 files today's exporters write.

Used by export_test_models.py (--architectures). torch 1.13 exports up to opset 17 and
onnx 1.12's version converter stops there too, so upgrade() rewrites what opsets 18-21
changed for the ops these models use:
  18  Reduce* (but ReduceSum) take `axes` as an input instead of an attribute;
      Split takes `num_outputs` instead of equal `split` sizes;
  20  the exact GELU torch writes as Div -> Erf -> Add -> Mul -> Mul becomes one Gelu node,
      as the dynamo exporter writes it.
Every other op these models use kept its semantics through opset 21, so the rest is the
opset import itself.
"""
import numpy as np
import onnx
from onnx import helper, numpy_helper
import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import BasicBlock, ResNet


class NarrowResNet18(ResNet):
    """torchvision's ResNet-18 (BasicBlock x [2, 2, 2, 2], 7x7/2 stem, max pool, global average
    pool, fc) with `width` channels in the stem instead of 64, so the file stays small."""

    def __init__(self, width=8, num_classes=10):
        super().__init__(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = self._make_layer(BasicBlock, width, 2)
        self.layer2 = self._make_layer(BasicBlock, 2 * width, 2, stride=2)
        self.layer3 = self._make_layer(BasicBlock, 4 * width, 2, stride=2)
        self.layer4 = self._make_layer(BasicBlock, 8 * width, 2, stride=2)
        self.fc = nn.Linear(8 * width, num_classes)


def mobilenet_v2(num_classes=10):
    """torchvision's MobileNetV2 at width 0.25 (its last 1x1 conv keeps 1280 channels)."""
    return torchvision.models.mobilenet_v2(width_mult=0.25, num_classes=num_classes)


class BertEncoder(nn.Module):
    """A BERT-style encoder: token + learned position embeddings, LayerNorm, `layers`
    post-norm torch.nn.TransformerEncoderLayer (GELU), a classifier on the mean over the
    tokens (sentence-encoder pooling; a ReduceMean in the graph). Input: int64 token ids
    [batch, seq]."""

    def __init__(self, vocab=100, seq=16, d_model=32, heads=4, d_ff=64, layers=4, num_classes=10):
        super().__init__()
        self.tokens = nn.Embedding(vocab, d_model)
        self.positions = nn.Parameter(torch.randn(seq, d_model) * 0.1)
        self.norm = nn.LayerNorm(d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, d_ff, dropout=0.1, activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, ids):
        x = self.norm(self.tokens(ids) + self.positions)
        return self.head(self.encoder(x).mean(dim=1))


# ----------------------------------------------------------------------------- upgrade
# The IR version ONNX released with each opset (an opset-21 file says IR 10).
IR_VERSION_OF_OPSET = {18: 8, 19: 9, 20: 9, 21: 10}

REDUCE_OPS = {"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
              "ReduceMin", "ReduceProd", "ReduceSumSquare"}


def _attr(node, name):
    for a in node.attribute:
        if a.name == name:
            return a
    return None


def _remove_attr(node, name):
    kept = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend(kept)


def _constants(model):
    """Name -> numpy value of initializers and Constant outputs."""
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant" and _attr(n, "value") is not None:
            values[n.output[0]] = numpy_helper.to_array(_attr(n, "value").t)
    return values


def _to_opset_18(model):
    graph = model.graph
    constants = _constants(model)
    for node in graph.node:
        if node.op_type in REDUCE_OPS and _attr(node, "axes") is not None:
            axes = list(_attr(node, "axes").ints)
            _remove_attr(node, "axes")
            name = f"{node.name or node.output[0]}_axes"
            graph.initializer.append(numpy_helper.from_array(np.array(axes, dtype=np.int64), name))
            del node.input[1:]
            node.input.append(name)
        if node.op_type == "Split" and len(node.input) > 1 and node.input[1] in constants:
            sizes = constants[node.input[1]].tolist()
            if len(set(sizes)) == 1:
                del node.input[1:]
                node.attribute.append(helper.make_attribute("num_outputs", len(sizes)))


def _fuse_gelu(model):
    """Div(x, sqrt 2) -> Erf -> Add(., 1) -> Mul(x, .) -> Mul(., 0.5) becomes Gelu(x)."""
    graph = model.graph
    constants = _constants(model)
    producer = {o: n for n in graph.node for o in n.output}
    consumers = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def scalar(name, want):
        return name in constants and constants[name].size == 1 and abs(float(constants[name]) - want) < 1e-4

    def only_consumer(value, op_type):
        users = consumers.get(value, [])
        return users[0] if len(users) == 1 and users[0].op_type == op_type else None

    fused, drop = 0, set()
    for div in list(graph.node):
        if div.op_type != "Div" or not scalar(div.input[1], 2 ** 0.5):
            continue
        x = div.input[0]
        erf = only_consumer(div.output[0], "Erf")
        add = erf and only_consumer(erf.output[0], "Add")
        mul = add and only_consumer(add.output[0], "Mul")
        half = mul and only_consumer(mul.output[0], "Mul")
        if not half or not scalar(add.input[1], 1.0) or x not in mul.input or not scalar(half.input[1], 0.5):
            continue
        gelu = helper.make_node("Gelu", [x], [half.output[0]], name=f"{div.name}_gelu")
        graph.node.insert(list(graph.node).index(half), gelu)
        drop.update(id(n) for n in (div, erf, add, mul, half))
        fused += 1
    kept = [n for n in graph.node if id(n) not in drop]
    del graph.node[:]
    graph.node.extend(kept)
    used = {i for n in graph.node for i in n.input}
    kept = [n for n in graph.node if n.op_type != "Constant" or n.output[0] in used]
    del graph.node[:]
    graph.node.extend(kept)
    return fused


def upgrade(model, opset):
    """A copy of an opset-17 model rewritten for `opset` (18 to 21); returns (model, notes)."""
    assert 18 <= opset <= 21
    out = onnx.ModelProto()
    out.CopyFrom(model)
    current = [o for o in out.opset_import if o.domain in ("", "ai.onnx")]
    assert len(current) == 1 and current[0].version == 17, "upgrade() starts from opset 17"
    _to_opset_18(out)
    notes = ["Reduce* axes as inputs, equal Split sizes as num_outputs"]
    if opset >= 20:
        notes.append(f"{_fuse_gelu(out)} GELU subgraphs fused into Gelu")
    current[0].version = opset
    out.ir_version = max(out.ir_version, IR_VERSION_OF_OPSET[opset])
    return out, notes
