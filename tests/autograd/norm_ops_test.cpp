// BatchNormalization running statistics (hand-computed and torch.nn.BatchNorm2d numbers),
// Dropout's random masks, pooling's ceil_mode edge windows against torch, and the errors of
// the pooling / normalization / softmax ops.
#include <tamp/autograd/apply.h>
#include <tamp/autograd/variable.h>

#include "support/expect.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <functional>
#include <limits>

namespace tamp::test {
namespace {

using Ints = std::vector<int64_t>;

std::vector<Tensor> bn(const std::vector<Tensor>& in, Attributes attrs, bool training,
                       int opset = 15) {
  return run("BatchNormalization", in, std::move(attrs), {.opset = opset, .training = training});
}

// X (4, 1): 1, 2, 3, 6. Batch mean 3, population variance 3.5, unbiased 14/3.
std::vector<Tensor> small_bn_inputs() {
  return {Tensor::from_vector<float>({4, 1}, {1, 2, 3, 6}), Tensor::from_vector<float>({1}, {2}),
          Tensor::from_vector<float>({1}, {0.5f}), Tensor::from_vector<float>({1}, {0.5f}),
          Tensor::from_vector<float>({1}, {2})};
}

TEST(BatchNormalization, TrainingModeAttributeUsesOnnxPopulationVariance) {
  auto out = bn(small_bn_inputs(), {{"training_mode", int64_t{1}}, {"momentum", 0.9f}}, false);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_NEAR(out[1].item(), 0.5 * 0.9 + 3 * 0.1, 1e-6);
  EXPECT_NEAR(out[2].item(), 2 * 0.9 + 3.5 * 0.1, 1e-6);
  const double inv = 1 / std::sqrt(3.5 + 1e-5);
  expect_close(
      out[0],
      {float(-2 * inv * 2 + 0.5), float(-1 * inv * 2 + 0.5), 0.5f, float(3 * inv * 2 + 0.5)},
      {.atol = 1e-5}, "Y");
}

TEST(BatchNormalization, ModuleTrainingUsesUnbiasedVarianceLikePyTorch) {
  auto out = bn(small_bn_inputs(), {{"momentum", 0.9f}}, true);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_NEAR(out[1].item(), 0.75, 1e-6);
  EXPECT_NEAR(out[2].item(), 2 * 0.9 + (14.0 / 3) * 0.1, 1e-6);
  // Y still uses the population variance.
  EXPECT_NEAR(out[0].at(3), 3 / std::sqrt(3.5 + 1e-5) * 2 + 0.5, 1e-5);
}

TEST(BatchNormalization, EvalUsesRunningStatisticsAndReturnsOnlyY) {
  auto out = bn(small_bn_inputs(), {}, false);
  ASSERT_EQ(out.size(), 1u);
  const double inv = 1 / std::sqrt(2 + 1e-5);
  expect_close(out[0],
               {float(0.5 * inv * 2 + 0.5), float(1.5 * inv * 2 + 0.5), float(2.5 * inv * 2 + 0.5),
                float(5.5 * inv * 2 + 0.5)},
               {.atol = 1e-5}, "Y");
}

TEST(BatchNormalization, Opset9TrainingReturnsSavedStatistics) {
  auto out = bn(small_bn_inputs(), {}, true, 9);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_NEAR(out[3].item(), 3, 1e-6);
  EXPECT_NEAR(out[4].item(), 3.5, 1e-6);
}

TEST(BatchNormalization, FiveOutputsBeforeOpset14TrainLikeTorchExports) {
  // torch.onnx's training-mode export at opset < 14: five outputs, no training_mode.
  auto out = run("BatchNormalization", small_bn_inputs(), {{"momentum", 0.9f}},
                 {.opset = 13, .num_outputs = 5});
  ASSERT_EQ(out.size(), 5u);
  EXPECT_NEAR(out[2].item(), 2 * 0.9 + (14.0 / 3) * 0.1, 1e-6);
  EXPECT_NEAR(out[4].item(), 3.5, 1e-6);
  EXPECT_EQ(
      run("BatchNormalization", small_bn_inputs(), {}, {.opset = 13, .num_outputs = 1}).size(), 1u);
}

// Numbers from torch 1.13: BatchNorm2d(3, eps=1e-5, momentum=0.1) in train(), one step, then
// eval() on the same input; x, dy and parameters as in the comments.
TEST(BatchNormalization, MatchesTorchBatchNorm2d) {
  const std::vector<float> x = {-0.80000001f, -0.43000001f, -0.060000002f, 0.31f,       0.68000001f,
                                1.05f,        -0.47999996f, -0.10999984f,  0.26000005f, 0.62999994f,
                                1.f,          -0.52999979f, -0.15999991f,  0.20999998f, 0.58000034f,
                                0.95000023f,  -0.57999986f, -0.20999998f,  0.15999991f, 0.53000027f,
                                0.90000015f,  -0.62999994f, -0.25999957f,  0.11000031f};
  const std::vector<float> dy = {
      -0.30000001f,  -0.17000002f,  -0.040000021f, 0.089999974f, 0.21999997f,  0.34999996f,
      -0.22000003f,  -0.090000033f, 0.039999962f,  0.16999996f,  0.29999995f,  -0.27000004f,
      -0.14000005f,  -0.01000005f,  0.11999995f,   0.24999994f,  0.37999994f,  -0.18999994f,
      -0.060000062f, 0.069999814f,  0.19999993f,   0.33000004f,  -0.24000007f, -0.11000019f};
  Variable xv(Tensor::from_vector<float>({2, 3, 2, 2}, x), true);
  Variable w(Tensor::from_vector<float>({3}, {0.5f, 1.0f, 1.5f}), true);
  Variable b(Tensor::from_vector<float>({3}, {0.1f, -0.2f, 0.3f}), true);
  Variable rm(Tensor::from_vector<float>({3}, {0.05f, -0.1f, 0.2f}), false);
  Variable rv(Tensor::from_vector<float>({3}, {0.9f, 1.1f, 1.3f}), false);
  auto out = apply("BatchNormalization", {xv, w, b, rm, rv}, {{"momentum", 0.9f}},
                   {.opset = 15, .training = true});
  ASSERT_EQ(out.size(), 3u);
  expect_close(out[0].value(),
               {-0.73651087f, -0.3827863f,  -0.029061737f, 0.32466283f, 0.81278652f, 1.4941156f,
                -1.3232725f,  -0.64194304f, 0.4915922f,    1.4367814f,  2.3819711f,  -1.5265146f,
                -0.12466288f, 0.22906157f,  0.58278644f,   0.93651092f, -1.5074153f, -0.82608634f,
                -0.14475738f, 0.53657246f,  2.1265149f,    -1.7819716f, -0.8367812f, 0.10840796f},
               {.atol = 2e-5}, "Y");
  expect_close(out[1].value(), {0.052500006f, -0.076999992f, 0.19850001f}, {.atol = 1e-6},
               "running_mean");
  expect_close(out[2].value(), {0.84125996f, 1.0237029f, 1.2094028f}, {.atol = 1e-6},
               "running_var");
  out[0].backward(Tensor::from_vector<float>({2, 3, 2, 2}, dy));
  expect_close(
      xv.grad(),
      {-0.00074354321f, 0.012681914f,  0.026107363f,  0.039532818f,   0.11902162f,  0.23717482f,
       -0.31112662f,    -0.19297349f,  -0.067030534f, 0.091910213f,   0.25085089f,  -0.4892413f,
       -0.039532799f,   -0.026107309f, -0.01268195f,  0.00074354321f, 0.82649696f,  -0.3443507f,
       -0.2261977f,     -0.10804488f,  0.042192191f,  1.0902967f,     -0.53895932f, -0.38001886f},
      {.atol = 2e-5}, "dX");
  expect_close(w.grad(), {1.3112665f, 0.77303231f, 0.86054778f}, {.atol = 2e-5}, "dscale");
  expect_close(b.grad(), {-0.20000029f, 0.45999962f, 0.41999954f}, {.atol = 2e-5}, "dB");

  // eval() with torch's updated running statistics.
  Variable x2(Tensor::from_vector<float>({2, 3, 2, 2}, x), true);
  auto ev = apply("BatchNormalization",
                  {x2, w, b, Variable(out[1].value(), false), Variable(out[2].value(), false)}, {},
                  {.opset = 15});
  ASSERT_EQ(ev.size(), 1u);
  expect_close(ev[0].value(),
               {-0.36472574f,  -0.16302659f, 0.038672555f, 0.2403717f,   0.54818124f,  0.91387081f,
                -0.59830517f,  -0.23261541f, 0.38388407f,  0.88855183f,  1.3932198f,   -0.69364989f,
                -0.015840674f, 0.1858584f,   0.38755774f,  0.58925682f,  -0.6971401f,  -0.33145058f,
                0.034238938f,  0.39992896f,  1.2568233f,   -0.83004683f, -0.32537842f, 0.17928933f},
               {.atol = 2e-5}, "eval Y");
  ev[0].backward(Tensor::from_vector<float>({2, 3, 2, 2}, dy));
  expect_close(x2.grad(), {-0.16353986f, -0.092672586f, -0.021805324f, 0.049061939f,   0.21743704f,
                           0.34592259f,  -0.2174371f,   -0.088951565f, 0.054558646f,   0.23187441f,
                           0.40919018f,  -0.36827126f,  -0.076318622f, -0.0054513556f, 0.065415911f,
                           0.13628317f,  0.37557307f,   -0.1877865f,   -0.059301082f,  0.069184341f,
                           0.27279338f,  0.4501093f,    -0.32735229f,  -0.15003668f},
               {.atol = 2e-5}, "eval dX");
}

TEST(BatchNormalization, RejectsBadShapes) {
  auto in = small_bn_inputs();
  in[1] = Tensor::from_vector<float>({2}, {1, 1});
  try {
    bn(in, {}, false);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("scale float32[2] must have shape [1]"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(bn({Tensor::scalar(1), in[1], in[2], in[3], in[4]}, {}, false), Error);
  // One value per channel cannot give an unbiased variance.
  auto one = small_bn_inputs();
  one[0] = Tensor::from_vector<float>({1, 1}, {1});
  EXPECT_THROW(bn(one, {}, true), Error);
}

// ---- Dropout ----

std::vector<Tensor> dropout(const Tensor& x, float ratio, uint64_t seed, bool training = true) {
  Generator g(seed);
  return run("Dropout", {x, Tensor::scalar(ratio)}, {},
             {.opset = 13, .training = training, .rng = &g});
}

TEST(Dropout, SameSeedSameMaskOtherSeedOtherMask) {
  const Tensor x = Tensor::ones({1000});
  const auto a = dropout(x, 0.5f, 7), b = dropout(x, 0.5f, 7), c = dropout(x, 0.5f, 8);
  EXPECT_EQ(a[1].to_vector<int>(), b[1].to_vector<int>());
  EXPECT_EQ(a[0].to_vector<float>(), b[0].to_vector<float>());
  EXPECT_NE(a[1].to_vector<int>(), c[1].to_vector<int>());
}

TEST(Dropout, DropsTheRatioAndScalesTheRest) {
  const Tensor x = Tensor::full({200000}, 3.0);
  const auto out = dropout(x, 0.3f, 11);
  ASSERT_EQ(out[1].dtype(), DType::kBool);
  const bool* keep = out[1].data<bool>();
  const float* y = out[0].data<float>();
  int64_t kept = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    kept += keep[i];
    ASSERT_FLOAT_EQ(y[i], keep[i] ? 3.0f / 0.7f : 0.0f) << i;
  }
  // Binomial(200000, 0.7): standard deviation about 205, so 0.005 * n is ~5 sigma.
  EXPECT_NEAR(static_cast<double>(kept) / x.numel(), 0.7, 0.005);
}

TEST(Dropout, MaskDoesNotDependOnThreadCount) {
  const Tensor x = Tensor::ones({100000});
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const auto one = dropout(x, 0.4f, 3);
  omp_set_num_threads(2);
  const auto two = dropout(x, 0.4f, 3);
  omp_set_num_threads(threads);
  EXPECT_EQ(one[1].to_vector<int>(), two[1].to_vector<int>());
}

TEST(Dropout, IdentityOutsideTrainingAndWithZeroRatio) {
  const Tensor x = Tensor::from_vector<float>({4}, {1, 2, 3, 4});
  for (const auto& out : {dropout(x, 0.5f, 1, false), dropout(x, 0.0f, 1, true)}) {
    EXPECT_EQ(out[0].to_vector<float>(), x.to_vector<float>());
    EXPECT_EQ(out[1].to_vector<int>(), std::vector<int>(4, 1));
  }
  // training_mode input, module in eval().
  Generator g(1);
  auto t =
      run("Dropout", {Tensor::ones({1000}), Tensor::scalar(0.5), Tensor::scalar(1, DType::kBool)},
          {}, {.opset = 13, .rng = &g});
  EXPECT_LT(t[1].to_vector<int>(), std::vector<int>(1000, 1));
}

TEST(Dropout, RejectsRatioOutsideZeroToOne) {
  EXPECT_THROW(dropout(Tensor::ones({4}), 1.0f, 1), Error);
  EXPECT_THROW(dropout(Tensor::ones({4}), -0.1f, 1), Error);
  EXPECT_THROW(run("Dropout", {Tensor::ones({4})}, {{"ratio", 1.5f}}, {.opset = 11}), Error);
}

// ---- Pooling edge windows (torch 1.13 numbers) ----

Tensor pool_input_5x5() {
  // (arange(36).reshape(6, 6) * 7 % 36) / 10, top-left 5x5
  std::vector<float> v;
  for (int r = 0; r < 5; ++r)
    for (int c = 0; c < 5; ++c) v.push_back(static_cast<float>((r * 6 + c) * 7 % 36) / 10);
  return Tensor::from_vector<float>({1, 1, 5, 5}, v);
}

TEST(Pooling, CeilModeDropsAWindowStartingInThePadding) {
  const Attributes at{{"kernel_shape", Ints{2, 2}},
                      {"strides", Ints{2, 2}},
                      {"pads", Ints{1, 1, 1, 1}},
                      {"ceil_mode", int64_t{1}}};
  auto m = run("MaxPool", {pool_input_5x5()}, at);
  EXPECT_EQ(m[0].shape(), Shape({1, 1, 3, 3}));
  expect_close(m[0], {0.0f, 1.4f, 2.8f, 1.2f, 2.6f, 3.4f, 2.4f, 3.2f, 1.6f}, {.atol = 1e-6},
               "MaxPool");
  Attributes avg = at;
  avg.set("count_include_pad", int64_t{1});
  auto a = run("AveragePool", {pool_input_5x5()}, avg);
  expect_close(a[0], {0.0f, 0.525f, 1.225f, 0.45f, 1.95f, 2.45f, 1.05f, 2.25f, 0.95f},
               {.atol = 1e-6}, "AveragePool");
}

TEST(Pooling, CountIncludePadCountsPaddingButNotCeilOverhang) {
  auto a = run("AveragePool", {pool_input_5x5()},
               {{"kernel_shape", Ints{2, 2}},
                {"strides", Ints{2, 2}},
                {"ceil_mode", int64_t{1}},
                {"count_include_pad", int64_t{1}}});
  expect_close(a[0], {0.65f, 2.05f, 3.1f, 1.85f, 2.35f, 0.7f, 2.75f, 0.55f, 1.6f}, {.atol = 1e-6},
               "AveragePool");
}

TEST(Pooling, MaxPoolIndicesAndSingleOutput) {
  const Tensor x = pool_input_5x5();
  auto two = run("MaxPool", {x}, {{"kernel_shape", Ints{2, 2}}, {"storage_order", int64_t{1}}});
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1].dtype(), DType::kInt64);
  // Window (0, 0) holds 0, 0.7, 0.6, 1.3: the max at (1, 1), column-major index 1 + 1 * 5.
  EXPECT_EQ(two[1].at(0), 6);
  auto one = run(OpRegistry::builtin().get("", "MaxPool", 17), {x},
                 std::make_shared<const Attributes>(Attributes{{"kernel_shape", Ints{2, 2}}}),
                 {.num_outputs = 1});
  EXPECT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].to_vector<float>(), two[0].to_vector<float>());
}

