#include <tamp/autograd/fnv1a.h>
#include <tamp/autograd/variable.h>
#include <tamp/compression/quantization/batch_norm_folding.h>
#include <tamp/compression/quantization/fake_quant_graph.h>
#include <tamp/compression/quantization/ptq/sensitivity.h>
#include <tamp/compression/quantization/quant_plan.h>
#include <tamp/io/onnx_export.h>
#include <tamp/nn/graph_edit.h>
#include <tamp/nn/graph_module.h>
#include <tamp/scheduler/tuning/detail/trial_graph.h>
#include <tamp/scheduler/tuning/latency_command.h>
#include <tamp/scheduler/tuning/quant_tuning.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace tamp::tuning {

using namespace compression;

namespace {

void check_values(const std::string& what, const std::vector<std::string>& values,
                  const std::vector<std::string>& allowed) {
  for (const auto& v : values) {
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      throw Error(fmt::format("{} '{}' is unknown; use {}", what, v, fmt::join(allowed, ", ")),
                  ErrorKind::kInvalidInput);
    }
  }
}

double parse_level(const std::string& text, const std::string& what) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !(v >= 0 && v < 1)) {
    throw Error(fmt::format("{} '{}' is not a number in [0, 1)", what, text),
                ErrorKind::kInvalidInput);
  }
  return v;
}

// The fallback precisions in cost order (bf16 before fp32): a strategy tries candidate 1 of a
// fallback dimension first, so it is the cheapest.
void check_fallbacks(std::vector<std::string>& fallbacks) {
  TAMP_CHECK(!fallbacks.empty(), "the fallback precisions are empty; give bf16, fp32 or both");
  check_values("fallback precision", fallbacks, {"bf16", "fp32"});
  std::sort(fallbacks.begin(), fallbacks.end());  // "bf16" < "fp32": cheapest first
  const auto twice = std::adjacent_find(fallbacks.begin(), fallbacks.end());
  TAMP_CHECK(twice == fallbacks.end(), "fallback precision '{}' is listed twice", *twice);
}

// Every example of `data`, its dtypes and shapes included.
void add_examples(Fnv1a& h, const nn::Dataset& data) {
  constexpr int64_t kChunk = 1024;
  for (int64_t begin = 0; begin < data.size(); begin += kChunk) {
    std::vector<int64_t> indices;
    for (int64_t i = begin; i < std::min(data.size(), begin + kChunk); ++i) indices.push_back(i);
    const nn::Batch b = data.get_batch(indices);
    for (const Tensor* t : {&b.x, &b.y}) {
      if (!t->defined()) continue;
      h.add(describe(*t));
      h.add(t->raw_data(), t->nbytes());
    }
  }
}

}  // namespace

QuantTuningProblem::QuantTuningProblem(nn::Graph float_graph, QuantTuningOptions options)
    : float_(std::move(float_graph)), options_(std::move(options)) {
  TAMP_CHECK(options_.calibration, "quantization tuning needs calibration data");
  TAMP_CHECK(options_.eval, "quantization tuning needs evaluation data");
  check_values("granularity", options_.granularities, {"per_channel", "per_tensor"});
  check_values("activation scheme", options_.schemes, {"asym", "sym"});
  check_values("calibration method", options_.calibrations,
               {"minmax", "percentile", "entropy", "mse"});
  for (const auto& b : options_.bits) {
    if (b != "8") {
      throw Error(
          fmt::format("bits '{}': the QDQ export of static quantization supports 8 bits only", b),
          ErrorKind::kUnsupported, "4-bit weights: use tamp quantize --method weight-only");
    }
  }
  check_fallbacks(options_.fallbacks);
  for (const auto& s : options_.sparsities) parse_level(s, "sparsity level");
  for (const auto& [key, values] : options_.searchable) {
    if (key == "percentile") {
      for (const auto& v : values) {
        char* end = nullptr;
        const double p = std::strtod(v.c_str(), &end);
        TAMP_CHECK(!v.empty() && end == v.c_str() + v.size() && p > 50 && p <= 100,
                   "searchable percentile '{}' is not a number in (50, 100]", v);
      }
    } else if (key == "weight_narrow_range") {
      check_values("weight_narrow_range value", values, {"true", "false"});
    } else {
      throw Error(
          fmt::format("searchable value '{}' is unknown; use percentile or weight_narrow_range",
                      key),
          ErrorKind::kInvalidInput);
    }
  }
  fingerprint_.model =
      Fnv1a().add(io::serialize_onnx_graph(float_, {.keep_training_ops = true})).hex();
  Fnv1a data;
  add_examples(data, *options_.calibration);
  add_examples(data, *options_.eval);
  data.add(fmt::format("calibration {} x {}; eval batch {}, max {}, input '{}', output '{}'",
                       options_.calibration_batches, options_.calibration_batch_size,
                       options_.eval_options.batch_size, options_.eval_options.max_batches,
                       options_.eval_options.input, options_.eval_options.output));
  fingerprint_.data = data.hex();
  fold_batch_norms(float_, options_.exclude);
  remove_unused(float_);
  try {
    const QuantPlan plan = plan_quantization(float_, {.exclude = options_.exclude});
    ops_ = plan.compute_nodes;
    for (const auto& w : plan.weights) {
      for (const auto& n : w.nodes) op_weights_[n].push_back(w.weight);
    }
  } catch (Error& e) {
    if (options_.sparsities.empty() && options_.searchable.empty()) {
      throw Error(fmt::format("the tuning space is empty: {}", e.message()),
                  ErrorKind::kInvalidInput, "exclude fewer ops, or give sparsity levels");
    }
  }
  build_space();
  cache_ = std::make_unique<CalibrationCache>(
      float_, options_.calibration,
      CalibrationOptions{.batches = options_.calibration_batches,
                         .batch_size = options_.calibration_batch_size,
                         .input = options_.eval_options.input});
  cache_->observe(calibration_values(float_, ops_, options_.exclude));
  macs_ = macs_per_example(float_, ops_, cache_->shapes());
}

