// Losses against PyTorch 1.13 (values printed once by F.cross_entropy, F.kl_div, F.nll_loss
// and F.mse_loss in float64 on the same inputs, pasted here).
#include <tamp/nn/loss.h>

#include "support/expect.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tamp::nn {
namespace {

using test::expect_close;
using test::Tolerance;

// PyTorch's float64 figures.
constexpr Tolerance kTorch{.atol = 1e-8};

// logits[i][j] = scale * sin(0.37 * (i * c + j) + offset), as the PyTorch script made them.
Tensor logits(int64_t n, int64_t c, double scale = 2, double offset = 0) {
  Tensor t({n, c}, DType::kFloat64);
  for (int64_t i = 0; i < n * c; ++i)
    t.data<double>()[i] = scale * std::sin(0.37 * static_cast<double>(i) + offset);
  return t;
}

const Tensor kLabels = Tensor::from_vector<int64_t>({4}, {2, 0, 4, 1});
const Tensor kWeights = Tensor::from_vector<double>({5}, {0.5, 1.0, 2.0, 1.5, 0.25});

TEST(CrossEntropy, LabelSmoothingMatchesTorch) {
  Variable x(logits(4, 5), true);
  Variable loss = cross_entropy(x, Variable(kLabels), {.label_smoothing = 0.1});
  EXPECT_NEAR(loss.value().item(), 1.78263203216, 1e-8);  // label_smoothing is a float32 attribute
  loss.backward();
  expect_close(x.grad(), {0.00735221932, 0.0204589312, -0.182420044, 0.0690864845, 0.0855224094,
                          -0.12782676,   0.0684974227, 0.0376150757, 0.0164411491, 0.00527311274,
                          0.0817928405,  0.0454944209, 0.0314862164, 0.0292168005, -0.187990278,
                          0.0034643524,  -0.214139431, 0.0277195417, 0.0623743408, 0.120581196},
               kTorch);
}

TEST(CrossEntropy, LabelSmoothingWithClassWeightsMatchesTorch) {
  Variable x(logits(4, 5), true);
  Variable loss = cross_entropy(x, Variable(kLabels), {.weight = kWeights, .label_smoothing = 0.2});
  EXPECT_NEAR(loss.value().item(), 1.90208063507, 1e-8);
  loss.backward();
  expect_close(x.grad(),
               {0.0185146848,  0.0384860432, -0.356138966,   0.127036306,    0.172101932,
                -0.0455192786, 0.0371556564, 0.00639487589,  -0.00204895897, 0.00401770536,
                0.0326240689,  0.0114162268, -0.00537669469, -0.00103585258, -0.0376277484,
                0.00378559566, -0.20691288,  0.0139165196,   0.0565846232,   0.132626142},
               kTorch);
}

TEST(CrossEntropy, SumReductionMatchesTorch) {
  Variable x(logits(4, 5), true);
  Variable loss = cross_entropy(x, Variable(kLabels), {.reduction = Reduction::kSum});
  EXPECT_NEAR(loss.value().item(), 7.09502513449, 1e-10);
  loss.backward();
  expect_close(x.grad(), {0.0494088773, 0.101835725,  -0.809680178, 0.296345938,  0.362089638,
                          -0.591307041, 0.293989691,  0.170460303,  0.0857645965, 0.041092451,
                          0.347171362,  0.201977684,  0.145944866,  0.136867202,  -0.831961113,
                          0.0338574096, -0.936557723, 0.130878167,  0.269497363,  0.502324784},
               kTorch);
}

TEST(CrossEntropy, IgnoreIndexWithWeightsMatchesTorch) {
  Variable x(logits(4, 5), true);
  Variable y(Tensor::from_vector<int64_t>({4}, {2, -100, 4, 1}));
  Variable loss = cross_entropy(x, y, {.weight = kWeights, .ignore_index = -100});
  EXPECT_NEAR(loss.value().item(), 2.00665029853, 1e-10);
  loss.backward();
  expect_close(x.grad(),
               {0.0304054629,
                0.0626681383,
                -0.498264725,
                0.182366731,
                0.222824392,
                0,
                0,
                0,
                0,
                0,
                0.0267054894,
                0.0155367449,
                0.0112265281,
                0.0105282463,
                -0.0639970087,
                0.0104176645,
                -0.288171607,
                0.0402702052,
                0.0829222656,
                0.154561472},
               kTorch);
}

TEST(CrossEntropy, Float32AndFloat64Agree) {
  Variable x64(logits(4, 5), true), x32(logits(4, 5).to(DType::kFloat32), true);
  const CrossEntropyOptions o{.label_smoothing = 0.1};
  Variable l64 = cross_entropy(x64, Variable(kLabels), o),
           l32 = cross_entropy(x32, Variable(kLabels), o);
  EXPECT_NEAR(l32.value().item(), l64.value().item(), 1e-6);
  l64.backward();
  l32.backward();
  for (int64_t i = 0; i < 20; ++i) EXPECT_NEAR(x32.grad().at(i), x64.grad().at(i), 1e-6);
}

TEST(CrossEntropy, RejectsBadLabels) {
  Variable x(logits(4, 5));
  EXPECT_THROW(cross_entropy(x, Variable(Tensor::from_vector<int64_t>({4}, {0, 5, 1, 1}))), Error);
  EXPECT_THROW(cross_entropy(x, Variable(Tensor::from_vector<int64_t>({3}, {0, 1, 1}))), Error);
  EXPECT_THROW(cross_entropy(x, Variable(Tensor::from_vector<float>({4}, {0, 1, 1, 1}))), Error);
  EXPECT_THROW(cross_entropy(x, Variable(kLabels), {.weight = Tensor::ones({4}, DType::kFloat64)}),
               Error);
  EXPECT_THROW(cross_entropy(x, Variable(kLabels), {.label_smoothing = 1.5}), Error);
  try {
    cross_entropy(x, Variable(Tensor::from_vector<int64_t>({4}, {0, 7, 1, 1})));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("label 7"), std::string::npos) << e.what();
  }
}