TEST(Pooling, MaxPoolPropagatesNaNOnFastAndGeneralPaths) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // 4x5: the 2x2 fast path covers columns 0-3; ceil_mode adds a cut window over column 4.
  std::vector<float> v(20);
  for (int i = 0; i < 20; ++i) v[i] = static_cast<float>(i);
  v[1] = nan;   // window (0, 0)
  v[14] = nan;  // column 4, row 2: the cut window (1, 2)
  auto out =
      run("MaxPool", {Tensor::from_vector<float>({1, 1, 4, 5}, v)},
          {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}, {"ceil_mode", int64_t{1}}});
  const auto y = out[0].to_vector<float>();
  ASSERT_EQ(y.size(), 6u);
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(out[1].at(0), 1);
  EXPECT_EQ(y[1], 8.0f);
  EXPECT_EQ(y[2], 9.0f);
  EXPECT_EQ(y[3], 16.0f);
  EXPECT_TRUE(std::isnan(y[5]));
  EXPECT_EQ(out[1].at(5), 14);
  auto g = run("GlobalMaxPool", {Tensor::from_vector<float>({1, 1, 3}, {1, nan, 3})});
  EXPECT_TRUE(std::isnan(g[0].item()));
}

TEST(Pooling, RejectsBadAttributesAndShapes) {
  const Tensor x = Tensor::zeros({1, 1, 4, 4});
  expect_error(
      [&] {
        run("MaxPool", {Tensor::zeros({4, 4})}, {{"kernel_shape", Ints{2}}});
      },
      {"[4, 4] must be (N, C"});
  expect_error([&] { run("MaxPool", {x}, {}); }, {"kernel_shape is required"});
  expect_error(
      [&] {
        run("MaxPool", {x}, {{"kernel_shape", Ints{2}}});
      },
      {"kernel_shape has 1 values, expected 2 for X [1, 1, 4, 4]"});
  expect_error([&] { run("AveragePool", {x}, {{"kernel_shape", Ints{2, 0}}}); }, {"must be >= 1"});
  expect_error(
      [&] {
        run("MaxPool", {x}, {{"kernel_shape", Ints{5, 2}}});
      },
      {"exceeds the padded input"});
  expect_error(
      [&] {
        run("MaxPool", {x}, {{"kernel_shape", Ints{2, 2}}, {"pads", Ints{0, 0, 2, 0}}});
      },
      {"smaller than the kernel"});
  expect_error(
      [&] {
        run("MaxPool", {x}, {{"kernel_shape", Ints{2, 2}}, {"auto_pad", std::string("SAME")}});
      },
      {"auto_pad 'SAME'"});
  expect_error([&] { run("GlobalAveragePool", {Tensor::zeros({3})}); }, {"rank >= 2"});
}

