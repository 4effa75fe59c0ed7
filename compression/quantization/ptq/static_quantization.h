// Static post-training quantization: no training, only calibration (forward passes over
// TrainOptions::calibration_batches); finalize() fixes the scales, leaving the same
// FakeQuantize graph as QAT (docs/quantization.md#the-qat-schedule).
//
//   QuantizerOptions o{.activations = quint8};
//   o.activations.observer.kind = ObserverKind::kEntropy;
//   Trainer(model, {std::make_shared<StaticQuantization>(o)},
//           {.train = calibration_data, .calibration_batches = 16}).run();
#pragma once

#include <tamp/compression/quantization/fake_quantizer.h>

namespace tamp::compression {

class StaticQuantization : public FakeQuantizer {
 public:
  explicit StaticQuantization(QuantizerOptions options = {}) : FakeQuantizer(std::move(options)) {}
  std::string name() const override { return "ptq"; }
  bool needs_training() const override { return false; }
  void on_calibration_batch(const Batch& batch) override {
    observe(batch);
    // Data-parallel: a moving average equals one process's only when reduced after every update
    // (minmax_observer.cpp); min-max and histogram observers are reduced once, at finalize.
    if (options().activations.observer.kind == ObserverKind::kMovingAverageMinMax) sync_observers();
  }
};

}  // namespace tamp::compression