TEST(NllLoss, WeightedMeanMatchesTorch) {
  // log_softmax of the logits, computed here; PyTorch's gradient is -w[t] / sum(w[t]).
  Tensor lp = logits(4, 5);
  double* p = lp.data<double>();
  for (int i = 0; i < 4; ++i) {
    double m = -1e300, s = 0;
    for (int j = 0; j < 5; ++j) m = std::max(m, p[i * 5 + j]);
    for (int j = 0; j < 5; ++j) s += std::exp(p[i * 5 + j] - m);
    for (int j = 0; j < 5; ++j) p[i * 5 + j] -= m + std::log(s);
  }
  Variable x(lp, true);
  Variable loss = nll_loss(x, Variable(kLabels), {.weight = kWeights});
  EXPECT_NEAR(loss.value().item(), 1.85840240753, 1e-10);
  loss.backward();
  std::vector<double> want(20, 0.0);
  want[2] = -0.533333333;
  want[5] = -0.133333333;
  want[14] = -0.0666666667;
  want[16] = -0.266666667;
  expect_close(x.grad(), want, kTorch);
}

TEST(KlDivDistill, TemperatureFourMatchesTorch) {
  Variable s(logits(3, 5), true);
  Variable t(logits(3, 5, 3.0, 1.3));
  Variable loss = kl_div_distill(s, t, 4.0);
  EXPECT_NEAR(loss.value().item(), 0.707094037595, 1e-10);
  loss.backward();
  expect_close(s.grad(),
               {-0.106823766, -0.0752582812, -0.0124874048, 0.0639553398, 0.130614112,
                -0.0609765226, 0.00667884777, 0.0302777402, 0.0239736304, 4.63042881e-05,
                0.136730482, 0.0743557313, 0.00839989211, -0.0666307641, -0.152855341},
               kTorch);
  EXPECT_FALSE(t.grad().defined());
}

TEST(KlDivDistill, TemperatureOneMatchesTorch) {
  Variable s(logits(3, 5), true);
  Variable loss = kl_div_distill(s, Variable(logits(3, 5, 3.0, 1.3)), 1.0);
  EXPECT_NEAR(loss.value().item(), 0.542300839312, 1e-10);
  loss.backward();
  expect_close(s.grad(),
               {-0.0793590863, -0.0713889257, -0.0138584969, 0.059291699, 0.10531481, -0.073105694,
                0.0271268811, 0.0289446083, 0.0141345141, 0.0028996906, 0.108911889, 0.0560678883,
                0.0229904964, -0.0265083907, -0.161461883},
               kTorch);
}

TEST(KlDivDistill, ZeroWhenStudentEqualsTeacher) {
  Variable s(logits(3, 5), true);
  Variable loss = kl_div_distill(s, Variable(logits(3, 5)), 2.0);
  EXPECT_NEAR(loss.value().item(), 0.0, 1e-12);
  EXPECT_THROW(kl_div_distill(s, Variable(logits(3, 4)), 2.0), Error);
  EXPECT_THROW(kl_div_distill(s, Variable(logits(3, 5)), 0.0), Error);
}

TEST(MseLoss, MatchesTorch) {
  Variable a(logits(2, 3), true);
  Variable loss = mse_loss(a, Variable(logits(2, 3, 1.0, 0.5)));
  EXPECT_NEAR(loss.value().item(), 0.607030803411, 1e-10);
  loss.backward();
  expect_close(a.grad(),
               {-0.159808513, -0.0136993577, 0.134263941, 0.264055246, 0.358107911, 0.403692351},
               kTorch);
  Variable none = mse_loss(a, Variable(logits(2, 3, 1.0, 0.5)), Reduction::kNone);
  EXPECT_EQ(none.shape(), Shape({2, 3}));
  EXPECT_THROW(mse_loss(a, Variable(logits(3, 2))), Error);
}

}  // namespace
}  // namespace tamp::nn