TEST(Normalization, RejectsBadShapesAndAxes) {
  const Tensor x = Tensor::zeros({2, 3, 4});
  expect_error(
      [&] {
        run("LayerNormalization", {x, Tensor::ones({3})});
      },
      {"Scale float32[3] must have 4 elements"});
  expect_error(
      [&] {
        run("LayerNormalization", {x, Tensor::ones({4})}, {{"axis", int64_t{4}}});
      },
      {"axis 4"});
  expect_error(
      [&] {
        run("LayerNormalization", {x, Tensor::ones({4})}, {{"stash_type", int64_t{10}}});
      },
      {"stash_type 10"});
  expect_error(
      [&] {
        run("Softmax", {x}, {{"axis", int64_t{3}}});
      },
      {"axis 3 is out of range for input [2, 3, 4]"});
  expect_error(
      [&] {
        run("LogSoftmax", {x}, {{"axis", int64_t{-4}}}, {.opset = 11});
      },
      {"out of range"});
}

TEST(Softmax, StableForLargeInputsAndSumsToOne) {
  const Tensor x = Tensor::from_vector<float>({2, 3}, {1000, 1001, 1002, -1000, 0, 1000});
  const auto y = run("Softmax", {x})[0].to_vector<float>();
  EXPECT_NEAR(y[0] + y[1] + y[2], 1, 1e-6);
  EXPECT_NEAR(y[2], 1 / (1 + std::exp(-1.0) + std::exp(-2.0)), 1e-6);
  EXPECT_NEAR(y[5], 1, 1e-6);
  const auto l = run("LogSoftmax", {x})[0].to_vector<float>();
  EXPECT_NEAR(l[3], -2000, 1e-2);
  EXPECT_TRUE(std::isfinite(l[3]));
}

}  // namespace
}  // namespace tamp::test
