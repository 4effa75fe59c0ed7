// The accuracy-aware tuning loop: a strategy proposes configurations, each evaluated once (or
// answered from the history) until the exit policy stops it. Result: the smallest objective
// meeting the criterion, else the most accurate found; never a config that quantizes nothing.
//
//   TuningResult r = tune(problem, *make_strategy("basic"),
//                         {.criterion = AccuracyCriterion::parse("relative:0.01"),
//                          .exit = {.max_trials = 50}, .history = "tuning.jsonl"});
//   if (r.met) io::save_onnx_graph(problem.export_graph(r.best->config), "tuned.onnx");
#pragma once

#include <tamp/scheduler/tuning/criterion.h>
#include <tamp/scheduler/tuning/strategy.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tamp::tuning {

struct TunerOptions {
  AccuracyCriterion criterion;
  ExitPolicy exit;
  std::string history;                               // tuning.jsonl; "" keeps none
  std::function<void(const TrialRecord&)> on_trial;  // after each trial (progress lines)
};

// Why an op of the result is not int8.
struct FallbackReason {
  std::string op;                            // the fallback dimension's target (the node)
  std::string precision;                     // what it became: "bf16" or "fp32"
  std::optional<double> accuracy_alone;      // a trial with only this op not int8, if any ran
  std::optional<double> quantization_error;  // TuningProblem::quantization_error, if known
  std::string text;  // "accuracy 0.83 with this op alone not int8 (0.61 all int8)"
};

struct TuningResult {
  Outcome baseline;
  double required_accuracy = 0;
  bool met = false;                 // best meets the criterion
  std::optional<TrialRecord> best;  // null only when no trial quantizing something ran
  int trials = 0;                   // proposed and answered, resumed ones included
  int evaluations = 0;              // run in this process
  int resumed = 0;                  // answered from the history
  std::string stop_reason;  // "criterion met", "max trials", "timeout", "strategy exhausted"
  std::string message;      // a sentence for the user
  std::vector<TrialRecord> history;       // this run's trials in order
  std::vector<FallbackReason> fallbacks;  // of best
};

// Throws (kInvalidInput) for an empty tuning space (nothing to search) or max_trials < 1.
TuningResult tune(TuningProblem& problem, Strategy& strategy, const TunerOptions& options);

}  // namespace tamp::tuning
