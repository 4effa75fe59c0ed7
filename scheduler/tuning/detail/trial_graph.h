// How quantization tuning builds a trial's fake-quant graph from a plan, per-op settings and
// the shared calibration, and the graph measurements it needs (MACs, calibration points).
// Internal to scheduler/tuning (quant_tuning.cpp); kept apart to keep that file short.
//
//   apply_quantization(graph, plan, settings, cache);   // FakeQuantize inserted and scaled
#pragma once

#include <tamp/compression/quantization/export_target.h>
#include <tamp/compression/quantization/quant_plan.h>
#include <tamp/scheduler/tuning/calibration_cache.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace tamp::tuning {

struct TrialSettings {
  // The value of an op's knob ("granularity", "scheme", "calibration") in the trial.
  std::function<std::string(const std::string& op, const std::string& knob,
                            const std::string& otherwise)>
      setting;
  double percentile = 99.99;
  bool weight_narrow_range = false;
  compression::ExportTarget target = compression::ExportTarget::kPortable;
};

// Inserts FakeQuantize at the plan's points (graph changed in place): weights 8-bit symmetric
// per channel or per tensor as their op says, in the range the export target computes exactly
// (weights_for_target; the graph's metadata records the target), activations uint8 with the scheme
// and calibration of the op that owns them (the quantized op producing the value, else the first
// quantized op reading it), scales from `cache`.
void apply_quantization(nn::Graph& graph, const compression::QuantPlan& plan,
                        const TrialSettings& settings, CalibrationCache& cache);

// Every value a trial's plan may quantize (the full plan, and the plans with one op left out
// or alone), plus the data inputs and outputs of the ops (for their shapes).
std::vector<std::string> calibration_values(const nn::Graph& graph,
                                            const std::vector<std::string>& ops,
                                            const std::vector<std::string>& exclude);
// Multiply-accumulates per example of each op, from the shapes of the first calibration batch.
std::map<std::string, int64_t> macs_per_example(const nn::Graph& graph,
                                                const std::vector<std::string>& ops,
                                                const std::map<std::string, Shape>& shapes);
// Whether quant_plan gives this op's weight an output-channel axis (per channel possible).
bool weight_has_channel_axis(const nn::Graph& graph, const std::string& op,
                             const std::string& weight);
// Zeroes the `sparsity` fraction of the weight's elements smallest in magnitude (ties: lower
// index first), in a copy of the initializer.
void prune_by_magnitude(nn::Graph& graph, const std::string& weight, double sparsity);
// sum((b - a)^2) / sum(a^2) over float tensors of one shape (0 when a is all zero and b equal).
double relative_mse(const Tensor& a, const Tensor& b);

}  // namespace tamp::tuning
