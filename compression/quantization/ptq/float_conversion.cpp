#include <tamp/compression/quantization/ptq/float_conversion.h>

#include <tamp/nn/graph_edit.h>

#include <algorithm>
#include <map>
#include <set>

namespace tamp::compression {

namespace {

// TensorProto.DataType codes (Cast's `to`).
constexpr int64_t kOnnxFloat = 1, kOnnxFloat16 = 10, kOnnxBFloat16 = 16;

// Ops that move data without arithmetic: they run in whatever precision their input has.
bool is_data_movement(const std::string& op, DType to) {
  static const std::set<std::string> kBoth = {"Reshape",   "Transpose", "Flatten", "Squeeze",
                                              "Unsqueeze", "Identity",  "Slice",   "Gather",
                                              "Concat",    "Split",     "Dropout"};
  return kBoth.count(op) || (to == DType::kFloat16 && op == "Expand");
}

// Float inputs that must stay float32 whatever the node's precision (their schema type is
// tensor(float) only).
bool fixed_float32_input(const nn::Node& n, size_t i) {
  if (n.op_type == "Resize") return i == 2;
  if (n.op_type == "Upsample") return i == 1;
  return false;
}

enum class Precision { kFloat32, kLow };

// Element types of every value, from the declared ones and a per-op rule (which output of
// which op is integer, bool or float).
std::map<std::string, DType> infer_dtypes(const nn::Graph& g) {
  std::map<std::string, DType> t;
  for (const auto& v : g.inputs) t[v.name] = v.dtype;
  for (const auto& [name, value] : g.initializers) t[name] = value.dtype();
  auto in_type = [&](const nn::Node& n, size_t i) {
    if (i < n.inputs.size() && !n.inputs[i].empty() && t.count(n.inputs[i])) return t[n.inputs[i]];
    return DType::kFloat32;
  };
  static const std::set<std::string> kInt64 = {"Shape",  "Size",    "ArgMax",
                                               "ArgMin", "NonZero", "NonMaxSuppression"};
  static const std::set<std::string> kBool = {
      "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not",
      "And",   "Or",   "Xor",     "IsNaN",       "IsInf"};
  for (const auto& n : g.nodes) {
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      DType d = in_type(n, 0);
      const Attributes& a = *n.attrs;
      if (n.op_type == "Cast") {
        d = a.i("to") == kOnnxFloat ? DType::kFloat32
                                    : (a.i("to") == kOnnxFloat16 ? DType::kFloat16 : DType::kInt64);
        if (a.i("to") == kOnnxBFloat16) d = DType::kBFloat16;
      } else if (n.op_type == "CastLike" || n.op_type == "Where") {
        d = in_type(n, 1);
      } else if (kInt64.count(n.op_type) ||
                 (o == 1 && (n.op_type == "MaxPool" || n.op_type == "TopK"))) {
        d = DType::kInt64;
      } else if (kBool.count(n.op_type) || (o == 1 && n.op_type == "Dropout")) {
        d = DType::kBool;
      } else if (n.op_type == "Constant" || n.op_type == "ConstantOfShape") {
        d = a.has("value")
                ? a.t("value").dtype()
                : (a.has("value_int") || a.has("value_ints") ? DType::kInt64 : DType::kFloat32);
      } else if (n.op_type == "DynamicQuantizeLinear") {
        d = o == 1 ? DType::kFloat32 : DType::kUInt8;
      } else if (n.op_type == "QuantizeLinear") {
        d = n.inputs.size() > 2 && !n.inputs[2].empty() ? in_type(n, 2) : DType::kUInt8;
      } else if (n.op_type == "DequantizeLinear" || n.op_type == "MatMulNBits") {
        d = DType::kFloat32;
      } else if (n.op_type == "MatMulInteger" || n.op_type == "ConvInteger") {
        d = DType::kInt32;
      }
      t[n.outputs[o]] = d;
    }
  }
  for (const auto& v : g.value_info) t[v.name] = v.dtype;
  return t;
}

class Converter {
 public:
  Converter(const nn::Graph& g, const FloatConversionOptions& o)
      : g_(g), opt_(o), names_(g), dtypes_(infer_dtypes(g)) {
    low_code_ = o.to == DType::kFloat16 ? kOnnxFloat16 : kOnnxBFloat16;
    suffix_ = o.to == DType::kFloat16 ? "fp16" : "bf16";
  }

