#include "model_report.h"

#include <tamp/compression/pruning/checker.h>
#include <tamp/compression/pruning/targets.h>
#include <tamp/compression/quantization/export_target.h>
#include <tamp/nn/graph_module.h>

#include <cmath>
#include <set>

namespace tamp::cli {

namespace {

std::string op_key(const nn::Node& n) {
  const std::string_view domain = canonical_domain(n.domain);
  return domain.empty() ? n.op_type : std::string(domain) + ":" + n.op_type;
}

// ---- quantization nodes ----

// Where an op keeps a scale, its zero point and the quantized tensor (-1: absent).
struct ScaleSlot {
  const char* role;
  int scale, zero_point, data;
  int64_t default_axis;  // of a 1-D scale
};

// ONNX's and ONNX Runtime's quantized ops. QLinear* ops not listed put their first scale and
// zero point at inputs 1 and 2 (true of all of ONNX Runtime's); MatMulNBits and FakeQuantize
// take their bits from attributes.
const std::vector<ScaleSlot>* slots_of(const std::string& domain, const std::string& op) {
  static const std::map<std::string, std::vector<ScaleSlot>> table{
      {"QuantizeLinear", {{"y", 1, 2, -1, 1}}},
      {"DequantizeLinear", {{"x", 1, 2, 0, 1}}},
      {"DynamicQuantizeLinear", {{"y", -1, -1, -1, 0}}},
      {"QLinearConv", {{"x", 1, 2, 0, 1}, {"w", 4, 5, 3, 0}, {"y", 6, 7, -1, 1}}},
      {"QLinearMatMul", {{"a", 1, 2, 0, 1}, {"b", 4, 5, 3, -1}, {"y", 6, 7, -1, 1}}},
      {"MatMulInteger", {{"a", -1, 2, 0, 0}, {"b", -1, 3, 1, -1}}},
      {"ConvInteger", {{"x", -1, 2, 0, 0}, {"w", -1, 3, 1, 0}}},
      {"com.microsoft:QGemm", {{"a", 1, 2, 0, 1}, {"b", 4, 5, 3, 0}, {"y", 7, 8, -1, 1}}},
      {"com.microsoft:MatMulNBits", {{"b", 2, 3, 1, 0}}},
      {"com.microsoft:DynamicQuantizeMatMul", {{"b", 2, 3, 1, -1}}},
      {"com.microsoft:MatMulIntegerToFloat", {{"a", 2, 4, 0, 0}, {"b", 3, 5, 1, -1}}},
      {"tamp:FakeQuantize", {{"x", 1, 2, 0, 0}}},
  };
  static const std::vector<ScaleSlot> generic_qlinear{{"x", 1, 2, 0, 1}};
  const std::string key = domain.empty() ? op : domain + ":" + op;
  auto it = table.find(key);
  if (it != table.end()) return &it->second;
  if (op.rfind("QLinear", 0) == 0) return &generic_qlinear;
  return nullptr;
}

class ValueLookup {
 public:
  explicit ValueLookup(const nn::Graph& g) : g_(g) {
    for (const auto& v : g.inputs) declared_[v.name] = v.dtype;
    for (const auto& v : g.value_info) declared_[v.name] = v.dtype;
    for (const auto& v : g.outputs) declared_[v.name] = v.dtype;
  }

  // The value when it is an initializer or a Constant node's output.
  std::optional<Tensor> constant(const std::string& name) const {
    if (name.empty()) return std::nullopt;
    auto it = g_.initializers.find(name);
    if (it != g_.initializers.end()) return it->second;
    const int p = g_.producer(name);
    if (p < 0) return std::nullopt;
    const nn::Node& n = g_.nodes[p];
    if (n.op_type != "Constant" || !canonical_domain(n.domain).empty()) return std::nullopt;
    try {
      return run(OpRegistry::builtin().get("", "Constant", static_cast<int>(g_.opset())), {},
                 n.attrs)
          .at(0);
    } catch (const Error&) {
      return std::nullopt;  // a sparse or string Constant: not a scale
    }
  }

  std::optional<DType> dtype(const std::string& name) const {
    if (auto t = constant(name)) return t->dtype();
    auto it = declared_.find(name);
    if (it != declared_.end()) return it->second;
    return std::nullopt;
  }

