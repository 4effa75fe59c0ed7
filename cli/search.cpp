// tamp search MODEL.onnx --dataset fashion-mnist [--out-dir DIR] [--strategy dynas|basic]
//             [--search evolution|random] [--objectives macs,params,latency] [--pick within:1]
//             [--width-ratios 0.25,0.5,...] [--supernet-epochs E] [--finetune-epochs F] ...
// Architecture search over the model's channel widths, attention heads and residual blocks
// (scheduler/search/architecture_search.h): candidates are scored on a validation split held
// out from the training set, the chosen one is fine-tuned and exported. DIR gets model.onnx,
// summary.json (every candidate, the Pareto front, the test accuracy) and report.html.
// --compare-uniform also fine-tunes uniform channel pruning at each --seed-ratios width and
// the front's most accurate candidate at no more MACs, with the same budget, on the test set.
// The options are declared in cli/search_options.cpp.
#include "search.h"
#include "search_report.h"

#include <tamp/io/onnx_export.h>
#include <tamp/io/tensor_proto.h>
#include <tamp/nn/graph_cost.h>
#include <tamp/scheduler/evaluate.h>
#include <tamp/scheduler/search/architecture_search.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

namespace tamp::cli {

namespace {

namespace fs = std::filesystem;

std::vector<double> parse_ratios(const std::string& text, const char* flag) {
  std::vector<double> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    char* end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    if (item.empty() || end != item.c_str() + item.size() || !(v > 0 && v <= 1)) {
      throw UsageError(
          fmt::format("{} '{}': write ratios in (0, 1] separated by commas", flag, text));
    }
    out.push_back(v);
  }
  return out;
}

// Median milliseconds of `runs` runs of the graph in ONNX Runtime (node RUNNER, one thread)
// on a zero batch of `batch` examples.
double ort_latency_ms(const nn::Graph& g, const std::string& runner, const std::string& dir,
                      int runs, int64_t batch, const Tensor& example) {
  static int serial = 0;
  const fs::path model = fs::path(dir) / fmt::format("latency_{}.onnx", serial++);
  const fs::path input = fs::path(dir) / "latency_input.pb";
  io::save_onnx_graph(g, model.string());
  const nn::ValueInfo& in = input_info(g, "");
  Shape shape = fit_input(in, example).shape();
  shape[0] = batch;
  io::write_tensor_file(input.string(), Tensor::zeros(shape, example.dtype()), in.name);
  const std::string cmd = fmt::format("node '{}' '{}' --input '{}={}' --bench {} --threads 1 2>&1",
                                      runner, model.string(), in.name, input.string(), runs);
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw Error(fmt::format("cannot run `{}`", cmd), ErrorKind::kIo);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  const int status = pclose(pipe);
  fs::remove(model);
  const auto j = nlohmann::json::parse(out, nullptr, false);
  if (status != 0 || j.is_discarded() || !j.contains("median_ms")) {
    throw Error(fmt::format("measuring latency with `{}` failed: {}", cmd, out), ErrorKind::kIo,
                "tests/ort/setup.sh installs onnxruntime-node next to run_ort.js");
  }
  return j["median_ms"].get<double>();
}

struct Finetuned {
  double accuracy = 0;
  int64_t macs = 0, params = 0;
};

// Every phase trains alike: SGD with momentum 0.9, the learning rate decaying (cosine) over
// the phase's steps, the data order of --seed.
TrainOptions train_options(const SearchArgs& a, int epochs,
                           std::shared_ptr<const nn::Dataset> train) {
  TrainOptions t;
  t.train = train;
  t.epochs = epochs;
  t.max_steps_per_epoch = a.steps;
  t.batch_size = a.options.batch_size;
  t.optimizer = SGD{.lr = a.lr, .momentum = 0.9};
  t.lr_schedule = {.kind = "cosine"};
  t.seed = a.options.seed;
  t.input = a.options.input;
  t.output = a.options.output;
  return t;
}

// Fine-tunes `g` (its own copy) with the search's budget and measures it on `test`.
Finetuned finetune(const nn::Graph& g, const SearchArgs& a, int epochs,
                   std::shared_ptr<const nn::Dataset> train,
                   std::shared_ptr<const nn::Dataset> test, nn::Graph* trained = nullptr) {
  nn::Graph own = g;
  for (auto& [name, t] : own.initializers) t = t.clone();
  nn::GraphModule m(own);
  Generator rng(a.options.seed);
  m.set_generator(&rng);
  if (epochs > 0) Trainer(m, {}, train_options(a, epochs, train)).run();
  Finetuned f;
  f.accuracy = evaluate(m, *test, {.input = a.options.input, .output = a.options.output}).top1;
  const nn::Graph out = m.export_graph();
  const nn::GraphCost c = nn::graph_cost(
      out, nn::value_shapes(
               out, {{input_info(out, a.options.input).name,
                      fit_input(input_info(out, a.options.input), test->get_batch({0}).x)}}));
  f.macs = c.macs;
  f.params = c.parameters;
  if (trained) *trained = out;
  return f;
}

// The flags the search options take from text, checked.
void apply_search_flags(SearchArgs& a) {
  if (!a.width_ratios.empty())
    a.options.space.width_ratios = parse_ratios(a.width_ratios, "--width-ratios");
  if (!a.seed_ratios.empty()) a.options.seed_ratios = parse_ratios(a.seed_ratios, "--seed-ratios");
  a.options.objectives.clear();
  std::stringstream objectives(a.objectives);
  for (std::string o; std::getline(objectives, o, ',');) a.options.objectives.push_back(o);
  a.options.space.heads = !a.no_heads;
  a.options.space.depth = !a.no_depth;
  if (std::count(a.options.objectives.begin(), a.options.objectives.end(), "latency") &&
      a.ort_runner.empty()) {
    throw UsageError(
        "the latency objective is measured in ONNX Runtime: give --ort-runner "
        "tests/ort/run_ort.js");
  }
  try {
    search::check_search_options(a.options);
  } catch (const Error& e) {
    throw UsageError(e.message());
  }
}

// The training set split into training and validation (--val-size); the test set, or the
// validation split when the dataset has none.
struct SearchData {
  std::string name;
  std::shared_ptr<const nn::Dataset> train, validation, test;
};

SearchData load_search_data(const SearchArgs& a) {
  const LoadedDataset data = load_dataset(a.data, "train");
  auto all_train = std::dynamic_pointer_cast<const nn::TensorDataset>(data.train);
  if (!all_train)
    throw UsageError(fmt::format("--dataset {} has no training split to search with", a.data.spec));
  if (a.val_size <= 0 || a.val_size >= all_train->size()) {
    throw UsageError(fmt::format("--val-size {} must leave training examples (the set has {})",
                                 a.val_size, all_train->size()));
  }
  auto [train, validation] = all_train->split(all_train->size() - a.val_size);
  return {data.name, train, validation, data.test ? data.test : validation};
}

// What every phase of one search shares.
struct SearchRun {
  const SearchArgs& a;
  SearchData data;
  std::string dir;
  int supernet_epochs = 0;
  std::function<void(const std::string&)> say;
};

// --compare-uniform: summary rows and report baselines.
struct UniformComparison {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  nlohmann::ordered_json baselines = nlohmann::ordered_json::array();
};

nlohmann::ordered_json finetuned_json(const Finetuned& f) {
  return {{"test_top1", f.accuracy}, {"macs", f.macs}, {"params", f.params}};
}

// The front's most accurate candidate (on validation) costing at most `macs`.
int best_on_front_within(const search::SearchResult& result, int64_t macs) {
  int best = -1;
  for (int i : result.front) {
    const auto& c = result.candidates[static_cast<size_t>(i)];
    if (c.macs <= macs &&
        (best < 0 || c.accuracy > result.candidates[static_cast<size_t>(best)].accuracy))
      best = i;
  }
  return best;
}

// One architecture fine-tuned both ways --compare-uniform trains: from the search's weights
// for --finetune-epochs, and from the original weights for the super-network's epochs too.
struct BothWays {
  Finetuned search_weights, original_weights;
  double best() const { return std::max(search_weights.accuracy, original_weights.accuracy); }
};

BothWays finetune_both_ways(const SearchRun& run, const search::ArchitectureSearch& search,
                            const nn::Graph& original_graph, int candidate) {
  const SearchArgs& a = run.a;
  const auto& genome = search.result().candidates.at(static_cast<size_t>(candidate)).genome;
  return {finetune(search.candidate_graph(candidate), a, a.finetune_epochs, run.data.train,
                   run.data.test),
          finetune(search.space().extract(original_graph, genome), a,
                   a.finetune_epochs + run.supernet_epochs, run.data.train, run.data.test)};
}

// At each uniform width: uniform channel pruning and the front's most accurate candidate at
// no more MACs, each fine-tuned the same two ways (finetune_both_ways), measured on the test
// set. The difference is the searched network's better way against the uniform one's.
UniformComparison compare_uniform(const SearchRun& run, const search::ArchitectureSearch& search,
                                  const nn::Graph& original_graph) {
  const SearchArgs& a = run.a;
  const search::SearchResult& result = search.result();
  UniformComparison out;
  for (double ratio : a.options.seed_ratios) {
    const auto genome = search.space().uniform(ratio);
    const auto found = std::find_if(result.candidates.begin(), result.candidates.end(),
                                    [&](const auto& c) { return c.genome == genome; });
    const int uniform = static_cast<int>(found - result.candidates.begin());
    const int best = best_on_front_within(result, found->macs);
    const BothWays u = finetune_both_ways(run, search, original_graph, uniform);
    const BothWays s = finetune_both_ways(run, search, original_graph, best);
    const auto& c = result.candidates[static_cast<size_t>(best)];
    nlohmann::ordered_json row{
        {"ratio", ratio}, {"uniform", found->description}, {"searched", c.description}};
    row["uniform_shared_weights"] = finetuned_json(u.search_weights);
    row["uniform_original_weights"] = finetuned_json(u.original_weights);
    row["searched_shared_weights"] = finetuned_json(s.search_weights);
    row["searched_original_weights"] = finetuned_json(s.original_weights);
    row["difference_pt"] = 100 * (s.best() - u.best());
    out.rows.push_back(row);
    const std::pair<const char*, Finetuned> uniforms[] = {
        {"uniform (search weights)", u.search_weights},
        {"uniform (original weights)", u.original_weights}};
    for (const auto& [label, f] : uniforms) {
      out.baselines.push_back(
          {{"label", label}, {"macs", f.macs}, {"params", f.params}, {"accuracy", f.accuracy}});
    }
    run.say(fmt::format(
        "width {:.3g}: uniform {} MACs: top-1 {:.2f} % / {:.2f} %; searched {} MACs: {:.2f} % / "
        "{:.2f} % (search weights, {} epoch(s) / original weights, {} epoch(s)); {:+.2f} pt: {}",
        ratio, count_text(u.search_weights.macs), 100 * u.search_weights.accuracy,
        100 * u.original_weights.accuracy, count_text(s.search_weights.macs),
        100 * s.search_weights.accuracy, 100 * s.original_weights.accuracy, a.finetune_epochs,
        a.finetune_epochs + run.supernet_epochs, row["difference_pt"].get<double>(),
        c.description));
  }
  return out;
}

void write_search_report(const SearchRun& run, const nlohmann::ordered_json& summary,
                         const std::string& out_model, const Finetuned& final_model,
                         const search::Candidate& chosen, const nlohmann::ordered_json& baselines) {
  const SearchArgs& a = run.a;
  const SearchData& d = run.data;
  std::string html =
      "<!DOCTYPE html><html><head><meta charset='utf-8'><title>tamp search report</title>"
      "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}table{border-collapse:"
      "collapse}"
      "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}</style></head><body>";
  html += fmt::format(
      "<h1>tamp search: {}</h1><p>{} training, {} validation, {} test examples of {}; "
      "super-network "
      "{} epoch(s), fine-tuning {} epoch(s){}</p>",
      html_escape(a.model.path), d.train->size(), d.validation->size(), d.test->size(),
      html_escape(d.name), run.supernet_epochs, a.finetune_epochs,
      a.steps > 0 ? fmt::format(" of {} steps", a.steps) : "");
  html += fmt::format(
      "<h2>Exported model</h2><p>{}: top-1 {:.2f} % on the test set, {} MACs, {} parameters; "
      "{}</p>",
      html_escape(out_model), 100 * final_model.accuracy, count_text(final_model.macs),
      count_text(final_model.params), html_escape(chosen.description));
  html += search_report_section(summary["search"], baselines);
  html += "</body></html>\n";
  std::ofstream(fs::path(run.dir) / "report.html") << html;
}

// Trains the super-network with the search attached; the search's result is then chosen.
StageRecord train_supernet(const SearchRun& run, nn::GraphModule& model,
                           std::shared_ptr<search::ArchitectureSearch> search) {
  const SearchArgs& a = run.a;
  TrainOptions t = train_options(a, run.supernet_epochs, run.data.train);
  t.log_every = 100;
  t.on_log = [&](const StepLog& l) {
    run.say(fmt::format("super-network epoch {}/{}  step {}/{}  loss {:.4f}  {:.0f} samples/s",
                        l.epoch + 1, run.supernet_epochs, l.step, l.total_steps, l.loss,
                        l.samples_per_s));
  };
  run.say(fmt::format("searching {} ({} strategy, {}): {} training / {} validation examples",
                      a.model.path, a.options.strategy, a.options.search, run.data.train->size(),
                      run.data.validation->size()));
  return Trainer(model, {std::move(search)}, t).run();
}

}  // namespace

