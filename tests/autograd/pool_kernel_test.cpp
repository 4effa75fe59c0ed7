// MaxPool's vectorised 2x2 / stride-2 path (kernels/pool.h) through the op, on every
// instruction set this CPU runs, against a naive reference written from ONNX's definition:
// the first maximum of each window wins ties, NaN wins a window, Indices are flat over the
// input. Inputs hold many ties (values from a small set), NaN in some planes, and widths that
// end inside a vector; the gradient goes to the chosen element.
#include <tamp/autograd/apply.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/random.h>
#include <tamp/autograd/variable.h>

#include "support/simd_targets.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace tamp::test {
namespace {

Tensor tied_input(const Shape& shape, uint64_t seed, bool with_nan) {
  Generator rng(seed);
  Tensor t = Tensor::empty(shape, DType::kFloat32);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] = static_cast<float>(rng.below(5)) - 2;  // -2 .. 2, many ties
  if (with_nan) {
    for (int64_t i = 7; i < t.numel(); i += 97) p[i] = std::numeric_limits<float>::quiet_NaN();
  }
  return t;
}

// (values, flat indices) of 2x2 / stride-2 max pooling of x (N, C, H, W), floor mode.
std::pair<std::vector<float>, std::vector<int64_t>> reference(const Tensor& x) {
  const Shape& s = x.shape();
  const int64_t oh = s[2] / 2, ow = s[3] / 2;
  std::vector<float> y;
  std::vector<int64_t> idx;
  const float* p = x.data<float>();
  for (int64_t plane = 0; plane < s[0] * s[1]; ++plane) {
    for (int64_t i = 0; i < oh; ++i) {
      for (int64_t j = 0; j < ow; ++j) {
        int64_t best = -1;
        for (int64_t a = 0; a < 2; ++a) {
          for (int64_t b = 0; b < 2; ++b) {
            const int64_t at = plane * s[2] * s[3] + (2 * i + a) * s[3] + 2 * j + b;
            const bool better =
                best < 0 || (!std::isnan(p[best]) && (p[at] > p[best] || std::isnan(p[at])));
            if (better) best = at;
          }
        }
        y.push_back(p[best]);
        idx.push_back(best);
      }
    }
  }
  return {y, idx};
}

class MaxPoolKernel : public OnEverySimdTarget {};

TEST_P(MaxPoolKernel, TwoByTwoMatchesTheDefinitionWithTiesAndNaN) {
  const Attributes attrs{{"kernel_shape", std::vector<int64_t>{2, 2}},
                         {"strides", std::vector<int64_t>{2, 2}}};
  for (const Shape& shape :
       std::vector<Shape>{{2, 3, 8, 34}, {1, 2, 5, 19}, {3, 1, 6, 2}, {1, 1, 4, 64}}) {
    for (bool with_nan : {false, true}) {
      SCOPED_TRACE(to_string(shape) + (with_nan ? " with NaN" : ""));
      const Tensor x = tied_input(shape, shape[3] * 7 + with_nan, with_nan);
      const auto out = run("MaxPool", {x}, attrs, {.num_outputs = 2});
      const auto [want_y, want_idx] = reference(x);
      ASSERT_EQ(out[0].numel(), static_cast<int64_t>(want_y.size()));
      for (size_t i = 0; i < want_y.size(); ++i) {
        const float got = out[0].data<float>()[i];
        ASSERT_TRUE(std::isnan(want_y[i]) ? std::isnan(got) : got == want_y[i]) << "y[" << i << "]";
        ASSERT_EQ(out[1].data<int64_t>()[i], want_idx[i]) << "Indices[" << i << "]";
      }
      // The gradient lands on the chosen elements.
      Variable xv(x, true);
      Variable y = apply1("MaxPool", {xv}, attrs);
      backward({y}, {Tensor::full(y.shape(), 1.0f)});
      std::vector<float> want_dx(x.numel(), 0.0f);
      for (int64_t at : want_idx) want_dx[at] += 1;
      for (int64_t i = 0; i < x.numel(); ++i)
        ASSERT_EQ(xv.grad().data<float>()[i], want_dx[i]) << "dx[" << i << "]";
    }
  }
}

TAMP_ON_EVERY_SIMD_TARGET(MaxPoolKernel);

}  // namespace
}  // namespace tamp::test
