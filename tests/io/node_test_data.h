// ONNX backend test folders (a model.onnx and test_data_set_*/{input,output}_K.pb) run
// through tamp: Debian's libonnx-testdata ships the node tests ($TAMP_ONNX_NODE_TESTS, else
// its data/node) and PyTorch-exported operator tests (data/pytorch-operator and
// data/pytorch-converted beside it).
//
//   NodeTestOutcome o = run_node_test(node_test_root() + "/test_relu");
//   if (o.category == NodeTestCategory::kFail) ... o.detail says what differs
#pragma once

#include <tamp/autograd/tensor.h>

#include <map>
#include <string>
#include <vector>

namespace tamp::test {

std::string node_test_root();
// Debian's libonnx-testdata data folder holding node/, pytorch-operator/, ... (the parent
// of node_test_root()).
std::string onnx_test_data_root();
// Sorted folder names under `root` holding a model.onnx; {"no_node_tests_found"} when there
// are none, so parameterised suites still instantiate (and skip).
std::vector<std::string> node_test_dirs(const std::string& root = node_test_root());
// A test-data TensorProto. ONNX 1.12 writes bfloat16 data as uint16 (numpy has no bfloat16):
// when `expected` is bfloat16 and the file holds uint16, the same bits come back as bfloat16.
Tensor read_node_test_tensor(const std::string& path, DType expected);

// Node tests that cannot pass whatever tamp implements, with the reason.
const std::map<std::string, std::string>& excluded_node_tests();

enum class NodeTestCategory {
  kPass,         // the outputs match (ONNX's tolerances: rtol 1e-3, atol 1e-7; integers exact)
  kFail,         // an error tamp should not raise, or outputs that differ
  kUnsupported,  // tamp lacks the op, the dtype or the value kind (kUnsupported)
  kSkipped,      // excluded with a reason, or only an old opset of an op tamp has is missing
};

struct NodeTestOutcome {
  std::string test;  // folder name
  std::string op;    // the op it exercises ("Op (expanded)" for function expansions)
  NodeTestCategory category;
  std::string detail;
};

// Loads `dir`/model.onnx through the importer (eval mode, no grad, no constant folding), runs
// every test_data_set_* and compares with its outputs. Never throws for what the model does.
NodeTestOutcome run_node_test(const std::string& dir);

}  // namespace tamp::test
