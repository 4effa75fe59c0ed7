#include "run_output.h"
#include "run_report.h"
#include "search_report.h"

#include <tamp/compression/quantization/lowering/lower.h>

#include <fmt/format.h>
#include <unistd.h>

#include <fstream>

namespace tamp::cli {

namespace {

namespace fs = std::filesystem;

nlohmann::ordered_json eval_json(const EvalResult& e) {
  return {{"top1", e.top1}, {"top5", e.top5}, {"loss", e.loss}, {"examples", e.count}};
}

nlohmann::ordered_json train_loss_json(const StageResult& r) {
  return r.calibration_only ? nlohmann::ordered_json(nullptr)
                            : nlohmann::ordered_json(r.record.train_loss);
}

// A stage that only calibrates (ptq) has no training loss: it says how it calibrated.
std::string stage_work_text(const RunSetup& run, size_t k, const StageResult& r) {
  if (!r.calibration_only)
    return fmt::format("{} steps, train loss {:.4f}", r.record.steps, r.record.train_loss);
  const int64_t requested =
      run.recipe.stages[k].calibration_batches.value_or(run.recipe.training.calibration_batches);
  const int64_t global = run.batch_size * run.world.size();
  const int64_t available = (run.data.train->size() + global - 1) / global;
  return fmt::format("calibrated on {} batches", std::min(requested, available));
}

}  // namespace

Progress::Progress(bool quiet, size_t stages)
    : quiet_(quiet), tty_(::isatty(STDOUT_FILENO) != 0), stages_(stages) {}

void Progress::stage(size_t k, const std::string& name, const std::string& what) {
  if (quiet_) return;
  end_line();
  fmt::print("stage {}/{} '{}': {}\n", k + 1, stages_, name, what);
  std::fflush(stdout);
}

void Progress::step(size_t k, const StepLog& l, int64_t batch) {
  if (quiet_) return;
  const double steps_per_s = l.samples_per_s / static_cast<double>(std::max<int64_t>(1, batch));
  const double eta =
      steps_per_s > 0 ? static_cast<double>(l.total_steps - l.step) / steps_per_s : 0;
  const std::string eta_text =
      fmt::format("{}:{:02d}", static_cast<int>(eta) / 60, static_cast<int>(eta) % 60);
  // The terms when there is more than the task loss: "(task 0.41, distillation.logits 0.38)".
  std::string terms;
  for (const auto& [term, value] : l.terms)
    terms += fmt::format("{}{} {:.4f}", terms.empty() ? "" : ", ", term, value);
  terms = l.terms.size() > 1 ? " (" + terms + ")" : "";
  if (tty_) {
    constexpr int kWidth = 30;
    const int done = l.total_steps > 0 ? static_cast<int>(kWidth * l.step / l.total_steps) : kWidth;
    fmt::print("\r  [{}{}] {}/{}  loss {:.4f}{}  {:.1f} steps/s  ETA {}   ", std::string(done, '#'),
               std::string(kWidth - done, '.'), l.step, l.total_steps, l.loss, terms, steps_per_s,
               eta_text);
    open_ = true;
  } else {
    fmt::print("  stage {} epoch {} step {}/{}  loss {:.4f}{}  lr {:.3g}  {:.1f} steps/s  ETA {}\n",
               k + 1, l.epoch + 1, l.step, l.total_steps, l.loss, terms, l.lr, steps_per_s,
               eta_text);
  }
  std::fflush(stdout);
}

void Progress::line(const std::string& text) {
  if (quiet_) return;
  end_line();
  fmt::print("{}\n", text);
  std::fflush(stdout);
}

void Progress::end_line() {
  if (open_) fmt::print("\n");
  open_ = false;
}

MetricsFile::MetricsFile(std::string path, bool root, bool resume)
    : path_(std::move(path)), root_(root) {
  if (!resume && root_) std::fclose(std::fopen(path_.c_str(), "w"));
  open();
}

MetricsFile::~MetricsFile() { std::fclose(file_); }

void MetricsFile::line(const nlohmann::ordered_json& j) { fmt::print(file_, "{}\n", j.dump()); }

std::map<std::string, Tensor> MetricsFile::state() {
  std::fflush(file_);
  return {{"metrics_bytes", Tensor::scalar(static_cast<double>(std::ftell(file_)), DType::kInt64)}};
}

void MetricsFile::restore(const std::map<std::string, Tensor>& extra) {
  if (!root_) return;
  auto it = extra.find("metrics_bytes");
  TAMP_CHECK(it != extra.end(), "the checkpoint does not say how long metrics.jsonl was");
  const auto bytes = static_cast<uintmax_t>(it->second.item());
  std::fclose(file_);
  TAMP_CHECK(fs::exists(path_) && fs::file_size(path_) >= bytes,
             "'{}' is shorter than the checkpoint remembers ({} bytes)", path_, bytes);
  fs::resize_file(path_, bytes);
  open();
}

void MetricsFile::open() {
  file_ = std::fopen(root_ ? path_.c_str() : "/dev/null", "a");
  TAMP_CHECK(file_, "cannot open '{}'", path_);
}

nlohmann::ordered_json step_metrics_json(size_t stage, const StepLog& l, const ModelStats& now) {
  nlohmann::ordered_json terms = nlohmann::ordered_json::object();
  for (const auto& [term, value] : l.terms) terms[term] = value;
  return {{"type", "train"},
          {"stage", stage},
          {"epoch", l.epoch},
          {"step", l.step},
          {"total_steps", l.total_steps},
          {"loss", l.loss},
          {"terms", terms},
          {"lr", l.lr},
          {"samples_per_s", l.samples_per_s},
          {"sparsity", now.sparsity},
          {"weight_bits", now.weight_bits}};
}

nlohmann::ordered_json stage_metrics_json(size_t stage, const StageResult& r) {
  nlohmann::ordered_json j{{"type", "stage"},
                           {"stage", stage},
                           {"name", r.name},
                           {"train_loss", train_loss_json(r)},
                           {"steps", r.record.steps},
                           {"skipped_steps", r.record.skipped_steps},
                           {"sparsity", r.sparsity},
                           {"weight_bits", r.weight_bits},
                           {"size_bytes", r.size_bytes},
                           {"seconds", r.record.seconds}};
  if (r.record.evaluated) j["eval"] = eval_json(r.record.eval);
  return j;
}

std::string stage_done_text(const RunSetup& run, size_t k, const StageResult& r) {
  std::string acc =
      r.record.evaluated ? fmt::format(", top-1 {:.2f} %", 100 * r.record.eval.top1) : "";
  return fmt::format("  done in {:.1f} s: {}{}, sparsity {:.1f} %, {} bits", r.record.seconds,
                     stage_work_text(run, k, r), acc, 100 * r.sparsity, r.weight_bits);
}

nlohmann::ordered_json summary_json(const RunSetup& run, const Scheduler& scheduler,
                                    const FitResult& result, const ExportResult& x) {
  const Recipe& recipe = run.recipe;
  nlohmann::ordered_json summary{{"recipe", run.args.recipe},
                                 {"recipe_hash", recipe.hash},
                                 {"model", recipe.model},
                                 {"dataset", run.data.name},
                                 {"train_examples", run.data.train->size()},
                                 {"eval_examples", run.data.eval->size()},
                                 {"resumed", result.resumed}};
  nlohmann::ordered_json stages = nlohmann::ordered_json::array();
  for (const auto& s : result.stages) {
    nlohmann::ordered_json j{
        {"name", s.name},
        {"components", s.components},
        {"calibration_only", s.calibration_only},
        {"train_loss", train_loss_json(s)},
        {"steps", s.record.steps},
        {"skipped_steps", s.record.skipped_steps},
        {"eval", s.record.evaluated ? eval_json(s.record.eval) : nlohmann::ordered_json(nullptr)},
        {"sparsity", s.sparsity},
        {"weight_bits", s.weight_bits},
        {"size_bytes", s.size_bytes},
        {"seconds", s.record.seconds}};
    stages.push_back(j);
  }
  summary["stages"] = stages;
  for (const auto& stage : scheduler.stages()) {
    for (const auto& c : stage.components) {
      if (auto s = std::dynamic_pointer_cast<search::ArchitectureSearch>(c))
        summary["search"] = search_json(s->result());
    }
  }
  const auto target = x.parity ? nlohmann::ordered_json(std::string(
                                     compression::export_target_name(recipe.export_.target)))
                               : nlohmann::ordered_json(nullptr);
  summary["export"] = {
      {"path", x.path.string()},
      {"format", recipe.export_.format},
      {"target", target},
      {"bytes", fs::file_size(x.path)},
      {"original_bytes", fs::file_size(recipe.model)},
      {"eval", eval_json(x.eval)},
      {"parity", x.parity ? parity_json(*x.parity) : nlohmann::ordered_json(nullptr)}};
  return summary;
}

// Rank 0: summary.json, report.html and the closing lines.
void write_run_files(const RunSetup& run, const nlohmann::ordered_json& summary,
                     const nn::Graph& original, const ExportResult& x, Progress& progress) {
  std::ofstream(fs::path(run.out) / "summary.json") << summary.dump(2) << "\n";
  write_run_report((fs::path(run.out) / "report.html").string(),
                   ReportInput{run.recipe, summary, run.metrics_path(), original, x.trained});
  progress.line(fmt::format("exported {} ({}, {} -> {}): top-1 {:.2f} % on {} examples",
                            x.path.string(), run.recipe.export_.format,
                            bytes_text(fs::file_size(run.recipe.model)),
                            bytes_text(fs::file_size(x.path)), 100 * x.eval.top1, x.eval.count));
  if (x.parity) {
    progress.line("parity: " + parity_text(*x.parity) + (x.parity->passed() ? "" : "  FAILED"));
    if (!x.parity->passed()) print_parity(*x.parity, stderr);
  }
  progress.line(
      fmt::format("wrote {}/summary.json, metrics.jsonl, report.html, checkpoint.h5", run.out));
}

}  // namespace tamp::cli
