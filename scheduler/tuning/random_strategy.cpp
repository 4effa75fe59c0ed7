// Random: the all-int8 default first, then configurations drawn uniformly per dimension
// (canonicalised), never one already tried; gives up after many repeats in a row (a small
// space is exhausted).
#include <tamp/scheduler/tuning/strategy.h>

namespace tamp::tuning {

namespace {

constexpr int kMaxRepeats = 1000;

class RandomStrategy : public Strategy {
 public:
  explicit RandomStrategy(uint64_t seed) : state_(seed * 0x2545f4914f6cdd1dull + 1) {}
  std::string name() const override { return "random"; }

  std::optional<Config> next(const StrategyContext& ctx) override {
    if (ctx.history.empty() && !started_) {
      started_ = true;
      return ctx.space.default_config();
    }
    started_ = true;
    return unseen_random_config(ctx, state_, kMaxRepeats);
  }

 private:
  uint64_t state_;
  bool started_ = false;
};

}  // namespace

std::unique_ptr<Strategy> make_random_strategy(uint64_t seed) {
  return std::make_unique<RandomStrategy>(seed);
}

}  // namespace tamp::tuning
