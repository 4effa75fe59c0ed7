// Accuracy-aware tuning of static PTQ (and one-shot per-layer magnitude pruning): the
// TuningProblem whose trials are fake-quant models built from one calibration and evaluated
// on a dataset. The space it searches: docs/tuning.md
//
//   QuantTuningProblem p(graph, {.calibration = data.train, .eval = data.test});
//   auto s = make_strategy("basic");
//   TuningResult r = tune(p, *s, {.criterion = AccuracyCriterion::parse("relative:0.01")});
//   io::save_onnx_graph(p.export_graph(r.best->config), "cnn_tuned.onnx");
#pragma once

#include <tamp/compression/quantization/export_target.h>
#include <tamp/compression/quantization/lowering/lower.h>
#include <tamp/nn/dataset.h>
#include <tamp/nn/graph.h>
#include <tamp/scheduler/evaluate.h>
#include <tamp/scheduler/tuning/calibration_cache.h>
#include <tamp/scheduler/tuning/criterion.h>
#include <tamp/scheduler/tuning/problem.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace tamp::tuning {

struct QuantTuningOptions {
  std::vector<std::string> granularities{"per_channel", "per_tensor"};
  std::vector<std::string> schemes{"asym", "sym"};
  std::vector<std::string> calibrations{"minmax", "percentile", "entropy", "mse"};
  std::vector<std::string> bits{"8"};
  // What an op that is not int8 may become, cheapest first: "bf16", "fp32" or both.
  std::vector<std::string> fallbacks{"fp32"};
  std::vector<std::string> sparsities;  // e.g. {"0", "0.5", "0.75"}; empty: no pruning dimensions
  std::vector<std::string> exclude;     // node names or op types never quantized nor searched
  // Searchable values: "percentile" (of the percentile calibration, default 99.99) and
  // "weight_narrow_range" (true | false, default false).
  std::map<std::string, std::vector<std::string>> searchable;
  // The export target (compression/quantization/export_target.h): trials quantize the weights
  // to the range it computes exactly, and the export records it.
  compression::ExportTarget target = compression::ExportTarget::kPortable;

  std::shared_ptr<const nn::Dataset> calibration;
  int64_t calibration_batches = 8;
  int64_t calibration_batch_size = 64;
  std::shared_ptr<const nn::Dataset> eval;
  EvalOptions eval_options;  // batch size, max batches, input, output
  Objective objective;
  std::string work_dir = ".";  // latency objective: where trial models are written
};

class QuantTuningProblem : public TuningProblem {
 public:
  // Folds BatchNorm, builds the space, calibrates once. Throws (kInvalidInput) for missing
  // datasets, unknown option values or searchable keys, bits other than 8, and a model
  // with no quantizable op left after exclusions and no sparsity levels (empty space).
  QuantTuningProblem(nn::Graph float_graph, QuantTuningOptions options);

  const TuningSpace& space() const override { return space_; }
  // model: the float graph as given; data: every example of both datasets, the calibration
  // batches and batch size, and the evaluation options.
  ProblemFingerprint fingerprint() const override { return fingerprint_; }
  Outcome baseline() override;
  Outcome evaluate(const Config& c) override;
  // Per op: relative MSE of the model's output on the first calibration batch with that op
  // alone quantized (default options), sum((q - f)^2) / sum(f^2). Measured at the model
  // output rather than the op's own output because one dominant channel can hide the error
  // of every other channel in an op-output MSE. Computed once.
  std::map<int, double> quantization_error() override;

  // The fake-quant model of a configuration (what a trial evaluates).
  nn::Graph simulated_graph(const Config& c);
  // The model as exported: lowered to QDQ / QOperator, or float when nothing is quantized.
  nn::Graph export_graph(const Config& c,
                         compression::QuantFormat format = compression::QuantFormat::kQdq);
  double objective(const Config& c);

  int calibration_passes() const { return cache_->passes(); }
  int evaluations() const { return evaluations_; }
  const std::vector<std::string>& ops() const { return ops_; }

 private:
  struct Choice {
    std::set<std::string> quantized;         // compute nodes
    std::vector<std::string> bf16;           // compute nodes with bf16 weights
    std::map<std::string, double> sparsity;  // weight -> level
  };
  Choice choice(const Config& c) const;
  void build_space();
  nn::Graph pruned_graph(const Choice& ch) const;
  double objective_of(const Choice& ch, const Config* c);
  double run_latency(const nn::Graph& g, const std::string& stem);

  nn::Graph float_;  // BatchNorm folded
  QuantTuningOptions options_;
  ProblemFingerprint fingerprint_;
  TuningSpace space_;
  std::unique_ptr<CalibrationCache> cache_;
  std::vector<std::string> ops_;  // quantizable compute nodes, graph order
  std::map<std::string, std::vector<std::string>> op_weights_;  // node -> its weights
  std::map<std::string, int64_t> macs_;                         // per example
  std::map<int, double> error_;
  bool error_done_ = false;
  int evaluations_ = 0;
  int exports_ = 0;
};

}  // namespace tamp::tuning
