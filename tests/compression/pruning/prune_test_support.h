// Shared by the pruning and distillation tests: small hand-built graphs, synthetic and
// Fashion-MNIST data, the test models, and driving a component through a fake training loop.
#pragma once

#include <tamp/compression/component.h>
#include <tamp/io/idx.h>
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>
#include <tamp/nn/dataset.h>
#include <tamp/nn/graph_module.h>
#include <tamp/nn/init.h>
#include <tamp/scheduler/trainer.h>

#include "support/ort_runner.h"
#include "support/temp_dir.h"
#include "support/test_data.h"

#include <string>

namespace tamp::test {

inline Tensor random_tensor(const Shape& shape, Generator& rng, double scale = 1.0) {
  return nn::init::uniform(shape, -scale, scale, rng);
}

// A short fine-tuning run: batch 32, SGD (lr 0.05, momentum 0.9).
inline TrainOptions quick_training(std::shared_ptr<nn::TensorDataset> data, int epochs = 1) {
  TrainOptions o;
  o.train = std::move(data);
  o.epochs = epochs;
  o.batch_size = 32;
  o.optimizer = SGD{.lr = 0.05, .momentum = 0.9};
  return o;
}

// x (N, in) -> Gemm(transB=1) -> Relu -> Gemm -> logits; weights "fc1.weight" [hidden, in],
// "fc2.weight" [out, hidden] and biases.
inline nn::Graph mlp_graph(int64_t in, int64_t hidden, int64_t out, uint64_t seed = 1) {
  Generator rng(seed);
  nn::Graph g;
  g.inputs.push_back({"input", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim::of(in)}});
  g.initializers["fc1.weight"] =
      random_tensor({hidden, in}, rng, 1.0 / std::sqrt(static_cast<double>(in)));
  g.initializers["fc1.bias"] = random_tensor({hidden}, rng, 0.1);
  g.initializers["fc2.weight"] =
      random_tensor({out, hidden}, rng, 1.0 / std::sqrt(static_cast<double>(hidden)));
  g.initializers["fc2.bias"] = random_tensor({out}, rng, 0.1);
  g.nodes.push_back({"fc1",
                     "Gemm",
                     "",
                     {"input", "fc1.weight", "fc1.bias"},
                     {"h"},
                     nn::attrs_with({{"transB", int64_t{1}}})});
  g.nodes.push_back({"relu", "Relu", "", {"h"}, {"r"}});
  g.nodes.push_back({"fc2",
                     "Gemm",
                     "",
                     {"r", "fc2.weight", "fc2.bias"},
                     {"logits"},
                     nn::attrs_with({{"transB", int64_t{1}}})});
  g.outputs.push_back({"logits", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim::of(out)}});
  return g;
}

