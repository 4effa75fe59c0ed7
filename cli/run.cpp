// tamp run RECIPE.yaml [--out DIR] [--resume]: runs a recipe (scheduler/recipe.h) and writes
// into DIR the exported model, checkpoint.h5, metrics.jsonl, summary.json and report.html
// (run_report.h). Only rank 0 writes files when run under mpirun. A quantized export is
// checked against the simulated model with its target's integer arithmetic (export parity;
// summary.json export.parity; exit 4 below 99.9 % argmax agreement). A tuning recipe runs
// through run_tune (tune.h).
#include "run.h"
#include "common.h"
#include "export_target_options.h"
#include "run_report.h"
#include "search_report.h"
#include "tune.h"

#include <tamp/compression/quantization/lowering/lower.h>
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>
#include <tamp/scheduler/dist.h>
#include <tamp/scheduler/recipe.h>

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

namespace tamp::cli {

namespace {

namespace fs = std::filesystem;

std::shared_ptr<const nn::Dataset> limited(std::shared_ptr<const nn::Dataset> data, int64_t limit) {
  if (!data || limit < 0 || limit >= data->size()) return data;
  auto t = std::dynamic_pointer_cast<const nn::TensorDataset>(data);
  TAMP_CHECK(t, "data.limit needs an in-memory dataset");
  return t->slice(0, limit);
}

// Progress: a bar redrawn in place on a terminal, plain lines otherwise.
class Progress {
 public:
  Progress(bool quiet, size_t stages) : quiet_(quiet), tty_(::isatty(STDOUT_FILENO) != 0), stages_(stages) {}
  void stage(size_t k, const std::string& name, const std::string& what) {
    if (quiet_) return;
    end_line();
    fmt::print("stage {}/{} '{}': {}\n", k + 1, stages_, name, what);
    std::fflush(stdout);
  }
  void step(size_t k, const StepLog& l, int64_t batch) {
    if (quiet_) return;
    const double steps_per_s = l.samples_per_s / static_cast<double>(std::max<int64_t>(1, batch));
    const double eta = steps_per_s > 0 ? static_cast<double>(l.total_steps - l.step) / steps_per_s : 0;
    const std::string eta_text = fmt::format("{}:{:02d}", static_cast<int>(eta) / 60, static_cast<int>(eta) % 60);
    // The terms when there is more than the task loss: "(task 0.41, distillation.logits 0.38)".
    std::string terms;
    for (const auto& [term, value] : l.terms) terms += fmt::format("{}{} {:.4f}", terms.empty() ? "" : ", ", term, value);
    terms = l.terms.size() > 1 ? " (" + terms + ")" : "";
    if (tty_) {
      constexpr int kWidth = 30;
      const int done = l.total_steps > 0 ? static_cast<int>(kWidth * l.step / l.total_steps) : kWidth;
      fmt::print("\r  [{}{}] {}/{}  loss {:.4f}{}  {:.1f} steps/s  ETA {}   ", std::string(done, '#'),
                 std::string(kWidth - done, '.'), l.step, l.total_steps, l.loss, terms, steps_per_s, eta_text);
      open_ = true;
    } else {
      fmt::print("  stage {} epoch {} step {}/{}  loss {:.4f}{}  lr {:.3g}  {:.1f} steps/s  ETA {}\n", k + 1,
                 l.epoch + 1, l.step, l.total_steps, l.loss, terms, l.lr, steps_per_s, eta_text);
    }
    std::fflush(stdout);
  }
  void line(const std::string& text) {
    if (quiet_) return;
    end_line();
    fmt::print("{}\n", text);
    std::fflush(stdout);
  }

