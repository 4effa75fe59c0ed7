// Tree-structured Parzen estimator (Bergstra et al. 2011) over categorical dimensions: the
// trials so far split into the best quarter ("good") and the rest; per dimension, smoothed
// candidate frequencies l(v) among the good and g(v) among the rest (one pseudo-count per
// candidate); candidates drawn from l, the one maximising prod l / g is tried next. Starts
// with the all-int8 default and a few random configurations.
#include <tamp/scheduler/tuning/strategy.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace tamp::tuning {

namespace {

constexpr int kInitialTrials = 5;
constexpr double kGamma = 0.25;
constexpr int kCandidates = 64;

class TpeStrategy : public Strategy {
 public:
  explicit TpeStrategy(uint64_t seed) : state_(seed * 0xd1b54a32d192ed03ull + 3) {}
  std::string name() const override { return "tpe"; }

  std::optional<Config> next(const StrategyContext& ctx) override {
    const TuningSpace& space = ctx.space;
    if (ctx.history.empty()) return space.default_config();
    if (static_cast<int>(ctx.history.size()) >= kInitialTrials) {
      if (auto c = model_based(ctx)) return c;
    }
    return unseen_random_config(ctx, state_);
  }

 private:
  std::optional<Config> model_based(const StrategyContext& ctx) {
    const TuningSpace& space = ctx.space;
    std::vector<const TrialRecord*> ranked;
    for (const auto& r : ctx.history) ranked.push_back(&r);
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](auto* a, auto* b) { return a->score < b->score; });
    const size_t n_good = std::max<size_t>(
        1, static_cast<size_t>(std::ceil(kGamma * static_cast<double>(ranked.size()))));
    // log l(v) - log g(v) per dimension and candidate, and l itself to sample from.
    std::vector<std::vector<double>> l(space.size()), ratio(space.size());
    for (size_t d = 0; d < space.size(); ++d) {
      const size_t k = space.dimensions()[d].values.size();
      std::vector<double> good(k, 1.0), bad(k, 1.0);  // one pseudo-count each
      for (size_t i = 0; i < ranked.size(); ++i)
        (i < n_good ? good : bad)[static_cast<size_t>(ranked[i]->config[d])] += 1;
      double sg = 0, sb = 0;
      for (size_t v = 0; v < k; ++v) {
        sg += good[v];
        sb += bad[v];
      }
      l[d].resize(k);
      ratio[d].resize(k);
      for (size_t v = 0; v < k; ++v) {
        l[d][v] = good[v] / sg;
        ratio[d][v] = std::log(good[v] / sg) - std::log(bad[v] / sb);
      }
    }
    std::set<std::string> tried;
    for (const auto& r : ctx.history) tried.insert(space.key(r.config));
    std::optional<Config> pick;
    double pick_value = -std::numeric_limits<double>::infinity();
    for (int i = 0; i < kCandidates; ++i) {
      Config c(space.size());
      for (size_t d = 0; d < space.size(); ++d) {
        double u = uniform01(state_);
        size_t v = 0;
        while (v + 1 < l[d].size() && u >= l[d][v]) u -= l[d][v++];
        c[d] = static_cast<int>(v);
      }
      c = space.canonical(c);
      if (!tried.insert(space.key(c)).second) continue;
      double value = 0;
      for (size_t d = 0; d < space.size(); ++d) value += ratio[d][static_cast<size_t>(c[d])];
      if (value > pick_value) {
        pick_value = value;
        pick = c;
      }
    }
    return pick;
  }

  uint64_t state_;
};

}  // namespace

std::unique_ptr<Strategy> make_tpe_strategy(uint64_t seed) {
  return std::make_unique<TpeStrategy>(seed);
}

}  // namespace tamp::tuning
