// The fallback search that the basic and MSE strategies share (strategy.h): all ops
// quantized; if that misses the criterion, ops fall back to fp32 cumulatively in order of
// sensitivity (most sensitive first) until the criterion is met; with keep-improving, the
// fallen-back ops are then re-quantized one at a time, least sensitive first, keeping each
// re-quantization that still meets the criterion. basic measures sensitivity with one trial
// per op (that op alone in fp32) after trying global option changes (every op's
// calibration, granularity, ... switched at once); when no single fallback recovers a
// quarter of the accuracy gap (ops that hurt only together, e.g. the producer and the
// consumer of one badly quantized activation), it orders by the problem's
// quantization_error() instead, as mse does from the start without spending trials. With
// keep-improving, once a config meets the criterion, per-layer sparsity levels are then
// raised greedily one step at a time.
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
  // The single-op fallbacks are in: done when one met, else fall back ops cumulatively in
  // the order their trials (or, with too weak a signal, their quantization errors) rank them.
  void after_single(const StrategyContext& ctx, const std::vector<TrialRecord>& results, const TrialRecord* best_met);

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