// (N, 1, 12, 12) -> Conv(c1, 3x3) -> BatchNormalization -> Relu -> MaxPool 2 -> Conv(c2, 3x3)
// -> Relu -> Flatten -> Gemm(transB=1, fc) -> Relu -> Gemm(10); BN state randomised.
inline nn::Graph conv_bn_graph(int64_t c1 = 8, int64_t c2 = 8, int64_t fc = 16, uint64_t seed = 2) {
  Generator rng(seed);
  nn::Graph g;
  g.inputs.push_back(
      {"input",
       DType::kFloat32,
       {nn::Dim::symbolic("batch"), nn::Dim::of(1), nn::Dim::of(12), nn::Dim::of(12)}});
  auto& I = g.initializers;
  I["conv1.weight"] = random_tensor({c1, 1, 3, 3}, rng, 1.0 / 3);
  I["conv1.bias"] = random_tensor({c1}, rng, 0.1);
  I["bn.scale"] = nn::init::uniform({c1}, 0.5, 1.5, rng);
  I["bn.bias"] = random_tensor({c1}, rng, 0.2);
  I["bn.mean"] = random_tensor({c1}, rng, 0.2);
  I["bn.var"] = nn::init::uniform({c1}, 0.5, 1.5, rng);
  I["conv2.weight"] =
      random_tensor({c2, c1, 3, 3}, rng, 1.0 / std::sqrt(9.0 * static_cast<double>(c1)));
  I["conv2.bias"] = random_tensor({c2}, rng, 0.1);
  I["fc1.weight"] =
      random_tensor({fc, c2 * 9}, rng, 1.0 / std::sqrt(9.0 * static_cast<double>(c2)));
  I["fc1.bias"] = random_tensor({fc}, rng, 0.1);
  I["fc2.weight"] = random_tensor({10, fc}, rng, 1.0 / std::sqrt(static_cast<double>(fc)));
  I["fc2.bias"] = random_tensor({10}, rng, 0.1);
  auto ints = [](std::vector<int64_t> v) { return v; };
  g.nodes.push_back({"conv1",
                     "Conv",
                     "",
                     {"input", "conv1.weight", "conv1.bias"},
                     {"c1"},
                     nn::attrs_with({{"kernel_shape", ints({3, 3})}})});
  g.nodes.push_back(
      {"bn", "BatchNormalization", "", {"c1", "bn.scale", "bn.bias", "bn.mean", "bn.var"}, {"b1"}});
  g.nodes.push_back({"relu1", "Relu", "", {"b1"}, {"r1"}});
  g.nodes.push_back({"pool1",
                     "MaxPool",
                     "",
                     {"r1"},
                     {"p1"},
                     nn::attrs_with({{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}})});
  g.nodes.push_back({"conv2",
                     "Conv",
                     "",
                     {"p1", "conv2.weight", "conv2.bias"},
                     {"c2"},
                     nn::attrs_with({{"kernel_shape", ints({3, 3})}})});
  g.nodes.push_back({"relu2", "Relu", "", {"c2"}, {"r2"}});
  g.nodes.push_back({"flatten", "Flatten", "", {"r2"}, {"f"}});
  g.nodes.push_back({"fc1",
                     "Gemm",
                     "",
                     {"f", "fc1.weight", "fc1.bias"},
                     {"h"},
                     nn::attrs_with({{"transB", int64_t{1}}})});
  g.nodes.push_back({"relu3", "Relu", "", {"h"}, {"r3"}});
  g.nodes.push_back({"fc2",
                     "Gemm",
                     "",
                     {"r3", "fc2.weight", "fc2.bias"},
                     {"logits"},
                     nn::attrs_with({{"transB", int64_t{1}}})});
  g.outputs.push_back({"logits", DType::kFloat32, {nn::Dim::symbolic("batch"), nn::Dim::of(10)}});
  return g;
}

// Random inputs with labels from a fixed random linear rule, so a model can learn them.
inline std::shared_ptr<nn::TensorDataset> synthetic_data(const Shape& example, int64_t n,
                                                         int64_t classes, uint64_t seed = 3) {
  Generator rng(seed);
  Shape xs{n};
  xs.insert(xs.end(), example.begin(), example.end());
  Tensor x = nn::init::normal(xs, 0, 1, rng);
  const int64_t d = x.numel() / n;
  Tensor w = nn::init::normal({classes, d}, 0, 1, rng);
  Tensor y({n}, DType::kInt64);
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    double best_v = -1e30;
    for (int64_t c = 0; c < classes; ++c) {
      double v = 0;
      for (int64_t k = 0; k < d; ++k) v += w.data<float>()[c * d + k] * x.data<float>()[i * d + k];
      if (v > best_v) best_v = v, best = c;
    }
    y.data<int64_t>()[i] = best;
  }
  return std::make_shared<nn::TensorDataset>(x, y);
}

// Zeros in a tensor (any float dtype).
inline int64_t count_zeros(const Tensor& t) {
  const Tensor f = t.to(DType::kFloat32);
  int64_t n = 0;
  for (int64_t i = 0; i < f.numel(); ++i) n += f.data<float>()[i] == 0;
  return n;
}

// Sets every parameter's gradient to `g` (a fake backward pass).
inline void fake_gradients(nn::GraphModule& m, Generator& rng) {
  for (auto& [name, p] : m.named_parameters()) p.set_grad(random_tensor(p.shape(), rng));
}

}  // namespace tamp::test