 private:
  const nn::Graph& g_;
  std::map<std::string, DType> declared_;
};

void set_bits_from(QuantScale& s, DType dtype) {
  if (!is_integer(dtype)) return;
  s.bits = static_cast<int>(size_of(dtype) * 8);
  s.is_signed = dtype == DType::kInt8 || dtype == DType::kInt16 || dtype == DType::kInt32 ||
                dtype == DType::kInt64;
}

QuantScale describe_slot(const nn::Node& n, const ScaleSlot& slot, const ValueLookup& values) {
  auto input = [&](int i) {
    return i >= 0 && i < static_cast<int>(n.inputs.size()) ? n.inputs[i] : std::string();
  };
  const Attributes& a = *n.attrs;
  QuantScale s;
  s.role = slot.role;
  s.scale = input(slot.scale);
  s.zero_point = input(slot.zero_point);
  // What the scale (or, for integer ops, the zero point) says about granularity.
  const std::string& shaped = slot.scale >= 0 ? s.scale : s.zero_point;
  if (slot.scale < 0 && n.op_type == "DynamicQuantizeLinear") {
    s.granularity = "dynamic";
  } else if (shaped.empty()) {
    s.granularity = slot.scale >= 0 ? "dynamic" : "per-tensor";  // an omitted zero point is 0
  } else if (auto t = values.constant(shaped)) {
    if (t->numel() == 1) {
      s.granularity = "per-tensor";
    } else if (t->rank() == 1 && n.op_type != "MatMulNBits") {
      s.granularity = "per-channel";
      s.channels = t->numel();
      s.axis = a.i("axis", slot.default_axis);
    } else {
      s.granularity = "per-block";
      if (a.has("block_size")) s.block_size = a.i("block_size");
    }
  } else {
    s.granularity = "dynamic";  // computed at run time
  }

  if (n.op_type == "MatMulNBits") {
    s.bits = static_cast<int>(a.i("bits", 4));
    s.is_signed = false;  // stored unsigned around a zero point (2^(bits-1) by default)
  } else if (n.op_type == "FakeQuantize") {
    const int64_t qmin = a.i("quant_min", -128), qmax = a.i("quant_max", 127);
    s.bits = static_cast<int>(std::ceil(std::log2(static_cast<double>(qmax - qmin + 1))));
    s.is_signed = qmin < 0;
  } else if (n.op_type == "DynamicQuantizeLinear") {
    set_bits_from(s, DType::kUInt8);
  } else if (auto d = values.dtype(s.zero_point)) {
    set_bits_from(s, *d);
  } else if (auto d = values.dtype(slot.data >= 0 ? input(slot.data) : std::string())) {
    set_bits_from(s, *d);
  } else if (n.op_type == "QuantizeLinear" && s.zero_point.empty()) {
    set_bits_from(s, DType::kUInt8);  // ONNX's default output type
  }
  return s;
}

// ---- weights ----

int64_t count_zeros(const Tensor& t) {
  return dispatch(t.dtype(), [&](auto tag) -> int64_t {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
      int64_t z = 0;
      for (int64_t i = 0; i < t.numel(); ++i) z += t.at(i) == 0;
      return z;
    } else {
      const T* p = t.data<T>();
      int64_t z = 0;
      for (int64_t i = 0; i < t.numel(); ++i) z += p[i] == T(0);
      return z;
    }
  });
}

void add_to(InitializerTotals& totals, const Tensor& t) {
  ++totals.tensors;
  totals.elements += t.numel();
  totals.bytes += t.nbytes();
}

std::optional<int64_t> trainable_elements(const nn::Graph& graph, const OpRegistry& registry) {
  try {
    nn::GraphModule m(graph, registry);
    int64_t n = 0;
    for (const auto& [name, p] : m.named_parameters()) n += p.value().numel();
    return n;
  } catch (const Error&) {
    return std::nullopt;
  }
}

}  // namespace

