#!/usr/bin/python3
"""Exports tamp's reference test models from PyTorch to ONNX, with torch-computed fixtures.

    /usr/bin/python3 scripts/export_test_models.py [--out tests/data] [--architectures]

Needs Debian's python3-torch (1.13) and python3-onnx (1.12), and python3-torchvision for
--architectures; the tests that read the files do not. Everything is seeded and torch runs on one thread, so a re-run writes byte-identical
files. It writes:

  models/<name>.onnx          eval-mode export, symbolic batch dim "batch"
  models/cnn_bn_train.onnx    the BatchNorm/Dropout CNN exported in training mode
  fixtures/<name>/index.json  what the fixture files below are and which initializer each
                              gradient belongs to
  fixtures/<name>/*.pb        ONNX TensorProto files: input, labels, output, loss, one
                              gradient per parameter (named after its ONNX initializer)

With --architectures it writes only models/resnet18.onnx, models/mobilenet_v2.onnx and
models/bert_encoder.onnx (narrow torchvision ResNet-18 and MobileNetV2 on 3x32x32, a 4-layer
BERT-style encoder on 16 token ids; torch's opset-17 exports) and the encoder upgraded to
opsets 18 and 21 (models/bert_encoder_opset18.onnx, _opset21.onnx; see architectures.py).

The script checks, for each fixture, that every gradient file names an initializer of the
model file the fixture points at and that the initializer holds exactly the torch parameter,
so a gradient can never be attached to a renamed or constant-folded tensor.
"""
import argparse
import copy
import hashlib
import json
import math
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

FIXTURE_BATCH = 4
SEED = 20261122


# ----------------------------------------------------------------------------- models
class Mlp(nn.Module):
    """784-512-256-10 on flattened images: input [batch, 784]."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 256)
        self.fc3 = nn.Linear(256, 10)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class Cnn(nn.Module):
    """conv(1->c1,3x3)-relu-pool-conv(c1->c2,3x3)-relu-pool-flatten-fc(c2*25->fc)-relu-fc(fc->10).

    Input [batch, 1, 28, 28]. With batch_norm, a BatchNorm2d follows each conv; with dropout,
    a Dropout comes before the last fc."""

    def __init__(self, c1=32, c2=64, fc=128, batch_norm=False, dropout=0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, 3)
        self.bn1 = nn.BatchNorm2d(c1) if batch_norm else nn.Identity()
        self.conv2 = nn.Conv2d(c1, c2, 3)
        self.bn2 = nn.BatchNorm2d(c2) if batch_norm else nn.Identity()
        self.fc1 = nn.Linear(c2 * 5 * 5, fc)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc2 = nn.Linear(fc, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = torch.flatten(x, 1)
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


class Dense(nn.Module):
    """x @ weight + bias with weight stored [in, out].

    nn.Linear on a rank-3 input exports as MatMul with a constant-folded transposed copy of
    its weight under a generated name; storing the weight [in, out] keeps the initializer
    the parameter itself, so gradients map to initializer names one to one."""

    def __init__(self, n_in, n_out):
        super().__init__()
        bound = 1.0 / math.sqrt(n_in)
        self.weight = nn.Parameter(torch.empty(n_in, n_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_out).uniform_(-bound, bound))

    def forward(self, x):
        return torch.matmul(x, self.weight) + self.bias


class EncoderLayer(nn.Module):
    """Post-norm encoder layer with attention written out (MatMul/Reshape/Transpose/Softmax)."""

    def __init__(self, seq, d_model, heads, d_ff):
        super().__init__()
        self.seq, self.heads, self.d_head = seq, heads, d_model // heads
        self.q = Dense(d_model, d_model)
        self.k = Dense(d_model, d_model)
        self.v = Dense(d_model, d_model)
        self.proj = Dense(d_model, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.ff1 = Dense(d_model, d_ff)
        self.ff2 = Dense(d_ff, d_model)
        self.norm2 = nn.LayerNorm(d_model)

    def split_heads(self, x):  # [B, S, D] -> [B, H, S, Dh]
        # -1 for the batch keeps the Reshape target a constant in the exported graph.
        return x.reshape(-1, self.seq, self.heads, self.d_head).transpose(1, 2)

    def forward(self, x):
        q, k, v = self.split_heads(self.q(x)), self.split_heads(self.k(x)), self.split_heads(self.v(x))
        scores = torch.matmul(q, k.transpose(2, 3)) * (1.0 / math.sqrt(self.d_head))
        attn = torch.matmul(torch.softmax(scores, dim=-1), v)          # [B, H, S, Dh]
        attn = attn.transpose(1, 2).reshape(-1, self.seq, self.heads * self.d_head)
        x = self.norm1(x + self.proj(attn))
        return self.norm2(x + self.ff2(F.relu(self.ff1(x))))


class TinyTransformer(nn.Module):
    """Input [batch, 64, 16] floats -> Dense(16->128) + learned positions -> 2 encoder layers
    (d_model 128, 4 heads, ff 512, ReLU) -> mean over the sequence -> Dense(128->10)."""

    def __init__(self, seq=64, d_in=16, d_model=128, heads=4, d_ff=512, layers=2):
        super().__init__()
        self.embed = Dense(d_in, d_model)
        self.pos = nn.Parameter(torch.randn(seq, d_model) * 0.1)
        self.layers = nn.ModuleList([EncoderLayer(seq, d_model, heads, d_ff) for _ in range(layers)])
        self.head = Dense(d_model, 10)

    def forward(self, x):
        x = self.embed(x) + self.pos
        for layer in self.layers:
            x = layer(x)
        return self.head(x.mean(dim=1))


def randomise_batch_norm(model, gen):
    """Makes BN state non-trivial so that a test mixing up scale/bias/mean/var fails."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(1.0 + 0.2 * torch.randn(m.num_features, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.num_features, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=gen))


