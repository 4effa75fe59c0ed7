#include <tamp/compression/quantization/ptq/linear_layers.h>

#include <algorithm>
#include <map>
#include <set>

namespace tamp::compression {

namespace {

bool contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

const Tensor* float_initializer(const nn::Graph& g, const std::string& name) {
  auto it = g.initializers.find(name);
  if (it == g.initializers.end() || it->second.dtype() != DType::kFloat32) return nullptr;
  // An initializer that is also a graph input can be overridden at run time: not a constant.
  for (const auto& in : g.inputs)
    if (in.name == name) return nullptr;
  return &it->second;
}

// `c` as a bias vector [n] when it broadcasts to [rows, n] along the rows (shape [], [1], [n],
// [1, n], ...), else undefined.
Tensor as_bias(const Tensor& c, int64_t n, float scale) {
  for (int64_t i = 0; i + 1 < c.rank(); ++i)
    if (c.dim(static_cast<int>(i)) != 1) return {};
  const int64_t last = c.rank() == 0 ? 1 : c.shape().back();
  if (last != 1 && last != n) return {};
  Tensor b = Tensor::empty({n});
  const float* pc = c.data<float>();
  float* pb = b.data<float>();
  for (int64_t j = 0; j < n; ++j) pb[j] = scale * pc[last == 1 ? 0 : j];
  return b;
}

// Gemm's B as [K, N] times alpha.
Tensor gemm_weight(const Tensor& b, bool trans_b, float alpha) {
  const int64_t k = trans_b ? b.dim(1) : b.dim(0), n = trans_b ? b.dim(0) : b.dim(1);
  Tensor w = Tensor::empty({k, n});
  const float* pb = b.data<float>();
  float* pw = w.data<float>();
  for (int64_t i = 0; i < k; ++i) {
    for (int64_t j = 0; j < n; ++j)
      pw[i * n + j] = alpha * (trans_b ? pb[j * k + i] : pb[i * n + j]);
  }
  return w;
}

}  // namespace

std::vector<LinearLayer> find_linear_layers(const nn::Graph& g, const LinearLayerOptions& options) {
  std::set<std::string> known;
  for (const auto& n : g.nodes) {
    known.insert(n.name);
    known.insert(n.op_type);
  }
  for (const auto& [name, t] : g.initializers) known.insert(name);
  for (const auto& e : options.exclude) {
    TAMP_CHECK(known.count(e), "exclusion '{}' names no node, op type or initializer of the graph",
               e);
  }
  std::set<std::string> outputs;
  for (const auto& o : g.outputs) outputs.insert(o.name);

  std::vector<LinearLayer> layers;
  for (const auto& node : g.nodes) {
    if (node.op_type != "MatMul" && node.op_type != "Gemm") continue;
    if (!node.domain.empty() || node.inputs.size() < 2 || node.outputs.size() != 1) continue;
    const Tensor* b = float_initializer(g, node.inputs[1]);
    if (!b || b->rank() != 2) continue;
    if (contains(options.exclude, node.name) || contains(options.exclude, node.op_type) ||
        contains(options.exclude, node.inputs[1])) {
      continue;
    }
    LinearLayer l{node.name, node.outputs[0], node.op_type, node.inputs[0], node.inputs[1], {}, {},
                  {},        node.outputs[0]};
    if (node.op_type == "Gemm") {
      const Attributes& a = *node.attrs;
      if (a.i("transA", 0) != 0) continue;
      const bool trans_b = a.i("transB", 0) != 0;
      l.weight = gemm_weight(*b, trans_b, a.f("alpha", 1.0f));
      if (node.inputs.size() > 2 && !node.inputs[2].empty()) {
        const Tensor* c = float_initializer(g, node.inputs[2]);
        if (!c) continue;
        l.bias = as_bias(*c, l.n(), a.f("beta", 1.0f));
        if (!l.bias.defined()) continue;
      }
    } else {
      l.weight = *b;
      // A bias Add that only this MatMul feeds becomes part of the layer.
      const auto consumers = g.consumers(node.outputs[0]);
      if (consumers.size() == 1 && !outputs.count(node.outputs[0])) {
        const nn::Node& add = g.nodes[static_cast<size_t>(consumers[0])];
        if (add.op_type == "Add" && add.domain.empty() && add.inputs.size() == 2) {
          const std::string& other =
              add.inputs[0] == node.outputs[0] ? add.inputs[1] : add.inputs[0];
          const Tensor* c = float_initializer(g, other);
          if (c && c->rank() >= 1 && c->shape().back() == l.n()) {
            l.bias = as_bias(*c, l.n(), 1.0f);
            if (l.bias.defined()) {
              l.bias_add = add.name;
              l.output = add.outputs[0];
            }
          }
        }
      }
    }
    layers.push_back(std::move(l));
  }
  return layers;
}

void require_linear_layers(const nn::Graph& g, const std::vector<LinearLayer>& layers,
                           const LinearLayerOptions& options) {
  if (!layers.empty()) return;
  std::map<std::string, int> ops;
  for (const auto& n : g.nodes) ++ops[n.op_type];
  std::string list;
  for (const auto& [op, count] : ops)
    list += fmt::format("{}{} x{}", list.empty() ? "" : ", ", op, count);
  throw Error(
      fmt::format(
          "nothing to quantize: the graph has no MatMul or Gemm with a constant 2-D float weight{} "
          "(ops: {})",
          options.exclude.empty() ? "" : " left after the exclusions",
          list.empty() ? "none" : list),
      ErrorKind::kInvalidInput);
}

size_t remove_linear_layer(nn::Graph& g, const LinearLayer& layer) {
  const int at = g.producer(layer.node_output);
  TAMP_CHECK(at >= 0, "node '{}' of a linear layer is not in the graph", layer.node);
  if (!layer.bias_add.empty()) {
    const int add = g.producer(layer.output);
    TAMP_CHECK(add > at, "the bias Add of layer '{}' is not in the graph", layer.node);
    g.nodes.erase(g.nodes.begin() + add);
  }
  g.nodes.erase(g.nodes.begin() + at);
  return static_cast<size_t>(at);
}

}  // namespace tamp::compression
