// Conv / ConvTranspose: values against PyTorch and ONNX, the float32 fast paths against
// float64, thread-count invariance, and the errors for malformed shapes and attributes.
#include <tamp/autograd/apply.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/threads.h>
#include <tamp/autograd/variable.h>

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>

namespace tamp {
namespace {

using Ints = std::vector<int64_t>;

Tensor pattern(const Shape& shape, int mod, double offset, double scale,
               DType dtype = DType::kFloat64) {
  Tensor t = Tensor::empty(shape, DType::kFloat64);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<double>()[i] = (static_cast<double>(i % mod) - offset) * scale;
  return t.to(dtype);
}

void expect_near(const Tensor& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  for (int64_t i = 0; i < got.numel(); ++i) EXPECT_NEAR(got.at(i), want[i], tol) << "at " << i;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(a.at(i) - b.at(i)));
  return m;
}

// Error message of running an op, or "" when it succeeds.
std::string error_of(std::string_view op, const std::vector<Tensor>& in, Attributes attrs) {
  try {
    run(op, in, std::move(attrs));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ConvOps, GroupedStridedDilated1dMatchesPyTorch) {
  // torch.nn.functional.conv1d(F.pad(x, (2, 1)), w, b, stride=2, dilation=2, groups=2)
  const Tensor x = pattern({2, 4, 7}, 5, 2, 0.25);
  const Tensor w = pattern({6, 2, 3}, 7, 3, 0.125);
  const Tensor b = Tensor::from_vector<double>({6}, {0.5, -1, 0.25, 0, 1, -0.5});
  auto y = run(
      "Conv", {x, w, b},
      {{"pads", Ints{2, 1}}, {"strides", Ints{2}}, {"dilations", Ints{2}}, {"group", int64_t{2}}});
  ASSERT_EQ(y[0].shape(), Shape({2, 6, 3}));
  expect_near(y[0],
              {0.75,    0.625,   0.4375, -0.75,    -1.34375, -1.15625, 0.0625,   -0.125,   0.4375,
               0.0625,  0.1875,  -0.125, 1.03125,  0.96875,  1.1875,   -0.71875, -0.3125,  -0.65625,
               0.4375,  0.65625, 0.625,  -0.96875, -0.59375, -1.34375, 0.59375,  0.25,     -0.125,
               0.09375, -0.125,  0.1875, 1.0,      1.21875,  0.96875,  -0.15625, -0.59375, -0.3125},
              1e-12);
}

TEST(ConvOps, ConvTransposeOutputPaddingAndPadsMatchPyTorch) {
  // conv_transpose1d(x, w, stride=2, output_padding=1)[..., 1:] (ONNX pads [1, 0])
  const Tensor x = pattern({1, 2, 3}, 6, 2, 0.5);
  const Tensor w = pattern({2, 2, 3}, 5, 2, 0.25);
  auto y = run("ConvTranspose", {x, w},
               {{"strides", Ints{2}}, {"output_padding", Ints{1}}, {"pads", Ints{1, 0}}});
  ASSERT_EQ(y[0].shape(), Shape({1, 2, 7}));
  expect_near(y[0],
              {0.25, 0.125, 0.125, -0.125, 0.0, 0.375, 0.0,  //
               -0.75, 0.75, -0.75, 0.75, -0.75, -0.375, 0.0},
              1e-12);
}

TEST(ConvOps, ConvTransposeSameUpperPutsTheOddPaddingAtTheEnd) {
  // ONNX backend test test_convtranspose_autopad_same, first output row.
  const Tensor x = Tensor::from_vector<float>({1, 1, 3, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8});
  const Tensor w = Tensor::ones({1, 2, 3, 3});
  auto y = run("ConvTranspose", {x, w},
               {{"auto_pad", std::string("SAME_UPPER")}, {"strides", Ints{2, 2}}});
  ASSERT_EQ(y[0].shape(), Shape({1, 2, 6, 6}));
  const std::vector<double> channel = {0, 0, 1, 1, 3, 2, 0, 0, 1,  1,  3,  2,  3, 3, 8,  5, 12, 7,
                                       3, 3, 7, 4, 9, 5, 9, 9, 20, 11, 24, 13, 6, 6, 13, 7, 15, 8};
  std::vector<double> both = channel;
  both.insert(both.end(), channel.begin(), channel.end());
  expect_near(y[0], both, 0);
}

// The definition, loop by loop, for 2-D NCHW with ONNX pads [top, left, bottom, right].
Tensor naive_conv2d(const Tensor& x, const Tensor& w, int64_t group, Ints strides, Ints pads,
                    Ints dil) {
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3), m = w.dim(0),
                kh = w.dim(2), kw = w.dim(3);
  const int64_t oh = (h + pads[0] + pads[2] - (kh - 1) * dil[0] - 1) / strides[0] + 1;
  const int64_t ow = (wd + pads[1] + pads[3] - (kw - 1) * dil[1] - 1) / strides[1] + 1;
  Tensor y = Tensor::zeros({n, m, oh, ow}, DType::kFloat64);
  const int64_t cg = c / group, mg = m / group;
  double* py = y.data<double>();
  const double *px = x.data<double>(), *pw = w.data<double>();
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < m; ++o)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j)
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t u = 0; u < kh; ++u)
              for (int64_t v = 0; v < kw; ++v) {
                const int64_t ih = i * strides[0] - pads[0] + u * dil[0],
                              iw = j * strides[1] - pads[1] + v * dil[1];
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                const int64_t ch = (o / mg) * cg + ci;
                py[((b * m + o) * oh + i) * ow + j] +=
                    px[((b * c + ch) * h + ih) * wd + iw] * pw[((o * cg + ci) * kh + u) * kw + v];
              }
  return y;
}

