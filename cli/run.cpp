// tamp run RECIPE.yaml [--out DIR] [--resume]: runs a recipe (scheduler/recipe.h) and writes
// into DIR the exported model, checkpoint.h5, metrics.jsonl, summary.json and report.html
// (run_report.h). Only rank 0 writes files when run under mpirun. A quantized export is
// checked against the simulated model with its target's integer arithmetic (export parity;
// summary.json export.parity; exit 4 below 99.9 % argmax agreement). A tuning recipe runs
// through run_tune (tune.h).
#include "run.h"
#include "common.h"
#include "run_output.h"
#include "tune.h"

#include <tamp/compression/quantization/lowering/lower.h>
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>
#include <tamp/scheduler/dist.h>
#include <tamp/scheduler/recipe.h>

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <map>

namespace tamp::cli {

namespace {

namespace fs = std::filesystem;

std::shared_ptr<const nn::Dataset> limited(std::shared_ptr<const nn::Dataset> data, int64_t limit) {
  if (!data || limit < 0 || limit >= data->size()) return data;
  auto t = std::dynamic_pointer_cast<const nn::TensorDataset>(data);
  TAMP_CHECK(t, "data.limit needs an in-memory dataset");
  return t->slice(0, limit);
}

// What a run writes into its folder, that an earlier run's files would be confused with.
std::vector<fs::path> run_files(const std::string& out, const std::string& export_path) {
  std::vector<fs::path> files;
  for (const char* f : {"checkpoint.h5", "metrics.jsonl", "summary.json", "report.html"})
    files.push_back(fs::path(out) / f);
  files.push_back(fs::path(out) / export_path);
  return files;
}

// A fresh run would replace what an earlier one wrote into `out`: refused, naming the files,
// unless told to; then the earlier run's files go first, so none of them outlives it.
void clear_earlier_run(const std::string& out, const std::string& export_path, bool overwrite) {
  std::string found;
  for (const auto& f : run_files(out, export_path)) {
    if (!fs::exists(f)) continue;
    if (overwrite)
      fs::remove(f);
    else
      found += (found.empty() ? "" : ", ") + f.filename().string();
  }
  if (found.empty()) return;
  throw Error(fmt::format("'{}' holds another run ({})", out, found), ErrorKind::kInvalidInput,
              "continue it with --resume, replace it with --overwrite, or pass another --out");
}

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
    ea.normalize.clear();  // the model normalizes with the training data's statistics
    eval = load_dataset(ea, "train").train;
  }
  eval = limited(eval, recipe.data.eval_limit);
  TAMP_CHECK(
      eval,
      "the recipe needs evaluation data: data.eval_dataset (hdf5:FILE) for an HDF5 training set");
  return {data.name, limited(data.train, recipe.data.limit), eval, data.normalization};
}

// The per-rank batch: the recipe's, or on --resume the one that keeps the saved run's global
// batch on this rank count (resume_batch).
int64_t run_batch_size(const Recipe& recipe, const std::string& checkpoint, bool resume,
                       dist::Context& world) {
  if (!resume) return recipe.training.batch_size;
  const ResumeBatch b = resume_batch(checkpoint, recipe.training.batch_size, world.size());
  if (world.is_root() && b.saved_ranks > 0 && b.saved_ranks != world.size()) {
    std::fprintf(
        stderr,
        "tamp run: resuming a %lld-rank run on %d rank(s): batch %lld per rank keeps the global "
        "batch of %lld\n",
        static_cast<long long>(b.saved_ranks), world.size(), static_cast<long long>(b.batch_size),
        static_cast<long long>(b.global_batch));
  }
  return b.batch_size;
}

// The recipe's fit options with the run's data, checkpoint, progress and metrics lines.
FitOptions run_fit_options(const RunSetup& run, nn::GraphModule& model, Generator& rng,
                           MetricsFile& metrics, Progress& progress) {
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
  fit.load_extra_state = [&metrics](const std::map<std::string, Tensor>& extra) {
    metrics.restore(extra);
  };
  fit.on_stage_begin = [&progress](size_t k, const Stage& s) {
    std::string names;
    for (const auto& c : s.components) names += (names.empty() ? "" : " + ") + c->name();
    progress.stage(k, s.name.empty() ? fmt::format("stage{}", k) : s.name,
                   names.empty() ? "fine-tuning" : names);
  };
  fit.on_log = [&run, &model, &metrics, &progress](size_t k, const StepLog& l) {
    progress.step(k, l, run.batch_size * run.world.size());
    // Sparsity and bits as they are now: a pruning schedule raises the sparsity during the stage.
    metrics.line(step_metrics_json(k, l, model_stats(model.export_graph())));
  };
  fit.on_stage_end = [&run, &metrics, &progress](size_t k, const StageResult& r) {
    progress.line(stage_done_text(run, k, r));
    metrics.line(stage_metrics_json(k, r));
  };
  return fit;
}

