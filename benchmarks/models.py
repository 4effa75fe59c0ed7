#!/usr/bin/python3
"""The models of tamp's training benchmark in PyTorch, and their ONNX export (opset 17).

    /usr/bin/python3 benchmarks/models.py [OUT_DIR] [--models resnet18,mobilenetv2,bert] [--force]

OUT_DIR defaults to build/bench_models. A file already there is kept unless it is older than
this script, or --force: the export is seeded, so a re-export writes the same model. The
files are large (ResNet-18 is 45 MB) and are never committed; benchmarks/compare.py and the
bench_model_tests' ctest fixture run this script before they read them.
Needs Debian's python3-torch (1.13), python3-torchvision (0.14) and python3-onnx.

  resnet18     torchvision resnet18(num_classes=10) on 3x32x32: 7x7/2 stem, max pool,
               stride-2 3x3 convolutions, 1x1 projection shortcuts, BatchNorm, residual Add
  mobilenetv2  torchvision mobilenet_v2(width_mult=0.5, num_classes=10) on 3x32x32:
               depthwise 3x3, inverted residuals, ReLU6 (Clip), BatchNorm; dropout 0
  bert         BERT-like encoder on 32 token ids (int64, vocab 4096): token embedding
               (Gather) + learned positions, LayerNorm, 4 x nn.TransformerEncoderLayer
               (d 128, 4 heads, ff 512, GELU, post-norm), tanh pooler on the first token,
               10-class head
  cnn_wide, mlp, cnn, transformer
               tamp's reference test models (scripts/export_test_models.py); their ONNX files
               are committed in tests/data/models and are not exported here

Exported with torch.onnx.TrainingMode.PRESERVE from eval mode: an EVAL export folds every
BatchNorm into the convolution before it, and the benchmark must train BatchNorm as torch
does. Eval mode also makes the exporter merge initializers holding equal values into one,
which would tie the layers of a freshly built model together (nn.TransformerEncoder deep-
copies one layer; every BatchNorm starts at weight 1, bias 0); distinct() gives every
tensor values of its own, as a trained model has, and export() checks nothing was merged.
"""
import argparse
import os
import sys
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Tuple

import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import export_test_models as test_models  # noqa: E402  (the committed models' definitions)

OPSET = 17
SEED = 20261207
CLASSES = 10


class BertLike(nn.Module):
    """Token ids [batch, seq] -> logits [batch, classes]."""

    def __init__(self, vocab=4096, seq=32, d_model=128, heads=4, d_ff=512, layers=4, classes=CLASSES):
        super().__init__()
        self.tokens = nn.Embedding(vocab, d_model)
        self.positions = nn.Parameter(0.02 * torch.randn(1, seq, d_model))
        self.norm = nn.LayerNorm(d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, d_ff, dropout=0.0, activation="gelu",
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.pooler = nn.Linear(d_model, d_model)
        self.classifier = nn.Linear(d_model, classes)

    def forward(self, ids):
        x = self.encoder(self.norm(self.tokens(ids) + self.positions))
        return self.classifier(torch.tanh(self.pooler(x[:, 0])))


def resnet18():
    import torchvision
    return torchvision.models.resnet18(num_classes=CLASSES)


def mobilenetv2():
    import torchvision
    # No dropout: the eval-mode export has none, so tamp and torch train the same graph.
    return torchvision.models.mobilenet_v2(width_mult=0.5, num_classes=CLASSES, dropout=0.0)


@dataclass(frozen=True)
class Spec:
    make: Callable[[], nn.Module]
    input_shape: Tuple[int, ...]   # without the batch
    vocab: int = 0                 # > 0: the input is int64 token ids in [0, vocab)
    committed: str = ""            # the ONNX file in tests/data/models, not exported here


MODELS = {
    "resnet18": Spec(resnet18, (3, 32, 32)),
    "mobilenetv2": Spec(mobilenetv2, (3, 32, 32)),
    "bert": Spec(BertLike, (32,), vocab=4096),
    "cnn_wide": Spec(lambda: test_models.Cnn(c1=64, c2=128, fc=192), (1, 28, 28), committed="cnn_wide.onnx"),
    "mlp": Spec(test_models.Mlp, (784,), committed="mlp.onnx"),
    "cnn": Spec(test_models.Cnn, (1, 28, 28), committed="cnn.onnx"),
    "transformer": Spec(test_models.TinyTransformer, (64, 16), committed="transformer.onnx"),
}


def distinct(model, gen):
    """Every parameter and running statistic gets values no other tensor holds (see above)."""
    def uniform(t, bound):
        t.copy_(torch.empty(t.shape).uniform_(-bound, bound, generator=gen))

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                m.weight.copy_(1.0 + 0.1 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=gen))
                    m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=gen))
                continue
            for p in m.parameters(recurse=False):
                if p.dim() == 1:  # biases, some of which start at zero (torchvision, attention)
                    uniform(p, 0.05)
        if isinstance(model, BertLike):  # the encoder's layers are deep copies of one layer
            for layer in model.encoder.layers:
                for w in (layer.self_attn.in_proj_weight, layer.self_attn.out_proj.weight,
                          layer.linear1.weight, layer.linear2.weight):
                    uniform(w, w.shape[1] ** -0.5)
    tensors = [t for t in list(model.parameters()) + list(model.buffers()) if t.is_floating_point()]
    for i, a in enumerate(tensors):
        for b in tensors[i + 1:]:
            assert a.shape != b.shape or not torch.equal(a, b), "two tensors of the model hold the same values"


