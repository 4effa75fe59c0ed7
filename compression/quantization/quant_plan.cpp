#include <tamp/compression/quantization/quant_plan.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

namespace tamp::compression {

namespace {

bool contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

}  // namespace

bool is_quantizable_compute(const std::string& op) {
  return op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul";
}

bool is_pass_through(const std::string& op) {
  static const std::set<std::string> kOps{"MaxPool",   "GlobalMaxPool", "Reshape",
                                          "Flatten",   "Transpose",     "Squeeze",
                                          "Unsqueeze", "Identity",      "Dropout"};
  return kOps.count(op) != 0;
}

std::string quantization_source(const nn::Graph& graph, const std::string& value,
                                const std::vector<std::string>& points) {
  std::string v = value;
  std::set<std::string> seen;
  while (!contains(points, v) && seen.insert(v).second) {
    const int p = graph.producer(v);
    if (p < 0) break;
    const nn::Node& n = graph.nodes[static_cast<size_t>(p)];
    if (!is_pass_through(n.op_type) || n.inputs.empty() || n.outputs.empty() || n.outputs[0] != v)
      break;
    v = n.inputs[0];
  }
  return v;
}

namespace {

// The axis a weight input of a compute node is quantized along per channel (-1: per
// tensor), or -2 when an initializer feeds the data input of a convolution (no pattern).
int weight_axis(const nn::Node& n, int input, int rank) {
  if (input == 1) {
    if (n.op_type == "Conv") return 0;
    if (n.op_type == "ConvTranspose") return n.attrs->i("group", 1) == 1 ? 1 : -1;
    if (n.op_type == "Gemm") return n.attrs->i("transB", 0) ? 0 : 1;
    if (n.op_type == "MatMul") return rank == 2 ? 1 : -1;
    return -1;
  }
  return n.op_type == "Conv" || n.op_type == "ConvTranspose" ? -2 : -1;
}

// Builds a QuantPlan node by node: the weight sites, the compute nodes and the points where
// activations are quantized.
class Planner {
 public:
  Planner(const nn::Graph& g, const PlanOptions& options) : g_(g), options_(options) {
    for (const auto& o : g.outputs) graph_outputs_.insert(o.name);
  }

  bool excluded(const nn::Node& n) const {
    return contains(options_.exclude, n.name) || contains(options_.exclude, n.op_type);
  }

  // The node's activation inputs when it is run in int8 (its weights are recorded), else
  // nothing.
  std::optional<std::vector<std::string>> activation_inputs(const nn::Node& n) {
    std::vector<std::string> acts;
    if (is_quantizable_compute(n.op_type)) {
      if (n.inputs.size() < 2) return std::nullopt;
      for (int k = 0; k < 2; ++k) {
        const std::string& in = n.inputs[static_cast<size_t>(k)];
        if (const nn::Node* t = k == 1 ? transposed_weight(n, in) : nullptr) {
          add_weight(t->inputs[0], n, 0, t->name);  // W [N, K]: its output channels on axis 0
        } else if (is_float_initializer(in)) {
          const int axis = weight_axis(n, k, g_.initializers.at(in).rank());
          if (axis == -2) break;
          add_weight(in, n, axis);
        } else if (!is_constant(in)) {
          acts.push_back(in);
        }
      }
      if (acts.empty()) return std::nullopt;  // constant-folded arithmetic, nothing to run in int8
      return acts;
    }
    if (n.op_type == "Add" && n.inputs.size() == 2 && !is_constant(n.inputs[0]) &&
        !is_constant(n.inputs[1])) {
      return n.inputs;  // a residual connection: ORT fuses it into QLinearAdd
    }
    return std::nullopt;
  }

  void add_point(const std::string& v) {
    if (!v.empty() && !contains(points_, v)) points_.push_back(v);
  }

  // The value a compute op's output is quantized at: after its only consumer when that is a Relu.
  std::string output_point(const nn::Node& n) const {
    if (n.outputs.empty()) return {};
    const std::string& o = n.outputs[0];
    const auto consumers = g_.consumers(o);
    if (options_.fuse_relu && consumers.size() == 1 && !graph_outputs_.count(o)) {
      const nn::Node& c = g_.nodes[static_cast<size_t>(consumers[0])];
      if (c.op_type == "Relu" && !excluded(c)) return c.outputs[0];
    }
    if (consumers.empty() && !graph_outputs_.count(o)) return {};
    return o;
  }

