// tamp tune MODEL.onnx --out OUT.onnx [--accuracy-criterion relative:0.01]
// tamp tune RECIPE.yaml [--out DIR]     (a recipe with a `tuning:` section, no stages)
//           [--strategy basic|mse|exhaustive|random|bayesian|tpe] [--objective
//           size|bops|latency:CMD]
//           [--max-trials N] [--timeout S] [--keep-improving] [--history tuning.jsonl]
//           [--calib-data fashion-mnist:train] [--eval-data fashion-mnist:test] [--limit N]
//           [--granularity ...] [--scheme ...] [--calibration ...] [--sparsity 0,0.5]
//           [--searchable percentile=99.9,99.99] [--exclude NAME|OP] [--format qdq|qoperator]
// Accuracy-aware static int8 quantization (scheduler/tuning): searches per-op fallback,
// granularity, scheme and calibration (and per-layer sparsity) for the smallest model that
// meets the criterion against the float model, then exports it. Every trial is appended to
// the history; running the same command again resumes from it. When no configuration meets
// the criterion, the most accurate one is written and the exit code is 1.
#include "tune.h"

#include <tamp/compression/quantization/fake_quant_graph.h>
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>
#include <tamp/scheduler/recipe.h>
#include <tamp/scheduler/tuning/quant_tuning.h>
#include <tamp/scheduler/tuning/tuner.h>

#include <fmt/format.h>

#include <filesystem>
#include <optional>

namespace tamp::cli {

namespace {

using namespace tuning;

std::map<std::string, std::vector<std::string>> parse_searchable(
    const std::vector<std::string>& items) {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& item : items) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
      throw UsageError(fmt::format("--searchable '{}': write KEY=V1,V2,...", item));
    }
    std::vector<std::string> values;
    std::string rest = item.substr(eq + 1);
    for (size_t at = 0; at <= rest.size();) {
      const size_t comma = std::min(rest.find(',', at), rest.size());
      values.push_back(rest.substr(at, comma - at));
      at = comma + 1;
    }
    out[item.substr(0, eq)] = values;
  }
  return out;
}

nlohmann::ordered_json trial_json(const TuningSpace& space, const TrialRecord& r) {
  return {
      {"trial", r.trial}, {"accuracy", r.outcome.accuracy}, {"objective", r.outcome.objective},
      {"meets", r.meets}, {"resumed", r.resumed},           {"config", space.to_values(r.config)}};
}

nlohmann::ordered_json result_json(const TuneArgs& a, const QuantTuningProblem& problem,
                                   const Strategy& strategy, const TuningResult& r,
                                   const std::optional<ParityResult>& parity) {
  nlohmann::ordered_json j{
      {"model", a.model.path},
      {"out", a.out},
      {"strategy", strategy.name()},
      {"criterion", a.search.criterion},
      {"objective", Objective::parse(a.search.objective).name()},
      {"baseline", {{"accuracy", r.baseline.accuracy}, {"objective", r.baseline.objective}}},
      {"required_accuracy", r.required_accuracy},
      {"met", r.met},
      {"trials", r.trials},
      {"evaluations", r.evaluations},
      {"resumed", r.resumed},
      {"stop_reason", r.stop_reason},
      {"calibration_passes", problem.calibration_passes()},
      {"message", r.message},
      {"best", trial_json(problem.space(), *r.best)}};
  j["fallbacks"] = nlohmann::ordered_json::array();
  for (const auto& f : r.fallbacks) {
    j["fallbacks"].push_back({{"op", f.op}, {"precision", f.precision}, {"reason", f.text}});
  }
  j["history"] = nlohmann::ordered_json::array();
  for (const auto& h : r.history) j["history"].push_back(trial_json(problem.space(), h));
  j["target"] = a.target.target;
  j["parity"] = parity ? parity_json(*parity) : nlohmann::ordered_json(nullptr);
  return j;
}

// The result, the ops not in int8 and the chosen values of the int8 ops.
void print_result(const TuneArgs& a, const QuantTuningProblem& problem, const TuningResult& r,
                  const std::optional<ParityResult>& parity) {
  fmt::print("{}\n", r.message);
  fmt::print("ops not in int8: {}\n",
             r.fallbacks.empty() ? "none" : std::to_string(r.fallbacks.size()));
  for (const auto& f : r.fallbacks) fmt::print("  {} ({}): {}\n", f.op, f.precision, f.text);
  const auto values = problem.space().to_values(r.best->config);
  for (const auto& [name, value] : values) {
    if (name.ends_with(":quantize")) continue;
    const std::string op = name.substr(0, name.rfind(':'));
    if (values.count(op + ":quantize") && values.at(op + ":quantize") != "int8") continue;
    fmt::print("  {} = {}\n", name, value);
  }
  if (parity) print_parity(*parity, stdout);
  fmt::print(
      "wrote {} for target {} ({} trials, {} evaluated, {} from the history, {} calibration "
      "pass)\n",
      a.out, a.target.target, r.trials, r.evaluations, r.resumed, problem.calibration_passes());
}

