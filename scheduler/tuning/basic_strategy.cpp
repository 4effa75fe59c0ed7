#include <tamp/scheduler/tuning/fallback_strategy.h>

#include <algorithm>
#include <set>

namespace tamp::tuning {

namespace {

// When no single fallback recovers this fraction of the accuracy gap, the ops interact and
// the single-fallback ranking is noise: basic then orders by the quantization error.
constexpr double kWeakSignal = 0.25;

}  // namespace

std::optional<Config> FallbackStrategy::next(const StrategyContext& ctx) {
  while (pending_.empty()) {
    if (phase_ == Phase::kDone) return std::nullopt;
    advance(ctx);
  }
  Config c = pending_.front();
  pending_.pop_front();
  return c;
}

void FallbackStrategy::observe(const TrialRecord& r, const StrategyContext& ctx) {
  phase_results_.push_back(r);
  if (phase_ == Phase::kCumulative && r.meets) {
    met_ = r;
    pending_.clear();  // the first (smallest) cumulative fallback that meets is kept
  }
  if (phase_ == Phase::kRefine && r.meets && met_ && r.score <= met_->score) met_ = r;
}

void FallbackStrategy::plan_compress(const StrategyContext& ctx) {
  phase_ = Phase::kCompress;
  compress_dims_ = ctx.space.dimensions_of_kind(DimensionKind::kSparsity);
  compress_at_ = 0;
  compress_improved_ = false;
  compress_step(ctx, {});
}

// Greedy: raise one sparsity level at a time (candidates are listed from least to most
// sparse), keeping each step that still meets the criterion with a better score; passes
// over the layers until a whole pass changes nothing.
void FallbackStrategy::compress_step(const StrategyContext& ctx,
                                     const std::vector<TrialRecord>& results) {
  if (!results.empty()) {
    const TrialRecord& r = results.back();
    if (r.meets && r.score < met_->score) {
      met_ = r;
      compress_improved_ = true;
    } else {
      ++compress_at_;  // this layer is as sparse as it can be for now
    }
  }
  while (true) {
    if (compress_at_ >= compress_dims_.size()) {
      if (!compress_improved_ || compress_dims_.empty()) {
        phase_ = Phase::kDone;
        return;
      }
      compress_at_ = 0;
      compress_improved_ = false;
    }
    const auto d = static_cast<size_t>(compress_dims_[compress_at_]);
    Config c = met_->config;
    if (c[d] + 1 < static_cast<int>(ctx.space.dimensions()[d].values.size())) {
      ++c[d];
      pending_.push_back(ctx.space.canonical(c));
      return;
    }
    ++compress_at_;
  }
}

void FallbackStrategy::advance(const StrategyContext& ctx) {
  std::vector<TrialRecord> results = std::move(phase_results_);
  phase_results_.clear();
  const TrialRecord* best_met = nullptr;
  for (const auto& r : results)
    if (r.meets && (!best_met || r.score < best_met->score)) best_met = &r;

  switch (phase_) {
    case Phase::kDefault:
      if (results.empty()) {  // first call: all ops quantized, default options
        pending_.push_back(ctx.space.default_config());
        return;  // stays kDefault until its result is in
      }
      base_ = results.front();
      if (base_->meets) {  // nothing falls back: nothing to re-quantize
        met_ = base_;
        if (ctx.keep_improving)
          plan_compress(ctx);
        else
          phase_ = Phase::kDone;
        return;
      }
      if (order_ == Order::kMeasured) {
        plan_global(ctx);
      } else {
        std::map<int, double> err = ctx.problem.quantization_error();
        plan_cumulative(ctx, err);
      }
      return;
    case Phase::kGlobal:
      for (const auto& r : results)
        if (r.outcome.accuracy > base_->outcome.accuracy) base_ = r;
      if (best_met) {  // met without any fallback
        met_ = *best_met;
        if (ctx.keep_improving)
          plan_compress(ctx);
        else
          phase_ = Phase::kDone;
        return;
      }
      plan_single(ctx);
      return;
    case Phase::kSingle:
      after_single(ctx, results, best_met);
      return;
    case Phase::kCumulative:
      if (!met_ && !widened_ && has_wider_fallback(ctx)) {  // bf16 everywhere was not enough: fp32
        widened_ = true;
        plan_fallbacks(ctx, /*widest=*/true);
        return;
      }
      // Every op in fp32 is no answer: re-quantize the ones it does not need.
      if (met_ && (ctx.keep_improving || ctx.space.quantizes_nothing(met_->config)))
        plan_refine(ctx);
      else
        phase_ = Phase::kDone;
      return;
    case Phase::kRefine:
      refine_step(ctx);
      return;
    case Phase::kCompress:
      compress_step(ctx, results);
      return;
    case Phase::kDone:
      return;
  }
}

void FallbackStrategy::after_single(const StrategyContext& ctx,
                                    const std::vector<TrialRecord>& results,
                                    const TrialRecord* best_met) {
  std::map<int, double> sensitivity;
  for (size_t i = 0; i < results.size() && i < single_dims_.size(); ++i) {
    sensitivity[single_dims_[i]] = results[i].outcome.accuracy - base_->outcome.accuracy;
  }
  if (best_met) {  // one op in fp32 was enough; the most accurate such trial wins ties
    met_ = *best_met;
    if (ctx.keep_improving)
      plan_refine(ctx);
    else
      phase_ = Phase::kDone;
    return;
  }
  double best_gain = 0;
  for (const auto& [d, g] : sensitivity) best_gain = std::max(best_gain, g);
  const double gap = ctx.required_accuracy - base_->outcome.accuracy;
  if (best_gain < kWeakSignal * gap) {
    // Ops that only hurt together (the producer and the consumer of one badly quantized
    // activation): no single fallback shows them. The problem's quantization error
    // (each op quantized alone) does, without trials that could stop a first-meet run
    // on a big configuration.
    std::map<int, double> err = ctx.problem.quantization_error();
    if (!err.empty()) {
      plan_cumulative(ctx, err);
      return;
    }
  }
  plan_cumulative(ctx, sensitivity);
}

void FallbackStrategy::plan_global(const StrategyContext& ctx) {
  phase_ = Phase::kGlobal;
  // Option dimensions grouped by knob ("calibration", "granularity", ...): each alternative
  // value is tried for every op at once, as INC's op-type-wise tuning does.
  std::map<std::string, std::vector<int>> by_knob;
  for (int d : ctx.space.dimensions_of_kind(DimensionKind::kOption))
    by_knob[ctx.space.dimensions()[static_cast<size_t>(d)].knob].push_back(d);
  for (const auto& [knob, dims] : by_knob) {
    std::set<std::string> values;
    for (int d : dims)
      for (const auto& v : ctx.space.dimensions()[static_cast<size_t>(d)].values) values.insert(v);
    for (const auto& v : values) {
      Config c = base_->config;
      bool changed = false;
      for (int d : dims) {
        const auto& cand = ctx.space.dimensions()[static_cast<size_t>(d)].values;
        auto it = std::find(cand.begin(), cand.end(), v);
        if (it == cand.end() || it == cand.begin()) continue;
        c[static_cast<size_t>(d)] = static_cast<int>(it - cand.begin());
        changed = true;
      }
      if (changed) pending_.push_back(ctx.space.canonical(c));
    }
  }
  if (pending_.empty()) plan_single(ctx);
}

void FallbackStrategy::plan_single(const StrategyContext& ctx) {
  phase_ = Phase::kSingle;
  single_dims_.clear();
  for (int d : ctx.space.dimensions_of_kind(DimensionKind::kFallback)) {
    Config c = base_->config;
    c[static_cast<size_t>(d)] = 1;
    pending_.push_back(ctx.space.canonical(c));
    single_dims_.push_back(d);
  }
  if (pending_.empty()) phase_ = Phase::kDone;
}

void FallbackStrategy::plan_cumulative(const StrategyContext& ctx,
                                       const std::map<int, double>& sensitivity) {
  order_dims_ = ctx.space.dimensions_of_kind(DimensionKind::kFallback);
  auto score = [&](int d) {
    auto it = sensitivity.find(d);
    return it == sensitivity.end() ? 0.0 : it->second;
  };
  std::stable_sort(order_dims_.begin(), order_dims_.end(),
                   [&](int a, int b) { return score(a) > score(b); });
  plan_fallbacks(ctx, /*widest=*/false);
}

// Ops fall back one more at a time in order_dims_ order, to their cheapest fallback (bf16 when
// offered) or, widest, to the last one (fp32).
void FallbackStrategy::plan_fallbacks(const StrategyContext& ctx, bool widest) {
  phase_ = Phase::kCumulative;
  Config c = base_->config;
  for (int d : order_dims_) {
    c[static_cast<size_t>(d)] = widest ? ctx.space.last_index(d) : 1;
    pending_.push_back(ctx.space.canonical(c));
  }
  if (pending_.empty()) phase_ = Phase::kDone;
}

bool FallbackStrategy::has_wider_fallback(const StrategyContext& ctx) const {
  for (int d : order_dims_)
    if (ctx.space.last_index(d) > 1) return true;
  return false;
}

// Re-quantizes the fallen-back ops one at a time, least sensitive first; then, where bf16 is
// offered, moves the ops still in fp32 down to bf16 the same way.
void FallbackStrategy::plan_refine(const StrategyContext& ctx) {
  phase_ = Phase::kRefine;
  refine_steps_.clear();
  refine_at_ = 0;
  refine_to_bf16_ = false;
  std::vector<int> dims =
      order_dims_.empty() ? ctx.space.dimensions_of_kind(DimensionKind::kFallback) : order_dims_;
  for (auto it = dims.rbegin(); it != dims.rend(); ++it) {
    if (met_->config[static_cast<size_t>(*it)] != 0) refine_steps_.push_back({*it, 0});
  }
  // plan the first one now; advance() plans the rest after each result
  refine_step(ctx);
}

void FallbackStrategy::refine_step(const StrategyContext& ctx) {
  while (true) {
    if (refine_at_ >= refine_steps_.size()) {
      if (refine_to_bf16_) {
        plan_compress(ctx);
        return;
      }
      refine_to_bf16_ = true;  // second pass: fp32 ops to the cheaper fallback
      std::vector<std::pair<int, int>> lower;
      for (const auto& [d, to] : refine_steps_) {
        if (met_->config[static_cast<size_t>(d)] > 1) lower.push_back({d, 1});
      }
      refine_steps_ = std::move(lower);
      refine_at_ = 0;
      continue;
    }
    const auto [d, to] = refine_steps_[refine_at_++];
    Config c = met_->config;
    if (c[static_cast<size_t>(d)] <= to) continue;
    c[static_cast<size_t>(d)] = to;
    pending_.push_back(ctx.space.canonical(c));
    return;
  }
}

std::unique_ptr<Strategy> make_basic_strategy() {
  return std::make_unique<FallbackStrategy>(FallbackStrategy::Order::kMeasured);
}

}  // namespace tamp::tuning