  const std::vector<std::string>& points() const { return points_; }
  QuantPlan plan;

 private:
  bool is_constant(const std::string& v) const {
    if (g_.initializers.count(v)) return true;
    const int p = g_.producer(v);
    return p >= 0 && g_.nodes[static_cast<size_t>(p)].op_type == "Constant";
  }
  bool is_float_initializer(const std::string& v) const {
    auto it = g_.initializers.find(v);
    return it != g_.initializers.end() && it->second.dtype() == DType::kFloat32;
  }
  // The Transpose (perm [1, 0]) of a rank-2 float initializer that MatMul `n` reads as its B
  // input `v`, when only MatMuls that are quantized read it as B; null otherwise.
  const nn::Node* transposed_weight(const nn::Node& n, const std::string& v) const {
    const int p = g_.producer(v);
    if (n.op_type != "MatMul" || p < 0 || graph_outputs_.count(v)) return nullptr;
    const nn::Node& t = g_.nodes[static_cast<size_t>(p)];
    if (t.op_type != "Transpose" || !t.domain.empty() || t.inputs.size() != 1 ||
        !is_float_initializer(t.inputs[0]) || g_.initializers.at(t.inputs[0]).rank() != 2 ||
        t.attrs->ints("perm", {1, 0}) != std::vector<int64_t>{1, 0})
      return nullptr;
    for (int c : g_.consumers(v)) {
      const nn::Node& r = g_.nodes[static_cast<size_t>(c)];
      if (r.op_type != "MatMul" || r.inputs.size() != 2 || r.inputs[0] == v || excluded(r))
        return nullptr;
    }
    return &t;
  }
  void add_weight(const std::string& w, const nn::Node& n, int axis,
                  const std::string& transpose = {}) {
    auto it = weight_index_.find(w);
    if (it == weight_index_.end()) {
      weight_index_[w] = plan.weights.size();
      plan.weights.push_back({w, {n.name}, axis, {}});
      it = weight_index_.find(w);
    } else {
      WeightSite& site = plan.weights[it->second];
      site.nodes.push_back(n.name);
      if (site.axis != axis) site.axis = -1;  // tied weights read along different axes
    }
    auto& through = plan.weights[it->second].transposes;
    if (!transpose.empty() && !contains(through, transpose)) through.push_back(transpose);
  }

  const nn::Graph& g_;
  const PlanOptions& options_;
  std::set<std::string> graph_outputs_;
  std::vector<std::string> points_;
  std::map<std::string, size_t> weight_index_;
};

}  // namespace

QuantPlan plan_quantization(const nn::Graph& g, const PlanOptions& options) {
  std::set<std::string> names, ops;
  for (const auto& n : g.nodes) {
    names.insert(n.name);
    ops.insert(n.op_type);
  }
  for (const auto& e : options.exclude) {
    TAMP_CHECK(names.count(e) || ops.count(e),
               "exclusion '{}' names neither a node nor an op type of the graph", e);
  }
  Planner planner(g, options);
  QuantPlan& plan = planner.plan;
  std::vector<std::pair<const nn::Node*, std::vector<std::string>>> act_inputs;
  for (const auto& n : g.nodes) {
    if (planner.excluded(n)) continue;
    std::optional<std::vector<std::string>> acts = planner.activation_inputs(n);
    if (!acts) continue;
    plan.compute_nodes.push_back(n.name);
    planner.add_point(planner.output_point(n));
    act_inputs.emplace_back(&n, std::move(*acts));
  }
  for (const auto& [n, acts] : act_inputs) {
    for (const auto& a : acts) planner.add_point(quantization_source(g, a, planner.points()));
  }
  // Graph order: graph inputs first, then by producer.
  std::vector<std::pair<int, std::string>> ordered;
  for (const auto& v : planner.points()) ordered.emplace_back(g.producer(v), v);
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  for (auto& [i, v] : ordered) plan.activations.push_back(v);

  if (plan.compute_nodes.empty()) {
    throw Error(
        fmt::format("the model has no quantizable op (Conv, ConvTranspose, Gemm, MatMul with an "
                    "activation input, or a residual Add){}",
                    options.exclude.empty() ? "" : " that is not excluded"),
        ErrorKind::kInvalidInput);
  }
  return std::move(plan);
}

}  // namespace tamp::compression
