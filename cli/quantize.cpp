// tamp quantize MODEL.onnx --method static|dynamic|weight-only [--bits 4|8] [--group-size N]
//                [--algorithm rtn|gptq] [--symmetric|--asymmetric] [--per-tensor]
//                [--calibration minmax|percentile|entropy|mse] [--format qdq|qoperator]
//                [--weight-calibration minmax|percentile|entropy|mse]
//                [--power-of-two] [--calib-data fashion-mnist] [--calib-batches N]
//                [--equalize [--equalize-relu6]] [--bias-correction] [--bn-reestimate]
//                [--exclude NAME|OP ...] [--eval-data fashion-mnist:test] [--target
//                portable|vnni|arm]
//                [--smooth-quant[=ALPHA|search]] [--adaround [--adaround-steps N]]
//                [--report FILE.json] [--fallback-bf16 K]
//                --out OUT.onnx
// Post-training quantization without training:
//  - static: 8-bit weights (per output channel) and uint8 activations whose ranges come from
//    calibration batches (observer chosen by --calibration), exported as QDQ or QOperator;
//  - dynamic: 8-bit weights, activations quantized at run time (DynamicQuantizeLinear +
//    MatMulInteger, fused by ONNX Runtime into DynamicQuantizeMatMul);
//  - weight-only: 4/8-bit block-quantized weights (RTN or GPTQ) as com.microsoft MatMulNBits.
// Static quantization can recover accuracy: --bn-reestimate recomputes BatchNorm statistics
// on the calibration data first, --equalize equalizes Conv pairs (cross-layer equalization)
// and --bias-correction corrects the quantized layers' biases afterwards
// (docs/ptq_recovery.md).
// Static and dynamic weights take the range --target computes exactly (export_target.h), and
// the written file is checked against what tamp simulated (export parity, on --eval-data or
// else the calibration data): below 99.9 % argmax agreement the command exits with 4.
// Static extras (docs/ptq_smoothquant_adaround.md): SmoothQuant before calibration, AdaRound
// after it, a per-layer sensitivity report and the K most sensitive layers kept as bf16 weights.
// The static method is in cli/quantize_static.cpp; the options and Outcome in cli/quantize.h.
// Each method has a run_<method> function below; the options are in cli/quantize_options.cpp.
#include "quantize.h"
#include "tune.h"

#include <tamp/autograd/variable.h>
#include <tamp/compression/quantization/lowering/lower.h>
#include <tamp/compression/quantization/ptq/dynamic_quantization.h>
#include <tamp/compression/quantization/ptq/static_quantization.h>
#include <tamp/compression/quantization/ptq/weight_only.h>
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>
#include <tamp/scheduler/evaluate.h>
#include <tamp/scheduler/trainer.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <optional>

