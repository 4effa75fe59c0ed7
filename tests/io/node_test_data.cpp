#include "io/node_test_data.h"

#include <tamp/io/tensor_proto.h>

#include <algorithm>
#include <cstring>
#include <cstdlib>
#include <filesystem>

namespace tamp::test {

std::string node_test_root() {
  const char* env = std::getenv("TAMP_ONNX_NODE_TESTS");
  return env ? env : "/usr/share/libonnx-testdata/data/node";
}

std::vector<std::string> node_test_dirs() {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(node_test_root(), ec)) {
    if (e.is_directory() && fs::exists(e.path() / "model.onnx")) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  if (out.empty()) out.push_back("no_node_tests_found");
  return out;
}

Tensor read_node_test_tensor(const std::string& path, DType expected) {
  Tensor t = io::read_tensor_file(path);
  if (expected != DType::kBFloat16 || t.dtype() != DType::kUInt16) return t;
  Tensor out = Tensor::empty(t.shape(), DType::kBFloat16);
  std::memcpy(out.raw_data(), t.raw_data(), t.nbytes());
  return out;
}

}  // namespace tamp::test
