#include <tamp/compression/quantization/quant_plan.h>

#include <algorithm>
#include <map>
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
  static const std::set<std::string> kOps{"MaxPool", "GlobalMaxPool", "Reshape", "Flatten", "Transpose",
                                          "Squeeze", "Unsqueeze", "Identity", "Dropout"};
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
    if (!is_pass_through(n.op_type) || n.inputs.empty() || n.outputs.empty() || n.outputs[0] != v) break;
    v = n.inputs[0];
  }
  return v;
}

QuantPlan plan_quantization(const nn::Graph& g, const PlanOptions& options) {
  std::set<std::string> names, ops;
  for (const auto& n : g.nodes) {
    names.insert(n.name);
    ops.insert(n.op_type);
  }
  for (const auto& e : options.exclude) {
    TAMP_CHECK(names.count(e) || ops.count(e), "exclusion '{}' names neither a node nor an op type of the graph", e);
  }
  auto excluded = [&](const nn::Node& n) { return contains(options.exclude, n.name) || contains(options.exclude, n.op_type); };
  auto is_constant = [&](const std::string& v) {
    if (g.initializers.count(v)) return true;
    const int p = g.producer(v);
    return p >= 0 && g.nodes[static_cast<size_t>(p)].op_type == "Constant";
  };
  auto is_float_initializer = [&](const std::string& v) {
    auto it = g.initializers.find(v);
    return it != g.initializers.end() && it->second.dtype() == DType::kFloat32;
  };
  std::set<std::string> graph_outputs;
  for (const auto& o : g.outputs) graph_outputs.insert(o.name);

  QuantPlan plan;
  std::vector<std::string> points;
  auto add_point = [&](const std::string& v) { if (!v.empty() && !contains(points, v)) points.push_back(v); };
  std::map<std::string, size_t> weight_index;
  auto add_weight = [&](const std::string& w, const nn::Node& n, int axis) {
    auto it = weight_index.find(w);
    if (it == weight_index.end()) {
      weight_index[w] = plan.weights.size();
      plan.weights.push_back({w, {n.name}, axis});
      return;
    }
    WeightSite& site = plan.weights[it->second];
    site.nodes.push_back(n.name);
    if (site.axis != axis) site.axis = -1;  // tied weights read along different axes
  };
  // The value a compute op's output is quantized at: after its only consumer when that is a Relu.
  auto output_point = [&](const nn::Node& n) -> std::string {
    if (n.outputs.empty()) return {};
    const std::string& o = n.outputs[0];
    const auto consumers = g.consumers(o);
    if (options.fuse_relu && consumers.size() == 1 && !graph_outputs.count(o)) {
      const nn::Node& c = g.nodes[static_cast<size_t>(consumers[0])];
      if (c.op_type == "Relu" && !excluded(c)) return c.outputs[0];
    }
    if (consumers.empty() && !graph_outputs.count(o)) return {};
    return o;
  };

  std::vector<std::pair<const nn::Node*, std::vector<std::string>>> act_inputs;
  for (const auto& n : g.nodes) {
    if (excluded(n)) continue;
    std::vector<std::string> acts;
    if (is_quantizable_compute(n.op_type)) {
      if (n.inputs.size() < 2) continue;
      const auto& a = n.attrs;
      for (int k = 0; k < 2; ++k) {
        const std::string& in = n.inputs[static_cast<size_t>(k)];
        if (is_float_initializer(in)) {
          int axis = -1;
          const int rank = g.initializers.at(in).rank();
          if (k == 1) {
            if (n.op_type == "Conv") axis = 0;
            else if (n.op_type == "ConvTranspose") axis = a->i("group", 1) == 1 ? 1 : -1;
            else if (n.op_type == "Gemm") axis = a->i("transB", 0) ? 0 : 1;
            else if (n.op_type == "MatMul") axis = rank == 2 ? 1 : -1;
          } else if (n.op_type == "Conv" || n.op_type == "ConvTranspose") {
            axis = -2;  // an initializer as the data input: not a quantizable pattern
          }
          if (axis == -2) break;
          add_weight(in, n, axis);
        } else if (!is_constant(in)) {
          acts.push_back(in);
        }
      }
      if (acts.empty()) continue;  // constant-folded arithmetic, nothing to run in int8
    } else if (n.op_type == "Add" && n.inputs.size() == 2 && !is_constant(n.inputs[0]) && !is_constant(n.inputs[1])) {
      acts = n.inputs;  // a residual connection: ORT fuses it into QLinearAdd
    } else {
      continue;
    }
    plan.compute_nodes.push_back(n.name);
    add_point(output_point(n));
    act_inputs.emplace_back(&n, acts);
  }
  for (const auto& [n, acts] : act_inputs) {
    for (const auto& a : acts) add_point(quantization_source(g, a, points));
  }
  // Graph order: graph inputs first, then by producer.
  std::vector<std::pair<int, std::string>> ordered;
  for (const auto& v : points) ordered.emplace_back(g.producer(v), v);
  std::stable_sort(ordered.begin(), ordered.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  for (auto& [i, v] : ordered) plan.activations.push_back(v);

  if (plan.compute_nodes.empty()) {
    throw Error(fmt::format("the model has no quantizable op (Conv, ConvTranspose, Gemm, MatMul with an "
                            "activation input, or a residual Add){}",
                            options.exclude.empty() ? "" : " that is not excluded"),
                ErrorKind::kInvalidInput);
  }
  return plan;
}

}  // namespace tamp::compression
