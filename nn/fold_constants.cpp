#include <tamp/nn/fold_constants.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <unordered_map>

namespace tamp::nn {

namespace {

// Deterministic ops that behave the same in training and evaluation: what exporters put
// around shapes and scalar constants.
const std::set<std::string>& foldable_ops() {
  static const std::set<std::string> ops = {
      "Abs",       "Add",        "And",
      "Cast",      "CastLike",   "Ceil",
      "Concat",    "Constant",   "ConstantOfShape",
      "Div",       "Equal",      "Exp",
      "Expand",    "Flatten",    "Floor",
      "Gather",    "Greater",    "GreaterOrEqual",
      "Identity",  "Less",       "LessOrEqual",
      "Log",       "Max",        "Min",
      "Mod",       "Mul",        "Neg",
      "Not",       "Or",         "Pow",
      "Range",     "Reciprocal", "ReduceMax",
      "ReduceMin", "ReduceProd", "ReduceSum",
      "Reshape",   "Shape",      "Sign",
      "Size",      "Slice",      "Split",
      "Sqrt",      "Squeeze",    "Sub",
      "Tile",      "Transpose",  "Unsqueeze",
      "Where",     "Xor",
  };
  return ops;
}

double product_of_values(const Tensor& t) {
  double p = 1;
  for (int64_t i = 0; i < t.numel(); ++i) p *= std::abs(t.at(i));
  return p;
}

// An upper bound of the elements a foldable node outputs, from its constant inputs; large
// for inputs that make no sense (the node then stays and fails at run time, with context).
double output_bound(const Node& n, const std::vector<Tensor>& in) {
  constexpr double kHuge = 1e300;
  auto numel_of = [&](size_t i) {
    return i < in.size() && in[i].defined() ? static_cast<double>(in[i].numel()) : 0.0;
  };
  const std::string& op = n.op_type;
  if (op == "ConstantOfShape")
    return in.empty() || !in[0].defined() ? kHuge : product_of_values(in[0]);
  if (op == "Tile") return in.size() < 2 ? kHuge : numel_of(0) * product_of_values(in[1]);
  if (op == "Range") {
    if (in.size() < 3 || in[2].numel() != 1 || in[0].numel() != 1 || in[1].numel() != 1)
      return kHuge;
    const double delta = in[2].item();
    return delta == 0 ? kHuge : std::abs((in[1].item() - in[0].item()) / delta) + 1;
  }
  if (op == "Expand") {
    if (in.size() < 2) return kHuge;
    const Shape& s = in[0].shape();
    const int64_t rank = std::max<int64_t>(in[0].rank(), in[1].numel());
    double p = 1;
    for (int64_t d = 0; d < rank; ++d) {
      const int64_t a = d - (rank - in[0].rank()), b = d - (rank - in[1].numel());
      const double x = a >= 0 ? static_cast<double>(s[a]) : 1,
                   y = b >= 0 ? std::abs(in[1].at(b)) : 1;
      p *= std::max(x, y);
    }
    return p;
  }
  if (op == "Gather") {
    if (in.size() < 2 || in[0].rank() == 0) return kHuge;
    const int64_t axis = n.attrs->i("axis", 0);
    if (axis < -in[0].rank() || axis >= in[0].rank()) return kHuge;
    const double rows = static_cast<double>(in[0].dim(axis));
    return (rows > 0 ? numel_of(0) / rows : 0) * numel_of(1);
  }
  // Elementwise ops broadcast; the others (Reshape, Concat, Slice, Reduce*, ...) output at
  // most the sum of their inputs.
  double sum = 0;
  Shape b;
  bool broadcasts = true;
  for (const auto& t : in) {
    if (!t.defined()) continue;
    sum += static_cast<double>(t.numel());
    try {
      b = broadcasts ? broadcast_shapes(b, t.shape()) : b;
    } catch (const Error&) {
      broadcasts = false;
    }
  }
  double p = 1;
  for (int64_t d : b) p *= static_cast<double>(d);
  return broadcasts ? std::max(sum, p) : sum;
}

// ONNX Shape (start/end attributes since opset 15) of a known shape.
Tensor shape_tensor(const Shape& dims, const Attributes& a) {
  const auto rank = static_cast<int64_t>(dims.size());
  auto clamp = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank); };
  const int64_t start = clamp(a.i("start", 0)), end = clamp(a.i("end", rank));
  std::vector<int64_t> out;
  for (int64_t i = start; i < end; ++i) out.push_back(dims[static_cast<size_t>(i)]);
  return Tensor::from_vector<int64_t>({static_cast<int64_t>(out.size())}, out);
}

