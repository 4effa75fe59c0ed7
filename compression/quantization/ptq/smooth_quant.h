// SmoothQuant (Xiao et al. 2022): activation channel j divided by s_j, the readers' weight row
// j multiplied by it, folded into the activation's producer so the export is plain QDQ.
// Foldable producers and skipped activations: docs/ptq_smoothquant_adaround.md#smoothquant
//
//   auto smooth = std::make_shared<SmoothQuant>(SmoothQuantOptions{.alpha = 0.5});
//   Trainer(model, {smooth}, {.train = calib, .calibration_batches = 16}).run();   // folds
//   Trainer(model, {std::make_shared<StaticQuantization>()}, ...).run();          // then PTQ
#pragma once

#include <tamp/compression/component.h>

#include <string>
#include <vector>

namespace tamp::compression {

struct SmoothQuantOptions {
  double alpha = 0.5;  // migration strength in [0, 1]
  // Per group: α from 0, 0.1, ..., 1 minimising the squared error of the readers' outputs with
  // the activation quantized to uint8 per tensor and the weights to int8 per channel, on up
  // to search_rows calibration rows.
  bool search_alpha = false;
  int64_t search_rows = 2048;
  std::vector<std::string> exclude;  // reader node names or op types left alone
};

struct SmoothGroup {
  std::string producer;              // the node the division is folded into
  std::string producer_op;           // LayerNormalization, MatMul or Gemm
  std::string value;                 // the smoothed activation [..., K]
  bool through_relu = false;         // a Relu sits between the producer and `value`
  std::vector<std::string> readers;  // linear layer node names reading `value`
  int64_t channels = 0;              // K
  double alpha = 0;                  // the α used (set when folded)
};

// The activations SmoothQuant can fold, in graph order. Throws (kInvalidInput) for an
// exclusion naming no node or op type.
std::vector<SmoothGroup> find_smooth_groups(const nn::Graph& graph,
                                            const std::vector<std::string>& exclude = {});

// s_j = max|X_j|^α / max|W_j|^(1-α), clamped to [1e-5, 1e5]; 1 for a channel that is zero in
// X or W.
std::vector<float> smoothing_factors(const std::vector<float>& act_absmax,
                                     const std::vector<float>& weight_absmax, double alpha);

// Per input channel j: max over the readers' outputs of |W[j, n]| (weights as [K, N]).
std::vector<float> reader_weight_absmax(const nn::Graph& graph, const SmoothGroup& group);

// requires: group from find_smooth_groups(graph), s of group.channels positive values.
// ensures: the producer's output channels divided by s, the readers' input rows multiplied by
//          s; initializers are replaced by edited copies (other graphs sharing them keep theirs).
void apply_smoothing(nn::Graph& graph, const SmoothGroup& group, const std::vector<float>& s);

class SmoothQuant : public Component {
 public:
  explicit SmoothQuant(SmoothQuantOptions options = {});
  std::string name() const override { return "smooth_quant"; }
  bool needs_training() const override { return false; }
  // ensures: groups() lists what will be folded (possibly nothing: the model is then unchanged).
  void attach(nn::GraphModule& model, nn::Collective& collective) override;
  std::vector<std::string> extra_outputs() const override;
  void on_calibration_batch(const Batch& batch) override;
  // ensures: every group folded with its α. Throws when a group's activation was never observed.
  void finalize(nn::GraphModule& model) override;
  const std::vector<SmoothGroup>& groups() const { return groups_; }

 private:
  double search_alpha(size_t group, const std::vector<float>& act_absmax,
                      const std::vector<float>& weight_absmax) const;

  SmoothQuantOptions options_;
  nn::GraphModule* model_ = nullptr;
  nn::Collective* collective_ = nullptr;
  std::vector<SmoothGroup> groups_;
  std::vector<std::vector<float>> absmax_;  // per group, [K]
  std::vector<std::vector<float>>
      rows_;  // per group, kept rows (row-major, K each) for the α search
};

}  // namespace tamp::compression
