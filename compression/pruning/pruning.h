// Pruning: a Component that learns sparsity masks for a model's Conv / Gemm / MatMul weights
// while it trains; masks are monotone and locked for later stages. What each hook does and how
// untileable weights are treated: docs/pruning.md#the-components-hooks
//
//   auto prune = std::make_shared<Pruning>(PruningOptions{.pattern = "2:4",
//       .schedule = pruning::Schedule::gradual_epochs(pruning::Curve::kCubic, 0, 2, 50)});
//   Trainer(model, {prune}, {...}).run();          // masks applied every step
//   io::save_onnx(model, "pruned.onnx");           // pruned weights are exact zeros
#pragma once

#include <tamp/compression/component.h>
#include <tamp/compression/pruning/criteria.h>
#include <tamp/compression/pruning/pattern.h>
#include <tamp/compression/pruning/schedule.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tamp::compression {

struct PruningOverride {
  std::string match = {};  // regular expression over weight (or attention block) names
  std::optional<std::string> pattern = {};  // replaces the pattern for these weights
  std::optional<double> sparsity = {};      // replaces the target (layer-wise, even when global)
  bool exclude = false;                     // leave these weights dense
};

struct PruningOptions {
  std::string pattern = "unstructured";  // pattern.h
  // In [0, 1). Unset: the pattern's own (1 - N/M for N:M; required for the others).
  std::optional<double> target_sparsity = {};
  pruning::Criterion criterion = pruning::Criterion::kMagnitude;
  pruning::Schedule schedule = {};  // one-shot at step 0 by default
  // Rank units of every selected weight together (one threshold) instead of reaching the
  // target in each weight. Not for N:M (every group keeps N anyway).
  bool global = false;
  std::vector<std::string> op_types = {"Conv", "Gemm", "MatMul"};
  std::vector<std::string> include = {};  // regexes; when set, only these weights
  std::vector<std::string> exclude = {};  // regexes over weight names
  std::vector<std::string> exclude_op_types = {};
  std::vector<PruningOverride> overrides = {};  // the first matching one applies
  bool keep_locked = true;                      // finalize leaves the gradient hooks
};

class Pruning : public Component {
 public:
  explicit Pruning(PruningOptions options);
  ~Pruning() override;
  std::string name() const override { return "pruning"; }

  void attach(nn::GraphModule& model, nn::Collective& collective) override;
  void on_stage_begin(const StepInfo& at) override;
  void on_after_backward(const StepInfo& at) override;
  void on_after_step(const StepInfo& at) override;
  void finalize(nn::GraphModule& model) override;
  std::map<std::string, Tensor> state() const override;
  void load_state(const std::map<std::string, Tensor>& state) override;

  // Prunes every target to its final sparsity now, from the current weights (and the
  // gradients observed so far, for gradient criteria). requires: attach.
  void prune_now();
  // Removes the gradient hooks (the masks stop applying).
  void release();

  struct LayerReport {
    std::string weight;   // weight or attention block
    std::string op_type;  // "Conv", "Gemm", "MatMul", "attention"
    std::string pattern;
    double target = 0;    // final target (0 when skipped)
    double sparsity = 0;  // of the weight now (heads: fraction of heads pruned)
    std::string skipped;  // why it is left dense ("" when pruned)
  };
  std::vector<LayerReport> report() const;
  // The masks by parameter name (float, 1 keep / 0 pruned), the parameter's shape.
  std::map<std::string, Tensor> masks() const;
  // The target every selected weight has after the update at `step` (layer-wise targets).
  double scheduled_sparsity(int64_t step) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Keeps the exact zeros of a model's weights at zero while it trains (a later stage after a
// pruning stage, or a model pruned elsewhere): masks from the zeros at attach, applied to the
// gradients and re-applied after each step. Locks every Conv / Gemm / MatMul weight with an
// exact zero (found through FakeQuantize nodes too); for an all-zero output channel also its
// bias and the BatchNormalization scale and bias after it, and for an attention head whose V
// columns are all zero its Q/K/V bias entries, so removed channels and heads stay removable.
// Other parameters (a BatchNormalization shift initialised to zero) are not locked.
class PatternLock : public Component {
 public:
  PatternLock();
  ~PatternLock() override;
  std::string name() const override { return "pattern_lock"; }
  void attach(nn::GraphModule& model, nn::Collective& collective) override;
  void on_after_step(const StepInfo& at) override;
  void finalize(nn::GraphModule& model) override;
  std::map<std::string, Tensor> state() const override;
  // Parameters locked, with their zero counts.
  std::map<std::string, int64_t> locked() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One-shot pruning without training (magnitude; gradient criteria need training): attach,
// prune_now, finalize, release. No hooks stay: fine-tune afterwards with a PatternLock.
// Returns the per-layer report.
std::vector<Pruning::LayerReport> prune_once(nn::GraphModule& model, const PruningOptions& options);

}  // namespace tamp::compression
