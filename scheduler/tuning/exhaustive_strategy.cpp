// Exhaustive: every canonical configuration once, counting like an odometer whose first
// dimensions (the op fallbacks, added first) turn slowest, so the all-int8 configurations
// come first and the exit policy's trial cap ends the walk in big spaces.
#include <tamp/scheduler/tuning/strategy.h>

namespace tamp::tuning {

namespace {

class ExhaustiveStrategy : public Strategy {
 public:
  std::string name() const override { return "exhaustive"; }

  std::optional<Config> next(const StrategyContext& ctx) override {
    const auto& dims = ctx.space.dimensions();
    while (true) {
      if (!started_) {
        current_ = ctx.space.default_config();
        started_ = true;
      } else if (!increment(dims)) {
        return std::nullopt;
      }
      if (ctx.space.is_canonical(current_) && !seen_before(ctx, current_)) return current_;
    }
  }

 private:
  bool increment(const std::vector<Dimension>& dims) {
    for (size_t i = dims.size(); i-- > 0;) {
      if (++current_[i] < static_cast<int>(dims[i].values.size())) return true;
      current_[i] = 0;
    }
    return false;  // wrapped around: every configuration visited
  }

  Config current_;
  bool started_ = false;
};

}  // namespace

std::unique_ptr<Strategy> make_exhaustive_strategy() {
  return std::make_unique<ExhaustiveStrategy>();
}

}  // namespace tamp::tuning