ModelReport analyse_model(const nn::Graph& graph, const OpRegistry& registry) {
  ModelReport r;
  r.producer = graph.producer_name;
  r.producer_version = graph.producer_version;
  r.graph_name = graph.name;
  r.ir_version = graph.ir_version;
  r.opsets = graph.opsets;
  for (const auto& in : graph.inputs) {
    if (!graph.initializers.count(in.name)) r.inputs.push_back(in);
  }
  r.outputs = graph.outputs;
  r.nodes = static_cast<int64_t>(graph.nodes.size());
  if (auto it = graph.metadata.find(std::string(compression::kTargetMetadataKey));
      it != graph.metadata.end()) {
    r.quantization_target = it->second;
  }

  const ValueLookup values(graph);
  std::map<std::pair<std::string, std::string>, size_t> unsupported_index;
  std::map<std::string, std::vector<std::string>> readers;
  std::set<std::string> packed;
  for (const nn::Node& n : graph.nodes) {
    ++r.ops[op_key(n)];
    const std::string domain(canonical_domain(n.domain));
    for (const auto& in : n.inputs)
      readers[in].push_back(fmt::format("{} ({})", n.name, n.op_type));
    if (n.op_type == "MatMulNBits" && n.inputs.size() > 1) packed.insert(n.inputs[1]);

    const int64_t opset = graph.opset(n.domain);
    if (!registry.find(n.domain, n.op_type, static_cast<int>(opset))) {
      auto [it, fresh] = unsupported_index.try_emplace({domain, n.op_type}, r.unsupported.size());
      if (fresh) r.unsupported.push_back({domain, n.op_type, opset, {}});
      r.unsupported[it->second].nodes.push_back(n.name);
    }
    if (const auto* slots = slots_of(domain, n.op_type)) {
      QuantNode q{n.name, n.op_type, domain, {}};
      for (const ScaleSlot& s : *slots) q.scales.push_back(describe_slot(n, s, values));
      r.quantization.push_back(std::move(q));
    }
  }

  for (const auto& [name, t] : graph.initializers) {
    add_to(r.initializers, t);
    if (t.dtype() == DType::kInt64) continue;
    add_to(r.parameters, t);
    add_to(r.parameters_by_dtype[std::string(dtype_name(t.dtype()))], t);
    if (t.rank() < 2 || t.dtype() == DType::kBool) continue;
    WeightInfo w;
    w.name = name;
    w.dtype = t.dtype();
    w.shape = t.shape();
    w.elements = t.numel();
    w.packed = packed.count(name) > 0;
    if (!w.packed) w.zeros = count_zeros(t);
    auto it = readers.find(name);
    if (it != readers.end()) w.consumers = it->second;
    r.weights.push_back(std::move(w));
  }
  if (r.unsupported.empty()) r.trainable = trainable_elements(graph, registry);
  // Integer weights read through DequantizeLinear: a zero is a value equal to its zero point.
  for (const auto& c : compression::pruning::computed_weights(graph)) {
    for (auto& w : r.weights) {
      if (w.name == c.weight && is_integer(w.dtype)) w.zeros = count_zeros(c.values);
    }
  }
  std::map<std::string, compression::pruning::WeightSparsity> structures;
  for (auto& s : compression::pruning::sparsity_report(graph)) structures[s.weight] = std::move(s);
  for (auto& w : r.weights) {
    auto it = structures.find(w.name);
    if (it == structures.end()) continue;
    w.structure = it->second.structure;
    w.structure_summary = it->second.summary;
  }
  return r;
}

void check_weight_patterns(const nn::Graph& graph, const std::string& pattern_text,
                           ModelReport& report) {
  using namespace compression::pruning;
  const Pattern pattern = Pattern::parse(pattern_text);
  std::map<std::string, ComputedWeight> computed;  // int8 weights of a QDQ export dequantized
  for (auto& w : computed_weights(graph)) computed.emplace(w.weight, std::move(w));
  for (auto& w : report.weights) {
    auto it = computed.find(w.name);
    if (it == computed.end()) continue;
    const PatternCheck c = check_pattern(it->second.values, it->second.layout, pattern);
    w.pattern_valid = c.valid;
    w.pattern_detail = c.valid ? c.detail : fmt::format("{}: {}", pattern.str(), c.detail);
  }
}

}  // namespace tamp::cli
