#include <tamp/compression/search/supernet.h>
#include <tamp/nn/graph_cost.h>
#include <tamp/scheduler/evaluate.h>
#include <tamp/scheduler/search/architecture_search.h>
#include <tamp/scheduler/search/evolution.h>
#include <tamp/scheduler/search/pareto.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

namespace tamp::search {

using compression::search::Genome;
using compression::search::SearchSpace;

namespace {

struct PickRule {
  bool within = true;  // within:P, else under:F
  double value = 1;
};

PickRule parse_pick(const std::string& text) {
  const auto colon = text.find(':');
  const std::string kind = text.substr(0, colon);
  char* end = nullptr;
  const std::string number = colon == std::string::npos ? "" : text.substr(colon + 1);
  const double v = std::strtod(number.c_str(), &end);
  const bool numeric = !number.empty() && end == number.c_str() + number.size() && std::isfinite(v);
  if (kind == "within" && numeric && v >= 0) return {true, v};
  if (kind == "under" && numeric && v > 0 && v <= 1) return {false, v};
  throw Error(fmt::format("unknown pick rule '{}'", text), ErrorKind::kInvalidInput,
              "within:P (smallest cost within P accuracy points of the full network) or under:F "
              "(most accurate "
              "with cost <= F x the full network's, 0 < F <= 1)");
}

bool has_batch_norm(const nn::Graph& g) {
  return std::any_of(g.nodes.begin(), g.nodes.end(),
                     [](const nn::Node& n) { return n.op_type == "BatchNormalization"; });
}

}  // namespace

void check_search_options(const SearchOptions& o) {
  if (o.strategy != "dynas" && o.strategy != "basic") {
    throw Error(fmt::format("unknown search strategy '{}'", o.strategy), ErrorKind::kInvalidInput,
                "use dynas or basic");
  }
  if (o.search != "evolution" && o.search != "random") {
    throw Error(fmt::format("unknown search algorithm '{}'", o.search), ErrorKind::kInvalidInput,
                "use evolution or random");
  }
  TAMP_CHECK(!o.objectives.empty(),
             "a search needs at least one cost objective (macs, params or latency)");
  for (const auto& obj : o.objectives) {
    if (obj != "macs" && obj != "params" && obj != "latency") {
      throw Error(fmt::format("unknown search objective '{}'", obj), ErrorKind::kInvalidInput,
                  "use macs, params or latency (accuracy is always the other objective)");
    }
  }
  parse_pick(o.pick);
  TAMP_CHECK(o.population >= 2 && o.generations >= 0,
             "population {} (>= 2) and generations {} (>= 0)", o.population, o.generations);
  TAMP_CHECK(o.batch_size > 0 && o.candidate_steps >= 0 && o.recalibration_examples > 0,
             "batch size, candidate steps and recalibration examples must be positive");
}

void recalibrate_batch_norm(nn::Graph& graph, const nn::Dataset& data, int64_t examples,
                            const std::string& input) {
  nn::Graph g = graph;
  std::vector<std::string> stats;
  for (auto& n : g.nodes) {
    if (n.op_type != "BatchNormalization" || !n.domain.empty()) continue;
    Attributes a = *n.attrs;
    a.set("momentum", 0.0f);  // running = this batch's statistics
    n.attrs = nn::attrs_with(a);
    for (size_t k = 3; k < 5 && k < n.inputs.size(); ++k) {
      g.initializers[n.inputs[k]] = g.initializers.at(n.inputs[k]).clone();
      stats.push_back(n.inputs[k]);
    }
  }
  if (stats.empty()) return;
  std::vector<int64_t> rows(static_cast<size_t>(std::min(examples, data.size())));
  std::iota(rows.begin(), rows.end(), int64_t{0});
  TAMP_CHECK(!rows.empty(),
             "BatchNormalization recalibration needs data: the training set is empty");
  const nn::ValueInfo& in = input_info(g, input);
  nn::GraphModule m(g);
  m.train();
  NoGradGuard no_grad;
  m.forward({{in.name, Variable(fit_input(in, data.get_batch(rows).x))}});
  for (const auto& [name, v] : m.named_buffers()) {
    if (std::count(stats.begin(), stats.end(), name)) graph.initializers[name] = v.value().clone();
  }
}

struct ArchitectureSearch::Impl {
  SearchOptions options;
  std::shared_ptr<const nn::Dataset> train, validation;
  std::unique_ptr<compression::search::SuperNet> supernet;
  std::optional<SearchSpace> space;  // basic
  bool attached = false;
  std::optional<SearchResult> result;
  nn::Graph base;  // the weights the candidates are extracted from

