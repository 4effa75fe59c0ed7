// ONNX Runtime's QLinearAdd fusion of a QDQ graph (see lower.h).
#include <tamp/compression/quantization/lowering/lower.h>
#include <tamp/nn/graph_edit.h>

#include <optional>
#include <set>

namespace tamp::compression {

namespace {

bool is_8bit(DType t) { return t == DType::kUInt8 || t == DType::kInt8; }

// A per-tensor (De)QuantizeLinear node's scale and 8-bit zero point, both initializers.
std::optional<DType> per_tensor_8bit(const nn::Graph& g, const nn::Node& n) {
  if (n.inputs.size() < 3) return std::nullopt;
  auto s = g.initializers.find(n.inputs[1]);
  auto z = g.initializers.find(n.inputs[2]);
  if (s == g.initializers.end() || z == g.initializers.end() || s->second.numel() != 1 ||
      z->second.numel() != 1 || !is_8bit(z->second.dtype())) {
    return std::nullopt;
  }
  return z->second.dtype();
}

const nn::Node* producer_of(const nn::Graph& g, const std::string& v, const char* op) {
  const int p = g.producer(v);
  if (p < 0 || g.nodes[static_cast<size_t>(p)].op_type != op) return nullptr;
  return &g.nodes[static_cast<size_t>(p)];
}

const nn::Node* only_reader(const nn::Graph& g, const std::string& v) {
  const std::vector<int> r = g.consumers(v);
  if (r.size() != 1 || is_graph_output(g, v)) return nullptr;
  return &g.nodes[static_cast<size_t>(r[0])];
}

}  // namespace

nn::Graph fuse_qdq_adds_like_onnx_runtime(const nn::Graph& g, int* fused) {
  nn::Graph out = g;
  std::set<std::string> removed;
  std::vector<nn::Node> added;
  nn::NameScope names(g);
  for (const auto& n : g.nodes) {
    if (n.op_type != "Add" || n.inputs.size() != 2 || n.outputs.size() != 1) continue;
    const nn::Node* a = producer_of(g, n.inputs[0], "DequantizeLinear");
    const nn::Node* b = producer_of(g, n.inputs[1], "DequantizeLinear");
    const nn::Node* next = only_reader(g, n.outputs[0]);
    const nn::Node* relu = next && next->op_type == "Relu" ? next : nullptr;
    const nn::Node* q = relu ? only_reader(g, relu->outputs.at(0)) : next;
    if (!a || !b || !q || q->op_type != "QuantizeLinear") continue;
    const auto ta = per_tensor_8bit(g, *a), tb = per_tensor_8bit(g, *b),
               tq = per_tensor_8bit(g, *q);
    if (!ta || !tb || !tq || *ta != *tq || *tb != *tq) continue;
    // ORT drops a Relu before QuantizeLinear only when the zero point is the type's minimum.
    if (relu && g.initializers.at(q->inputs[2]).at(0) != (*tq == DType::kUInt8 ? 0.0 : -128.0))
      continue;
    added.push_back({names.fresh(n.name + "_QLinearAdd"),
                     "QLinearAdd",
                     "com.microsoft",
                     {a->inputs[0], a->inputs[1], a->inputs[2], b->inputs[0], b->inputs[1],
                      b->inputs[2], q->inputs[1], q->inputs[2]},
                     {q->outputs.at(0)},
                     nn::attrs_with({})});
    removed.insert(n.name);
    removed.insert(q->name);
    if (relu) removed.insert(relu->name);
  }
  if (fused) *fused = static_cast<int>(added.size());
  if (added.empty()) return out;
  std::vector<nn::Node> kept;
  for (auto& n : out.nodes)
    if (!removed.count(n.name)) kept.push_back(std::move(n));
  kept.insert(kept.end(), added.begin(), added.end());
  out.nodes = std::move(kept);
  out.opsets["com.microsoft"] = 1;
  remove_unused(out);  // DequantizeLinear nodes only the Adds read
  out.validate();
  return out;
}

}  // namespace tamp::compression
