// What `tamp run` (run.cpp) shows and writes besides the model: progress on the terminal,
// metrics.jsonl as it trains, summary.json and the closing lines (report.html: run_report.h).
// run.cpp decides what runs; the formats of these files live here.
//
//   MetricsFile metrics(run.metrics_path(), world.is_root(), args.resume);
//   metrics.line(step_metrics_json(k, log, model_stats(model.export_graph())));
#pragma once

#include "common.h"
#include "export_target_options.h"
#include "run.h"

#include <tamp/scheduler/dist.h>
#include <tamp/scheduler/recipe.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace tamp::cli {

// The recipe's training and evaluation data, limited as it says; the model normalizes its
// input with the training data's statistics.
struct RunData {
  std::string name;
  std::shared_ptr<const nn::Dataset> train, eval;
  std::optional<nn::InputNormalization> normalization;
};

// What a run is: its recipe, folder, data and per-rank batch.
struct RunSetup {
  const RunArgs& args;
  const Recipe& recipe;
  std::string out;
  RunData data;
  int64_t batch_size = 0;
  dist::Context& world;
  std::string metrics_path() const {
    return (std::filesystem::path(out) / "metrics.jsonl").string();
  }
  std::string checkpoint() const { return (std::filesystem::path(out) / "checkpoint.h5").string(); }
};

// The trained model exported, re-read and measured: accuracy and, quantized, export parity.
struct ExportResult {
  std::filesystem::path path;
  nn::Graph trained;
  EvalResult eval;
  std::optional<ParityResult> parity;
};

// Progress: a bar redrawn in place on a terminal, plain lines otherwise.
class Progress {
 public:
  Progress(bool quiet, size_t stages);
  void stage(size_t k, const std::string& name, const std::string& what);
  void step(size_t k, const StepLog& l, int64_t batch);
  void line(const std::string& text);

 private:
  void end_line();
  bool quiet_, tty_, open_ = false;
  size_t stages_;
};

// metrics.jsonl: one line per logged step and per stage end, written by rank 0 (the others
// write to /dev/null). A resumed run cuts the file back to what the checkpoint had seen, so
// the lines equal an uninterrupted run's.
class MetricsFile {
 public:
  MetricsFile(std::string path, bool root, bool resume);
  ~MetricsFile();
  MetricsFile(const MetricsFile&) = delete;
  MetricsFile& operator=(const MetricsFile&) = delete;

  void line(const nlohmann::ordered_json& j);
  // Stored with every checkpoint (FitOptions::extra_state).
  std::map<std::string, Tensor> state();
  // Back to the length a checkpoint remembers (FitOptions::load_extra_state).
  void restore(const std::map<std::string, Tensor>& extra);

 private:
  void open();
  std::string path_;
  bool root_;
  std::FILE* file_ = nullptr;
};

// metrics.jsonl lines: a logged step (with the model's sparsity and bits now, for a live
// view in tamp ui) and a stage's end.
nlohmann::ordered_json step_metrics_json(size_t stage, const StepLog& l, const ModelStats& now);
nlohmann::ordered_json stage_metrics_json(size_t stage, const StageResult& r);

// The closing line of a stage: its work, accuracy, sparsity and bits.
std::string stage_done_text(const RunSetup& run, size_t k, const StageResult& r);

nlohmann::ordered_json summary_json(const RunSetup& run, const Scheduler& scheduler,
                                    const FitResult& result, const ExportResult& x);

// Rank 0: summary.json, report.html and the closing lines.
void write_run_files(const RunSetup& run, const nlohmann::ordered_json& summary,
                     const nn::Graph& original, const ExportResult& x, Progress& progress);

}  // namespace tamp::cli
