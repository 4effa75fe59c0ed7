#include <tamp/nn/graph_cost.h>
#include <tamp/nn/graph_module.h>

#include <functional>
#include <numeric>

namespace tamp::nn {

namespace {

int64_t product(const Shape& s, size_t from = 0, size_t to = SIZE_MAX) {
  int64_t p = 1;
  for (size_t i = from; i < std::min(to, s.size()); ++i) p *= s[i];
  return p;
}

const Shape* shape_of(const std::map<std::string, Shape>& shapes, const Node& n, size_t input) {
  if (input >= n.inputs.size() || n.inputs[input].empty()) return nullptr;
  auto it = shapes.find(n.inputs[input]);
  return it == shapes.end() ? nullptr : &it->second;
}

const Shape* output_shape(const std::map<std::string, Shape>& shapes, const Node& n) {
  if (n.outputs.empty()) return nullptr;
  auto it = shapes.find(n.outputs[0]);
  return it == shapes.end() ? nullptr : &it->second;
}

// Conv family: every output element sums (C / group) x kernel positions products; the
// weight [M, C/group, k...] holds exactly that many per output channel.
int64_t conv_macs(const Node& n, const std::map<std::string, Shape>& shapes, size_t weight_input) {
  const Shape* w = shape_of(shapes, n, weight_input);
  const Shape* y = output_shape(shapes, n);
  if (!w || !y || w->empty() || (*w)[0] == 0) return 0;
  return product(*y) * (product(*w) / (*w)[0]);
}

// ConvTranspose: every input element is scattered through (M / group) x kernel positions
// products; the weight is [C, M/group, k...].
int64_t conv_transpose_macs(const Node& n, const std::map<std::string, Shape>& shapes) {
  const Shape* x = shape_of(shapes, n, 0);
  const Shape* w = shape_of(shapes, n, 1);
  if (!x || !w || w->empty() || (*w)[0] == 0) return 0;
  return product(*x) * (product(*w) / (*w)[0]);
}

// Gemm: Y [M, N] = A [M, K] B [K, N] (either transposed); each output element sums K products.
int64_t gemm_macs(const Node& n, const std::map<std::string, Shape>& shapes) {
  const Shape* a = shape_of(shapes, n, 0);
  const Shape* y = output_shape(shapes, n);
  if (!a || !y || a->size() != 2) return 0;
  const int64_t k = n.attrs->i("transA", 0) != 0 ? (*a)[0] : (*a)[1];
  return product(*y) * k;
}

// MatMul family: each output element sums K products, K the last dimension of A (a 1-D A is
// [K]). `a_input` is where A is (QLinearMatMul: 0 as well).
int64_t matmul_macs(const Node& n, const std::map<std::string, Shape>& shapes) {
  const Shape* a = shape_of(shapes, n, 0);
  const Shape* y = output_shape(shapes, n);
  if (!a || !y || a->empty()) return 0;
  return product(*y) * a->back();
}

// MatMulNBits (com.microsoft): A [..., K] times the packed B of attributes K and N.
int64_t matmul_nbits_macs(const Node& n, const std::map<std::string, Shape>& shapes) {
  const Shape* y = output_shape(shapes, n);
  if (!y) return 0;
  return product(*y) * n.attrs->i("K", 0);
}

}  // namespace

std::map<std::string, Tensor> example_inputs(const Graph& graph) {
  std::map<std::string, Tensor> out;
  for (const ValueInfo& in : graph.inputs) {
    if (graph.initializers.count(in.name)) continue;
    TAMP_CHECK(in.has_shape, "graph input '{}' declares no shape: give example inputs", in.name);
    Shape s;
    for (size_t d = 0; d < in.shape.size(); ++d) {
      if (d == 0) {
        s.push_back(1);
        continue;
      }
      if (!in.shape[d].known()) {
        throw Error(
            fmt::format(
                "graph input '{}' has the unknown dimension {} ('{}'): its cost depends on it",
                in.name, d, in.shape[d].symbol),
            ErrorKind::kInvalidInput, "give example inputs of the size to count");
      }
      s.push_back(in.shape[d].value);
    }
    out[in.name] = Tensor::zeros(s, in.dtype);
  }
  return out;
}

std::map<std::string, Shape> value_shapes(const Graph& graph,
                                          const std::map<std::string, Tensor>& inputs) {
  std::map<std::string, Shape> shapes;
  for (const auto& [name, t] : graph.initializers) shapes[name] = t.shape();
  std::map<std::string, Variable> feeds;
  for (const auto& [name, t] : inputs) {
    feeds[name] = Variable(t);
    shapes[name] = t.shape();
  }
  std::vector<std::string> wanted;
  for (const Node& n : graph.nodes) {
    for (const auto& o : n.outputs)
      if (!o.empty()) wanted.push_back(o);
  }
  GraphModule module(graph);
  module.eval();
  NoGradGuard no_grad;
  for (const auto& [name, v] : module.forward(feeds, wanted)) shapes[name] = v.value().shape();
  return shapes;
}

int64_t node_macs(const Node& n, const std::map<std::string, Shape>& shapes) {
  const std::string& op = n.op_type;
  if (n.domain.empty() || n.domain == "ai.onnx") {
    if (op == "Conv" || op == "ConvInteger") return conv_macs(n, shapes, 1);
    if (op == "QLinearConv") return conv_macs(n, shapes, 3);
    if (op == "ConvTranspose") return conv_transpose_macs(n, shapes);
    if (op == "Gemm") return gemm_macs(n, shapes);
    if (op == "MatMul" || op == "MatMulInteger" || op == "QLinearMatMul")
      return matmul_macs(n, shapes);
  } else if (n.domain == "com.microsoft" && op == "MatMulNBits") {
    return matmul_nbits_macs(n, shapes);
  }
  return 0;
}

int64_t float_parameter_count(const Graph& graph) {
  int64_t n = 0;
  for (const auto& [name, t] : graph.initializers)
    if (is_floating(t.dtype())) n += t.numel();
  return n;
}

GraphCost graph_cost(const Graph& graph, const std::map<std::string, Shape>& shapes) {
  GraphCost c;
  c.parameters = float_parameter_count(graph);
  int64_t batch = 1;
  for (const ValueInfo& in : graph.inputs) {
    auto it = shapes.find(in.name);
    if (it != shapes.end() && !graph.initializers.count(in.name)) {
      batch = it->second.empty() ? 1 : std::max<int64_t>(1, it->second[0]);
      break;
    }
  }
  for (const Node& n : graph.nodes) {
    const int64_t m = node_macs(n, shapes);
    if (m == 0) continue;
    c.node_macs[n.name] = m / batch;
    c.macs += m / batch;
  }
  return c;
}

GraphCost graph_cost(const Graph& graph) {
  return graph_cost(graph, value_shapes(graph, example_inputs(graph)));
}

}  // namespace tamp::nn
