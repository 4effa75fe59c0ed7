#include <tamp/compression/quantization/ptq/sensitivity.h>

#include <tamp/compression/quantization/quant_plan.h>
#include <tamp/nn/graph_edit.h>
#include <tamp/nn/graph_module.h>

#include <algorithm>
#include <set>

namespace tamp::compression {

namespace {

bool is_fake_quantize(const nn::Node& n) {
  return n.op_type == "FakeQuantize" && n.domain == "tamp";
}

// Conv/Gemm/MatMul, and Adds of two computed values (residual Adds; a bias Add belongs to its
// MatMul).
bool is_layer(const nn::Graph& g, const nn::Node& n) {
  if (!n.domain.empty()) return false;
  if (is_quantizable_compute(n.op_type)) return true;
  return n.op_type == "Add" &&
         std::none_of(n.inputs.begin(), n.inputs.end(),
                      [&](const std::string& v) { return g.initializers.count(v) > 0; });
}

// The FakeQuantize nodes (indices) whose outputs reach node `at`'s inputs through
// pass-through ops and Identities.
std::set<int> feeding_fake_quantize(const nn::Graph& g, int at) {
  std::set<int> out;
  for (const std::string& in : g.nodes[static_cast<size_t>(at)].inputs) {
    std::string v = in;
    while (!v.empty()) {
      const int p = g.producer(v);
      if (p < 0) break;
      const nn::Node& n = g.nodes[static_cast<size_t>(p)];
      if (is_fake_quantize(n)) {
        out.insert(p);
        break;
      }
      if (n.op_type != "Identity" && !is_pass_through(n.op_type)) break;
      v = n.inputs.empty() ? "" : n.inputs[0];
    }
  }
  return out;
}

int node_index(const nn::Graph& g, const std::string& name) {
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].name == name) return static_cast<int>(i);
  return -1;
}

std::string first_output(const nn::Graph& g, const std::string& output) {
  if (!output.empty()) return output;
  TAMP_CHECK(!g.outputs.empty(), "the graph has no output");
  return g.outputs[0].name;
}

// Input and weight initializers of `node` that only it reads, as float32.
std::vector<std::string> private_float_params(const nn::Graph& g, const nn::Node& node) {
  std::vector<std::string> out;
  for (size_t i = 1; i < node.inputs.size(); ++i) {
    const std::string& in = node.inputs[i];
    auto it = g.initializers.find(in);
    if (it == g.initializers.end() || it->second.dtype() != DType::kFloat32 ||
        g.consumers(in).size() != 1)
      continue;
    out.push_back(in);
  }
  return out;
}

const nn::Node& require_node(const nn::Graph& g, const std::string& name) {
  const nn::Node* n = g.find_node(name);
  if (!n)
    throw Error(fmt::format("bf16 fallback: no node '{}' in the graph", name),
                ErrorKind::kInvalidInput);
  return *n;
}

}  // namespace

std::vector<std::string> quantized_layers(const nn::Graph& g) {
  std::vector<std::string> out;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const nn::Node& n = g.nodes[i];
    if (is_layer(g, n) && !feeding_fake_quantize(g, static_cast<int>(i)).empty()) {
      out.push_back(n.name);
    }
  }
  return out;
}

nn::Graph isolate_layer(const nn::Graph& fq_graph, const std::string& node) {
  const int at = node_index(fq_graph, node);
  const auto layers = quantized_layers(fq_graph);
  if (at < 0 || std::find(layers.begin(), layers.end(), node) == layers.end()) {
    throw Error(fmt::format("'{}' is not a quantized layer of the graph", node),
                ErrorKind::kInvalidInput);
  }
  const std::set<int> keep = feeding_fake_quantize(fq_graph, at);
  nn::Graph g = fq_graph;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    nn::Node& n = g.nodes[i];
    if (!is_fake_quantize(n) || keep.count(static_cast<int>(i))) continue;
    n.op_type = "Identity";
    n.domain.clear();
    n.inputs.resize(1);
    n.attrs = std::make_shared<const Attributes>();
  }
  remove_unused(g);
  return g;
}

