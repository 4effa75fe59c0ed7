// `tamp quantize --method static` (cli/quantize.cpp parses the options): calibration, the
// accuracy-recovery steps (BatchNorm re-estimation, cross-layer equalization, bias correction;
// docs/ptq_recovery.md) and the extras (SmoothQuant, AdaRound, the per-layer sensitivity
// report and bf16 fallback; docs/ptq_smoothquant_adaround.md).
#include "quantize.h"

#include <tamp/compression/quantization/lowering/lower.h>
#include <tamp/compression/quantization/ptq/adaround.h>
#include <tamp/compression/quantization/ptq/batch_norm_reestimation.h>
#include <tamp/compression/quantization/ptq/bias_correction.h>
#include <tamp/compression/quantization/ptq/equalization.h>
#include <tamp/compression/quantization/ptq/sensitivity.h>
#include <tamp/compression/quantization/ptq/smooth_quant.h>
#include <tamp/compression/quantization/ptq/static_quantization.h>
#include <tamp/scheduler/evaluate.h>
#include <tamp/scheduler/trainer.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>

namespace tamp::cli {

using namespace compression;

namespace {

double smooth_alpha(const std::string& text) {
  try {
    size_t used = 0;
    const double alpha = std::stod(text, &used);
    if (used == text.size() && alpha >= 0 && alpha <= 1) return alpha;
  } catch (const std::exception&) {}
  throw UsageError(fmt::format("--smooth-quant={}: give an alpha in [0, 1] or 'search'", text));
}

// SmoothQuant folded into the float model before calibration; returns the summary's part.
std::string run_smooth_quant(const QuantizeArgs& a, nn::GraphModule& m, const TrainOptions& t,
                             nlohmann::ordered_json& extras) {
  SmoothQuantOptions so;
  so.exclude = a.exclude;
  if (a.smooth_quant == "search")
    so.search_alpha = true;
  else
    so.alpha = smooth_alpha(a.smooth_quant);
  auto smooth = std::make_shared<SmoothQuant>(so);
  Trainer(m, {smooth}, t).run();
  auto groups = nlohmann::ordered_json::array();
  for (const auto& grp : smooth->groups()) {
    groups.push_back({{"producer", grp.producer},
                      {"producer_op", grp.producer_op},
                      {"value", grp.value},
                      {"through_relu", grp.through_relu},
                      {"readers", grp.readers},
                      {"alpha", grp.alpha}});
  }
  extras["smooth_quant"] = {{"alpha", so.search_alpha ? nlohmann::ordered_json("search")
                                                      : nlohmann::ordered_json(so.alpha)},
                            {"groups", groups}};
  if (smooth->groups().empty())
    return "; SmoothQuant: no activation with a foldable producer (LayerNorm or linear layer)";
  return fmt::format("; SmoothQuant (alpha {}) folded into {} producer(s)", a.smooth_quant,
                     smooth->groups().size());
}

// AdaRound on the calibrated model; returns the summary's part.
std::string run_adaround(const QuantizeArgs& a, nn::GraphModule& m, const TrainOptions& t,
                         nlohmann::ordered_json& extras) {
  AdaRoundOptions ao;
  ao.steps = a.adaround_steps;
  auto ada = std::make_shared<AdaRound>(ao);
  Trainer(m, {ada}, t).run();
  auto layers = nlohmann::ordered_json::array();
  int kept = 0;
  for (const auto& l : ada->layers()) {
    layers.push_back({{"node", l.node},
                      {"weight", l.weight},
                      {"mse_nearest", l.mse_nearest},
                      {"mse_adaround", l.mse_adaround},
                      {"changed", l.changed},
                      {"kept_nearest", l.kept_nearest}});
    kept += l.kept_nearest;
  }
  extras["adaround"] = {{"steps", ao.steps}, {"layers", layers}};
  return fmt::format("; AdaRound ({} steps) on {} layer(s){}", ao.steps, ada->layers().size(),
                     kept ? fmt::format(", {} kept round-to-nearest", kept) : "");
}

}  // namespace

// --eval-data's test split, read like the calibration data but without its normalization
// (the model normalizes already); nothing without --eval-data.
std::optional<LoadedDataset> load_eval_data(const QuantizeArgs& a) {
  if (a.eval_data.empty()) return std::nullopt;
  DatasetArgs d = a.calib;
  d.spec = a.eval_data;
  d.normalize.clear();
  return load_dataset(d, "test");
}

namespace {

// One full static quantization of a copy, then each layer quantized alone against the float
// model on the evaluation data (else the calibration data). Fills *bf16 with the
// --fallback-bf16 most sensitive layers and writes --report.
nlohmann::ordered_json measure_sensitivity(const QuantizeArgs& a, const nn::Graph& base,
                                           const QuantizerOptions& o, const TrainOptions& t,
                                           const LoadedDataset& calib,
                                           std::vector<std::string>* bf16) {
  nn::Graph copy = base;
  for (auto& [name, init] : copy.initializers) init = init.clone();
  nn::GraphModule probe(std::move(copy));
  Trainer(probe, {std::make_shared<StaticQuantization>(o)}, t).run();
  const std::optional<LoadedDataset> eval = load_eval_data(a);
  const LoadedDataset& on = eval ? *eval : calib;
  std::vector<Tensor> labels;
  const auto batches = labelled_batches(a, base, on, &labels);
  const auto layers =
      layer_sensitivity(base, probe.export_graph(), batches, labels, {.output = a.output});
  auto list = nlohmann::ordered_json::array();
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    const bool fallback = static_cast<int>(i) < a.fallback_bf16;
    if (fallback) bf16->push_back(l.node);
    list.push_back({{"node", l.node},
                    {"op_type", l.op_type},
                    {"output_mse", l.mse},
                    {"top1", std::isnan(l.top1) ? nlohmann::ordered_json(nullptr)
                                                : nlohmann::ordered_json(l.top1)},
                    {"precision", fallback ? "bf16" : "int8"}});
  }
  nlohmann::ordered_json j{{"model", a.model.path},
                           {"dataset", on.name},
                           {"batches", batches.size()},
                           {"batch", a.batch},
                           {"measure",
                            "each layer alone quantized (weight and inputs), output "
                            "MSE against the float model"},
                           {"layers", list}};
  if (!a.report.empty()) {
    std::ofstream f(a.report);
    f << j.dump(2) << "\n";
    if (!f) throw Error(fmt::format("could not write the report {}", a.report), ErrorKind::kIo);
  }
  return j;
}

// The flags as the quantizer's options, after refusing those the static method cannot honour.
QuantizerOptions static_quantizer_options(const QuantizeArgs& a) {
  if (a.bits != -1 && a.bits != 8)
    throw UsageError(fmt::format("--method static stores 8-bit integers, not --bits {}", a.bits));
  if (a.calib.spec.empty())
    throw UsageError("--method static needs calibration data: give --calib-data fashion-mnist");
  if (a.symmetric || a.asymmetric) {
    throw UsageError(
        "--method static uses int8 symmetric weights and uint8 asymmetric activations (what ONNX "
        "Runtime "
        "fuses); drop --symmetric/--asymmetric");
  }
  QuantizerOptions o;
  o.weights.per_channel = !a.per_tensor;
  o.weights.power_of_two = o.activations.power_of_two = a.power_of_two;
  o.activations.observer.kind =
      observer_from_name(a.calibration.empty() ? "minmax" : a.calibration);
  o.activations.observer.percentile = a.percentile;
  o.weights.observer.kind =
      observer_from_name(a.weight_calibration.empty() ? "minmax" : a.weight_calibration);
  o.weights.observer.percentile = a.percentile;
  o.exclude = a.exclude;
  o.target = export_target_of(a.target);
  return o;
}

// The components of the calibration run: equalization before the quantizer, bias correction
// after it, as the flags ask.
struct StaticSteps {
  std::shared_ptr<StaticQuantization> sq;
  std::shared_ptr<CrossLayerEqualization> cle;
  std::shared_ptr<BiasCorrection> bc;
  std::vector<std::shared_ptr<Component>> components() const {
    std::vector<std::shared_ptr<Component>> c;
    if (cle) c.push_back(cle);
    c.push_back(sq);
    if (bc) c.push_back(bc);
    return c;
  }
};

StaticSteps static_steps(const QuantizeArgs& a, const QuantizerOptions& o) {
  StaticSteps s;
  if (a.equalize) {
    EqualizationOptions eo;
    eo.exclude = a.exclude;
    eo.relu6_to_relu = a.equalize_relu6;
    s.cle = std::make_shared<CrossLayerEqualization>(eo);
  }
  s.sq = std::make_shared<StaticQuantization>(o);
  if (a.bias_correction) {
    s.bc = std::make_shared<BiasCorrection>(
        BiasCorrectionOptions{.batches = a.bias_correction_batches, .exclude = a.exclude});
  }
  return s;
}

// The outcome's settings (JSON) and summary line; `batches` is the calibration batches run.
void describe_static(Outcome& r, const QuantizeArgs& a, const StaticSteps& steps,
                     const QuantFormat format, const LoadedDataset& data, int64_t batches) {
  const StaticQuantization& sq = *steps.sq;
  const QuantizerOptions& o = sq.options();
  const auto& cle = steps.cle;
  const auto& bc = steps.bc;
  int weights = 0, activations = 0;
  for (const auto& s : sq.sites()) (s.is_weight ? weights : activations) += 1;
  const int folded = sq.folded_batch_norms() + (cle ? cle->report().folded_batch_norms : 0);
  const std::string format_name = format == QuantFormat::kQdq ? "qdq" : "qoperator";
  r.settings = {{"method", "static"},
                {"format", format_name},
                {"target", a.target.target},
                {"calibration", std::string(observer_name(o.activations.observer.kind))},
                {"weight_calibration", std::string(observer_name(o.weights.observer.kind))},
                {"calibration_data", data.name + normalization_text(data)},
                {"calibration_batches", batches},
                {"batch", a.batch},
                {"power_of_two", a.power_of_two},
                {"weights", o.weights.describe()},
                {"activations", o.activations.describe()},
                {"quantized_weights", weights},
                {"quantized_activations", activations},
                {"folded_batch_norms", folded},
                {"bn_reestimation", a.bn_reestimate}};
  r.settings["equalization"] =
      cle ? nlohmann::ordered_json{{"pairs", cle->report().pairs.size()},
                                   {"relu6_replaced", cle->report().relu6_replaced},
                                   {"relu6_pairs_skipped", cle->report().skipped_relu6},
                                   {"iterations", cle->report().iterations}}
          : nlohmann::ordered_json(nullptr);
  r.settings["bias_correction"] =
      bc ? nlohmann::ordered_json{{"layers", bc->report().size()},
                                  {"batches", std::min(a.bias_correction_batches, batches)}}
         : nlohmann::ordered_json(nullptr);
  r.summary = fmt::format(
      "static 8-bit ({}, target {}): {} weight(s) {}, {} activation(s) {}{}, {} calibration "
      "batch(es) of {} from {}{}",
      format == QuantFormat::kQdq ? "QDQ" : "QOperator", a.target.target, weights,
      o.weights.describe(), activations, o.activations.describe(),
      a.power_of_two ? ", power-of-two scales" : "", batches, a.batch, data.name,
      normalization_text(data));
  if (a.bn_reestimate)
    r.summary += "; BatchNorm statistics re-estimated on the calibration batches";
  if (folded > 0) r.summary += fmt::format("; {} BatchNorm(s) folded", folded);
  if (cle) {
    r.summary +=
        fmt::format("; cross-layer equalization: {} Conv pair(s)", cle->report().pairs.size());
    if (cle->report().relu6_replaced > 0)
      r.summary += fmt::format(", {} ReLU6 made Relu", cle->report().relu6_replaced);
    if (cle->report().skipped_relu6 > 0) {
      r.summary +=
          fmt::format(", {} pair(s) joined by ReLU6 left alone (--equalize-relu6 takes them)",
                      cle->report().skipped_relu6);
    }
  }
  if (bc) r.summary += fmt::format("; bias correction: {} layer(s)", bc->report().size());
}

}  // namespace

