// tamp inspect MODEL.onnx [--json]: what a model holds — inputs and outputs, op histogram,
// parameters, per-weight sparsity, quantization nodes and the ops tamp lacks. Reads the
// graph only (constants unfolded, any opset), so any well-formed model inspects; what it
// reports unsupported is exactly what `tamp infer` refuses (the op table decides both).
#include "common.h"
#include "model_report.h"

#include <tamp/io/onnx_import.h>

#include <fmt/format.h>

#include <algorithm>

namespace tamp::cli {

namespace {

// The JSON layout's version: bumped when a key changes meaning or disappears (new keys may
// be added without a bump).
constexpr int kInspectFormatVersion = 1;

struct InspectArgs {
  ModelArg model;
  bool json = false;
  std::string pattern;  // --pattern: check every Conv/Gemm/MatMul weight against it
};

std::string domain_label(const std::string& domain) { return domain.empty() ? "ai.onnx" : domain; }

std::string bits_text(const QuantScale& s) {
  if (!s.bits) return "?-bit";
  if (!s.is_signed) return fmt::format("{}-bit", *s.bits);
  return fmt::format("{}int{}", *s.is_signed ? "" : "u", *s.bits);
}

std::string granularity_text(const QuantScale& s) {
  if (s.granularity == "per-channel")
    return fmt::format("per-channel ({}, axis {})", *s.channels, *s.axis);
  if (s.granularity == "per-block" && s.block_size)
    return fmt::format("per-block ({})", *s.block_size);
  return s.granularity;
}

double sparsity(const WeightInfo& w) {
  return w.elements ? static_cast<double>(w.zeros) / w.elements : 0;
}

std::string tensor_shape_text(const Shape& s) { return to_string(s); }

// ---- JSON ----

nlohmann::ordered_json value_json(const nn::ValueInfo& v) {
  return {{"name", v.name}, {"dtype", dtype_name(v.dtype)}, {"shape", shape_json(v)}};
}

nlohmann::ordered_json totals_json(const InitializerTotals& t) {
  return {{"tensors", t.tensors}, {"count", t.elements}, {"bytes", t.bytes}};
}

template <class T> nlohmann::ordered_json optional_json(const std::optional<T>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

nlohmann::ordered_json weight_json(const WeightInfo& w) {
  nlohmann::ordered_json j{
      {"name", w.name},
      {"dtype", dtype_name(w.dtype)},
      {"shape", w.shape},
      {"count", w.elements},
      {"zeros", w.packed ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(w.zeros)},
      {"sparsity",
       w.packed ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(sparsity(w))},
      {"packed", w.packed},
      {"consumers", w.consumers}};
  j["structure"] =
      w.structure.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(w.structure);
  if (w.pattern_valid) j["pattern"] = {{"valid", *w.pattern_valid}, {"detail", w.pattern_detail}};
  // Further per-weight keys (WeightInfo's extra fields) go here.
  return j;
}

nlohmann::ordered_json report_json(const std::string& path, const ModelReport& r) {
  nlohmann::ordered_json j;
  j["format_version"] = kInspectFormatVersion;
  j["model"] = path;
  j["producer"] = {{"name", r.producer}, {"version", r.producer_version}};
  j["ir_version"] = r.ir_version;
  j["graph_name"] = r.graph_name;
  j["opsets"] = nlohmann::ordered_json::object();
  for (const auto& [domain, version] : r.opsets) j["opsets"][domain_label(domain)] = version;
  j["inputs"] = nlohmann::ordered_json::array();
  for (const auto& v : r.inputs) j["inputs"].push_back(value_json(v));
  j["outputs"] = nlohmann::ordered_json::array();
  for (const auto& v : r.outputs) j["outputs"].push_back(value_json(v));
  j["nodes"] = r.nodes;
  j["ops"] = r.ops;
  j["initializers"] = totals_json(r.initializers);
  nlohmann::ordered_json params = totals_json(r.parameters);
  params["by_dtype"] = nlohmann::ordered_json::object();
  for (const auto& [dtype, t] : r.parameters_by_dtype) params["by_dtype"][dtype] = totals_json(t);
  params["trainable"] = optional_json(r.trainable);
  j["parameters"] = params;
  j["weights"] = nlohmann::ordered_json::array();
  for (const auto& w : r.weights) j["weights"].push_back(weight_json(w));
  j["quantization"] = nlohmann::ordered_json::array();
  for (const auto& q : r.quantization) {
    nlohmann::ordered_json scales = nlohmann::ordered_json::array();
    for (const auto& s : q.scales) {
      scales.push_back({{"role", s.role},
                        {"scale", s.scale.empty() ? nlohmann::ordered_json(nullptr)
                                                  : nlohmann::ordered_json(s.scale)},
                        {"zero_point", s.zero_point.empty() ? nlohmann::ordered_json(nullptr)
                                                            : nlohmann::ordered_json(s.zero_point)},
                        {"granularity", s.granularity},
                        {"axis", optional_json(s.axis)},
                        {"channels", optional_json(s.channels)},
                        {"block_size", optional_json(s.block_size)},
                        {"bits", optional_json(s.bits)},
                        {"signed", optional_json(s.is_signed)}});
    }
    j["quantization"].push_back({{"node", q.name},
                                 {"op_type", q.op_type},
                                 {"domain", domain_label(q.domain)},
                                 {"scales", scales}});
  }
  j["quantization_target"] = r.quantization_target.empty()
                                 ? nlohmann::ordered_json(nullptr)
                                 : nlohmann::ordered_json(r.quantization_target);
  j["unsupported_ops"] = nlohmann::ordered_json::array();
  for (const auto& u : r.unsupported) {
    j["unsupported_ops"].push_back({{"op_type", u.op_type},
                                    {"domain", domain_label(u.domain)},
                                    {"opset", u.opset},
                                    {"nodes", u.nodes}});
  }
  j["runnable"] = r.unsupported.empty();
  return j;
}

// ---- text ----

void print_values(const char* label, const std::vector<nn::ValueInfo>& values) {
  size_t width = 0;
  for (const auto& v : values) width = std::max(width, v.name.size());
  bool first = true;
  for (const auto& v : values) {
    fmt::print("{:<13}{:<{}}  {} {}\n", first ? label : "", v.name, width, dtype_name(v.dtype),
               shape_text(v));
    first = false;
  }
  if (values.empty()) fmt::print("{:<13}none\n", label);
}

void print_weights(const std::vector<WeightInfo>& weights) {
  if (weights.empty()) {
    fmt::print("\nweights      none\n");
    return;
  }
  size_t name_w = 6, shape_w = 5, pattern_w = 7;
  // The pattern column: the checked pattern (--pattern) or the structure the zeros follow.
  auto pattern_text = [](const WeightInfo& w) {
    if (w.pattern_valid) return w.pattern_detail;
    if (w.structure.empty() || w.structure == "dense" || w.structure == "unstructured")
      return w.structure;
    return w.structure_summary.substr(w.structure_summary.find("% ") + 2);
  };
  for (const auto& w : weights) {
    name_w = std::max(name_w, w.name.size());
    shape_w = std::max(shape_w, tensor_shape_text(w.shape).size());
    pattern_w = std::max(pattern_w, pattern_text(w).size());
  }
  fmt::print("\n{:<{}}  {:<{}}  {:<8}  {:>10}  {:>8}  {:<{}}  {}\n", "weight", name_w, "shape",
             shape_w, "dtype", "count", "sparsity", "pattern", pattern_w, "read by");
  for (const auto& w : weights) {
    const std::string sp = w.packed ? "packed" : fmt::format("{:.2f} %", 100 * sparsity(w));
    std::string readers;
    for (size_t i = 0; i < w.consumers.size(); ++i) readers += (i ? ", " : "") + w.consumers[i];
    // Further per-weight columns go here.
    fmt::print("{:<{}}  {:<{}}  {:<8}  {:>10}  {:>8}  {:<{}}  {}\n", w.name, name_w,
               tensor_shape_text(w.shape), shape_w, dtype_name(w.dtype), count_text(w.elements), sp,
               pattern_text(w), pattern_w, readers);
  }
}

void print_text(const std::string& path, const ModelReport& r) {
  fmt::print("{:<13}{}\n", "model", path);
  std::string opsets;
  for (const auto& [domain, version] : r.opsets) {
    opsets += fmt::format("{}{} {}", opsets.empty() ? "" : ", ", domain_label(domain), version);
  }
  std::string producer = r.producer.empty() ? "(unknown)" : r.producer;
  if (!r.producer_version.empty()) producer += " " + r.producer_version;
  fmt::print("{:<13}{}, IR {}, opsets {}\n", "producer", producer, r.ir_version, opsets);
  print_values("inputs", r.inputs);
  print_values("outputs", r.outputs);

  std::vector<std::pair<std::string, int64_t>> ops(r.ops.begin(), r.ops.end());
  std::stable_sort(ops.begin(), ops.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string hist;
  for (const auto& [op, n] : ops) hist += fmt::format("{}{} {}", hist.empty() ? "" : ", ", op, n);
  fmt::print("{:<13}{} nodes: {}\n", "ops", r.nodes, hist.empty() ? "none" : hist);

  std::string by_dtype;
  for (const auto& [dtype, t] : r.parameters_by_dtype) {
    by_dtype += fmt::format("{}{} {}", by_dtype.empty() ? "" : ", ", dtype, count_text(t.elements));
  }
  fmt::print(
      "{:<13}{} in {} tensors, {}{}; trainable {}\n", "parameters",
      count_text(r.parameters.elements), r.parameters.tensors, bytes_text(r.parameters.bytes),
      by_dtype.empty() ? "" : " (" + by_dtype + ")",
      r.trainable ? count_text(*r.trainable) : std::string("n/a (tamp cannot run the model)"));
  print_weights(r.weights);

  if (r.quantization.empty())
    fmt::print("\nquantization none\n");
  else
    fmt::print("\nquantization {} node(s)\n", r.quantization.size());
  if (!r.quantization_target.empty()) {
    fmt::print(
        "  target {}: exported to compute exactly on its CPUs in ONNX Runtime "
        "(docs/quantization_targets.md)\n",
        r.quantization_target);
  }
  for (const auto& q : r.quantization) {
    std::string scales;
    for (const auto& s : q.scales) {
      scales += fmt::format("{}{}: {} {}", scales.empty() ? "" : "; ", s.role, bits_text(s),
                            granularity_text(s));
    }
    fmt::print("  {} ({}{})  {}\n", q.name, q.domain.empty() ? "" : q.domain + ":", q.op_type,
               scales);
  }

  if (r.unsupported.empty()) {
    fmt::print("\nunsupported  none (tamp runs every node)\n");
    return;
  }
  fmt::print("\nunsupported  {} op(s) tamp lacks: infer, eval and train will refuse this model\n",
             r.unsupported.size());
  for (const auto& u : r.unsupported) {
    std::string nodes;
    for (size_t i = 0; i < u.nodes.size() && i < 5; ++i) nodes += (i ? ", " : "") + u.nodes[i];
    if (u.nodes.size() > 5) nodes += fmt::format(", ... ({} more)", u.nodes.size() - 5);
    fmt::print("  {} ({}, opset {}): {} node(s): {}\n", u.op_type, domain_label(u.domain), u.opset,
               u.nodes.size(), nodes);
  }
}

}  // namespace

Action setup_inspect(CLI::App& sub) {
  auto args = std::make_shared<InspectArgs>();
  add_model_arg(sub, args->model);
  add_json_flag(sub, args->json);
  sub.add_option(
         "--pattern", args->pattern,
         "check every Conv/Gemm/MatMul weight against a pruning pattern (2:4, 4x1, channel, ...)")
      ->type_name("PATTERN");
  return [args] {
    const nn::Graph graph = io::load_onnx_graph(args->model.path, {.fold_constants = false});
    ModelReport report = analyse_model(graph);
    if (!args->pattern.empty()) check_weight_patterns(graph, args->pattern, report);
    if (args->json)
      print_json(report_json(args->model.path, report));
    else
      print_text(args->model.path, report);
    return kExitOk;
  };
}

}  // namespace tamp::cli