def randomise_layer_norm(model, gen):
    for m in model.modules():
        if isinstance(m, nn.LayerNorm):
            with torch.no_grad():
                m.weight.copy_(1.0 + 0.2 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))


# (name, constructor, input shape without batch, opset, notes)
MODELS = [
    ("mlp", lambda: Mlp(), (784,), 13, "Gemm layers (transB=1)"),
    ("cnn", lambda: Cnn(), (1, 28, 28), 13, "Conv/Relu/MaxPool/Flatten/Gemm"),
    ("cnn_bn", lambda: Cnn(batch_norm=True, dropout=0.25), (1, 28, 28), 13,
     "eval export: torch folds each BatchNorm into the Conv before it and drops Dropout, so "
     "the conv initializers hold folded values under generated names; train from "
     "cnn_bn_train.onnx instead"),
    # The teacher's fc is 192 wide, not 256: with 64/128 channels an fc(3200->256) alone is
    # 3.3 MB, over the 3 MB budget for committed files.
    ("cnn_wide", lambda: Cnn(c1=64, c2=128, fc=192), (1, 28, 28), 13, "teacher, 64/128 channels, fc 192"),
    ("transformer", lambda: TinyTransformer(), (64, 16), 17,
     "opset 17 so LayerNormalization is one op; MatMul+Add dense layers with [in, out] weights"),
    # Last, so the seeds (SEED + index) of the models above stay what they were.
    ("cnn_half", lambda: Cnn(c1=16, c2=32, fc=64), (1, 28, 28), 13,
     "distillation student: half the CNN's channels (16/32, fc 64)"),
]


# ----------------------------------------------------------------------------- helpers
def save_pb(array, path, name):
    tensor = numpy_helper.from_array(np.ascontiguousarray(array), name=name)
    with open(path, "wb") as f:
        f.write(tensor.SerializeToString())
    return os.path.basename(path)


