// Layers against PyTorch 1.13: weights and inputs filled with scale * sin(0.37 i + offset),
// forward, then backward seeded with sin(0.37 i + 2); values printed once by torch.nn in
// float64 and pasted here (tamp runs float32, hence the tolerances).
#include <tamp/nn/batch_norm.h>
#include <tamp/nn/conv2d.h>
#include <tamp/nn/dropout.h>
#include <tamp/nn/embedding.h>
#include <tamp/nn/functional.h>
#include <tamp/nn/layer_norm.h>
#include <tamp/nn/linear.h>
#include <tamp/nn/sequential.h>

#include "support/expect.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tamp::nn {
namespace {

using test::expect_close;
using test::Tolerance;

// The bound the PyTorch figures below were checked at (float32 results).
constexpr Tolerance kTorch{.atol = 2e-5, .rtol = 2e-5};

Tensor fill(const Shape& shape, double scale = 1, double offset = 0) {
  Tensor t(shape);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<float>()[i] =
        static_cast<float>(scale * std::sin(0.37 * static_cast<double>(i) + offset));
  return t;
}

double weighted_sum(const Tensor& t, const Tensor& w) {
  double s = 0;
  for (int64_t i = 0; i < t.numel(); ++i) s += t.at(i) * w.at(i);
  return s;
}

TEST(Linear, MatchesTorch) {
  Linear lin(4, 3);
  lin.load_state_dict({{"weight", fill({3, 4}, 0.5)}, {"bias", fill({3}, 0.2, 1.0)}});
  Variable x(fill({2, 4}, 1.0, 0.3), true);
  Variable y = lin.forward(x);
  expect_close(y.value(),
               {1.013399759, 1.243725111, -0.4579605164, 0.6274318694, 1.382472093, -0.04683179807},
               kTorch);
  y.backward(fill({2, 3}, 1.0, 2.0));
  expect_close(x.grad(),
               {0.3824989376, 0.462940574, 0.4807253755, 0.4334462526, -0.2240590806,
                -0.09292401116, 0.05078788725, 0.1876258834},
               kTorch);
  expect_close(
      lin.weight().grad(),
      {0.2996144495, 0.5910964157, 0.802576255, 0.9054311632, -0.1186871233, 0.1551617019,
       0.4080101187, 0.60563628, -0.5209249507, -0.3017734202, -0.04177827298, 0.2238713675},
      kTorch);
  expect_close(lin.bias().grad(), {0.9408848253, 0.36529255, -0.2597403582}, kTorch);
}

TEST(Linear, LeadingDimsAndInitBounds) {
  Generator g1(3), g2(3);
  Linear a(100, 7, true, g1), b(100, 7, true, g2);
  EXPECT_EQ(a.weight().value().to_vector<float>(),
            b.weight().value().to_vector<float>());  // same seed
  const double bound = 0.1;                          // 1 / sqrt(100)
  double max_abs = 0;
  for (float v : a.weight().value().to_vector<float>())
    max_abs = std::max(max_abs, std::abs(double(v)));
  EXPECT_LE(max_abs, bound);
  EXPECT_GT(max_abs, 0.9 * bound);  // fills the range
  for (float v : a.bias().value().to_vector<float>()) EXPECT_LE(std::abs(v), bound);
  // (2, 5, 100) gives the rows of the 2-D product.
  Tensor x3 = fill({2, 5, 100});
  Variable y3 = a.forward(Variable(x3));
  EXPECT_EQ(y3.shape(), Shape({2, 5, 7}));
  Variable y2 = a.forward(Variable(x3.reshape({10, 100})));
  EXPECT_EQ(y3.value().to_vector<float>(), y2.value().to_vector<float>());
  EXPECT_THROW(a.forward(Variable(fill({2, 99}))), Error);
  EXPECT_EQ(Linear(3, 2, false).named_parameters().size(), 1u);
}

TEST(Conv2d, MatchesTorch) {
  Conv2d conv(2, 3, 3, {.stride = 2, .padding = 1});
  conv.load_state_dict({{"weight", fill({3, 2, 3, 3}, 0.3)}, {"bias", fill({3}, 0.1, 0.5)}});
  Variable x(fill({1, 2, 5, 5}, 1.0, 0.7), true);
  Variable y = conv.forward(x);
  ASSERT_EQ(y.shape(), Shape({1, 3, 3, 3}));
  expect_close(
      y.value(),
      {1.024766161,   1.720932405,  0.7353756967,  -0.7557762675,  -1.344833639, -0.2361311527,
       1.18223051,    1.588921635,  0.4782416599,  0.729789044,    1.674567827,  0.9926201501,
       -0.4546209155, -1.574343796, -0.7915706893, 1.07516104,     1.840917309,  0.8703946521,
       0.3327900109,  1.393612654,  1.110962972,   -0.08929443258, -1.582566483, -1.235559258,
       0.8176080361,  1.834980701,  1.140796348},
      kTorch);
  y.backward(fill({1, 3, 3, 3}, 1.0, 2.0));
  double dw = 0;
  for (float v : conv.weight().grad().to_vector<float>()) dw += v;
  EXPECT_NEAR(dw, -0.5009172603, 1e-4);
  EXPECT_NEAR(weighted_sum(x.grad(), fill({1, 2, 5, 5})), -0.7901014686, 1e-4);
  EXPECT_THROW(conv.forward(Variable(fill({1, 3, 5, 5}))), Error);
  EXPECT_THROW(Conv2d(3, 4, 3, {.groups = 2}), Error);
}

TEST(BatchNorm2d, TrainStepMatchesTorchIncludingRunningStats) {
  BatchNorm2d bn(2);
  bn.load_state_dict({{"weight", Tensor::from_vector<float>({2}, {1.5f, 0.5f})},
                      {"bias", Tensor::from_vector<float>({2}, {0.1f, -0.2f})},
                      {"running_mean", Tensor::zeros({2})},
                      {"running_var", Tensor::ones({2})}});
  Variable x(fill({3, 2, 2, 2}, 2.0, 0.1), true);
  Variable y = bn.forward(x);
  expect_close(
      y.value(),
      {0.002816671277, 0.9871144873,  1.800521318,    2.332946365,   0.2459541014, 0.2023362867,
       0.08147562099,  -0.1002699717, -0.04829019002, -1.068482998,  -1.981351315, -2.663342697,
       -0.9736204328,  -0.970770212,  -0.886388381,   -0.7318956247, -1.000824132, 0.02171424717,
       1.004024034,    1.813154209,   0.2078902015,   0.2459013053,  0.200773237,  0.07861386921},
      kTorch);
  expect_close(bn.running_mean().value(), {0.02693832391, 0.05481314763}, kTorch);
  expect_close(bn.running_var().value(), {1.026314663, 1.189035048}, kTorch);
  y.backward(fill({3, 2, 2, 2}, 1.0, 2.0));
  expect_close(
      x.grad(),
      {1.002511688,   0.4931135578,  -0.1107116306, -0.7272389703, 0.09241514049,  -0.01867898333,
       -0.1261265356, -0.2153849942, -1.605393377,  -1.168745439,  -0.601599741,   0.01928320898,
       -0.1271420376, -0.0198080673, 0.0913252908,  0.191216658,   1.343961839,    0.9944234255,
       0.4826080154,  -0.1222125768, 0.1904710352,  0.09042693607, -0.02073756583, -0.1279768767},
      {.atol = 1e-4, .rtol = 1e-4});
  expect_close(bn.state_dict().at("running_mean"), {0.02693832391, 0.05481314763}, kTorch);
  bn.eval();
  Variable ye = bn.forward(Variable(x.value()));
  EXPECT_NEAR(ye.value().at(0), 0.355748386, 1e-5);   // (n 0, c 0, 0, 0)
  EXPECT_NEAR(ye.value().at(4), 0.6918940425, 1e-5);  // (n 0, c 1, 0, 0)
  expect_close(bn.running_mean().value(), {0.02693832391, 0.05481314763},
               kTorch);  // eval leaves them
}

TEST(LayerNorm, MatchesTorch) {
  LayerNorm ln({4});
  Tensor w = fill({4}, 0.5, 1.1);
  for (int i = 0; i < 4; ++i) w.data<float>()[i] += 1;
  ln.load_state_dict({{"weight", w}, {"bias", fill({4}, 0.1, 0.2)}});
  Variable x(fill({2, 3, 4}, 2.0, 0.4), true);
  Variable y = ln.forward(x);
  expect_close(y.value(), {-2.192690294,  -0.2780022364, 1.096084496,   1.591953281,   1.724473161,
                           0.9580474947,  -0.3918966307, -1.954834645,  2.159110807,   0.4995116711,
                           -0.8414410029, -1.52199863,   -1.576622998,  -0.9334297547, 0.4562682688,
                           2.213077887,   -2.060746615,  -0.4709758937, 0.9339376659,  1.797950948,
                           1.439352932,   1.161499958,   -0.143480278,  -2.103728989},
               kTorch);
  y.backward(fill({2, 3, 4}, 1.0, 2.0));
  expect_close(x.grad(), {-0.2549989793, 0.4243535563,  0.3027899854,  -0.4721445624, 0.2885879849,
                          -0.2185211183, -0.2714997074, 0.2014328408,  0.2084576656,  -0.2953484368,
                          -0.22581907,   0.3127098412,  -0.4129553219, 0.280833339,   0.3741621211,
                          -0.2420401382, -0.1804781121, 0.2299786425,  0.1865267585,  -0.2360272889,
                          0.6955317556,  -0.4044399497, -0.5924472073, 0.3013554015},
               {.atol = 1e-4, .rtol = 1e-4});
  auto params = ln.named_parameters();
  ASSERT_EQ(params.size(), 2u);
  expect_close(params[0].second.grad(), {-4.802157147, -1.68952405, 1.587322984, 5.02792927},
               {.atol = 1e-4, .rtol = 1e-4});
  EXPECT_THROW(ln.forward(Variable(fill({2, 5}))), Error);
}

TEST(Embedding, GathersRowsAndAccumulatesRepeatedGradients) {
  Generator g(1);
  Embedding emb(5, 3, g);
  Variable ids(Tensor::from_vector<int64_t>({2, 2}, {4, 1, 4, 0}));
  Variable y = emb.forward(ids);
  ASSERT_EQ(y.shape(), Shape({2, 2, 3}));
  const auto w = emb.weight().value().to_vector<float>();
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(y.value().data<float>()[k], w[4 * 3 + k]);
    EXPECT_EQ(y.value().data<float>()[3 + k], w[1 * 3 + k]);
  }
  y.backward(Tensor::ones({2, 2, 3}));
  const auto gw = emb.weight().grad().to_vector<float>();
  EXPECT_EQ(gw[4 * 3], 2.0f);  // row 4 used twice
  EXPECT_EQ(gw[1 * 3], 1.0f);
  EXPECT_EQ(gw[2 * 3], 0.0f);
  EXPECT_THROW(emb.forward(Variable(Tensor::from_vector<int64_t>({1}, {5}))), Error);
  EXPECT_THROW(emb.forward(Variable(Tensor::from_vector<int64_t>({1}, {-1}))), Error);
}

