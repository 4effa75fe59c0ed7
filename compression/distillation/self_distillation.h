// SelfDistillation: deeper parts of one model teach shallower ones (Zhang et al., "Be Your Own
// Teacher", as Intel Neural Compressor describes it). Each pair puts a small classifier head on
// a shallow value; the head learns from the labels and from the model's own logits, and the
// shallow value may also be pulled towards a deeper one.
//
//   auto sd = std::make_shared<compression::SelfDistillation>(compression::SelfDistillationOptions{
//       .temperature = 3,
//       .pairs = {{.shallow = "/pool1/MaxPool_output_0", .deep = "/pool2/MaxPool_output_0",
//                  .feature_weight = 0.05}}});
//   Trainer(model, {sd}, {...}).run();          // heads trained, dropped at export
//
// Per pair, with h = head(shallow) and z = the model's logits (constant):
//   kd_weight * T^2 KL(softmax(z/T) || softmax(h/T)) + label_weight * CE(h, labels)
//   + feature_weight * MSE(projection(shallow), deep)   (deep constant; a 1x1 Conv / Linear
//     projection when the widths differ; the other dims must match)
// The task loss keeps weight 1.
// The head: a (N, C, H, W) value is average-pooled to a grid of at most head_grid x head_grid
// cells (1: global average pool), a (N, S, C) value averaged over S; then, with head_hidden > 0,
// Linear(features -> head_hidden) + ReLU; then Linear(-> classes). A head must be able to
// follow the deep logits: a global-pooled linear head (head_grid 1, head_hidden 0) on the
// 16-channel first block of the Fashion-MNIST CNN cannot, and its KD term grows while the
// model's logits sharpen; the default 4x4 grid and 64 hidden units follow them, and every term
// falls (tests/compression/distillation/self_distillation_fashion_test.cpp).
//
// Contract (component.h): attach checks the names (an error names a missing value), probes
// shapes like Distillation and creates heads and projections; trainable_parameters are
// "self_distillation.head<i>.hidden.*" and ".out.*" (a linear head: "self_distillation.head<i>.*")
// and "self_distillation.proj<i>.*"; history() holds the per
// epoch means of "head<i>.kd", "head<i>.ce", "head<i>.feature" and "total".
#pragma once

#include <tamp/compression/component.h>

#include <memory>
#include <string>
#include <vector>

namespace tamp::compression {

struct SelfDistillationPair {
  std::string shallow = {};     // a value early in the model
  std::string deep = {};        // a deeper value for the feature term ("" : none)
  double kd_weight = 1;
  double label_weight = 0.3;
  double feature_weight = 0;    // needs `deep`
};

struct SelfDistillationOptions {
  double temperature = 3;
  std::vector<SelfDistillationPair> pairs = {};
  std::string output = {};      // the logits; empty: the first graph output
  std::string input = {};       // empty: the only input
  Tensor example_input = {};    // for the shape probe
  uint64_t seed = 0;            // heads and projections
  int64_t head_grid = 4;        // in [1, 64]
  int64_t head_hidden = 64;     // in [0, 65536]; 0: a linear head
};

class SelfDistillation : public Component {
 public:
  explicit SelfDistillation(SelfDistillationOptions options);
  ~SelfDistillation() override;
  std::string name() const override { return "self_distillation"; }

  void attach(nn::GraphModule& model, nn::Collective& collective) override;
  std::vector<std::string> extra_outputs() const override;
  std::vector<std::pair<std::string, Variable>> trainable_parameters() const override;
  Variable extra_loss(const Batch& batch, const StepInfo& at) override;
  void on_epoch_end(const StepInfo& at) override;
  // "head<i>.kd", "head<i>.ce", "head<i>.feature", as history() names them.
  std::vector<std::pair<std::string, double>> loss_terms() const override;
  std::map<std::string, Tensor> state() const override;

  const std::vector<std::map<std::string, double>>& history() const;
  // The logits of head i on the values of a forward pass (for measuring a shallow exit).
  Variable head_logits(size_t i, const std::map<std::string, Variable>& values) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tamp::compression