Outcome run_static(const QuantizeArgs& a, const nn::Graph& g) {
  QuantizerOptions o = static_quantizer_options(a);
  const QuantFormat format = quant_format_from_name(a.format.empty() ? "qdq" : a.format);
  const LoadedDataset data = load_dataset(a.calib, "train");
  if (data.selected->size() == 0)
    throw Error(fmt::format("calibration dataset {} is empty", data.name),
                ErrorKind::kInvalidInput);

  TrainOptions t;
  t.train = data.selected;
  t.batch_size = a.batch;
  t.calibration_batches = a.calib_batches;
  t.input = a.input;
  t.output = a.output;
  auto m = std::make_shared<nn::GraphModule>(g);
  if (a.bn_reestimate) Trainer(*m, {std::make_shared<BatchNormReestimation>()}, t).run();
  nlohmann::ordered_json extras = nlohmann::ordered_json::object();
  std::string extra_summary;
  if (!a.smooth_quant.empty()) extra_summary += run_smooth_quant(a, *m, t, extras);
  std::vector<std::string> bf16;
  nlohmann::ordered_json sensitivity = nullptr;
  if (!a.report.empty() || a.fallback_bf16 > 0) {
    sensitivity = measure_sensitivity(a, m->export_graph(), o, t, data, &bf16);
    o.exclude.insert(o.exclude.end(), bf16.begin(), bf16.end());
    if (!bf16.empty())
      extra_summary +=
          fmt::format("; bf16 weights (float32 compute) for {}", fmt::join(bf16, ", "));
  }
  const StaticSteps steps = static_steps(a, o);
  Trainer(*m, steps.components(), t).run();
  if (a.adaround) extra_summary += run_adaround(a, *m, t, extras);
  if (!bf16.empty()) {
    nn::Graph fq = m->export_graph();
    round_weights_bf16(fq, bf16);
    m->set_graph(std::move(fq));
  }
  const int64_t batches =
      std::min(a.calib_batches, (data.selected->size() + a.batch - 1) / a.batch);
  Outcome r{lower_quantized(m->export_graph(), format), {}, {}, {}, m, sensitivity};
  store_weights_bf16(r.graph, bf16);
  describe_static(r, a, steps, format, data, batches);
  r.summary += extra_summary;
  r.settings.update(extras);
  if (!bf16.empty()) r.settings["fallback_bf16"] = bf16;
  return r;
}

}  // namespace tamp::cli
