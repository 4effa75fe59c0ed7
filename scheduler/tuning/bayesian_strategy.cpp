// Bayesian optimisation of the trial score (criterion.h, lower is better): a Gaussian
// process with a Matern-5/2 kernel over the encoded configurations (encoding.h), its length
// scale chosen by marginal likelihood from a small grid, and expected improvement maximised
// over random configurations plus the neighbours of the best ones found. Starts with the
// all-int8 default and a few random configurations.
#include <tamp/scheduler/tuning/encoding.h>
#include <tamp/scheduler/tuning/strategy.h>

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numbers>
#include <set>

namespace tamp::tuning {

namespace {

constexpr int kInitialTrials = 5;
constexpr int kRandomCandidates = 400;
constexpr int kNeighbourSources = 3;
constexpr double kNoise = 1e-4;  // of the standardised score: trials are deterministic

double matern52(double r, double length) {
  const double a = std::sqrt(5.0) * r / length;
  return (1 + a + a * a / 3) * std::exp(-a);
}

class GaussianProcess {
 public:
  GaussianProcess(const std::vector<std::vector<double>>& x, const std::vector<double>& y) : x_(x) {
    const auto n = static_cast<Eigen::Index>(y.size());
    double mean = 0, var = 0;
    for (double v : y) mean += v;
    mean /= static_cast<double>(n);
    for (double v : y) var += (v - mean) * (v - mean);
    scale_ = std::sqrt(std::max(var / static_cast<double>(n), 1e-12));
    mean_ = mean;
    y_ = Eigen::VectorXd(n);
    for (Eigen::Index i = 0; i < n; ++i) y_(i) = (y[static_cast<size_t>(i)] - mean_) / scale_;
    const double d = std::sqrt(static_cast<double>(x.empty() ? 1 : x[0].size()));
    double best = -std::numeric_limits<double>::infinity();
    for (double f : {0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5}) {
      const double ll = fit(f * d);
      if (ll > best) {
        best = ll;
        length_ = f * d;
      }
    }
    fit(length_);
  }

  // Posterior mean and standard deviation in score units.
  std::pair<double, double> predict(const std::vector<double>& q) const {
    const auto n = static_cast<Eigen::Index>(x_.size());
    Eigen::VectorXd k(n);
    for (Eigen::Index i = 0; i < n; ++i)
      k(i) = matern52(distance(x_[static_cast<size_t>(i)], q), length_);
    const double mu = k.dot(alpha_);
    const Eigen::VectorXd v = llt_.matrixL().solve(k);
    const double var = std::max(1.0 - v.squaredNorm(), 1e-12);
    return {mean_ + scale_ * mu, scale_ * std::sqrt(var)};
  }

 private:
  static double distance(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
    return std::sqrt(s);
  }

  // Log marginal likelihood of the standardised scores under length scale `length`.
  double fit(double length) {
    const auto n = static_cast<Eigen::Index>(x_.size());
    Eigen::MatrixXd k(n, n);
    for (Eigen::Index i = 0; i < n; ++i) {
      for (Eigen::Index j = 0; j < n; ++j) {
        k(i, j) =
            matern52(distance(x_[static_cast<size_t>(i)], x_[static_cast<size_t>(j)]), length);
      }
      k(i, i) += kNoise;
    }
    llt_.compute(k);
    alpha_ = llt_.solve(y_);
    double logdet = 0;
    for (Eigen::Index i = 0; i < n; ++i) logdet += std::log(llt_.matrixL()(i, i));
    return -0.5 * y_.dot(alpha_) - logdet;
  }

  std::vector<std::vector<double>> x_;
  Eigen::VectorXd y_, alpha_;
  Eigen::LLT<Eigen::MatrixXd> llt_;
  double mean_ = 0, scale_ = 1, length_ = 1;
};

double expected_improvement(double mu, double sigma, double best) {
  const double z = (best - mu) / sigma;
  const double cdf = 0.5 * std::erfc(-z / std::numbers::sqrt2);
  const double pdf = std::exp(-0.5 * z * z) / std::sqrt(2 * std::numbers::pi);
  return (best - mu) * cdf + sigma * pdf;
}

class BayesianStrategy : public Strategy {
 public:
  explicit BayesianStrategy(uint64_t seed) : state_(seed * 0x9e3779b97f4a7c15ull + 7) {}
  std::string name() const override { return "bayesian"; }

  std::optional<Config> next(const StrategyContext& ctx) override {
    const TuningSpace& space = ctx.space;
    if (ctx.history.empty()) return space.default_config();
    if (static_cast<int>(ctx.history.size()) < kInitialTrials)
      return unseen_random_config(ctx, state_);
    const ConfigEncoding enc(space);
    std::vector<std::vector<double>> x;
    std::vector<double> y;
    for (const auto& r : ctx.history) {
      x.push_back(enc.encode(r.config));
      y.push_back(r.score);
    }
    const GaussianProcess gp(x, y);
    double best = y[0];
    for (double v : y) best = std::min(best, v);

    std::vector<Config> pool;
    for (int i = 0; i < kRandomCandidates; ++i) pool.push_back(random_config(space, state_));
    std::vector<const TrialRecord*> ranked;
    for (const auto& r : ctx.history) ranked.push_back(&r);
    std::sort(ranked.begin(), ranked.end(), [](auto* a, auto* b) { return a->score < b->score; });
    for (size_t i = 0; i < ranked.size() && i < kNeighbourSources; ++i) {
      for (auto& n : neighbours(space, ranked[i]->config)) pool.push_back(std::move(n));
    }
    std::set<std::string> tried;
    for (const auto& r : ctx.history) tried.insert(space.key(r.config));
    std::optional<Config> pick;
    double pick_ei = -1;
    for (const auto& c : pool) {
      if (!tried.insert(space.key(c)).second) continue;  // evaluated, or already scored here
      auto [mu, sigma] = gp.predict(enc.encode(c));
      const double ei = expected_improvement(mu, sigma, best);
      if (ei > pick_ei) {
        pick_ei = ei;
        pick = c;
      }
    }
    if (!pick) return unseen_random_config(ctx, state_);
    return pick;
  }

 private:
  uint64_t state_;
};

}  // namespace

std::unique_ptr<Strategy> make_bayesian_strategy(uint64_t seed) {
  return std::make_unique<BayesianStrategy>(seed);
}

}  // namespace tamp::tuning