ExportResult export_and_measure(const RunSetup& run, nn::GraphModule& model) {
  const Recipe& recipe = run.recipe;
  ExportResult x{fs::path(run.out) / recipe.export_.path, model.export_graph(), {}, {}};
  nn::Graph exported =
      recipe.export_.format == "float"
          ? x.trained
          : compression::lower_quantized(
                x.trained, compression::quant_format_from_name(recipe.export_.format));
  // Rank 0 writes and re-reads the file; the other ranks take the same graph from memory and
  // evaluate their shards of the data with it.
  const bool root = run.world.is_root();
  if (root) io::save_onnx_graph(exported, x.path.string());
  nn::GraphModule reloaded(root ? io::load_onnx_graph(x.path.string()) : exported);
  x.eval = evaluate(reloaded, *run.data.eval,
                    {.max_batches = recipe.evaluation.max_batches,
                     .input = recipe.input,
                     .output = recipe.output,
                     .collective = &run.world.collective()});
  if (recipe.export_.format != "float") {
    x.parity =
        check_export_parity(model, reloaded.graph(), *run.data.eval,
                            {.arithmetic = compression::parity_arithmetic(recipe.export_.target),
                             .input = recipe.input,
                             .output = recipe.output,
                             .max_batches = recipe.evaluation.max_batches,
                             .collective = &run.world.collective()});
  }
  return x;
}

int run_on_rank(const RunArgs& args, dist::Context& world) {
  const Recipe recipe = load_recipe(args.recipe);
  apply_threads(args.threads >= 0 ? args.threads : recipe.training.threads);
  const std::string out =
      args.out.empty() ? (fs::path("runs") / fs::path(args.recipe).stem()).string() : args.out;
  const std::string checkpoint = (fs::path(out) / "checkpoint.h5").string();
  if (args.resume && !fs::exists(checkpoint)) {
    throw Error(fmt::format("--resume: there is no checkpoint in '{}'", out), ErrorKind::kIo,
                "run once without --resume");
  }
  // Rank 0 alone looks: the others may start when it has written its first files.
  if (world.is_root() && !args.resume) clear_earlier_run(out, recipe.export_.path, args.overwrite);
  fs::create_directories(out);

  nn::GraphModule model = load_model_to_train(recipe.model);
  check_data_input_output(model.graph(), recipe.input, recipe.output);
  const RunSetup run{args,
                     recipe,
                     out,
                     load_run_data(recipe, model),
                     run_batch_size(recipe, checkpoint, args.resume, world),
                     world};
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
  if (world.is_root())
    write_run_files(run, summary_json(run, scheduler, result, exported), original, exported,
                    progress);
  return exported.parity ? parity_exit_code(*exported.parity) : kExitOk;
}

}  // namespace

int run_recipe(const RunArgs& args) {
  if (const Recipe recipe = load_recipe(args.recipe); recipe.tuning) {
    // Accuracy-aware tuning has no stages to train: a run again (or --resume) replays the trials
    // of its history file; --overwrite starts afresh without it.
    TuneArgs t;
    t.model.path = args.recipe;
    t.out =
        args.out.empty() ? (fs::path("runs") / fs::path(args.recipe).stem()).string() : args.out;
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
  sub.add_option("--out", args->out, "output folder (default: runs/<recipe name>)")
      ->type_name("DIR");
  auto* resume = sub.add_flag("--resume", args->resume,
                              "continue from DIR/checkpoint.h5 exactly where it stopped");
  sub.add_flag("--overwrite", args->overwrite,
               "replace the run DIR holds (without it, a DIR holding a run is refused)")
      ->excludes(resume);
  sub.add_flag("--quiet", args->quiet, "no progress output");
  sub.add_flag(
      "--sync-batch-norm", args->sync_batch_norm,
      "under mpirun: BatchNorm statistics over every rank (the recipe's training.sync_batch_norm)");
  sub.add_option("--threads", args->threads,
                 "OpenMP threads (default: the recipe's training.threads)")
      ->check(CLI::NonNegativeNumber);
  return [args] { return run_recipe(*args); };
}

}  // namespace tamp::cli