 private:
  void end_line() {
    if (open_) fmt::print("\n");
    open_ = false;
  }
  bool quiet_, tty_, open_ = false;
  size_t stages_;
};

nlohmann::ordered_json eval_json(const EvalResult& e) {
  return {{"top1", e.top1}, {"top5", e.top5}, {"loss", e.loss}, {"examples", e.count}};
}

// What a run writes into its folder, that an earlier run's files would be confused with.
std::vector<fs::path> run_files(const std::string& out, const std::string& export_path) {
  std::vector<fs::path> files;
  for (const char* f : {"checkpoint.h5", "metrics.jsonl", "summary.json", "report.html"}) files.push_back(fs::path(out) / f);
  files.push_back(fs::path(out) / export_path);
  return files;
}

// A fresh run would replace what an earlier one wrote into `out`: refused, naming the files,
// unless told to; then the earlier run's files go first, so none of them outlives it.
void clear_earlier_run(const std::string& out, const std::string& export_path, bool overwrite) {
  std::string found;
  for (const auto& f : run_files(out, export_path)) {
    if (!fs::exists(f)) continue;
    if (overwrite) fs::remove(f);
    else found += (found.empty() ? "" : ", ") + f.filename().string();
  }
  if (found.empty()) return;
  throw Error(fmt::format("'{}' holds another run ({})", out, found), ErrorKind::kInvalidInput,
              "continue it with --resume, replace it with --overwrite, or pass another --out");
}

// The recipe's training and evaluation data, limited as it says; the model normalizes its
// input with the training data's statistics.
struct RunData {
  std::string name;
  std::shared_ptr<const nn::Dataset> train, eval;
  std::optional<nn::InputNormalization> normalization;
};

RunData load_run_data(const Recipe& recipe, nn::GraphModule& model) {
  DatasetArgs da;
  da.spec = recipe.data.dataset;
  da.data_dir = recipe.data.dir;
  da.normalize = recipe.data.normalize;
  const LoadedDataset data = load_dataset(da, "train");
  normalize_model_input(model, data, recipe.input);
  std::shared_ptr<const nn::Dataset> eval = data.test;
  if (!recipe.data.eval_dataset.empty()) {
    DatasetArgs ea = da;
    ea.spec = recipe.data.eval_dataset;
    ea.normalize.clear();   // the model normalizes with the training data's statistics
    eval = load_dataset(ea, "train").train;
  }
  eval = limited(eval, recipe.data.eval_limit);
  TAMP_CHECK(eval, "the recipe needs evaluation data: data.eval_dataset (hdf5:FILE) for an HDF5 training set");
  return {data.name, limited(data.train, recipe.data.limit), eval, data.normalization};
}

// metrics.jsonl: one line per logged step and per stage end, written by rank 0 (the others
// write to /dev/null). A resumed run cuts the file back to what the checkpoint had seen, so
// the lines equal an uninterrupted run's.
class MetricsFile {
 public:
  MetricsFile(std::string path, bool root, bool resume) : path_(std::move(path)), root_(root) {
    if (!resume && root_) std::fclose(std::fopen(path_.c_str(), "w"));
    open();
  }
  ~MetricsFile() { std::fclose(file_); }
  MetricsFile(const MetricsFile&) = delete;
  MetricsFile& operator=(const MetricsFile&) = delete;