TEST(Dropout, DropsInTrainingOnlyAndIsSeeded) {
  Generator g1(9), g2(9);
  Dropout a(0.25, &g1), b(0.25, &g2);
  Variable x(Tensor::ones({100, 100}), true);
  Variable ya = a.forward(x), yb = b.forward(x);
  EXPECT_EQ(ya.value().to_vector<float>(), yb.value().to_vector<float>());
  int64_t zeros = 0;
  for (float v : ya.value().to_vector<float>()) {
    if (v == 0)
      ++zeros;
    else
      EXPECT_FLOAT_EQ(v, 1 / 0.75f);
  }
  EXPECT_NEAR(static_cast<double>(zeros) / 10000, 0.25, 0.03);
  a.eval();
  EXPECT_TRUE(a.forward(x).same(x));
  EXPECT_THROW(Dropout(1.0), Error);
}

TEST(Sequential, ChainsNamesAndPropagatesMode) {
  Generator g(5);
  auto drop = std::make_shared<Dropout>(0.5, &g);
  Sequential mlp({std::make_shared<Linear>(6, 4, true, g), std::make_shared<Lambda>(relu), drop,
                  std::make_shared<Linear>(4, 2, true, g)});
  const auto params = mlp.named_parameters();
  ASSERT_EQ(params.size(), 4u);
  EXPECT_EQ(params[0].first, "0.weight");
  EXPECT_EQ(params[3].first, "3.bias");
  mlp.eval();
  EXPECT_FALSE(drop->is_training());
  Variable y = mlp.forward(Variable(fill({3, 6})));
  EXPECT_EQ(y.shape(), Shape({3, 2}));
  // The same as calling the layers by hand.
  Variable h = relu(std::dynamic_pointer_cast<Linear>(mlp[0])->forward(Variable(fill({3, 6}))));
  Variable want = std::dynamic_pointer_cast<Linear>(mlp[3])->forward(h);
  EXPECT_EQ(y.value().to_vector<float>(), want.value().to_vector<float>());
  try {
    mlp.forward(Variable(fill({3, 5})));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Sequential layer 0"), std::string::npos) << e.what();
  }
}