bool is_recipe(const std::string& path) {
  return path.ends_with(".yaml") || path.ends_with(".yml");
}

// The arguments a tuning recipe stands for.
TuneArgs from_recipe(const TuneArgs& cli) {
  const Recipe r = load_recipe(cli.model.path);
  if (!r.tuning) {
    throw Error(fmt::format("recipe '{}' has no tuning: section", cli.model.path),
                ErrorKind::kInvalidInput,
                "tamp run runs recipes with stages; tamp tune needs a tuning: section");
  }
  const tuning::RecipeTuning& t = *r.tuning;
  TuneArgs a;
  a.json = cli.json;
  a.threads = cli.threads ? cli.threads : r.training.threads;
  const std::filesystem::path dir =
      cli.out.empty() ? std::filesystem::path("runs") / std::filesystem::path(cli.model.path).stem()
                      : std::filesystem::path(cli.out);
  std::filesystem::create_directories(dir);
  a.model.path = r.model;
  a.out = (dir / r.export_.path).string();
  a.history = (dir / t.history).string();
  a.search = t;
  a.batch = r.training.batch_size;
  a.format = r.export_.format;
  a.target.target = std::string(compression::export_target_name(r.export_.target));
  a.input = r.input;
  a.output = r.output;
  a.calib.spec = r.data.dataset;
  a.calib.data_dir = r.data.dir;
  a.calib.limit = r.data.limit;
  a.calib.normalize = r.data.normalize;
  a.eval_data = r.data.eval_dataset.empty() ? r.data.dataset + ":test" : r.data.eval_dataset;
  a.eval_limit = r.data.eval_limit;
  a.eval_max_batches = r.evaluation.max_batches;
  return a;
}

}  // namespace

int run_tune(const TuneArgs& cli) {
  using namespace tuning;
  const TuneArgs a = is_recipe(cli.model.path) ? from_recipe(cli) : cli;
  if (a.out.empty()) throw UsageError("--out OUT.onnx is required (the tuned model)");
  check_output_folder(a.out, "--out");
  check_output_folder(a.history, "--history");
  apply_threads(a.threads);
  TunerOptions t = tuner_options(a.search);
  auto strategy = make_strategy(a.search.strategy, a.search.seed);
  const auto format = compression::quant_format_from_name(a.format);
  if (!std::filesystem::exists(a.model.path))
    throw Error(fmt::format("'{}': no such file", a.model.path), ErrorKind::kIo);
  nn::Graph g = io::load_onnx_graph(a.model.path);
  check_data_input_output(g, a.input, a.output);
  const LoadedDataset calib = load_dataset(a.calib, "train");
  normalize_model_input(g, calib, a.input);
  DatasetArgs e = a.calib;
  e.spec = a.eval_data;
  e.normalize.clear();  // the model normalizes with the calibration data's statistics
  if (a.eval_limit != -2) e.limit = a.eval_limit;
  const LoadedDataset eval = load_dataset(e, "test");

  QuantTuningOptions o = quant_tuning_options(a.search);
  for (auto& [key, values] : parse_searchable(a.searchable)) o.searchable[key] = values;
  o.calibration = calib.selected;
  o.calibration_batch_size = a.batch;
  o.eval = eval.selected;
  o.eval_options = {.max_batches = a.eval_max_batches, .input = a.input, .output = a.output};
  o.target = export_target_of(a.target);
  const std::filesystem::path out_dir = std::filesystem::absolute(a.out).parent_path();
  o.work_dir = out_dir.string();
  QuantTuningProblem problem(g, o);
  const std::string history = a.history.empty() ? (out_dir / "tuning.jsonl").string() : a.history;
  if (!a.json) {
    fmt::print("tuning space: {} ops, {}\n", problem.ops().size(), problem.space().describe());
    fmt::print("strategy {}, criterion {}, objective {}, history {}\n", strategy->name(),
               t.criterion.describe(), o.objective.name(), history);
  }
  t.history = history;
  if (!a.json) {
    t.on_trial = [](const TrialRecord& r) {
      fmt::print("trial {:3d}: accuracy {:.4f}  objective {:.6g}  {}{}\n", r.trial,
                 r.outcome.accuracy, r.outcome.objective, r.meets ? "meets" : "misses",
                 r.resumed ? "  (from history)" : "");
    };
  }
  const TuningResult r = tune(problem, *strategy, t);
  if (!r.best) throw Error(r.message, ErrorKind::kInvalidInput, "allow more trials (--max-trials)");
  io::save_onnx_graph(problem.export_graph(r.best->config, format), a.out);
  // The file as written against the trial tamp evaluated (nothing to check when every op
  // stayed float).
  std::optional<ParityResult> parity;
  nn::GraphModule simulated(problem.simulated_graph(r.best->config));
  if (!compression::find_fake_quantize(simulated.graph()).empty()) {
    parity = check_export_parity(simulated, io::load_onnx_graph(a.out), *eval.selected,
                                 {.arithmetic = parity_arithmetic_of(a.target),
                                  .input = a.input,
                                  .output = a.output,
                                  .max_batches = a.eval_max_batches});
  }
  if (a.json) {
    print_json(result_json(a, problem, *strategy, r, parity));
    if (parity && !parity->passed()) print_parity(*parity, stderr);
  } else {
    print_result(a, problem, r, parity);
  }
  if (!r.met) {
    fmt::print(
        stderr,
        "tamp tune: the accuracy criterion was not met; {} holds the most accurate configuration\n",
        a.out);
    return kExitFailure;
  }
  return parity ? parity_exit_code(*parity) : kExitOk;
}

