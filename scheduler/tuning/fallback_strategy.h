// The fallback search the basic and mse strategies share: all ops quantized, then ops fall back
// cumulatively, most sensitive first, until the criterion is met (to bf16 when offered; to fp32
// when bf16 everywhere misses); with keep-improving, unneeded fallbacks are re-quantized, fp32
// ones moved to bf16, and sparsity raised greedily. How sensitivity is measured: docs/tuning.md
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
  void plan_fallbacks(const StrategyContext& ctx, bool widest);
  bool has_wider_fallback(const StrategyContext& ctx) const;
  void plan_refine(const StrategyContext& ctx);
  void refine_step(const StrategyContext& ctx);
  void plan_compress(const StrategyContext& ctx);
  void compress_step(const StrategyContext& ctx, const std::vector<TrialRecord>& results);
  // The single-op fallbacks are in: done when one met, else fall back ops cumulatively in
  // the order their trials (or, with too weak a signal, their quantization errors) rank them.
  void after_single(const StrategyContext& ctx, const std::vector<TrialRecord>& results,
                    const TrialRecord* best_met);

  Order order_;
  Phase phase_ = Phase::kDefault;
  std::deque<Config> pending_;
  std::vector<TrialRecord> phase_results_;
  std::optional<TrialRecord> base_;  // best accuracy so far before fallback
  std::optional<TrialRecord> met_;   // the config refinement starts from
  std::vector<int> order_dims_;      // fallback dimensions, most sensitive first
  std::vector<int> single_dims_;     // the dimension each single-fallback trial dropped
  bool widened_ = false;             // the cumulative fallback went on to the widest precision
  size_t refine_at_ = 0;             // index into refine_steps_
  std::vector<std::pair<int, int>> refine_steps_;  // (fallback dimension, candidate to try)
  bool refine_to_bf16_ = false;     // the second refine pass (fp32 -> bf16) is planned
  std::vector<int> compress_dims_;  // sparsity dimensions raised greedily
  size_t compress_at_ = 0;
  bool compress_improved_ = false;
};

}  // namespace tamp::tuning