def export(model, example, path, opset, training):
    kwargs = dict(opset_version=opset, input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    if training:
        kwargs.update(training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
    else:
        kwargs.update(training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True)
    torch.onnx.export(model, example, path, **kwargs)
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
    size = os.path.getsize(path)
    assert size < 3 * 1024 * 1024, f"{path} is {size} bytes, over the 3 MB budget"
    return proto


def initializer_map(proto):
    return {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}


def check_parameters_are_initializers(model, proto, path):
    """Every parameter (and BN running stat) must be an initializer of the same name holding
    the same values."""
    inits = initializer_map(proto)
    for name, p in list(model.named_parameters()) + [(n, b) for n, b in model.named_buffers() if "running" in n]:
        if name not in inits:
            sys.exit(f"{path}: parameter {name} is not an initializer (renamed or folded); "
                     f"initializers: {sorted(inits)}")
        if not np.array_equal(inits[name], p.detach().numpy()):
            sys.exit(f"{path}: initializer {name} differs from the torch parameter")


def op_counts(proto):
    counts = {}
    for node in proto.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))


def gradient_fixture(model, x, labels, out_dir, model_file, mode, extra):
    """Runs one forward/backward in the model's current mode and writes every gradient."""
    os.makedirs(out_dir, exist_ok=True)
    model.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    index = {
        "model": model_file,
        "mode": mode,
        "loss_fn": "cross_entropy(logits, labels), mean over the batch (torch default)",
        "input": {"name": "input", "file": save_pb(x.numpy(), os.path.join(out_dir, "input.pb"), "input")},
        "labels": save_pb(labels.numpy(), os.path.join(out_dir, "labels.pb"), "labels"),
        "logits": save_pb(logits.detach().numpy(), os.path.join(out_dir, "logits.pb"), "logits"),
        "loss": save_pb(np.array(loss.item(), dtype=np.float32), os.path.join(out_dir, "loss.pb"), "loss"),
        "loss_value": loss.item(),
        "gradients": {},
    }
    index.update(extra)
    for name, p in model.named_parameters():
        index["gradients"][name] = save_pb(p.grad.numpy(), os.path.join(out_dir, f"grad.{name}.pb"), name)
    with open(os.path.join(out_dir, "index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=False)
        f.write("\n")
    return index


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def write_tensor_proto_samples(out_dir):
    """Small TensorProto files in each dtype the test runners read, stored both as raw_data
    and in the typed repeated fields, with the expected values in samples.json, so that a
    TensorProto reader (tests/ort/tensor_proto.js, tamp's io) can be checked without onnx."""
    os.makedirs(out_dir, exist_ok=True)
    samples = {
        "float32": np.array([[1.5, -2.25, 3.0e-8], [float("inf"), -0.0, 65504.0]], dtype=np.float32),
        "float64": np.array([[1.0 / 3.0, -1e300, 5e-324]], dtype=np.float64),
        "int64": np.array([0, -1, 2**62 + 7, -(2**63)], dtype=np.int64),
        "int32": np.array([[-(2**31), 2**31 - 1], [0, -5]], dtype=np.int32),
        "uint8": np.array([0, 1, 127, 128, 255], dtype=np.uint8),
        "int8": np.array([-128, -1, 0, 1, 127], dtype=np.int8),
        "bool": np.array([[True, False, True]], dtype=np.bool_),
        "float16": np.array([1.0, -2.5, 65504.0, 6e-8], dtype=np.float16),
        "scalar_float32": np.array(0.125, dtype=np.float32),
        "empty_float32": np.zeros((2, 0, 3), dtype=np.float32),
    }
    index = {}
    for key, array in samples.items():
        raw = numpy_helper.from_array(array, name=f"{key}_raw")
        # make_tensor(raw=False) puts the values in float_data/int32_data/int64_data/double_data
        # (float16 as bit patterns in int32_data), the other layout a file may use.
        dtype = onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[array.dtype]
        values = array.view(np.uint16).flatten().tolist() if array.dtype == np.float16 else array.flatten().tolist()
        fields = onnx.helper.make_tensor(f"{key}_fields", dtype, array.shape, values, raw=False)
        if array.dtype == np.float16:
            fields.ClearField("int32_data")
            fields.int32_data.extend(values)
        for tensor, suffix in ((raw, "raw"), (fields, "fields")):
            assert np.array_equal(numpy_helper.to_array(tensor), array, equal_nan=False)
            with open(os.path.join(out_dir, f"{key}_{suffix}.pb"), "wb") as f:
                f.write(tensor.SerializeToString())
        expected = array.view(np.uint16) if array.dtype == np.float16 else array

        def json_value(v):  # JSON has no int64 or infinities: those go as strings
            if array.dtype == np.int64:
                return str(v)
            if isinstance(v, float) and not math.isfinite(v):
                return str(v)  # 'inf', '-inf', 'nan'
            return v
        index[key] = {"type": key.split("_")[-1], "dims": list(array.shape),
                      "values": [json_value(v) for v in expected.flatten().tolist()],
                      "values_are_float16_bits": array.dtype == np.float16,
                      "files": [f"{key}_raw.pb", f"{key}_fields.pb"]}
    with open(os.path.join(out_dir, "samples.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    return os.path.join(out_dir, "samples.json")


def export_architectures(models_dir):
    """The narrow ResNet-18, MobileNetV2 and BERT-style encoder (opset 17), and the encoder
    upgraded to opsets 18 and 21."""
    import architectures
    specs = [("resnet18", architectures.NarrowResNet18, torch.randn(2, 3, 32, 32)),
             ("mobilenet_v2", architectures.mobilenet_v2, torch.randn(2, 3, 32, 32)),
             ("bert_encoder", architectures.BertEncoder, torch.randint(0, 100, (2, 16)))]
    for index, (name, make, example) in enumerate(specs):
        torch.manual_seed(SEED + 200 + index)
        gen = torch.Generator().manual_seed(SEED + 300 + index)
        model = make()
        randomise_batch_norm(model, gen)
        randomise_layer_norm(model, gen)
        model.eval()
        path = os.path.join(models_dir, f"{name}.onnx")
        # Grad enabled: torch's fused fast path of TransformerEncoderLayer (no ONNX export)
        # is only taken without it.
        proto = export(model, example, path, 17, training=False)
        print(f"{path}: opset 17, {os.path.getsize(path)} bytes, sha256 {digest(path)}, ops {op_counts(proto)}")
        if name != "bert_encoder":
            continue
        for opset in (18, 21):
            upgraded, notes = architectures.upgrade(proto, opset)
            up_path = os.path.join(models_dir, f"{name}_opset{opset}.onnx")
            onnx.save(upgraded, up_path)
            print(f"{up_path}: opset {opset} ({'; '.join(notes)}), {os.path.getsize(up_path)} bytes, "
                  f"sha256 {digest(up_path)}, ops {op_counts(upgraded)}")


# ----------------------------------------------------------------------------- main
def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data"))
    parser.add_argument("--architectures", action="store_true",
                        help="write only the ResNet-18 / MobileNetV2 / encoder files")
    args = parser.parse_args()
    out = os.path.normpath(args.out)
    models_dir = os.path.join(out, "models")
    os.makedirs(models_dir, exist_ok=True)
    torch.set_num_threads(1)  # one reduction order, the same on every machine
    if args.architectures:
        export_architectures(models_dir)
        return
    written = []

    for index, (name, make, in_shape, opset, notes) in enumerate(MODELS):
        torch.manual_seed(SEED + index)
        gen = torch.Generator().manual_seed(SEED + 100 + index)
        model = make()
        randomise_batch_norm(model, gen)
        randomise_layer_norm(model, gen)
        model.eval()

        x = torch.randn((FIXTURE_BATCH,) + in_shape, generator=gen)
        labels = torch.randint(0, 10, (FIXTURE_BATCH,), generator=gen)
        path = os.path.join(models_dir, f"{name}.onnx")
        with torch.no_grad():
            proto = export(model, x, path, opset, training=False)
        written.append(path)
        print(f"{path}: opset {opset}, {os.path.getsize(path)} bytes, sha256 {digest(path)}, ops {op_counts(proto)}")
        print(f"  {notes}")

        fixture_dir = os.path.join(out, "fixtures", name)
        if name == "cnn_bn":
            # The eval export folded BN into the convs, so the parameters to differentiate
            # live in the training-mode export. BN state before the step is in that file.
            train_path = os.path.join(models_dir, "cnn_bn_train.onnx")
            # Tracing in training mode runs BN in training mode, which moves the running
            # stats before they are written: export a copy, then write the model's own
            # state into the file so both files hold the same model.
            train_proto = export(copy.deepcopy(model), x, train_path, opset, training=True)
            state = model.state_dict()
            for init in train_proto.graph.initializer:
                init.CopyFrom(numpy_helper.from_array(state[init.name].numpy(), name=init.name))
            onnx.save(train_proto, train_path)
            state_before = {k: v.clone() for k, v in state.items()}
            written.append(train_path)
            print(f"{train_path}: opset {opset} training mode, {os.path.getsize(train_path)} bytes, "
                  f"sha256 {digest(train_path)}, ops {op_counts(train_proto)}")
            check_parameters_are_initializers(model, train_proto, train_path)

            # Fixture 1 (cnn_bn): eval mode, BN uses the running stats, no dropout.
            idx = gradient_fixture(model, x, labels, fixture_dir, "models/cnn_bn_train.onnx", "eval",
                                   {"notes": "BatchNormalization uses running statistics; Dropout is identity"})
            written += [os.path.join(fixture_dir, f) for f in ["index.json"]]
            # Fixture 2 (cnn_bn_train): BN in training mode (batch statistics, running stats
            # updated with torch momentum 0.1 = ONNX momentum 0.9, unbiased variance in the
            # running update), Dropout disabled so the numbers are reproducible.
            model.train()
            model.dropout.eval()
            train_dir = os.path.join(out, "fixtures", "cnn_bn_train")
            extra = {"notes": "BatchNormalization in training mode (batch mean and biased batch "
                              "variance normalise; running stats updated as "
                              "r = 0.9 r + 0.1 batch_stat with the UNBIASED batch variance, "
                              "as torch does); Dropout disabled (run it as identity)",
                     "running_stats_after": {}}
            gradient_fixture(model, x, labels, train_dir, "models/cnn_bn_train.onnx", "train", extra)
            for key, value in model.state_dict().items():
                if "running" in key:
                    extra["running_stats_after"][key] = save_pb(
                        value.numpy(), os.path.join(train_dir, f"after.{key}.pb"), key)
            with open(os.path.join(train_dir, "index.json"), "r+") as f:
                data = json.load(f)
                data["running_stats_after"] = extra["running_stats_after"]
                f.seek(0)
                json.dump(data, f, indent=2)
                f.write("\n")
                f.truncate()
            model.load_state_dict(state_before)
            model.eval()
            written.append(os.path.join(train_dir, "index.json"))
        else:
            check_parameters_are_initializers(model, proto, path)
            gradient_fixture(model, x, labels, fixture_dir, f"models/{name}.onnx", "eval", {})
            written.append(os.path.join(fixture_dir, "index.json"))

        # The eval-mode output of the eval export, for runners of the .onnx file (ORT, tamp).
        with torch.no_grad():
            y = model(x).numpy()
        save_pb(y, os.path.join(fixture_dir, "output.pb"), "logits")
        with open(os.path.join(fixture_dir, "index.json"), "r+") as f:
            data = json.load(f)
            data["eval_model"] = f"models/{name}.onnx"
            data["eval_output"] = {"name": "logits", "file": "output.pb"}
            f.seek(0)
            json.dump(data, f, indent=2)
            f.write("\n")
            f.truncate()

    written.append(write_tensor_proto_samples(os.path.join(out, "tensor_proto")))
    print("wrote:")
    for path in written:
        print(f"  {path}")
    for name, *_ in MODELS + [("cnn_bn_train",)]:
        d = os.path.join(out, "fixtures", name)
        files = sorted(os.listdir(d))
        print(f"  {d}/: {len(files)} files, {sum(os.path.getsize(os.path.join(d, f)) for f in files)} bytes")


if __name__ == "__main__":
    main()