  void line(const nlohmann::ordered_json& j) { fmt::print(file_, "{}\n", j.dump()); }
  // Stored with every checkpoint (FitOptions::extra_state).
  std::map<std::string, Tensor> state() {
    std::fflush(file_);
    return {{"metrics_bytes", Tensor::scalar(static_cast<double>(std::ftell(file_)), DType::kInt64)}};
  }
  // Back to the length a checkpoint remembers (FitOptions::load_extra_state).
  void restore(const std::map<std::string, Tensor>& extra) {
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

 private:
  void open() {
    file_ = std::fopen(root_ ? path_.c_str() : "/dev/null", "a");
    TAMP_CHECK(file_, "cannot open '{}'", path_);
  }
  std::string path_;
  bool root_;
  std::FILE* file_ = nullptr;
};

// The per-rank batch: the recipe's, or on --resume the one that keeps the saved run's global
// batch on this rank count (resume_batch).
int64_t run_batch_size(const Recipe& recipe, const std::string& checkpoint, bool resume, dist::Context& world) {
  if (!resume) return recipe.training.batch_size;
  const ResumeBatch b = resume_batch(checkpoint, recipe.training.batch_size, world.size());
  if (world.is_root() && b.saved_ranks > 0 && b.saved_ranks != world.size()) {
    std::fprintf(stderr, "tamp run: resuming a %lld-rank run on %d rank(s): batch %lld per rank keeps the global "
                 "batch of %lld\n", static_cast<long long>(b.saved_ranks), world.size(),
                 static_cast<long long>(b.batch_size), static_cast<long long>(b.global_batch));
  }
  return b.batch_size;
}

nlohmann::ordered_json train_loss_json(const StageResult& r) {
  return r.calibration_only ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(r.record.train_loss);
}

// What a run is: its recipe, folder, data and per-rank batch.
struct RunSetup {
  const RunArgs& args;
  const Recipe& recipe;
  std::string out;
  RunData data;
  int64_t batch_size = 0;
  dist::Context& world;
  std::string metrics_path() const { return (fs::path(out) / "metrics.jsonl").string(); }
  std::string checkpoint() const { return (fs::path(out) / "checkpoint.h5").string(); }
};

// A stage that only calibrates (ptq) has no training loss: it says how it calibrated.
std::string stage_work_text(const RunSetup& run, size_t k, const StageResult& r) {
  if (!r.calibration_only) return fmt::format("{} steps, train loss {:.4f}", r.record.steps, r.record.train_loss);
  const int64_t requested = run.recipe.stages[k].calibration_batches.value_or(run.recipe.training.calibration_batches);
  const int64_t global = run.batch_size * run.world.size();
  const int64_t available = (run.data.train->size() + global - 1) / global;
  return fmt::format("calibrated on {} batches", std::min(requested, available));
}

// The recipe's fit options with the run's data, checkpoint, progress and metrics lines.
FitOptions run_fit_options(const RunSetup& run, nn::GraphModule& model, Generator& rng, MetricsFile& metrics,
                           Progress& progress) {
  FitOptions fit = fit_options(run.recipe);
  fit.batch_size = run.batch_size;
  fit.train = run.data.train;
  fit.eval = run.data.eval;
  fit.generator = &rng;
  fit.checkpoint_path = run.checkpoint();
  fit.resume = run.args.resume;
  fit.collective = &run.world.collective();
  fit.sync_batch_norm = fit.sync_batch_norm || run.args.sync_batch_norm;
  fit.extra_state = [&metrics] { return metrics.state(); };
  fit.load_extra_state = [&metrics](const std::map<std::string, Tensor>& extra) { metrics.restore(extra); };
  fit.on_stage_begin = [&progress](size_t k, const Stage& s) {
    std::string names;
    for (const auto& c : s.components) names += (names.empty() ? "" : " + ") + c->name();
    progress.stage(k, s.name.empty() ? fmt::format("stage{}", k) : s.name, names.empty() ? "fine-tuning" : names);
  };
  fit.on_log = [&run, &model, &metrics, &progress](size_t k, const StepLog& l) {
    progress.step(k, l, run.batch_size * run.world.size());
    nlohmann::ordered_json terms = nlohmann::ordered_json::object();
    for (const auto& [term, value] : l.terms) terms[term] = value;
    // Sparsity and bits as they are now, for a live view (tamp ui): a pruning schedule raises
    // the sparsity during the stage.
    const ModelStats now = model_stats(model.export_graph());
    metrics.line({{"type", "train"}, {"stage", k}, {"epoch", l.epoch}, {"step", l.step},
                  {"total_steps", l.total_steps}, {"loss", l.loss}, {"terms", terms}, {"lr", l.lr},
                  {"samples_per_s", l.samples_per_s}, {"sparsity", now.sparsity}, {"weight_bits", now.weight_bits}});
  };
  fit.on_stage_end = [&run, &metrics, &progress](size_t k, const StageResult& r) {
    std::string acc = r.record.evaluated ? fmt::format(", top-1 {:.2f} %", 100 * r.record.eval.top1) : "";
    progress.line(fmt::format("  done in {:.1f} s: {}{}, sparsity {:.1f} %, {} bits", r.record.seconds,
                              stage_work_text(run, k, r), acc, 100 * r.sparsity, r.weight_bits));
    nlohmann::ordered_json j{{"type", "stage"},         {"stage", k},
                             {"name", r.name},          {"train_loss", train_loss_json(r)},
                             {"steps", r.record.steps}, {"skipped_steps", r.record.skipped_steps},
                             {"sparsity", r.sparsity},  {"weight_bits", r.weight_bits},
                             {"size_bytes", r.size_bytes}, {"seconds", r.record.seconds}};
    if (r.record.evaluated) j["eval"] = eval_json(r.record.eval);
    metrics.line(j);
  };
  return fit;
}

// The trained model exported, re-read and measured: accuracy and, quantized, export parity.
struct ExportResult {
  fs::path path;
  nn::Graph trained;
  EvalResult eval;
  std::optional<ParityResult> parity;
};

ExportResult export_and_measure(const RunSetup& run, nn::GraphModule& model) {
  const Recipe& recipe = run.recipe;
  ExportResult x{fs::path(run.out) / recipe.export_.path, model.export_graph(), {}, {}};
  nn::Graph exported = recipe.export_.format == "float"
                           ? x.trained
                           : compression::lower_quantized(x.trained, compression::quant_format_from_name(recipe.export_.format));
  // Rank 0 writes and re-reads the file; the other ranks take the same graph from memory and
  // evaluate their shards of the data with it.
  const bool root = run.world.is_root();
  if (root) io::save_onnx_graph(exported, x.path.string());
  nn::GraphModule reloaded(root ? io::load_onnx_graph(x.path.string()) : exported);
  x.eval = evaluate(reloaded, *run.data.eval, {.max_batches = recipe.evaluation.max_batches, .input = recipe.input,
                                               .output = recipe.output, .collective = &run.world.collective()});
  if (recipe.export_.format != "float") {
    x.parity = check_export_parity(model, reloaded.graph(), *run.data.eval,
                                   {.arithmetic = compression::parity_arithmetic(recipe.export_.target),
                                    .input = recipe.input, .output = recipe.output,
                                    .max_batches = recipe.evaluation.max_batches,
                                    .collective = &run.world.collective()});
  }
  return x;
}

nlohmann::ordered_json summary_json(const RunSetup& run, const Scheduler& scheduler, const FitResult& result,
                                    const ExportResult& x) {
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
    nlohmann::ordered_json j{{"name", s.name},
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
      if (auto s = std::dynamic_pointer_cast<search::ArchitectureSearch>(c)) summary["search"] = search_json(s->result());
    }
  }
  const auto target = x.parity ? nlohmann::ordered_json(std::string(compression::export_target_name(recipe.export_.target)))
                               : nlohmann::ordered_json(nullptr);
  summary["export"] = {{"path", x.path.string()},
                       {"format", recipe.export_.format},
                       {"target", target},
                       {"bytes", fs::file_size(x.path)},
                       {"original_bytes", fs::file_size(recipe.model)},
                       {"eval", eval_json(x.eval)},
                       {"parity", x.parity ? parity_json(*x.parity) : nlohmann::ordered_json(nullptr)}};
  return summary;
}

// Rank 0: summary.json, report.html and the closing lines.
void write_run_files(const RunSetup& run, const nlohmann::ordered_json& summary, const nn::Graph& original,
                     const ExportResult& x, Progress& progress) {
  std::ofstream(fs::path(run.out) / "summary.json") << summary.dump(2) << "\n";
  write_run_report((fs::path(run.out) / "report.html").string(),
                   ReportInput{run.recipe, summary, run.metrics_path(), original, x.trained});
  progress.line(fmt::format("exported {} ({}, {} -> {}): top-1 {:.2f} % on {} examples", x.path.string(),
                            run.recipe.export_.format, bytes_text(fs::file_size(run.recipe.model)),
                            bytes_text(fs::file_size(x.path)), 100 * x.eval.top1, x.eval.count));
  if (x.parity) {
    progress.line("parity: " + parity_text(*x.parity) + (x.parity->passed() ? "" : "  FAILED"));
    if (!x.parity->passed()) print_parity(*x.parity, stderr);
  }
  progress.line(fmt::format("wrote {}/summary.json, metrics.jsonl, report.html, checkpoint.h5", run.out));
}

int run_on_rank(const RunArgs& args, dist::Context& world) {
  const Recipe recipe = load_recipe(args.recipe);
  apply_threads(args.threads >= 0 ? args.threads : recipe.training.threads);
  const std::string out = args.out.empty() ? (fs::path("runs") / fs::path(args.recipe).stem()).string() : args.out;
  const std::string checkpoint = (fs::path(out) / "checkpoint.h5").string();
  if (args.resume && !fs::exists(checkpoint)) {
    throw Error(fmt::format("--resume: there is no checkpoint in '{}'", out), ErrorKind::kIo, "run once without --resume");
  }
  // Rank 0 alone looks: the others may start when it has written its first files.
  if (world.is_root() && !args.resume) clear_earlier_run(out, recipe.export_.path, args.overwrite);
  fs::create_directories(out);

  nn::GraphModule model = load_model_to_train(recipe.model);
  check_data_input_output(model.graph(), recipe.input, recipe.output);
  const RunSetup run{args, recipe, out, load_run_data(recipe, model),
                     run_batch_size(recipe, checkpoint, args.resume, world), world};
  Scheduler scheduler = build_scheduler(recipe, run.data.normalization);
  Generator rng(recipe.seed);
  Progress progress(args.quiet || !world.is_root(), recipe.stages.size());
  const nn::Graph original = model.export_graph();
  FitResult result;
  {
    MetricsFile metrics(run.metrics_path(), world.is_root(), args.resume);
    const FitOptions fit = run_fit_options(run, model, rng, metrics, progress);
    progress.line(fmt::format("{} {} on {} ({} training, {} evaluation examples) -> {}",
                              args.resume ? "resuming" : "running", args.recipe, run.data.name,
                              run.data.train->size(), run.data.eval->size(), out));
    result = scheduler.fit(model, fit);
  }
  const ExportResult exported = export_and_measure(run, model);
  if (world.is_root()) write_run_files(run, summary_json(run, scheduler, result, exported), original, exported, progress);
  return exported.parity ? parity_exit_code(*exported.parity) : kExitOk;
}

}  // namespace

int run_recipe(const RunArgs& args) {
  if (const Recipe recipe = load_recipe(args.recipe); recipe.tuning) {
    // Accuracy-aware tuning has no stages to train: a run again (or --resume) replays the trials
    // of its history file; --overwrite starts afresh without it.
    TuneArgs t;
    t.model.path = args.recipe;
    t.out = args.out.empty() ? (fs::path("runs") / fs::path(args.recipe).stem()).string() : args.out;
    t.threads = std::max(0, args.threads);
    if (args.overwrite) fs::remove(fs::path(t.out) / recipe.tuning->history);
    return run_tune(t);
  }
  // Under mpirun every rank runs the recipe on its shard; rank 0 alone prints and writes.
  dist::Context world;
  try {
    return run_on_rank(args, world);
  } catch (const std::exception& e) {
    if (world.size() <= 1) throw;
    // The other ranks would wait for this one in their next collective: end the job now.
    std::fprintf(stderr, "tamp run (rank %d of %d): %s\n", world.rank(), world.size(), e.what());
    world.abort(kExitFailure);
  }
}

Action setup_run(CLI::App& sub) {
  auto args = std::make_shared<RunArgs>();
  sub.add_option("recipe", args->recipe, "the recipe (YAML; docs/recipe.schema.json)")
      ->required()
      ->type_name("RECIPE.yaml");
  sub.add_option("--out", args->out, "output folder (default: runs/<recipe name>)")->type_name("DIR");
  auto* resume = sub.add_flag("--resume", args->resume, "continue from DIR/checkpoint.h5 exactly where it stopped");
  sub.add_flag("--overwrite", args->overwrite, "replace the run DIR holds (without it, a DIR holding a run is refused)")
      ->excludes(resume);
  sub.add_flag("--quiet", args->quiet, "no progress output");
  sub.add_flag("--sync-batch-norm", args->sync_batch_norm,
               "under mpirun: BatchNorm statistics over every rank (the recipe's training.sync_batch_norm)");
  sub.add_option("--threads", args->threads, "OpenMP threads (default: the recipe's training.threads)")
      ->check(CLI::NonNegativeNumber);
  return [args] { return run_recipe(*args); };
}

}  // namespace tamp::cli