Action setup_tune(CLI::App& sub) {
  auto a = std::make_shared<TuneArgs>();
  const QuantTuningOptions defaults;  // shown in --help as the candidates searched
  a->search.granularity = defaults.granularities;
  a->search.scheme = defaults.schemes;
  a->search.calibration = defaults.calibrations;
  a->search.fallback = defaults.fallbacks;
  add_model_arg(sub, a->model);
  sub.add_option("--out", a->out,
                 "where the tuned model is written (ONNX); with a recipe, the output folder "
                 "(default runs/<recipe name>)")
      ->type_name("OUT.onnx|DIR");
  sub.add_option("--accuracy-criterion", a->search.criterion,
                 "relative:FRACTION or absolute:POINTS of top-1 lost vs fp32")
      ->capture_default_str();
  sub.add_option("--strategy", a->search.strategy,
                 "basic, mse, exhaustive, random, bayesian or tpe")
      ->check(CLI::IsMember(strategy_names()))
      ->capture_default_str();
  sub.add_option("--objective", a->search.objective,
                 "what to minimise: size (weight bytes), bops (MACs x bits x bits) or "
                 "latency:COMMAND (COMMAND with {model}; its last printed number)")
      ->capture_default_str();
  sub.add_option("--max-trials", a->search.max_trials, "trials at most (resumed ones count)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub.add_option("--timeout", a->search.timeout, "seconds at most (0: none)")
      ->check(CLI::NonNegativeNumber);
  sub.add_flag("--keep-improving", a->search.keep_improving,
               "go on after the first config meeting the criterion");
  sub.add_option("--history", a->history,
                 "the trial history (JSON lines; default tuning.jsonl next to --out)");
  sub.add_option("--seed", a->search.seed, "random, bayesian, tpe: seed")->capture_default_str();
  sub.add_option("--calib-data", a->calib.spec,
                 "calibration data: fashion-mnist[:train|:test] or hdf5:FILE.h5")
      ->capture_default_str();
  sub.add_option("--eval-data", a->eval_data, "evaluation data for the criterion")
      ->capture_default_str();
  add_data_source_options(sub, a->calib);
  sub.add_option("--calib-batches", a->search.calibration_batches, "calibration batches (run once)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub.add_option("--batch", a->batch, "examples per calibration batch")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub.add_option("--granularity", a->search.granularity, "weight granularities searched")
      ->delimiter(',')
      ->capture_default_str();
  sub.add_option("--scheme", a->search.scheme, "activation schemes searched (asym, sym)")
      ->delimiter(',')
      ->capture_default_str();
  sub.add_option("--calibration", a->search.calibration, "calibration methods searched")
      ->delimiter(',')
      ->capture_default_str();
  sub.add_option("--sparsity", a->search.sparsity,
                 "per-layer sparsity levels searched (e.g. 0,0.5); none by default")
      ->delimiter(',');
  sub.add_option("--searchable", a->searchable,
                 "KEY=V1,V2: percentile or weight_narrow_range candidates")
      ->type_name("KEY=V1,V2");
  sub.add_option("--fallback", a->search.fallback,
                 "what an op that is not int8 may become, cheapest tried first: "
                 "bf16 (bfloat16 weights, float compute), fp32, or bf16,fp32")
      ->delimiter(',')
      ->check(CLI::IsMember({"bf16", "fp32"}))
      ->capture_default_str();
  sub.add_option("--exclude", a->search.exclude, "node names or op types never quantized")
      ->type_name("NAME|OP");
  sub.add_option("--format", a->format, "qdq or qoperator")
      ->check(CLI::IsMember({"qdq", "qoperator"}))
      ->capture_default_str();
  add_data_input_output_options(sub, a->input, a->output);
  add_target_options(sub, a->target);
  add_json_flag(sub, a->json);
  add_threads_option(sub, a->threads);
  return [a] { return run_tune(*a); };
}

}  // namespace tamp::cli
