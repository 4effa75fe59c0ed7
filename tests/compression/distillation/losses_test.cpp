// Distillation losses against hand computations, with finite-difference gradients.
#include <tamp/compression/distillation/losses.h>

#include <gtest/gtest.h>

#include <cmath>

using namespace tamp;
using namespace tamp::compression::distillation;

namespace {

std::vector<double> softmax(const std::vector<double>& z, double t) {
  double m = -1e300, sum = 0;
  for (double v : z) m = std::max(m, v / t);
  std::vector<double> p(z.size());
  for (size_t i = 0; i < z.size(); ++i) sum += p[i] = std::exp(z[i] / t - m);
  for (double& v : p) v /= sum;
  return p;
}

const std::vector<double> kStudent{0.2, -1.0, 0.7, 1.5, 0.1, 0.3};  // 2 x 3
const std::vector<double> kTeacher{1.0, 0.5, -0.5, 0.0, 2.0, 0.4};

Tensor mat(const std::vector<double>& v) { return Tensor::from_vector<double>({2, 3}, v); }

// Per-row reference: T^2 * sum p_t (log p_t - log p_s), and the cross entropy without the
// teacher's entropy term; both averaged over the 2 rows.
std::pair<double, double> reference(double t) {
  double kl = 0, ce = 0;
  for (int r = 0; r < 2; ++r) {
    const auto ps = softmax({kStudent.begin() + 3 * r, kStudent.begin() + 3 * r + 3}, t);
    const auto pt = softmax({kTeacher.begin() + 3 * r, kTeacher.begin() + 3 * r + 3}, t);
    for (int k = 0; k < 3; ++k) {
      kl += pt[k] * (std::log(pt[k]) - std::log(ps[k]));
      ce -= pt[k] * std::log(ps[k]);
    }
  }
  return {t * t * kl / 2, t * t * ce / 2};
}

// d loss / d student by central differences.
std::vector<double> numeric_gradient(const std::function<double(const Tensor&)>& f) {
  std::vector<double> g(6);
  for (int i = 0; i < 6; ++i) {
    auto plus = kStudent, minus = kStudent;
    plus[i] += 1e-6;
    minus[i] -= 1e-6;
    g[i] = (f(mat(plus)) - f(mat(minus))) / 2e-6;
  }
  return g;
}

void expect_gradient(LogitLoss loss, double t) {
  Variable s(mat(kStudent), true);
  Variable l = logit_loss(s, mat(kTeacher), loss, t);
  l.backward();
  const auto numeric = numeric_gradient([&](const Tensor& x) {
    NoGradGuard no_grad;
    return logit_loss(Variable(x), mat(kTeacher), loss, t).value().item();
  });
  for (int i = 0; i < 6; ++i)
    EXPECT_NEAR(s.grad().at(i), numeric[i], 1e-6) << logit_loss_name(loss) << " " << i;
}

}  // namespace

TEST(DistillationLosses, KlAndSoftCrossEntropyMatchTheDefinitions) {
  for (double t : {1.0, 4.0}) {
    const auto [kl, ce] = reference(t);
    EXPECT_NEAR(
        logit_loss(Variable(mat(kStudent)), mat(kTeacher), LogitLoss::kKL, t).value().item(), kl,
        1e-10);
    EXPECT_NEAR(logit_loss(Variable(mat(kStudent)), mat(kTeacher), LogitLoss::kSoftCrossEntropy, t)
                    .value()
                    .item(),
                ce, 1e-10);
  }
  double mse = 0;
  for (int i = 0; i < 6; ++i) mse += (kStudent[i] - kTeacher[i]) * (kStudent[i] - kTeacher[i]);
  EXPECT_NEAR(logit_loss(Variable(mat(kStudent)), mat(kTeacher), LogitLoss::kMSE, 3).value().item(),
              mse / 6, 1e-12);
}

TEST(DistillationLosses, GradientsMatchFiniteDifferences) {
  expect_gradient(LogitLoss::kKL, 2);
  expect_gradient(LogitLoss::kSoftCrossEntropy, 2);
  expect_gradient(LogitLoss::kSoftCrossEntropy, 1);
  expect_gradient(LogitLoss::kMSE, 1);
  Variable s(mat(kStudent), true);
  Variable l = feature_loss(s, mat(kTeacher), FeatureLoss::kCosine);
  l.backward();
  const auto numeric = numeric_gradient([&](const Tensor& x) {
    NoGradGuard no_grad;
    return feature_loss(Variable(x), mat(kTeacher), FeatureLoss::kCosine).value().item();
  });
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(s.grad().at(i), numeric[i], 1e-6) << i;
}

TEST(DistillationLosses, FeatureLosses) {
  const Tensor t = mat(kTeacher);
  EXPECT_NEAR(feature_loss(Variable(t), t, FeatureLoss::kCosine).value().item(), 0, 1e-7);
  std::vector<double> neg(kTeacher);
  for (double& v : neg) v = -v;
  EXPECT_NEAR(feature_loss(Variable(mat(neg)), t, FeatureLoss::kCosine).value().item(), 2, 1e-7);
  // Rank 4 features are flattened per example.
  const Tensor a = Tensor::from_vector<double>({1, 2, 1, 1}, {1, 0});
  const Tensor b = Tensor::from_vector<double>({1, 2, 1, 1}, {0, 3});
  EXPECT_NEAR(feature_loss(Variable(a), b, FeatureLoss::kCosine).value().item(), 1, 1e-7);
  EXPECT_NEAR(feature_loss(Variable(a), b, FeatureLoss::kMSE).value().item(), 5, 1e-12);
  EXPECT_NEAR(feature_loss(Variable(t), t, FeatureLoss::kKL).value().item(), 0, 1e-12);
  EXPECT_GT(feature_loss(Variable(mat(kStudent)), t, FeatureLoss::kKL).value().item(), 0);
}

TEST(DistillationLosses, RejectMismatchedShapes) {
  EXPECT_THROW(logit_loss(Variable(mat(kStudent)), Tensor::zeros({2, 4}, DType::kFloat64),
                          LogitLoss::kKL, 1),
               Error);
  EXPECT_THROW(logit_loss(Variable(mat(kStudent)), mat(kTeacher), LogitLoss::kKL, 0), Error);
  EXPECT_THROW(feature_loss(Variable(mat(kStudent)), Tensor::zeros({3, 2}, DType::kFloat64),
                            FeatureLoss::kMSE),
               Error);
  EXPECT_THROW(parse_logit_loss("hinge"), Error);
  EXPECT_EQ(parse_feature_loss("cos"), FeatureLoss::kCosine);
}