int run_search(SearchArgs a) {
  apply_threads(a.threads);
  apply_search_flags(a);
  FILE* progress = a.json ? stderr : stdout;
  SearchRun run{a,
                {},
                a.out_dir,
                a.supernet_epochs >= 0          ? a.supernet_epochs
                : a.options.strategy == "dynas" ? 2
                                                : 0,
                [progress](const std::string& line) {
                  fmt::print(progress, "{}\n", line);
                  std::fflush(progress);
                }};
  if (run.dir.empty())
    run.dir = (fs::path("runs") / ("search_" + fs::path(a.model.path).stem().string())).string();
  fs::create_directories(run.dir);

  nn::GraphModule model = load_model_to_train(a.model.path);
  check_data_input_output(model.graph(), a.options.input, a.options.output);
  const nn::Graph original_graph = model.export_graph();
  run.data = load_search_data(a);
  const auto& [name, train, validation, test] = run.data;
  const Tensor example = validation->get_batch({0}).x;
  if (!a.ort_runner.empty()) {
    if (!fs::exists(a.ort_runner))
      throw UsageError(fmt::format("--ort-runner '{}' does not exist", a.ort_runner));
    a.options.latency_ms = [&a, &example, dir = run.dir](const nn::Graph& g) {
      return ort_latency_ms(g, a.ort_runner, dir, a.latency_runs, a.latency_batch, example);
    };
  }
  a.options.on_progress = run.say;

  auto search = std::make_shared<search::ArchitectureSearch>(a.options);
  search->set_data(train, validation);
  Generator rng(a.options.seed);
  model.set_generator(&rng);
  const StageRecord supernet = train_supernet(run, model, search);
  const search::SearchResult& result = search->result();
  const search::Candidate& chosen = result.candidates.at(static_cast<size_t>(result.chosen));
  run.say(fmt::format("chosen: top-1 {:.2f} % (validation), {} MACs, {} params: {}",
                      100 * chosen.accuracy, count_text(chosen.macs), count_text(chosen.parameters),
                      chosen.description));

  nn::Graph final_graph;
  const Finetuned final_model =
      finetune(model.export_graph(), a, a.finetune_epochs, train, test, &final_graph);
  const std::string out_model = (fs::path(run.dir) / "model.onnx").string();
  io::save_onnx_graph(final_graph, out_model);
  run.say(fmt::format("fine-tuned {} epoch(s): top-1 {:.2f} % on {} test examples; wrote {}",
                      a.finetune_epochs, 100 * final_model.accuracy, test->size(), out_model));

  nlohmann::ordered_json summary{{"model", a.model.path},
                                 {"dataset", name},
                                 {"train_examples", train->size()},
                                 {"validation_examples", validation->size()},
                                 {"test_examples", test->size()},
                                 {"supernet_epochs", run.supernet_epochs},
                                 {"supernet_steps", supernet.steps},
                                 {"finetune_epochs", a.finetune_epochs},
                                 {"steps_per_epoch", a.steps}};
  summary["search"] = search_json(result);
  summary["export"] = {{"path", out_model},
                       {"test_top1", final_model.accuracy},
                       {"macs", final_model.macs},
                       {"params", final_model.params}};
  UniformComparison comparison;
  if (a.compare_uniform) {
    comparison = compare_uniform(run, *search, original_graph);
    summary["uniform_comparison"] = comparison.rows;
  }
  std::ofstream(fs::path(run.dir) / "summary.json") << summary.dump(2) << "\n";
  write_search_report(run, summary, out_model, final_model, chosen, comparison.baselines);
  if (a.json)
    print_json(summary);
  else
    run.say(fmt::format("wrote {}/summary.json and report.html", run.dir));
  return kExitOk;
}

}  // namespace tamp::cli
