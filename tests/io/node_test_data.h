// Where ONNX's backend node tests live ($TAMP_ONNX_NODE_TESTS, else Debian's
// libonnx-testdata) and the test folders found there.
#pragma once

#include <tamp/autograd/tensor.h>

#include <string>
#include <vector>

namespace tamp::test {

std::string node_test_root();
// Sorted folder names holding a model.onnx; {"no_node_tests_found"} when there are none, so
// parameterised suites still instantiate (and skip).
std::vector<std::string> node_test_dirs();
// A test-data TensorProto. ONNX 1.12 writes bfloat16 data as uint16 (numpy has no bfloat16):
// when `expected` is bfloat16 and the file holds uint16, the same bits come back as bfloat16.
Tensor read_node_test_tensor(const std::string& path, DType expected);

}  // namespace tamp::test