  nn::Graph run() {
    nn::Graph out = g_;
    out.nodes.clear();
    // Initializers: stored in the low type; float32 consumers read them through a Cast.
    for (auto& [name, value] : out.initializers) {
      if (value.dtype() != DType::kFloat32) continue;
      if (only_fixed_float32_uses(name)) {
        precision_[name] = Precision::kFloat32;
        continue;
      }
      value = value.to(opt_.to);
      precision_[name] = Precision::kLow;
    }
    for (auto& v : out.inputs) {
      if (v.dtype != DType::kFloat32) continue;
      precision_[v.name] = opt_.keep_io_types ? Precision::kFloat32 : Precision::kLow;
      if (!opt_.keep_io_types) v.dtype = opt_.to;
    }
    for (const auto& n : g_.nodes) convert_node(n, out.nodes);
    fix_outputs(out);
    for (auto& v : out.value_info) {
      auto it = precision_.find(v.name);
      if (it != precision_.end() && v.dtype == DType::kFloat32 && it->second == Precision::kLow)
        v.dtype = opt_.to;
    }
    out.validate();
    return out;
  }

 private:
  bool is_float32(const std::string& v) const {
    auto it = dtypes_.find(v);
    return !v.empty() && it != dtypes_.end() && it->second == DType::kFloat32;
  }

  bool only_fixed_float32_uses(const std::string& init) const {
    bool any = false;
    for (const auto& n : g_.nodes) {
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        if (n.inputs[i] != init) continue;
        if (!fixed_float32_input(n, i)) return false;
        any = true;
      }
    }
    return any;
  }

  bool blocked(const nn::Node& n) const {
    if (std::find(opt_.block_nodes.begin(), opt_.block_nodes.end(), n.name) !=
        opt_.block_nodes.end())
      return true;
    if (std::find(opt_.block_ops.begin(), opt_.block_ops.end(), n.op_type) != opt_.block_ops.end())
      return true;
    return opt_.default_block_list && !ort_cpu_has_kernel(n.op_type, opt_.to);
  }

  // The name under which value `v` is available in precision `p`, adding a Cast if needed.
  std::string as(const std::string& v, Precision p, std::vector<nn::Node>& nodes) {
    auto it = precision_.find(v);
    if (it == precision_.end() || it->second == p) return v;
    const auto key = std::make_pair(v, p);
    if (auto c = casts_.find(key); c != casts_.end()) return c->second;
    const std::string out = names_.fresh(v + (p == Precision::kLow ? "_" + suffix_ : "_fp32"));
    nodes.push_back({names_.fresh(out + "_cast"),
                     "Cast",
                     "",
                     {v},
                     {out},
                     nn::attrs_with({{"to", p == Precision::kLow ? low_code_ : kOnnxFloat}})});
    casts_[key] = out;
    return out;
  }

