// Calibration done once for a whole tuning run: every activation a trial may quantize is
// observed in the float model into one histogram, and any trial's scale and zero point (any
// calibration method, scheme or percentile) come from it without another pass, memoised.
//
//   CalibrationCache cache(float_graph, calibration_data, {.batches = 8});
//   cache.observe(plan.activations);                  // one pass over the data
//   QuantParams p = cache.qparams("/relu/Relu_output_0", spec);
#pragma once

#include <tamp/autograd/tensor.h>
#include <tamp/compression/quantization/qspec.h>
#include <tamp/nn/dataset.h>
#include <tamp/nn/graph.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tamp::tuning {

struct CalibrationOptions {
  int64_t batches = 8;
  int64_t batch_size = 64;
  std::string input;  // graph input fed with the data; "" = the only one
  int bins = 2048;    // histogram bins per sign
};

class CalibrationCache {
 public:
  // Throws (kInvalidInput) for an empty dataset.
  CalibrationCache(nn::Graph float_graph, std::shared_ptr<const nn::Dataset> data,
                   CalibrationOptions options);

  // Observes, in one pass over the calibration batches, the values not observed yet (a
  // value that is a graph input is read from the batch). Values already seen cost nothing.
  void observe(const std::vector<std::string>& values);
  bool has(const std::string& value) const { return states_.count(value) != 0; }
  // The activation parameters of `value` under `spec` (per tensor; spec.observer picks the
  // range rule). Throws when the value was never observed.
  compression::QuantParams qparams(const std::string& value, const compression::QuantSpec& spec);
  // Calibration passes run so far (each a forward pass per calibration batch).
  int passes() const { return passes_; }
  // Shapes of the observed values on the first calibration batch.
  const std::map<std::string, Shape>& shapes() const { return shapes_; }
  // The first calibration batch's input, shaped for the graph (for output comparisons).
  const Tensor& first_input() const { return first_input_; }
  const std::string& input_name() const { return input_; }

 private:
  nn::Graph graph_;
  std::shared_ptr<const nn::Dataset> data_;
  CalibrationOptions options_;
  std::string input_;
  Tensor first_input_;
  std::map<std::string, std::map<std::string, Tensor>> states_;  // histogram observer states
  std::map<std::string, Shape> shapes_;
  std::map<std::string, compression::QuantParams> memo_;
  int passes_ = 0;
};

}  // namespace tamp::tuning
