// Shared by the quantization tests: Fashion-MNIST subsets, the test models, float training
// through the Trainer, and running a model in ONNX Runtime over a dataset.
#pragma once

#include <tamp/compression/quantization/lowering/lower.h>
#include <tamp/io/idx.h>
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>
#include <tamp/scheduler/evaluate.h>
#include <tamp/scheduler/trainer.h>

#include "support/ort_runner.h"
#include "support/temp_dir.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace tamp::test {

inline const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

inline const nn::TrainTest& fashion_mnist() {
  static const nn::TrainTest data = io::fashion_mnist(kFashionMnistDir);
  return data;
}

inline std::string model_path(const std::string& name) {
  return source_dir() + "/tests/data/models/" + name + ".onnx";
}

inline nn::Graph load_model(const std::string& name) {
  return io::load_onnx_graph(model_path(name));
}

// Logits of `graph` for `x` in ONNX Runtime; with `optimized` set, ORT's optimised graph is
// saved there.
inline Tensor ort_logits(const nn::Graph& graph, const Tensor& x, const TempDir& dir,
                         const std::string& file, const std::string& optimized = {}) {
  const std::string path = dir.file(file);
  io::save_onnx_graph(graph, path);
  const std::string input = graph.inputs.at(0).name;
  auto out = run_ort(path, {{input, x}}, {.optimized_model = optimized});
  return out.at(graph.outputs.at(0).name);
}

// tamp's logits for x (eval mode, no tape) as evaluation computes them: a FakeQuantize model
// as its export runs in ONNX Runtime (onnx_runtime_simulation).
inline Tensor tamp_logits(nn::GraphModule& m, const Tensor& x) {
  NoGradGuard no_grad;
  const bool was = m.is_training();
  m.eval();
  const auto simulation = onnx_runtime_simulation(m);
  nn::GraphModule& run = simulation ? *simulation : m;
  Tensor y =
      run.forward({{m.graph().inputs.at(0).name, Variable(fit_input(m.graph().inputs.at(0), x))}})
          .at(m.graph().outputs.at(0).name)
          .value();
  m.train(was);
  return y;
}

inline std::vector<int64_t> argmax_rows(const Tensor& logits) {
  const int64_t n = logits.dim(0), c = logits.dim(1);
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float* row = logits.data<float>() + i * c;
    out[static_cast<size_t>(i)] = std::max_element(row, row + c) - row;
  }
  return out;
}

inline double accuracy(const Tensor& logits, const Tensor& labels) {
  const auto am = argmax_rows(logits);
  int64_t hits = 0;
  for (size_t i = 0; i < am.size(); ++i)
    hits += am[i] == static_cast<int64_t>(labels.at(static_cast<int64_t>(i)));
  return static_cast<double>(hits) / static_cast<double>(am.size());
}

// Op types of an ONNX file's nodes (to look at ORT's optimised graph).
inline std::vector<std::string> op_types(const std::string& path) {
  nn::Graph g = io::load_onnx_graph(path, {.fold_constants = false});
  std::vector<std::string> ops;
  for (const auto& n : g.nodes) ops.push_back(n.op_type);
  return ops;
}

}  // namespace tamp::test