const OpDef* op_of(const Graph& g, const Node& n, const OpRegistry& registry) {
  return registry.find(n.domain, n.op_type, static_cast<int>(g.opset(n.domain)));
}

// The same rule GraphModule uses: an initializer is constant unless a float one reaches an
// input some op differentiates (a parameter) or a running statistic (a buffer). Unknown ops
// count as differentiating everything. One pass over the nodes for all initializers.
std::set<std::string> constant_initializers(const Graph& g, const OpRegistry& registry) {
  std::set<std::string> trainable;
  for (const Node& n : g.nodes) {
    const OpDef* op = op_of(g, n, registry);
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      if (n.inputs[k].empty()) continue;
      bool trains = !op || op->differentiates_input(static_cast<int>(k));
      if (op)
        for (const auto& [out, in] : op->state_updates)
          trains = trains || in == static_cast<int>(k);
      if (trains) trainable.insert(n.inputs[k]);
    }
  }
  std::set<std::string> overridable;  // initializers that are also graph inputs
  for (const auto& in : g.inputs) overridable.insert(in.name);
  std::set<std::string> out;
  for (const auto& [name, t] : g.initializers) {
    if (!overridable.count(name) && (!is_floating(t.dtype()) || !trainable.count(name)))
      out.insert(name);
  }
  return out;
}

// The outputs of `n` computed now: from constant inputs, or Shape / Size of a graph input
// whose every dimension is declared. Nothing when an input is not constant, an output could
// be too large, or the op fails (the executor then reports it with the node's name).
std::optional<std::vector<Tensor>> fold_node(
    const Graph& g, const Node& n, const OpDef& op,
    const std::unordered_map<std::string, Tensor>& constants,
    const std::unordered_map<std::string, const ValueInfo*>& known_inputs) {
  std::vector<Tensor> outs;
  const bool shape_of_input = (n.op_type == "Shape" || n.op_type == "Size") &&
                              n.inputs.size() == 1 && !constants.count(n.inputs[0]) &&
                              known_inputs.count(n.inputs[0]);
  if (shape_of_input) {
    Shape dims;
    for (const auto& d : known_inputs.at(n.inputs[0])->shape) dims.push_back(d.value);
    if (n.op_type == "Shape")
      outs.push_back(shape_tensor(dims, *n.attrs));
    else
      outs.push_back(Tensor::scalar(static_cast<double>(numel(dims)), DType::kInt64));
  } else {
    std::vector<Tensor> ins;
    bool all_constant = true;
    for (const auto& name : n.inputs) {
      if (name.empty()) {
        ins.emplace_back();
        continue;
      }
      auto it = constants.find(name);
      if (it == constants.end()) {
        all_constant = false;
        break;
      }
      ins.push_back(it->second);
    }
    if (!all_constant || output_bound(n, ins) > static_cast<double>(kMaxFoldElements))
      return std::nullopt;
    try {
      outs = run(op, ins, n.attrs, {static_cast<int>(g.opset(n.domain)), false, nullptr});
    } catch (const Error&) {
      return std::nullopt;  // left to the executor, which reports it with the node's name
    }
  }
  return outs;
}

