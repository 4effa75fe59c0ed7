// The data the tests share: the test models (tests/data/models/, written by
// scripts/export_test_models.py) and Debian's Fashion-MNIST, read once per process.
//
//   nn::GraphModule m(io::load_onnx_graph(test::model_file("cnn")));
//   const nn::TrainTest& data = test::fashion_data();
#pragma once

#include "support/ort_runner.h"

#include <tamp/io/idx.h>

#include <string>

namespace tamp::test {

inline std::string model_file(const std::string& name) {
  return source_dir() + "/tests/data/models/" + name + ".onnx";
}

inline const nn::TrainTest& fashion_data() {
  static const nn::TrainTest data = io::fashion_mnist("/usr/share/datasets/fashion-mnist");
  return data;
}

}  // namespace tamp::test