TEST(Functional, ActivationsAndShapes) {
  Variable x(Tensor::from_vector<float>({1, 4}, {-2, -0.5f, 0.5f, 2}));
  EXPECT_EQ(relu(x).value().to_vector<float>(), std::vector<float>({0, 0, 0.5f, 2}));
  // GELU(x) = 0.5 x (1 + erf(x / sqrt 2)): torch.nn.functional.gelu values.
  const auto g = gelu(x).value().to_vector<float>();
  EXPECT_NEAR(g[0], -0.0455002639, 1e-6);
  EXPECT_NEAR(g[2], 0.3457312306, 1e-6);
  const auto s = softmax(x).value().to_vector<float>();
  EXPECT_NEAR(s[0] + s[1] + s[2] + s[3], 1.0, 1e-6);
  EXPECT_NEAR(log_softmax(x).value().at(3), std::log(s[3]), 1e-5);
  Variable img(fill({2, 3, 4, 4}));
  EXPECT_EQ(flatten(img).shape(), Shape({2, 48}));
  EXPECT_EQ(reshape(img, {0, -1, 2}).shape(), Shape({2, 24, 2}));
  EXPECT_EQ(max_pool2d(img, 2).shape(), Shape({2, 3, 2, 2}));
  EXPECT_EQ(avg_pool2d(img, 2, 1).shape(), Shape({2, 3, 3, 3}));
  EXPECT_EQ(global_avg_pool(img).shape(), Shape({2, 3, 1, 1}));
}

}  // namespace
}  // namespace tamp::nn