TEST(ConvOps, EveryKernelMatchesTheDefinition) {
  struct Case {
    Shape x, w;
    int64_t group;
    Ints strides, pads, dil;
  };
  const std::vector<Case> cases = {
      {{3, 1, 12, 21}, {5, 1, 3, 3}, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}},  // direct, one channel
      {{2, 3, 9, 18}, {4, 3, 3, 3}, 1, {2, 1}, {1, 2, 0, 1}, {1, 2}},   // direct, row stride,
                                                                        // dilation
      {{2, 6, 7, 19}, {6, 1, 3, 3}, 6, {1, 1}, {1, 1, 1, 1}, {1, 1}},   // direct, depthwise
      {{2, 8, 7, 9}, {6, 4, 3, 3}, 2, {1, 1}, {1, 1, 1, 1}, {1, 1}},    // im2col, groups
      {{2, 4, 9, 9}, {5, 4, 3, 3}, 1, {2, 2}, {0, 1, 1, 0}, {1, 1}},    // im2col, strides
      {{1, 8, 6, 7}, {5, 8, 3, 3}, 1, {1, 1}, {1, 1, 1, 1}, {1, 1}},  // im2col when batch < threads
      {{2, 6, 8, 9}, {7, 6, 3, 2}, 1, {1, 1}, {2, 0, 1, 1}, {2, 3}},  // implicit GEMM, dilations
      {{2, 40, 4, 5}, {7, 40, 1, 1}, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}},  // 1x1 GEMM without im2col
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(to_string(c.x) + " * " + to_string(c.w));
    const Tensor x = pattern(c.x, 17, 8, 0.1), w = pattern(c.w, 13, 6, 0.1);
    auto y =
        run("Conv", {x, w},
            {{"group", c.group}, {"strides", c.strides}, {"pads", c.pads}, {"dilations", c.dil}});
    const Tensor want = naive_conv2d(x, w, c.group, c.strides, c.pads, c.dil);
    EXPECT_LT(max_abs_diff(y[0], want), 1e-12);
    auto y32 =
        run("Conv", {x.to(DType::kFloat32), w.to(DType::kFloat32)},
            {{"group", c.group}, {"strides", c.strides}, {"pads", c.pads}, {"dilations", c.dil}});
    EXPECT_LT(max_abs_diff(y32[0], want), 1e-4);
  }
}

TEST(ConvOps, Float32PathsMatchFloat64) {
  struct Case {
    Shape x, w;
    Attributes attrs;
  };
  const std::vector<Case> cases = {
      {{8, 1, 28, 28}, {32, 1, 3, 3}, {}},                              // first CNN layer
      {{8, 32, 13, 13}, {64, 32, 3, 3}, {}},                            // second CNN layer
      {{3, 16, 40, 40}, {24, 16, 3, 3}, {{"pads", Ints{1, 1, 1, 1}}}},  // tiled column buffer
      {{4, 8, 9, 9}, {8, 1, 3, 3}, {{"group", int64_t{8}}, {"strides", Ints{2, 2}}}},  // depthwise
      {{4, 12, 6, 6}, {10, 12, 1, 1}, {}},  // 1x1 without im2col
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(to_string(c.x) + " * " + to_string(c.w));
    std::vector<Variable> v64 = {Variable(pattern(c.x, 11, 5, 0.1), true),
                                 Variable(pattern(c.w, 7, 3, 0.1), true),
                                 Variable(pattern({c.w[0]}, 5, 2, 0.1), true)};
    std::vector<Variable> v32;
    for (auto& v : v64) v32.emplace_back(v.value().to(DType::kFloat32), true);
    Variable y64 = apply1("Conv", v64, c.attrs), y32 = apply1("Conv", v32, c.attrs);
    const Tensor seed = pattern(y64.shape(), 13, 6, 0.1);
    backward({y64}, {seed});
    backward({y32}, {seed.to(DType::kFloat32)});
    EXPECT_LT(max_abs_diff(y32.value(), y64.value()), 1e-4);
    for (size_t i = 0; i < 3; ++i) {
      const double scale = 1 + std::abs(v64[i].grad().at(0));
      EXPECT_LT(max_abs_diff(v32[i].grad(), v64[i].grad()), 1e-3 * scale) << "input " << i;
    }
  }
}