// A folded float value that a kept node differentiates would become a trainable parameter:
// its producer is kept instead (and, in turn, the producers it needs).
void keep_differentiated_producers(const Graph& g, const OpRegistry& registry,
                                   const std::unordered_map<std::string, Tensor>& constants,
                                   const std::unordered_map<std::string, size_t>& folded_by,
                                   std::vector<bool>& folded) {
  const size_t count = g.nodes.size();
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t j = 0; j < count; ++j) {
      if (folded[j]) continue;
      const Node& n = g.nodes[j];
      const OpDef* op = op_of(g, n, registry);
      for (size_t k = 0; k < n.inputs.size(); ++k) {
        auto it = folded_by.find(n.inputs[k]);
        if (it == folded_by.end() || !folded[it->second]) continue;
        if (is_floating(constants.at(n.inputs[k]).dtype()) &&
            (!op || op->differentiates_input(static_cast<int>(k)))) {
          folded[it->second] = false;
          changed = true;
        }
      }
    }
  }
}

}  // namespace

FoldStats fold_constants(Graph& g, const OpRegistry& registry) {
  std::unordered_map<std::string, Tensor> constants;
  for (const auto& name : constant_initializers(g, registry))
    constants[name] = g.initializers.at(name);
  std::unordered_map<std::string, const ValueInfo*>
      known_inputs;  // graph inputs, all dims declared
  for (const auto& in : g.inputs) {
    bool known = in.has_shape;
    for (const auto& d : in.shape) known = known && d.known();
    if (known) known_inputs[in.name] = &in;
  }

  const size_t count = g.nodes.size();
  std::vector<bool> folded(count, false);
  std::unordered_map<std::string, size_t> folded_by;  // value -> folding node
  for (size_t i = 0; i < count; ++i) {
    const Node& n = g.nodes[i];
    if (!n.domain.empty() || !foldable_ops().count(n.op_type)) continue;
    const OpDef* op = op_of(g, n, registry);
    if (!op || !op->state_updates.empty()) continue;
    const std::optional<std::vector<Tensor>> folded_outs =
        fold_node(g, n, *op, constants, known_inputs);
    if (!folded_outs) continue;
    const std::vector<Tensor>& outs = *folded_outs;
    bool fits = outs.size() >= n.outputs.size();
    for (const auto& t : outs) fits = fits && t.defined() && t.numel() <= kMaxFoldElements;
    if (!fits) continue;
    folded[i] = true;
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      if (n.outputs[k].empty()) continue;
      constants[n.outputs[k]] = outs[k];
      folded_by[n.outputs[k]] = i;
    }
  }

  keep_differentiated_producers(g, registry, constants, folded_by, folded);

  FoldStats stats;
  std::set<std::string> read_before, read_after;
  std::vector<Node> kept;
  for (size_t i = 0; i < count; ++i) {
    for (const auto& in : g.nodes[i].inputs) (folded[i] ? read_before : read_after).insert(in);
    if (folded[i])
      ++stats.folded_nodes;
    else
      kept.push_back(std::move(g.nodes[i]));
  }
  if (stats.folded_nodes == 0) {
    g.nodes = std::move(kept);
    return stats;
  }
  g.nodes = std::move(kept);
  for (const auto& o : g.outputs) read_after.insert(o.name);
  for (const auto& [name, producer] : folded_by) {
    if (folded[producer] && read_after.count(name)) {
      g.initializers[name] = constants.at(name);
      ++stats.added_initializers;
    }
  }
  for (const auto& name : read_before) {
    auto it = g.initializers.find(name);
    if (it != g.initializers.end() && !read_after.count(name) && !folded_by.count(name)) {
      g.initializers.erase(it);
      ++stats.removed_initializers;
    }
  }
  // Declared shapes of values that no longer exist.
  std::set<std::string> defined;
  for (const auto& v : g.defined_values()) defined.insert(v);
  std::erase_if(g.value_info, [&](const ValueInfo& v) { return !defined.count(v.name); });
  return stats;
}

}  // namespace tamp::nn
