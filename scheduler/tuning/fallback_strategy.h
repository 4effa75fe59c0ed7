// The fallback search the basic and mse strategies share: all ops quantized, then ops fall back
// to fp32 cumulatively, most sensitive first, until the criterion is met; with keep-improving,
// unneeded fallbacks are re-quantized and sparsity raised greedily. How sensitivity is
// measured: docs/tuning.md
#pragma once

#include <tamp/scheduler/tuning/strategy.h>

#include <deque>
#include <map>

namespace tamp::tuning {

class FallbackStrategy : public Strategy {
 public:
  enum class Order { kMeasured, kQuantizationError };
  explicit FallbackStrategy(Order order) : order_(order) {}
  std::string name() const override { return order_ == Order::kMeasured ? "basic" : "mse"; }
  std::optional<Config> next(const StrategyContext& ctx) override;
  void observe(const TrialRecord& record, const StrategyContext& ctx) override;

 private:
  enum class Phase { kDefault, kGlobal, kSingle, kCumulative, kRefine, kCompress, kDone };
  void advance(const StrategyContext& ctx);
  void plan_global(const StrategyContext& ctx);
  void plan_single(const StrategyContext& ctx);
  void plan_cumulative(const StrategyContext& ctx, const std::map<int, double>& sensitivity);
  void plan_refine(const StrategyContext& ctx);
  void plan_compress(const StrategyContext& ctx);
  void compress_step(const StrategyContext& ctx, const std::vector<TrialRecord>& results);

  Order order_;
  Phase phase_ = Phase::kDefault;
  std::deque<Config> pending_;
  std::vector<TrialRecord> phase_results_;
  std::optional<TrialRecord> base_;   // best accuracy so far before fallback
  std::optional<TrialRecord> met_;    // the config refinement starts from
  std::vector<int> order_dims_;       // fallback dimensions, most sensitive first
  std::vector<int> single_dims_;      // the dimension each single-fallback trial dropped
  int refine_at_ = -1;                // index into the fallen-back dims being re-quantized
  std::vector<int> refine_dims_;
  std::vector<int> compress_dims_;   // sparsity dimensions raised greedily
  size_t compress_at_ = 0;
  bool compress_improved_ = false;
};

}  // namespace tamp::tuning