TEST(ConvOps, GradientsDoNotDependOnTheThreadCount) {
  const int before = num_threads();
  std::vector<Tensor> grads[2];
  for (int t = 1; t <= 2; ++t) {
    set_num_threads(t);
    Variable x(pattern({5, 6, 7, 7}, 11, 5, 0.1), true), w(pattern({4, 3, 3, 3}, 7, 3, 0.1), true),
        b(pattern({4}, 5, 2, 0.1), true);
    Variable y = apply1("Conv", {x, w, b}, {{"group", int64_t{2}}, {"pads", Ints{1, 1, 1, 1}}});
    backward({y}, {pattern(y.shape(), 13, 6, 0.1)});
    grads[t - 1] = {y.value(), x.grad(), w.grad(), b.grad()};
  }
  set_num_threads(before);
  for (size_t i = 0; i < 4; ++i) EXPECT_LT(max_abs_diff(grads[0][i], grads[1][i]), 1e-12) << i;
}

TEST(ConvOps, EmptyBatchesAndChannelsGiveEmptyOrBiasOutputs) {
  // No images: an empty output and zero weight gradients.
  Variable x(Tensor::zeros({0, 3, 5, 5}), true),
      w(pattern({4, 3, 3, 3}, 7, 3, 0.1, DType::kFloat32), true);
  Variable y = apply1("Conv", {x, w});
  EXPECT_EQ(y.shape(), Shape({0, 4, 3, 3}));
  backward({y}, {Tensor::zeros({0, 4, 3, 3})});
  EXPECT_EQ(max_abs_diff(w.grad(), Tensor::zeros({4, 3, 3, 3})), 0);
  // No input channels: the output is the bias.
  auto yb = run("Conv",
                {Tensor::zeros({2, 0, 4, 4}), Tensor::zeros({3, 0, 3, 3}), Tensor::ones({3})}, {});
  EXPECT_EQ(yb[0].shape(), Shape({2, 3, 2, 2}));
  EXPECT_EQ(max_abs_diff(yb[0], Tensor::ones({2, 3, 2, 2})), 0);
  // No output channels.
  auto ym = run("ConvTranspose", {Tensor::zeros({2, 3, 4, 4}), Tensor::zeros({3, 0, 3, 3})}, {});
  EXPECT_EQ(ym[0].shape(), Shape({2, 0, 6, 6}));
}

// Found by the onnx_model fuzzer: with an empty W, every batch chunk but the first had a null
// dW partial and the direct kernel took it for "dB alone" with no dB (a store through null).
TEST(ConvOps, ZeroLengthKernelDimensionGivesBiasOutputsAndEmptyWeightGradients) {
  const int before = num_threads();
  for (int t = 1; t <= 2; ++t) {
    set_num_threads(t);
    for (const bool transpose : {false, true}) {
      SCOPED_TRACE(fmt::format("{} threads, {}", t, transpose ? "ConvTranspose" : "Conv"));
      const Shape wshape = transpose ? Shape{3, 2, 0, 3} : Shape{2, 3, 0, 3};
      Variable x(pattern({4, 3, 5, 5}, 7, 3, 0.1, DType::kFloat32), true),
          w(Tensor::zeros(wshape), true), b(pattern({2}, 5, 2, 0.5, DType::kFloat32), true);
      Variable y =
          apply1(transpose ? "ConvTranspose" : "Conv", {x, w, b}, {{"pads", Ints{0, 1, 0, 1}}});
      const Tensor dy = pattern(y.shape(), 13, 6, 0.1, DType::kFloat32);
      backward({y}, {dy});
      for (int64_t i = 0; i < y.value().numel(); ++i) {
        ASSERT_EQ(y.value().at(i), b.value().at((i / (y.shape()[2] * y.shape()[3])) % 2)) << i;
      }
      EXPECT_EQ(max_abs_diff(x.grad(), Tensor::zeros(x.shape())), 0);
      EXPECT_EQ(w.grad().shape(), wshape);
      for (int64_t m = 0; m < 2; ++m) {
        double sum = 0;
        for (int64_t i = 0; i < dy.numel(); ++i)
          sum += (i / (dy.shape()[2] * dy.shape()[3])) % 2 == m ? dy.at(i) : 0;
        EXPECT_NEAR(b.grad().at(m), sum, 1e-4) << m;
      }
    }
  }
  set_num_threads(before);
}

