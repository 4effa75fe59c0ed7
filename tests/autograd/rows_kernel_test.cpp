// The row kernels (kernels/rows.h: Softmax, LogSoftmax, LayerNormalization over the last
// axis, and the sums of ReduceSum and of broadcast gradients) and the channel kernels
// (kernels/channels.h: BatchNormalization), fp32, through their ops, on every instruction set
// this CPU runs, against the same ops in float64 (which run the general code): lengths that
// end inside a vector (1 to 70), large and negative values, forward and backward.
#include <tamp/autograd/apply.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/random.h>
#include <tamp/autograd/variable.h>

#include "support/expect.h"
#include "support/simd_targets.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace tamp::test {
namespace {

Tensor random_tensor(const Shape& shape, uint64_t seed, double scale) {
  Generator rng(seed);
  Tensor t = Tensor::empty(shape, DType::kFloat64);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = scale * (2 * rng.uniform() - 1);
  return t;
}

// Runs `op` on the float32 and float64 copies of the inputs and compares the first output and
// the gradients of the first `differentiated` inputs (-1: every input).
void compare(const char* op, const std::vector<Tensor>& inputs64, const Attributes& attrs,
             double tol, const CallOptions& options = {}, int differentiated = -1) {
  std::vector<Variable> v32, v64;
  for (const Tensor& t : inputs64) {
    v64.emplace_back(t, true);
    v32.emplace_back(t.to(DType::kFloat32), true);
  }
  Variable y32 = apply1(op, v32, attrs, options), y64 = apply1(op, v64, attrs, options);
  expect_close(y32.value().to(DType::kFloat64), y64.value(), {.atol = tol, .rtol = tol},
               std::string(op) + " forward");
  const Tensor seed = random_tensor(y64.shape(), 99, 1.0);
  backward({y32}, {seed.to(DType::kFloat32)});
  backward({y64}, {seed});
  const size_t count = differentiated < 0 ? inputs64.size() : static_cast<size_t>(differentiated);
  for (size_t i = 0; i < count; ++i) {
    expect_close(v32[i].grad().to(DType::kFloat64), v64[i].grad(), {.atol = tol, .rtol = tol},
                 std::string(op) + " gradient of input " + std::to_string(i));
  }
}

class RowKernel : public OnEverySimdTarget {};

TEST_P(RowKernel, SoftmaxLogSoftmaxAndLayerNormMatchFloat64) {
  for (int64_t n : {1, 3, 7, 8, 9, 16, 17, 32, 70}) {
    SCOPED_TRACE("row length " + std::to_string(n));
    for (double scale : {1.0, 30.0}) {  // 30: exp of large differences, rows dominated by one value
      const Tensor x = random_tensor({5, 3, n}, static_cast<uint64_t>(n), scale);
      compare("Softmax", {x}, {}, 2e-6);
      compare("LogSoftmax", {x}, {}, 2e-6);
    }
    const Tensor x = random_tensor({6, n}, 7 + n, 3.0), gamma = random_tensor({n}, 11, 2.0),
                 beta = random_tensor({n}, 13, 1.0);
    compare("LayerNormalization", {x, gamma, beta}, {}, 2e-5);
    compare("LayerNormalization", {x, gamma}, {{"epsilon", 0.1f}}, 2e-5);
  }
}

TEST_P(RowKernel, BatchNormalizationChannelsMatchFloat64) {
  // (batch, spatial size): runs that end inside a vector, and channels of more values than the
  // kernels sum in float before moving to double (1,024).
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{4, 1},  {4, 3},   {4, 7},  {4, 8},
                                                           {4, 9},  {4, 16},  {4, 17}, {4, 49},
                                                           {4, 70}, {300, 4}, {40, 49}};
  for (const auto& [n, s] : shapes) {
    SCOPED_TRACE("batch " + std::to_string(n) + ", spatial size " + std::to_string(s));
    const int64_t c = 3;
    Tensor var = random_tensor({c}, 44, 0.5);  // running variance in [1, 2]
    for (int64_t k = 0; k < c; ++k) var.data<double>()[k] += 1.5;
    const std::vector<Tensor> stats = {random_tensor({n, c, s}, 40 + s, 3.0),
                                       random_tensor({c}, 41, 2.0), random_tensor({c}, 42, 1.0),
                                       random_tensor({c}, 43, 0.5), var};
    compare("BatchNormalization", stats, {{"momentum", 0.8f}}, 2e-5,
            {.opset = 15, .training = true}, 3);
    compare("BatchNormalization", stats, {}, 2e-5, {.opset = 15}, 3);  // eval: running statistics
  }
}

TEST_P(RowKernel, SumsOfReduceSumAndBroadcastGradientsMatchFloat64) {
  for (int64_t n : {1, 7, 8, 9, 17, 70}) {
    SCOPED_TRACE("last axis " + std::to_string(n));
    const Tensor x = random_tensor({5, 3, n}, 60 + n, 3.0);
    for (const std::vector<int64_t>& axes :
         std::vector<std::vector<int64_t>>{{2}, {0}, {1}, {0, 2}, {0, 1}}) {
      compare("ReduceSum", {x}, {{"axes", axes}}, 2e-6, {.opset = 11});
    }
    // The bias gradient of a broadcast Add: dY summed over the leading axes (sum_to).
    compare("Add", {x, random_tensor({n}, 61, 1.0)}, {}, 2e-6);
    compare("Add", {x, random_tensor({3, 1}, 62, 1.0)}, {}, 2e-6);
  }
}

TEST_P(RowKernel, NaNInARowMakesThatRowNaNOnly) {
  Tensor x = Tensor::zeros({2, 9}, DType::kFloat32);
  x.data<float>()[4] = std::nanf("");
  const Tensor y = run("Softmax", {x})[0];
  for (int64_t j = 0; j < 9; ++j) {
    EXPECT_TRUE(std::isnan(y.data<float>()[j])) << j;
    EXPECT_FLOAT_EQ(y.data<float>()[9 + j], 1.0f / 9) << j;
  }
}

TAMP_ON_EVERY_SIMD_TARGET(RowKernel);

}  // namespace
}  // namespace tamp::test