void QuantTuningProblem::build_space() {
  std::map<std::string, int> q;
  for (const auto& op : ops_) {
    std::vector<std::string> precisions{"int8"};
    for (const auto& f : options_.fallbacks) {
      if (f != "bf16" || op_weights_.count(op))
        precisions.push_back(f);  // bf16 stores weights: none, no bf16
    }
    if (precisions.size() == 1) precisions.push_back("fp32");
    q[op] = space_.add({.name = op + ":quantize",
                        .target = op,
                        .knob = "quantize",
                        .kind = DimensionKind::kFallback,
                        .values = precisions});
  }
  for (const auto& op : ops_) {
    const int parent = q[op];
    auto w = op_weights_.find(op);
    if (w != op_weights_.end()) {
      bool channel_axis = true;
      for (const auto& name : w->second)
        channel_axis = channel_axis && weight_has_channel_axis(float_, op, name);
      std::vector<std::string> g = options_.granularities;
      if (!channel_axis) g = {"per_tensor"};
      space_.add({.name = op + ":granularity",
                  .target = op,
                  .knob = "granularity",
                  .values = g,
                  .parent = parent});
    }
    space_.add({.name = op + ":scheme",
                .target = op,
                .knob = "scheme",
                .values = options_.schemes,
                .parent = parent});
    space_.add({.name = op + ":calibration",
                .target = op,
                .knob = "calibration",
                .values = options_.calibrations,
                .parent = parent});
    space_.add({.name = op + ":bits",
                .target = op,
                .knob = "bits",
                .values = options_.bits,
                .parent = parent});
  }
  if (!options_.sparsities.empty()) {
    std::vector<std::string> seen;
    for (const auto& op : ops_) {
      for (const auto& w : op_weights_[op]) {
        if (std::find(seen.begin(), seen.end(), w) != seen.end()) continue;
        seen.push_back(w);
        space_.add({.name = w + ":sparsity",
                    .target = w,
                    .knob = "sparsity",
                    .kind = DimensionKind::kSparsity,
                    .values = options_.sparsities});
      }
    }
  }
  for (const auto& [key, values] : options_.searchable) {
    space_.add({.name = "user:" + key,
                .target = key,
                .knob = key,
                .kind = DimensionKind::kUser,
                .values = values});
  }
}

QuantTuningProblem::Choice QuantTuningProblem::choice(const Config& c) const {
  Choice ch;
  for (const auto& op : ops_) {
    const std::string precision = space_.value(c, op + ":quantize", "int8");
    if (precision == "int8") ch.quantized.insert(op);
    if (precision == "bf16") ch.bf16.push_back(op);
  }
  for (const auto& [op, ws] : op_weights_) {
    for (const auto& w : ws) {
      const std::string s = space_.value(c, w + ":sparsity", "0");
      if (double v = std::stod(s); v > 0) ch.sparsity[w] = v;
    }
  }
  return ch;
}

nn::Graph QuantTuningProblem::simulated_graph(const Config& c) {
  const Choice ch = choice(c);
  nn::Graph g = float_;
  for (const auto& [w, s] : ch.sparsity) prune_by_magnitude(g, w, s);
  round_weights_bf16(g, ch.bf16);
  if (ch.quantized.empty()) return g;
  std::vector<std::string> exclude = options_.exclude;
  for (const auto& op : ops_)
    if (!ch.quantized.count(op)) exclude.push_back(op);
  const QuantPlan plan = plan_quantization(g, {.exclude = exclude, .fuse_relu = true});
  cache_->observe(plan.activations);  // a no-op unless this plan has a point never seen
  TrialSettings settings{
      .setting =
          [&](const std::string& op, const std::string& knob, const std::string& otherwise) {
            return space_.value(c, op + ":" + knob, otherwise);
          },
      .percentile = std::stod(space_.value(c, "user:percentile", "99.99")),
      .weight_narrow_range = space_.value(c, "user:weight_narrow_range", "false") == "true",
      .target = options_.target};
  apply_quantization(g, plan, settings, *cache_);
  return g;
}

