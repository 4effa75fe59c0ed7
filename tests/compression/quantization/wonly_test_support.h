// Shared by the dynamic, weight-only and fp16 tests: the test models (and an MLP trained one
// epoch on Fashion-MNIST, since the exported one is untrained), calibration batches, error
// measures, and running a graph in ONNX Runtime and in tamp.
#pragma once

#include <tamp/autograd/variable.h>
#include <tamp/compression/quantization/ptq/weight_only.h>
#include <tamp/io/idx.h>
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>
#include <tamp/scheduler/trainer.h>

#include "support/ort_runner.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace tamp::test::wonly {

inline nn::Graph load_model(const std::string& name) {
  return io::load_onnx_graph(source_dir() + "/tests/data/models/" + name + ".onnx");
}

inline const nn::TrainTest& fashion_mnist() {
  static const nn::TrainTest data = io::fashion_mnist("/usr/share/datasets/fashion-mnist");
  return data;
}

// Rows [begin, end) of the images flattened to [n, 784].
inline Tensor flat_images(const Tensor& x, int64_t begin, int64_t end) {
  const int64_t per = x.numel() / x.dim(0);
  Tensor out = Tensor::empty({end - begin, per});
  std::copy(x.data<float>() + begin * per, x.data<float>() + end * per, out.data<float>());
  return out;
}

// The MLP after 300 SGD steps of 64 Fashion-MNIST images (about 80 % test accuracy); trained once
// per test binary.
inline const nn::Graph& trained_mlp() {
  static const nn::Graph g = [] {
    nn::GraphModule m(load_model("mlp"));
    Trainer t(m, {},
              {.train = fashion_mnist().train,
               .epochs = 1,
               .max_steps_per_epoch = 300,
               .batch_size = 64,
               .optimizer = SGD{.lr = 0.05, .momentum = 0.9},
               .seed = 7});
    t.run();
    return m.export_graph();
  }();
  return g;
}

// `count` training batches of `batch` rows for the MLP (input "input", [batch, 784]).
inline std::vector<compression::CalibrationBatch> mlp_calibration(int count, int64_t batch = 64) {
  std::vector<compression::CalibrationBatch> out;
  const Tensor& x = fashion_mnist().train->x();
  for (int i = 0; i < count; ++i)
    out.push_back({{"input", flat_images(x, i * batch, (i + 1) * batch)}});
  return out;
}

// Standard normal [n, 64, 16] for the transformer, seeded.
inline Tensor transformer_input(int64_t n, uint64_t seed) {
  Generator rng(seed);
  Tensor x = Tensor::empty({n, 64, 16});
  float* p = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = static_cast<float>(rng.normal());
  return x;
}

inline std::vector<compression::CalibrationBatch> transformer_calibration(int count,
                                                                          int64_t batch = 16) {
  std::vector<compression::CalibrationBatch> out;
  for (int i = 0; i < count; ++i) out.push_back({{"input", transformer_input(batch, 100 + i)}});
  return out;
}

// The graph's only output for `x` in ONNX Runtime (saved to `dir`/`file`).
inline Tensor ort_output(const nn::Graph& g, const Tensor& x, const TempDir& dir,
                         const std::string& file, const std::string& optimized = {}) {
  const std::string path = dir.file(file);
  io::save_onnx_graph(g, path);
  return run_ort(path, {{g.inputs.at(0).name, x}}, {.optimized_model = optimized})
      .at(g.outputs.at(0).name);
}

// The graph's only output for `x` in tamp (eval mode, no tape).
inline Tensor tamp_output(const nn::Graph& g, const Tensor& x) {
  nn::GraphModule m(g);
  m.eval();
  NoGradGuard no_grad;
  return m.forward({{g.inputs.at(0).name, Variable(x)}}).at(g.outputs.at(0).name).value();
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double m = 0;
  for (int64_t i = 0; i < std::min(a.numel(), b.numel()); ++i)
    m = std::max(m, std::abs(a.at(i) - b.at(i)));
  return m;
}

inline double max_abs(const Tensor& a) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(a.at(i)));
  return m;
}

// ||a - b|| / ||b||.
inline double relative_error(const Tensor& a, const Tensor& b) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    const double d = a.at(i) - b.at(i);
    num += d * d;
    den += b.at(i) * b.at(i);
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

inline double accuracy(const Tensor& logits, const Tensor& labels) {
  const int64_t n = logits.dim(0), c = logits.dim(1);
  int64_t hits = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = logits.data<float>() + i * c;
    hits += (std::max_element(row, row + c) - row) == static_cast<int64_t>(labels.at(i));
  }
  return static_cast<double>(hits) / static_cast<double>(n);
}

// Op types of an ONNX file (ORT's optimised graph), read without folding.
inline std::vector<std::string> op_types(const std::string& path) {
  std::vector<std::string> ops;
  for (const auto& n : io::load_onnx_graph(path, {.fold_constants = false}).nodes)
    ops.push_back(n.op_type);
  return ops;
}

inline int count_of(const std::vector<std::string>& ops, const std::string& op) {
  return static_cast<int>(std::count(ops.begin(), ops.end(), op));
}

}  // namespace tamp::test::wonly
