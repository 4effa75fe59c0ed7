// Internal state of the Pruning component, shared by pruning.cpp (selection, hooks, state)
// and pruning_update.cpp (mask updates). Not part of the public API.
#pragma once

#include <tamp/compression/pruning/heads.h>
#include <tamp/compression/pruning/mask_set.h>
#include <tamp/compression/pruning/pruning.h>
#include <tamp/compression/pruning/targets.h>

#include <map>
#include <optional>

namespace tamp::compression {

struct WeightTarget {
  pruning::PrunableWeight info;
  pruning::Pattern pattern;
  double sparsity = 0;  // final
  double initial = 0;   // at attach (existing zeros)
  bool global = false;
  std::vector<std::string> followers;  // channel pattern: params indexed by output channel
};

struct HeadTarget {
  pruning::AttentionBlock block;
  double sparsity = 0;  // fraction of heads, final
  double initial = 0;
  bool global = false;
};

struct Pruning::Impl {
  PruningOptions options;
  pruning::Pattern pattern;
  nn::GraphModule* model = nullptr;
  std::vector<WeightTarget> weights;
  std::vector<HeadTarget> heads;
  std::vector<LayerReport> skipped;
  std::map<std::string, pruning::ScoreTracker> trackers;  // by weight name
  pruning::MaskSet masks;
  std::optional<pruning::ScheduleClock> clock;
  double global_initial = 0;
  int64_t last_update = -1;
  bool final_done = false;

  // Recomputes every mask to the schedule's target at `step` (final: the final targets),
  // then masks weights and gradients.
  void update(int64_t step, bool final);
  // The parts of update: weight masks, then attention heads.
  void update_weights(int64_t step, bool final);
  void update_heads(int64_t step, bool final);
  // A target's sparsity at `step`: the schedule's between initial and fin (final: fin).
  double target_at(int64_t step, bool final, double initial, double fin) const;
  // Masks head h of the block in every projection it spans.
  void zero_head(const pruning::AttentionBlock& block, int64_t h);
  void observe();
  // At attach: a mask per target (exact zeros of its weight count as pruned; its followers
  // start from ones), the parameters and score trackers the targets touch, global_initial.
  void add_masks();
  // Heads whose V columns are all zero already count as pruned (sets each target's initial).
  void lock_existing_heads();
  // Channel pattern: zeroes the biases and BatchNormalization entries of pruned rows.
  void sync_followers();
  // Heads pruned according to the masks (during updates).
  int64_t pruned_heads(const HeadTarget& t) const;
  // Fractions of zeros / zero heads in the parameters' values (also after release()).
  double weight_sparsity(const std::string& weight) const;
  double head_fraction(const HeadTarget& t) const;
  std::map<std::string, Variable> params;  // every parameter a target touches, by name
};

}  // namespace tamp::compression