def build(name, seed_offset=0):
    """The model, seeded: the same weights in the exporter and in bench_torch_eager.py."""
    spec = MODELS[name]
    torch.manual_seed(SEED + seed_offset)
    model = spec.make()
    if not spec.committed:
        distinct(model, torch.Generator().manual_seed(SEED + 1 + seed_offset))
    return model


def random_batch(name, batch, gen):
    """Inputs and labels of one random batch."""
    spec = MODELS[name]
    shape = (batch,) + spec.input_shape
    x = torch.randint(0, spec.vocab, shape, generator=gen) if spec.vocab else torch.randn(shape, generator=gen)
    return x, torch.randint(0, CLASSES, (batch,), generator=gen)


def onnx_path(name, out_dir):
    spec = MODELS[name]
    return os.path.join(ROOT, "tests", "data", "models", spec.committed) if spec.committed \
        else os.path.join(out_dir, f"{name}.onnx")


def export(name, path):
    import onnx
    model = build(name).eval()
    x, _ = random_batch(name, 2, torch.Generator().manual_seed(SEED))
    partial = path + ".partial"  # renamed when complete: an interrupted export leaves no model
    # torch warns against constant folding in PRESERVE mode for a model in training mode;
    # this one is in eval mode, where folding only precomputes constants (weight transposes).
    warnings.filterwarnings("ignore", message="It is recommended that constant folding be turned off")
    torch.onnx.export(model, x, partial, opset_version=OPSET, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=True)
    proto = onnx.load(partial)
    onnx.checker.check_model(proto)
    inits = {t.name for t in proto.graph.initializer}
    merged = [n.output[0] for n in proto.graph.node if n.op_type == "Identity" and n.input[0] in inits]
    if merged:
        sys.exit(f"models.py: the exporter merged equal initializers of {name}: {merged[:5]}")
    os.replace(partial, path)
    ops = Counter(n.op_type for n in proto.graph.node)
    print(f"{path}: opset {OPSET}, {os.path.getsize(path)} bytes, ops {dict(sorted(ops.items()))}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", nargs="?", default=os.path.join(ROOT, "build", "bench_models"))
    parser.add_argument("--models", default=",".join(n for n, s in MODELS.items() if not s.committed))
    parser.add_argument("--force", action="store_true", help="export even when the file exists")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    torch.set_num_threads(1)  # one reduction order: the same file on every machine
    for name in (n for n in args.models.split(",") if n):
        if name not in MODELS:
            sys.exit(f"models.py: unknown model '{name}' (known: {', '.join(MODELS)})")
        path = onnx_path(name, args.out_dir)
        if MODELS[name].committed:
            print(f"{path}: committed, not exported")
        elif args.force or not os.path.isfile(path) or os.path.getmtime(path) < os.path.getmtime(__file__):
            export(name, path)
        else:
            print(f"{path}: up to date")


if __name__ == "__main__":
    main()