Outcome QuantTuningProblem::evaluate(const Config& c) {
  nn::GraphModule m(simulated_graph(c));
  ++evaluations_;
  const double acc = tamp::evaluate(m, *options_.eval, options_.eval_options).top1;
  return {acc, objective(c)};
}

Outcome QuantTuningProblem::baseline() {
  nn::GraphModule m(float_);
  const double acc = tamp::evaluate(m, *options_.eval, options_.eval_options).top1;
  return {acc, objective_of({}, nullptr)};
}

double QuantTuningProblem::objective(const Config& c) { return objective_of(choice(c), &c); }

double QuantTuningProblem::objective_of(const Choice& ch, const Config* c) {
  switch (options_.objective.kind) {
    case ObjectiveKind::kSize: {
      std::map<std::string, double>
          element_bytes;  // weights stored in int8, weights and biases in bf16
      for (const auto& node : float_.nodes) {
        if (std::find(ch.bf16.begin(), ch.bf16.end(), node.name) == ch.bf16.end()) continue;
        for (const auto& in : node.inputs)
          if (float_.initializers.count(in)) element_bytes[in] = 2;
      }
      for (const auto& op : ch.quantized) {
        if (auto it = op_weights_.find(op); it != op_weights_.end())
          for (const auto& w : it->second) element_bytes[w] = 1;
      }
      double bytes = 0;
      for (const auto& [name, t] : float_.initializers) {
        double n = static_cast<double>(t.numel());
        if (auto s = ch.sparsity.find(name); s != ch.sparsity.end()) n -= std::round(s->second * n);
        auto e = element_bytes.find(name);
        bytes +=
            n * (e != element_bytes.end() ? e->second : static_cast<double>(size_of(t.dtype())));
      }
      return bytes;
    }
    case ObjectiveKind::kBops: {
      double bops = 0;
      for (const auto& op : ops_) {
        auto m = macs_.find(op);
        if (m == macs_.end()) continue;
        double density = 1;
        if (auto w = op_weights_.find(op); w != op_weights_.end() && !w->second.empty()) {
          if (auto s = ch.sparsity.find(w->second[0]); s != ch.sparsity.end())
            density = 1 - s->second;
        }
        const bool bf16 = std::find(ch.bf16.begin(), ch.bf16.end(), op) != ch.bf16.end();
        const double bits = ch.quantized.count(op) ? 8 : bf16 ? 16 : 32;
        bops += static_cast<double>(m->second) * density * bits * bits;
      }
      return bops;
    }
    case ObjectiveKind::kLatency:
      return run_latency(c ? export_graph(*c) : float_, c ? "trial" : "fp32");
  }
  return 0;
}

nn::Graph QuantTuningProblem::export_graph(const Config& c, QuantFormat format) {
  nn::Graph g = simulated_graph(c);
  if (!find_fake_quantize(g).empty()) g = lower_quantized(g, format);
  store_weights_bf16(g, choice(c).bf16);
  return g;
}

double QuantTuningProblem::run_latency(const nn::Graph& g, const std::string& stem) {
  const std::string path = (std::filesystem::path(options_.work_dir) /
                            fmt::format("tamp_tune_{}_{}.onnx", stem, exports_++))
                               .string();
  io::save_onnx_graph(g, path);
  std::string cmd = options_.objective.command;
  for (size_t at; (at = cmd.find("{model}")) != std::string::npos;) cmd.replace(at, 7, path);
  try {
    const double latency = run_latency_command(cmd);
    std::filesystem::remove(path);
    return latency;
  } catch (const Error&) {
    std::filesystem::remove(path);
    throw;
  }
}

std::map<int, double> QuantTuningProblem::quantization_error() {
  if (error_done_) return error_;
  error_done_ = true;
  const auto fallback = space_.dimensions_of_kind(DimensionKind::kFallback);
  auto run = [&](const nn::Graph& g) {
    nn::GraphModule m(g);
    m.eval();
    NoGradGuard no_grad;
    const std::string out = output_name(g, options_.eval_options.output);
    return m.forward({{cache_->input_name(), Variable(cache_->first_input())}}, {out})
        .at(out)
        .value();
  };
  const Tensor ref = run(float_);
  for (int d : fallback) {
    Config c = space_.default_config();
    for (int e : fallback)
      c[static_cast<size_t>(e)] = e == d ? 0 : space_.last_index(e);  // the others in fp32
    error_[d] = relative_mse(ref, run(simulated_graph(space_.canonical(c))));
  }
  return error_;
}

}  // namespace tamp::tuning