namespace tamp::cli {

namespace {

using namespace compression;

nn::Graph load_graph(const std::string& path) {
  if (!std::filesystem::exists(path))
    throw Error(fmt::format("'{}': no such file", path), ErrorKind::kIo);
  return io::load_onnx_graph(path);
}

// The first `count` batches of `batch` examples of the selected split, shaped for the input.
std::vector<CalibrationBatch> calibration_batches(const QuantizeArgs& a, const nn::Graph& g,
                                                  std::string* name) {
  if (a.calib.spec.empty()) return {};
  const LoadedDataset data = load_dataset(a.calib, "train");
  *name = data.name;
  const nn::ValueInfo& info = input_info(g, a.input);
  std::vector<CalibrationBatch> out;
  const int64_t n = data.selected->size();
  for (int64_t b = 0; b < a.calib_batches && b * a.batch < n; ++b) {
    std::vector<int64_t> idx;
    for (int64_t i = b * a.batch; i < std::min(n, (b + 1) * a.batch); ++i) idx.push_back(i);
    out.push_back({{info.name, fit_input(info, data.selected->get_batch(idx).x)}});
  }
  return out;
}

uint64_t file_size(const std::string& path) {
  std::error_code ec;
  const auto s = std::filesystem::file_size(path, ec);
  return ec ? 0 : s;
}

}  // namespace

std::vector<std::map<std::string, Tensor>> labelled_batches(const QuantizeArgs& a,
                                                            const nn::Graph& g,
                                                            const LoadedDataset& data,
                                                            std::vector<Tensor>* labels) {
  const nn::ValueInfo& info = input_info(g, a.input);
  std::vector<std::map<std::string, Tensor>> out;
  const int64_t n = data.selected->size();
  for (int64_t b = 0; b < a.calib_batches && b * a.batch < n; ++b) {
    std::vector<int64_t> idx;
    for (int64_t i = b * a.batch; i < std::min(n, (b + 1) * a.batch); ++i) idx.push_back(i);
    nn::Batch batch = data.selected->get_batch(idx);
    out.push_back({{info.name, fit_input(info, batch.x)}});
    if (labels && batch.y.defined() && batch.y.rank() == 1) labels->push_back(batch.y);
  }
  if (labels && labels->size() != out.size()) labels->clear();
  return out;
}

namespace {

Outcome run_dynamic(const QuantizeArgs& a, const nn::Graph& g) {
  if (a.bits != -1 && a.bits != 8)
    throw UsageError(fmt::format("--method dynamic stores 8-bit weights, not --bits {}", a.bits));
  if (!a.calib.spec.empty())
    throw UsageError("--method dynamic needs no calibration data (drop --calib-data)");
  DynamicQuantOptions o;
  o.weights.per_channel = !a.per_tensor;
  if (a.asymmetric) {
    o.weights.symmetric = false;
    o.weights.is_signed = false;
  }
  o.exclude = a.exclude;
  o.target = export_target_of(a.target);
  Outcome r{quantize_dynamic(g, o), {}, {}, {}, nullptr, nullptr};
  r.simulated = std::make_shared<nn::GraphModule>(r.graph);
  const QuantSpec weights = weights_for_target(o.weights, quint8, o.target);
  r.settings = {
      {"method", "dynamic"}, {"target", a.target.target}, {"weights", weights.describe()}};
  int layers = 0;
  for (const auto& n : r.graph.nodes) layers += n.op_type == "MatMulInteger";
  r.summary = fmt::format("dynamic 8-bit for target {}: {} layer(s), weights {}", a.target.target,
                          layers, weights.describe());
  return r;
}

Outcome run_weight_only(const QuantizeArgs& a, const nn::Graph& g) {
  WeightOnlyOptions o;
  o.weights.bits = a.bits == -1 ? 4 : a.bits;
  o.weights.group_size = a.group_size;
  o.weights.symmetric = !a.asymmetric;
  if (a.per_tensor)
    throw UsageError(
        "--per-tensor applies to --method dynamic; weight-only uses --group-size (0: per channel)");
  const int64_t gs = a.group_size;
  if (gs != 0 && (gs < 16 || gs > 256 || (gs & (gs - 1)) != 0)) {
    throw UsageError(fmt::format(
        "--group-size {}: MatMulNBits takes a power of two in 16..256 (or 0: one scale per "
        "output channel)",
        gs));
  }
  try {
    o.algorithm = weight_only_algorithm_from_name(a.algorithm);
  } catch (const Error& e) {
    throw UsageError("--algorithm: " + e.message());
  }
  o.gptq.damp_percent = a.damp;
  o.gptq.act_order = a.act_order;
  o.exclude = a.exclude;
  o.accuracy_level = a.accuracy_level;
  std::string calib_name;
  const auto calib = calibration_batches(a, g, &calib_name);
  if (o.algorithm == WeightOnlyAlgorithm::kGptq && a.calib.spec.empty()) {
    throw UsageError("--algorithm gptq needs calibration data: give --calib-data fashion-mnist");
  }
  WeightOnlyResult w = quantize_weight_only(g, calib, o);
  Outcome r{std::move(w.graph), {}, std::move(w.layers), {}, nullptr, nullptr};
  r.settings = {{"method", "weight-only"},
                {"algorithm", a.algorithm},
                {"bits", o.weights.bits},
                {"group_size", o.weights.group_size},
                {"symmetric", o.weights.symmetric},
                {"act_order", a.act_order},
                {"accuracy_level", a.accuracy_level},
                {"calibration", calib_name.empty() ? nlohmann::ordered_json(nullptr)
                                                   : nlohmann::ordered_json(calib_name)},
                {"calibration_batches", calib.size()}};
  r.summary = fmt::format(
      "weight-only int{} {} ({}, group {}){}: {} layer(s) as MatMulNBits", o.weights.bits,
      a.algorithm, o.weights.symmetric ? "symmetric" : "asymmetric", o.weights.group_size,
      calib.empty() ? ""
                    : fmt::format(", {} calibration batch(es) of {}", calib.size(), calib_name),
      r.layers.size());
  return r;
}

// --accuracy-criterion: static quantization searched by `tamp tune` with this command's
// data, exclusions and format; --calibration and --per-tensor fix those knobs.
int run_tuned_quantize(const QuantizeArgs& a) {
  if (a.method != "static") throw UsageError("--accuracy-criterion applies to --method static");
  TuneArgs t;
  t.model = a.model;
  t.out = a.out;
  t.search.criterion = a.accuracy_criterion;
  if (!a.strategy.empty()) t.search.strategy = a.strategy;
  t.calib = a.calib;
  if (t.calib.spec.empty())
    throw UsageError("--method static needs calibration data: give --calib-data fashion-mnist");
  if (!a.eval_data.empty()) t.eval_data = a.eval_data;
  t.search.calibration_batches = a.calib_batches;
  t.batch = a.batch;
  if (!a.calibration.empty())
    t.search.calibration = {a.calibration == "moving-average" ? "minmax" : a.calibration};
  if (a.per_tensor) t.search.granularity = {"per_tensor"};
  t.search.exclude = a.exclude;
  if (!a.format.empty()) t.format = a.format;
  t.input = a.input;
  t.output = a.output;
  t.json = a.json;
  t.threads = a.threads;
  t.target = a.target;
  return run_tune(t);
}

// Flags that --accuracy-criterion (a search over the static method) leaves no room for.
void check_tuned_flags(const QuantizeArgs& a) {
  if (!a.smooth_quant.empty() || a.adaround || !a.report.empty() || a.fallback_bf16 > 0) {
    throw UsageError(
        "--smooth-quant, --adaround, --report and --fallback-bf16 do not combine with "
        "--accuracy-criterion");
  }
  if (!a.weight_calibration.empty())
    throw UsageError("--weight-calibration does not combine with --accuracy-criterion");
  if (a.equalize || a.bias_correction || a.bn_reestimate) {
    throw UsageError(
        "--equalize, --bias-correction and --bn-reestimate do not combine with "
        "--accuracy-criterion");
  }
}

// Flags of the static method given with another.
void check_method_flags(const QuantizeArgs& a) {
  if (a.symmetric && a.asymmetric)
    throw UsageError("--symmetric and --asymmetric exclude each other");
  if (a.method == "static") return;
  if (!a.calibration.empty()) throw UsageError("--calibration applies to --method static");
  if (!a.weight_calibration.empty())
    throw UsageError("--weight-calibration applies to --method static");
  if (!a.format.empty()) throw UsageError("--format applies to --method static");
  if (a.power_of_two) throw UsageError("--power-of-two applies to --method static");
  if (a.equalize || a.bias_correction || a.bn_reestimate) {
    throw UsageError("--equalize, --bias-correction and --bn-reestimate apply to --method static");
  }
  if (!a.smooth_quant.empty() || a.adaround || !a.report.empty() || a.fallback_bf16 > 0) {
    throw UsageError(
        "--smooth-quant, --adaround, --report and --fallback-bf16 apply to --method static");
  }
}

// What the command measured after writing the file.
struct Measured {
  nlohmann::ordered_json eval = nullptr;  // top-1 before and after, with --eval-data
  std::optional<ParityResult> parity;
  std::string parity_data;
  uint64_t in_bytes = 0, out_bytes = 0;
};

Measured measure(const QuantizeArgs& a, const nn::Graph& g, const Outcome& r) {
  Measured m;
  const std::optional<LoadedDataset> eval_data = load_eval_data(a);
  if (eval_data) {
    nn::GraphModule before(g), after(r.graph);
    const EvalOptions eo{.input = a.input, .output = a.output};
    const EvalResult e0 = evaluate(before, *eval_data->selected, eo),
                     e1 = evaluate(after, *eval_data->selected, eo);
    m.eval = {{"dataset", eval_data->name},
              {"examples", e1.count},
              {"top1_float", e0.top1},
              {"top1_quantized", e1.top1}};
  }
  // The file as written, against what tamp simulated: on the evaluation data, else the
  // calibration batches; dynamic quantization without either has nothing to run.
  if (r.simulated && (eval_data || !a.calib.spec.empty())) {
    const LoadedDataset data = eval_data ? *eval_data : load_dataset(a.calib, "train");
    m.parity_data = data.name;
    ParityOptions po{
        .arithmetic = parity_arithmetic_of(a.target), .input = a.input, .output = a.output};
    if (!eval_data) {
      po.batch_size = a.batch;
      po.max_batches = a.calib_batches;
    }
    m.parity = check_export_parity(*r.simulated, io::load_onnx_graph(a.out), *data.selected, po);
  }
  m.in_bytes = file_size(a.model.path);
  m.out_bytes = file_size(a.out);
  return m;
}

void print_quantize_json(const QuantizeArgs& a, const Outcome& r, const Measured& m) {
  nlohmann::ordered_json j{{"model", a.model.path}, {"out", a.out}};
  j.update(r.settings);
  j["bytes_before"] = m.in_bytes;
  j["bytes_after"] = m.out_bytes;
  j["layers"] = nlohmann::ordered_json::array();
  for (const auto& l : r.layers) {
    j["layers"].push_back({{"node", l.node},
                           {"k", l.k},
                           {"n", l.n},
                           {"block_size", l.block_size},
                           {"relative_error", std::isnan(l.relative_error)
                                                  ? nlohmann::ordered_json(nullptr)
                                                  : nlohmann::ordered_json(l.relative_error)}});
  }
  j["eval"] = m.eval;
  if (!r.sensitivity.is_null()) j["sensitivity"] = r.sensitivity;
  j["parity"] = m.parity ? parity_json(*m.parity) : nlohmann::ordered_json(nullptr);
  if (m.parity) j["parity"]["dataset"] = m.parity_data;
  print_json(j);
  if (m.parity && !m.parity->passed()) print_parity(*m.parity, stderr);
}

// The per-layer error of the weight-only methods and the sensitivity report.
void print_layers(const QuantizeArgs& a, const Outcome& r) {
  if (!r.layers.empty()) {
    size_t w = 4;
    for (const auto& l : r.layers) w = std::max(w, l.node.size());
    fmt::print("\n{:<{}}  {:>6}  {:>6}  {:>5}  {}\n", "node", w, "K", "N", "block",
               "||WX - ŴX||² / ||WX||² (calibration)");
    for (const auto& l : r.layers) {
      fmt::print("{:<{}}  {:>6}  {:>6}  {:>5}  {}\n", l.node, w, l.k, l.n, l.block_size,
                 std::isnan(l.relative_error) ? std::string("-")
                                              : fmt::format("{:.3g}", l.relative_error));
    }
    fmt::print("\n");
  }
  if (!r.sensitivity.is_null()) {
    fmt::print("\nsensitivity ({}, each layer alone quantized):\n",
               r.sensitivity["dataset"].get<std::string>());
    for (const auto& l : r.sensitivity["layers"]) {
      fmt::print("  {:<40} {:<10} output MSE {:.3e}{}  {}\n", l["node"].get<std::string>(),
                 l["op_type"].get<std::string>(), l["output_mse"].get<double>(),
                 l["top1"].is_null()
                     ? std::string()
                     : fmt::format("  top-1 {:.2f} %", 100 * l["top1"].get<double>()),
                 l["precision"].get<std::string>());
    }
    if (!a.report.empty()) fmt::print("wrote {}\n", a.report);
    fmt::print("\n");
  }
}

void print_quantize_text(const QuantizeArgs& a, const Outcome& r, const Measured& m) {
  fmt::print("{}\n", r.summary);
  print_layers(a, r);
  fmt::print(
      "size {} -> {} ({:.2f}x)\n", bytes_text(m.in_bytes), bytes_text(m.out_bytes),
      m.out_bytes ? static_cast<double>(m.in_bytes) / static_cast<double>(m.out_bytes) : 0.0);
  if (!m.eval.is_null()) {
    fmt::print("{}: top-1 {:.2f} % float, {:.2f} % quantized (tamp's evaluation, {} examples)\n",
               m.eval["dataset"].get<std::string>(), 100 * m.eval["top1_float"].get<double>(),
               100 * m.eval["top1_quantized"].get<double>(), m.eval["examples"].get<int64_t>());
  }
  if (m.parity) {
    print_parity(*m.parity, stdout);
  } else if (r.simulated) {
    fmt::print("parity: not checked (no data: give --eval-data)\n");
  }
  fmt::print("wrote {}\n", a.out);
}

}  // namespace

int run_quantize(const QuantizeArgs& a) {
  check_output_folder(a.out, "--out");
  if (a.target.given() && a.method == "weight-only") {
    throw UsageError(
        "--target and --parity-arithmetic apply to --method static and dynamic (MatMulNBits has no "
        "integer product to make exact)");
  }
  if (a.equalize_relu6 && !a.equalize) throw UsageError("--equalize-relu6 applies with --equalize");
  if (a.adaround && a.bias_correction) {
    throw UsageError(
        "--adaround and --bias-correction exclude each other: bias correction measures the rounded "
        "weights that AdaRound then changes");
  }
  if (!a.accuracy_criterion.empty()) {
    check_tuned_flags(a);
    return run_tuned_quantize(a);
  }
  if (!a.strategy.empty()) throw UsageError("--strategy applies with --accuracy-criterion");
  apply_threads(a.threads);
  check_method_flags(a);
  nn::Graph g = load_graph(a.model.path);
  check_data_input_output(g, a.input, a.output);
  if (!a.calib.normalize.empty()) {
    // The statistics come from the calibration data, else from the evaluation data.
    DatasetArgs d = a.calib;
    if (d.spec.empty()) d.spec = a.eval_data;
    if (d.spec.empty()) throw UsageError("--normalize needs --calib-data or --eval-data");
    normalize_model_input(g, load_dataset(d, "train"), a.input);
  }
  Outcome r;
  if (a.method == "static")
    r = run_static(a, g);
  else if (a.method == "dynamic")
    r = run_dynamic(a, g);
  else if (a.method == "weight-only")
    r = run_weight_only(a, g);
  io::save_onnx_graph(r.graph, a.out);
  const Measured m = measure(a, g, r);
  if (a.json)
    print_quantize_json(a, r, m);
  else
    print_quantize_text(a, r, m);
  return m.parity ? parity_exit_code(*m.parity) : kExitOk;
}

}  // namespace tamp::cli