TEST(ConvOps, MalformedShapesAndAttributesAreClearErrors) {
  const Tensor x = Tensor::zeros({1, 4, 5, 5});
  const Tensor w = Tensor::zeros({6, 4, 3, 3});
  auto has = [](const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos;
  };
  std::string e = error_of("Conv", {x, Tensor::zeros({6, 4, 3})}, {});
  EXPECT_TRUE(has(e, "same rank") && has(e, "[6, 4, 3]") && has(e, "[1, 4, 5, 5]")) << e;
  e = error_of("Conv", {x, Tensor::zeros({6, 4, 3, 3})}, {{"group", int64_t{3}}});
  EXPECT_TRUE(has(e, "divisible by group 3")) << e;
  e = error_of("Conv", {x, Tensor::zeros({6, 3, 3, 3})}, {});
  EXPECT_TRUE(has(e, "expects 3 input channels per group") && has(e, "[1, 4, 5, 5]")) << e;
  e = error_of("Conv", {x, Tensor::zeros({6, 4, 7, 3})}, {});
  EXPECT_TRUE(has(e, "larger than the padded input") && has(e, "[6, 4, 7, 3]")) << e;
  EXPECT_EQ(error_of("Conv", {x, Tensor::zeros({6, 4, 7, 3})}, {{"pads", Ints{1, 0, 1, 0}}}), "");
  e = error_of("Conv", {x, w}, {{"pads", Ints{-1, 0, 0, 0}}});
  EXPECT_TRUE(has(e, "pads") && has(e, "[1, 4, 5, 5]")) << e;
  e = error_of("Conv", {x, w}, {{"strides", Ints{0, 1}}});
  EXPECT_TRUE(has(e, "strides")) << e;
  e = error_of("Conv", {x, w}, {{"dilations", Ints{1, -2}}});
  EXPECT_TRUE(has(e, "dilations")) << e;
  e = error_of("Conv", {x, w}, {{"strides", Ints{1}}});
  EXPECT_TRUE(has(e, "must have 2 values")) << e;
  e = error_of("Conv", {x, w, Tensor::zeros({5})}, {});
  EXPECT_TRUE(has(e, "B float32[5]")) << e;
  e = error_of("Conv", {x, w}, {{"auto_pad", std::string("SAME")}});
  EXPECT_TRUE(has(e, "auto_pad 'SAME'")) << e;
  e = error_of("Conv", {x, w}, {{"pads", Ints{1000, 0, 0, 0}}});
  EXPECT_TRUE(has(e, "larger than X")) << e;
  e = error_of("Conv", {Tensor::zeros({4, 5}), Tensor::zeros({6, 4})}, {});
  EXPECT_TRUE(has(e, "spatial")) << e;
  e = error_of("Conv", {x, Tensor::zeros({6, 4, 3, 3}, DType::kFloat64)}, {});
  EXPECT_TRUE(has(e, "dtypes")) << e;

  const Tensor wt = Tensor::zeros({4, 2, 3, 3});
  e = error_of("ConvTranspose", {x, Tensor::zeros({3, 2, 3, 3})}, {});
  EXPECT_TRUE(has(e, "X's 4 channels")) << e;
  e = error_of("ConvTranspose", {x, wt}, {{"group", int64_t{3}}});
  EXPECT_TRUE(has(e, "divisible by group 3")) << e;
  e = error_of("ConvTranspose", {x, wt}, {{"strides", Ints{2, 2}}, {"output_padding", Ints{2, 0}}});
  EXPECT_TRUE(has(e, "output_padding")) << e;
  e = error_of("ConvTranspose", {x, wt}, {{"output_shape", Ints{int64_t{1} << 40, 5}}});
  EXPECT_TRUE(has(e, "out of reach")) << e;
  e = error_of("ConvTranspose", {x, wt}, {{"pads", Ints{4, 0, 4, 0}}});
  EXPECT_TRUE(has(e, "remove the whole output")) << e;
  e = error_of("ConvTranspose", {x, wt}, {{"strides", Ints{int64_t{1} << 30, 1}}});
  EXPECT_TRUE(has(e, "strides")) << e;
  e = error_of("ConvTranspose",
               {Tensor::zeros({1, 4, 2, 2, 2, 2}), Tensor::zeros({4, 2, 1, 1, 1, 1})}, {});
  EXPECT_TRUE(has(e, "1 to 3 are supported")) << e;
}

}  // namespace
}  // namespace tamp
