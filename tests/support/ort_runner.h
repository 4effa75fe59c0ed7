// Runs a model in ONNX Runtime (onnxruntime-node through tests/ort/run_ort.js), the outside
// reference every exported model is compared with.
//
//   auto out = test::run_ort("model.onnx", {{"input", x}});      // output name -> tensor
//   auto fused = test::run_ort("q.onnx", {{"input", x}}, {.optimized_model = "opt.onnx"});
#pragma once

#include <tamp/autograd/tensor.h>

#include <map>
#include <string>

namespace tamp::test {

struct OrtOptions {
  std::string optimized_model;  // where ORT saves its optimized graph ("" = not saved)
  int threads = 1;
};

// Throws tamp::Error with ORT's stderr when the run fails (node or onnxruntime-node missing:
// run tests/ort/setup.sh).
std::map<std::string, Tensor> run_ort(const std::string& model,
                                      const std::map<std::string, Tensor>& inputs,
                                      const OrtOptions& options = {});

// The repository root (TAMP_SOURCE_DIR, set by ctest).
std::string source_dir();

}  // namespace tamp::test