  const SearchSpace& the_space() const { return supernet ? supernet->space() : *space; }

  // The candidate as a graph of its own: extracted, then fine-tuned (basic) or given its own
  // BatchNormalization statistics (dynas).
  nn::Graph realise(const nn::Graph& base, const Genome& genome) const {
    nn::Graph g = the_space().extract(base, genome);
    for (auto& [name, t] : g.initializers)
      t = t.clone();  // training and recalibration write in place
    if (options.strategy == "basic") {
      if (options.candidate_steps == 0) return g;
      nn::GraphModule m(g);
      TrainOptions t;
      t.train = train;
      t.epochs = 1;
      t.max_steps_per_epoch = options.candidate_steps;
      t.batch_size = options.batch_size;
      t.optimizer = options.candidate_optimizer;
      t.seed = options.seed;
      t.input = options.input;
      t.output = options.output;
      Trainer(m, {}, t).run();
      return m.export_graph();
    }
    if (has_batch_norm(g))
      recalibrate_batch_norm(g, *train, options.recalibration_examples, options.input);
    return g;
  }

  Candidate measure(const nn::Graph& base, const Genome& genome) const {
    const nn::Graph g = realise(base, genome);
    Candidate c;
    c.genome = genome;
    c.values = the_space().values(genome);
    c.description = the_space().describe(genome);
    nn::GraphModule m(g);
    c.accuracy = evaluate(m, *validation,
                          {.max_batches = options.validation_batches,
                           .input = options.input,
                           .output = options.output})
                     .top1;
    const nn::ValueInfo& in = input_info(g, options.input);
    const nn::GraphCost cost = nn::graph_cost(
        g, nn::value_shapes(g, {{in.name, fit_input(in, validation->get_batch({0}).x)}}));
    c.macs = cost.macs;
    c.parameters = cost.parameters;
    if (std::count(options.objectives.begin(), options.objectives.end(), "latency"))
      c.latency_ms = options.latency_ms(g);
    return c;
  }

  std::vector<double> objectives(const Candidate& c) const {
    std::vector<double> v{1 - c.accuracy};
    for (const auto& o : options.objectives) {
      v.push_back(o == "macs"     ? static_cast<double>(c.macs)
                  : o == "params" ? static_cast<double>(c.parameters)
                                  : c.latency_ms);
    }
    return v;
  }