std::vector<LayerSensitivity> layer_sensitivity(
    const nn::Graph& float_graph, const nn::Graph& fq_graph,
    const std::vector<std::map<std::string, Tensor>>& batches, const std::vector<Tensor>& labels,
    const SensitivityOptions& options) {
  TAMP_CHECK(!batches.empty(), "sensitivity needs at least one batch");
  TAMP_CHECK(labels.empty() || labels.size() == batches.size(),
             "sensitivity: {} label tensors for {} batches", labels.size(), batches.size());
  const std::string out = first_output(float_graph, options.output);
  NoGradGuard no_grad;
  auto run = [&](nn::GraphModule& m, size_t b) {
    std::map<std::string, Variable> in;
    for (const auto& [name, t] : batches[b]) in.emplace(name, Variable(t));
    return m.forward(in, {out}).at(out).value();
  };
  nn::GraphModule reference(float_graph);
  reference.eval();
  std::vector<Tensor> expected;
  for (size_t b = 0; b < batches.size(); ++b) expected.push_back(run(reference, b));

  std::vector<LayerSensitivity> result;
  for (const std::string& layer : quantized_layers(fq_graph)) {
    nn::GraphModule m(isolate_layer(fq_graph, layer));
    m.eval();
    LayerSensitivity s{layer, fq_graph.find_node(layer)->op_type};
    double sse = 0;
    int64_t count = 0, correct = 0, examples = 0;
    for (size_t b = 0; b < batches.size(); ++b) {
      const Tensor y = run(m, b);
      const float* py = y.data<float>();
      const float* pe = expected[b].data<float>();
      for (int64_t i = 0; i < y.numel(); ++i)
        sse += static_cast<double>(py[i] - pe[i]) * (py[i] - pe[i]);
      count += y.numel();
      if (labels.empty()) continue;
      const int64_t n = y.dim(0), c = y.numel() / n;
      for (int64_t r = 0; r < n; ++r) {
        const float* row = py + r * c;
        correct += (std::max_element(row, row + c) - row) == static_cast<int64_t>(labels[b].at(r));
      }
      examples += n;
    }
    s.mse = sse / static_cast<double>(count);
    if (!labels.empty()) s.top1 = static_cast<double>(correct) / static_cast<double>(examples);
    result.push_back(s);
  }
  std::stable_sort(result.begin(), result.end(),
                   [](const auto& a, const auto& b) { return a.mse > b.mse; });
  return result;
}

void round_weights_bf16(nn::Graph& g, const std::vector<std::string>& nodes) {
  for (const auto& name : nodes) {
    for (const auto& p : private_float_params(g, require_node(g, name))) {
      g.initializers[p] = g.initializers.at(p).to(DType::kBFloat16).to(DType::kFloat32);
    }
  }
}

void store_weights_bf16(nn::Graph& g, const std::vector<std::string>& nodes) {
  nn::NameScope names(g);
  for (const auto& name : nodes) {
    const int at = node_index(g, name);
    if (at < 0)
      throw Error(fmt::format("bf16 fallback: no node '{}' in the graph", name),
                  ErrorKind::kInvalidInput);
    for (const auto& p : private_float_params(g, g.nodes[static_cast<size_t>(at)])) {
      const std::string stored = names.fresh(p + "_bf16");
      g.initializers[stored] = g.initializers.at(p).to(DType::kBFloat16);
      g.initializers.erase(p);
      Attributes a;
      a.set("to", int64_t{1});  // FLOAT
      nn::Node cast{names.fresh(p + "_Cast"),    "Cast", "", {stored}, {p},
                    nn::attrs_with(std::move(a))};
      g.nodes.insert(g.nodes.begin() + node_index(g, name), std::move(cast));
    }
  }
}

}  // namespace tamp::compression