  void convert_node(const nn::Node& n, std::vector<nn::Node>& nodes) {
    nn::Node c = n;
    std::vector<size_t> float_inputs;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (is_float32(n.inputs[i]) && precision_.count(n.inputs[i])) float_inputs.push_back(i);
    }
    // Cast accepts any input type, and Constant-like producers keep their float32 values.
    const bool untouched =
        n.op_type == "Cast" || n.op_type == "Constant" || n.op_type == "ConstantOfShape";
    Precision p = Precision::kFloat32;
    if (untouched) {
      p = Precision::kFloat32;
    } else if (blocked(n)) {
      p = Precision::kFloat32;
    } else if (is_data_movement(n.op_type, opt_.to)) {
      // Low only when every non-constant float input already is.
      p = Precision::kLow;
      for (size_t i : float_inputs) {
        if (!g_.initializers.count(n.inputs[i]) && precision_[n.inputs[i]] == Precision::kFloat32)
          p = Precision::kFloat32;
      }
    } else {
      p = Precision::kLow;
    }
    if (!untouched) {
      for (size_t i : float_inputs) {
        c.inputs[i] = as(n.inputs[i], fixed_float32_input(n, i) ? Precision::kFloat32 : p, nodes);
      }
    }
    for (const auto& o : n.outputs)
      if (is_float32(o)) precision_[o] = p;
    nodes.push_back(std::move(c));
  }

  // Graph outputs in the precision the options ask for: the producing value is renamed and a
  // Cast writes the output's name.
  void fix_outputs(nn::Graph& out) {
    const Precision want = opt_.keep_io_types ? Precision::kFloat32 : Precision::kLow;
    for (auto& o : out.outputs) {
      if (!is_float32(o.name) || !precision_.count(o.name)) continue;
      o.dtype = want == Precision::kLow ? opt_.to : DType::kFloat32;
      if (precision_[o.name] == want) continue;
      const int producer = out.producer(o.name);
      TAMP_CHECK(producer >= 0,
                 "graph output '{}' is a graph input or initializer in the wrong precision; "
                 "convert with keep_io_types",
                 o.name);
      const std::string renamed =
          names_.fresh(o.name + (want == Precision::kLow ? "_fp32" : "_" + suffix_));
      for (auto& n : out.nodes) {
        for (auto& v : n.outputs)
          if (v == o.name) v = renamed;
        for (auto& v : n.inputs)
          if (v == o.name) v = renamed;
      }
      out.nodes.push_back(
          {names_.fresh(o.name + "_cast"),
           "Cast",
           "",
           {renamed},
           {o.name},
           nn::attrs_with({{"to", want == Precision::kLow ? low_code_ : kOnnxFloat}})});
    }
  }

  const nn::Graph& g_;
  const FloatConversionOptions& opt_;
  nn::NameScope names_;
  std::map<std::string, DType> dtypes_;
  std::map<std::string, Precision> precision_;  // float32 values and where they are now
  std::map<std::pair<std::string, Precision>, std::string> casts_;
  int64_t low_code_ = kOnnxFloat16;
  std::string suffix_;
};

}  // namespace

bool ort_cpu_has_kernel(const std::string& op_type, DType to) {
  if (is_data_movement(op_type, to)) return true;
  static const std::set<std::string> kFloat16 = {"LayerNormalization", "Clip", "Max", "Min",
                                                 "Round"};
  static const std::set<std::string> kBFloat16 = {"LayerNormalization"};
  return to == DType::kFloat16 ? kFloat16.count(op_type) > 0 : kBFloat16.count(op_type) > 0;
}

std::vector<std::string> default_blocked_ops(const nn::Graph& graph, DType to) {
  std::set<std::string> ops;
  for (const auto& n : graph.nodes) {
    if (n.op_type != "Cast" && n.op_type != "Constant" && n.op_type != "ConstantOfShape" &&
        !ort_cpu_has_kernel(n.op_type, to)) {
      ops.insert(n.op_type);
    }
  }
  return {ops.begin(), ops.end()};
}

nn::Graph convert_float(const nn::Graph& graph, const FloatConversionOptions& options) {
  TAMP_CHECK(options.to == DType::kFloat16 || options.to == DType::kBFloat16,
             "float conversion targets float16 or bfloat16, not {}", dtype_name(options.to));
  for (const auto& name : options.block_nodes) {
    TAMP_CHECK(graph.find_node(name) != nullptr, "--block-node '{}' names no node of the graph",
               name);
  }
  bool any_float = false;
  for (const auto& [name, t] : graph.initializers)
    any_float = any_float || t.dtype() == DType::kFloat32;
  for (const auto& v : graph.inputs) any_float = any_float || v.dtype == DType::kFloat32;
  TAMP_CHECK(any_float, "the graph has no float32 input or initializer to convert");
  return Converter(graph, options).run();
}

}  // namespace tamp::compression