  int pick(const SearchResult& r) const {
    const PickRule rule = parse_pick(options.pick);
    auto cost = [&](const Candidate& c) { return objectives(c)[1]; };
    const Candidate& full = r.candidates.at(0);
    int best = -1;
    for (int i : r.front) {
      const Candidate& c = r.candidates[static_cast<size_t>(i)];
      if (rule.within) {
        if (100 * (full.accuracy - c.accuracy) > rule.value + 1e-9) continue;
        if (best < 0 || cost(c) < cost(r.candidates[best])) best = i;
      } else {
        if (cost(c) > rule.value * cost(full)) continue;
        if (best < 0 || c.accuracy > r.candidates[best].accuracy) best = i;
      }
    }
    if (best < 0) {
      throw Error(
          fmt::format("no candidate meets the pick rule '{}' (the full network: top-1 {:.2f} %)",
                      options.pick, 100 * full.accuracy),
          ErrorKind::kInvalidInput, "loosen the rule, or search longer");
    }
    return best;
  }
};

ArchitectureSearch::ArchitectureSearch(SearchOptions options) : impl_(std::make_unique<Impl>()) {
  check_search_options(options);
  impl_->options = std::move(options);
}

ArchitectureSearch::~ArchitectureSearch() = default;

void ArchitectureSearch::set_data(std::shared_ptr<const nn::Dataset> train,
                                  std::shared_ptr<const nn::Dataset> validation) {
  TAMP_CHECK(train && validation && validation->size() > 0,
             "architecture search needs training and validation data");
  impl_->train = std::move(train);
  impl_->validation = std::move(validation);
}

bool ArchitectureSearch::has_data() const { return impl_->train && impl_->validation; }

void ArchitectureSearch::attach(nn::GraphModule& model, nn::Collective& collective) {
  Impl& I = *impl_;
  TAMP_CHECK(!I.attached, "an ArchitectureSearch attaches to one model once");
  I.attached = true;
  if (I.options.strategy == "dynas") {
    I.supernet = std::make_unique<compression::search::SuperNet>(
        compression::search::SuperNetOptions{.space = I.options.space, .seed = I.options.seed});
    I.supernet->attach(model, collective);
  } else {
    I.space = SearchSpace::of(model.graph(), I.options.space);
  }
  if (std::count(I.options.objectives.begin(), I.options.objectives.end(), "latency") &&
      !I.options.latency_ms) {
    throw Error("the latency objective needs a way to measure latency", ErrorKind::kInvalidInput,
                "tamp search measures it in ONNX Runtime with --ort-runner tests/ort/run_ort.js");
  }
}

void ArchitectureSearch::on_step_begin(const compression::StepInfo& at) {
  if (impl_->supernet) impl_->supernet->on_step_begin(at);
}

void ArchitectureSearch::on_after_step(const compression::StepInfo& at) {
  if (impl_->supernet) impl_->supernet->on_after_step(at);
}

std::map<std::string, Tensor> ArchitectureSearch::state() const {
  return impl_->supernet ? impl_->supernet->state() : std::map<std::string, Tensor>{};
}

void ArchitectureSearch::load_state(const std::map<std::string, Tensor>& state) {
  if (impl_->supernet) impl_->supernet->load_state(state);
}

const SearchSpace& ArchitectureSearch::space() const {
  TAMP_CHECK(impl_->attached, "ArchitectureSearch: attach first");
  return impl_->the_space();
}

const SearchResult& ArchitectureSearch::result() const {
  TAMP_CHECK(impl_->result, "ArchitectureSearch: the result exists after finalize");
  return *impl_->result;
}

nn::Graph ArchitectureSearch::candidate_graph(int index) const {
  const SearchResult& r = result();
  TAMP_CHECK(index >= 0 && index < static_cast<int>(r.candidates.size()), "no candidate {} (of {})",
             index, r.candidates.size());
  return impl_->realise(impl_->base, r.candidates[static_cast<size_t>(index)].genome);
}

void ArchitectureSearch::finalize(nn::GraphModule& model) {
  Impl& I = *impl_;
  TAMP_CHECK(I.attached, "ArchitectureSearch: finalize before attach");
  TAMP_CHECK(has_data(), "ArchitectureSearch: no data to evaluate candidates on (set_data)");
  if (I.supernet) I.supernet->finalize(model);
  const auto start = std::chrono::steady_clock::now();
  const SearchSpace& space = I.the_space();
  I.base = model.export_graph();
  const nn::Graph& base = I.base;
  SearchResult r;
  r.strategy = I.options.strategy;
  r.search = I.options.search;
  r.pick = I.options.pick;
  r.objectives = I.options.objectives;
  r.dimensions = space.dimensions();
  r.validation_examples = I.options.validation_batches < 0
                              ? I.validation->size()
                              : std::min(I.validation->size(), I.options.validation_batches * 256);

  std::vector<Genome> seeds{space.largest()};
  for (double ratio : I.options.seed_ratios) seeds.push_back(space.uniform(ratio));
  seeds.push_back(space.smallest());
  GenomeSearch search(space, {.random = I.options.search == "random",
                              .population = I.options.population,
                              .generations = I.options.generations,
                              .seed = I.options.seed});
  search.run(seeds, [&](const Genome& g) {
    r.candidates.push_back(I.measure(base, g));
    const Candidate& c = r.candidates.back();
    if (I.options.on_progress) {
      I.options.on_progress(fmt::format(
          "candidate {:>3}: top-1 {:6.2f} %  {:>12} MACs  {:>10} params{}  {}", r.candidates.size(),
          100 * c.accuracy, c.macs, c.parameters,
          std::isnan(c.latency_ms) ? "" : fmt::format("  {:.3f} ms", c.latency_ms), c.description));
    }
    return I.objectives(c);
  });
  std::vector<std::vector<double>> points;
  for (size_t i = 0; i < r.candidates.size(); ++i) {
    r.candidates[i].origin = search.evaluated()[i].origin;
    points.push_back(search.evaluated()[i].objectives);
  }
  r.front = pareto_front(points);
  std::stable_sort(r.front.begin(), r.front.end(),
                   [&](int a, int b) { return points[a][1] < points[b][1]; });
  for (int i : r.front) {
    Candidate& c = r.candidates[static_cast<size_t>(i)];
    c.on_front = true;
    if (std::isnan(c.latency_ms) && I.options.latency_ms)
      c.latency_ms = I.options.latency_ms(I.realise(base, c.genome));
  }
  r.chosen = I.pick(r);
  model.set_graph(I.realise(base, r.candidates[static_cast<size_t>(r.chosen)].genome));
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  I.result = std::move(r);
}

}  // namespace tamp::search
