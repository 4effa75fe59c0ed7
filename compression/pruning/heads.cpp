#include <tamp/compression/pruning/heads.h>
#include <tamp/compression/pruning/targets.h>

#include <optional>

namespace tamp::compression::pruning {

namespace {

using Perm = std::vector<int64_t>;

const nn::Node* producer_of(const nn::Graph& g, const std::string& value, const char* op) {
  const int p = g.producer(value);
  if (p < 0) return nullptr;
  const nn::Node& n = g.nodes[p];
  return n.domain.empty() && n.op_type == op ? &n : nullptr;
}

// The only node reading `value`, when it is an `op` reading it as its first input.
int only_reader(const nn::Graph& g, const std::string& value, const char* op) {
  const auto readers = g.consumers(value);
  if (readers.size() != 1) return -1;
  const nn::Node& n = g.nodes[readers[0]];
  return n.domain.empty() && n.op_type == op && n.inputs[0] == value ? readers[0] : -1;
}

bool has_perm(const nn::Node* n, const Perm& perm) {
  return n && n->attrs->ints("perm", {}) == perm;
}

struct Projection {
  std::string weight, bias;
  int reshape = -1;
  int64_t heads = 0, head_dim = 0;
};

// Reshape(MatMul(x, W) [+ b], [*, S, H, Dh]) ending in `value`'s Transpose chain.
std::optional<Projection> trace_projection(const nn::Graph& g, const std::string& value,
                                           bool is_key) {
  const nn::Node* t = producer_of(g, value, "Transpose");
  if (!t) return std::nullopt;
  if (is_key && has_perm(t, {0, 1, 3, 2})) {
    t = producer_of(g, t->inputs[0], "Transpose");
    if (!has_perm(t, {0, 2, 1, 3})) return std::nullopt;
  } else if (!has_perm(t, is_key ? Perm{0, 2, 3, 1} : Perm{0, 2, 1, 3})) {
    return std::nullopt;
  }
  const int ri = g.producer(t->inputs[0]);
  if (ri < 0 || g.nodes[ri].op_type != "Reshape" || g.nodes[ri].inputs.size() < 2)
    return std::nullopt;
  const Tensor shape = constant_value(g, g.nodes[ri].inputs[1]);
  if (!shape.defined() || shape.numel() != 4 || shape.at(2) <= 0 || shape.at(3) <= 0)
    return std::nullopt;
  Projection p;
  p.reshape = ri;
  p.heads = static_cast<int64_t>(shape.at(2));
  p.head_dim = static_cast<int64_t>(shape.at(3));
  std::string v = g.nodes[ri].inputs[0];
  if (const nn::Node* add = producer_of(g, v, "Add")) {
    for (int k = 0; k < 2; ++k) {
      const std::string b = resolve_initializer(g, add->inputs[k]);
      if (!b.empty() && g.initializers.at(b).numel() == p.heads * p.head_dim) {
        p.bias = b;
        v = add->inputs[1 - k];
        break;
      }
    }
    if (p.bias.empty()) return std::nullopt;
  }
  const nn::Node* mm = producer_of(g, v, "MatMul");
  if (!mm) return std::nullopt;
  p.weight = resolve_initializer(g, mm->inputs[1]);
  if (p.weight.empty()) return std::nullopt;
  const Tensor& w = g.initializers.at(p.weight);
  if (w.rank() != 2 || w.dim(1) != p.heads * p.head_dim) return std::nullopt;
  return p;
}

// Walks up from the Softmax input over scaling and masking to the scores MatMul.
const nn::Node* scores_matmul(const nn::Graph& g, std::string v) {
  for (int hops = 0; hops < 6; ++hops) {
    const int p = g.producer(v);
    if (p < 0) return nullptr;
    const nn::Node& n = g.nodes[p];
    if (!n.domain.empty()) return nullptr;
    if (n.op_type == "MatMul") return &n;
    if (n.op_type != "Mul" && n.op_type != "Div" && n.op_type != "Add") return nullptr;
    if (n.inputs.size() != 2) return nullptr;
    // Follow the operand that is computed from the scores, not the constant or the mask input.
    const bool first_computed =
        g.producer(n.inputs[0]) >= 0 && !constant_value(g, n.inputs[0]).defined();
    const bool second_computed =
        g.producer(n.inputs[1]) >= 0 && !constant_value(g, n.inputs[1]).defined();
    if (n.op_type == "Div" && !first_computed) return nullptr;
    if (first_computed == second_computed && n.op_type != "Div") {
      if (!first_computed) return nullptr;
      // Both computed (an additive mask built in the graph): take the MatMul side.
      v = producer_of(g, n.inputs[0], "MatMul") ? n.inputs[0] : n.inputs[1];
      continue;
    }
    v = first_computed ? n.inputs[0] : n.inputs[1];
  }
  return nullptr;
}

}  // namespace

std::vector<AttentionBlock> find_attention_blocks(const nn::Graph& g) {
  std::vector<AttentionBlock> out;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const nn::Node& sm = g.nodes[i];
    if (sm.op_type != "Softmax" || !sm.domain.empty()) continue;
    const int64_t axis = sm.attrs->i("axis", g.opset() >= 13 ? -1 : 1);
    if (axis != -1 && axis != 3) continue;
    const nn::Node* m1 = scores_matmul(g, sm.inputs[0]);
    if (!m1) continue;
    auto q = trace_projection(g, m1->inputs[0], false);
    auto k = trace_projection(g, m1->inputs[1], true);
    const int m2 = only_reader(g, sm.outputs[0], "MatMul");
    if (!q || !k || m2 < 0) continue;
    auto v = trace_projection(g, g.nodes[m2].inputs[1], false);
    if (!v) continue;
    if (q->heads != k->heads || q->heads != v->heads || q->head_dim != k->head_dim ||
        q->head_dim != v->head_dim) {
      continue;
    }
    const int t = only_reader(g, g.nodes[m2].outputs[0], "Transpose");
    if (t < 0 || !has_perm(&g.nodes[t], {0, 2, 1, 3})) continue;
    const int r = only_reader(g, g.nodes[t].outputs[0], "Reshape");
    if (r < 0) continue;
    const Tensor merged = constant_value(g, g.nodes[r].inputs[1]);
    const int64_t width = q->heads * q->head_dim;
    if (!merged.defined() || merged.numel() != 3 || (merged.at(2) != -1 && merged.at(2) != width))
      continue;
    const int o = only_reader(g, g.nodes[r].outputs[0], "MatMul");
    if (o < 0) continue;
    const std::string wo = resolve_initializer(g, g.nodes[o].inputs[1]);
    if (wo.empty() || g.initializers.at(wo).rank() != 2 || g.initializers.at(wo).dim(0) != width)
      continue;
    AttentionBlock b;
    b.name = sm.name;
    b.q_weight = q->weight;
    b.k_weight = k->weight;
    b.v_weight = v->weight;
    b.o_weight = wo;
    b.q_bias = q->bias;
    b.k_bias = k->bias;
    b.v_bias = v->bias;
    b.heads = q->heads;
    b.head_dim = q->head_dim;
    b.split_reshapes = {q->reshape, k->reshape, v->reshape};
    b.merge_reshape = r;
    out.push_back(std::move(b));
  }
  return out;
}

std::vector<HeadSlice> head_slices(const AttentionBlock& b, int64_t head) {
  TAMP_CHECK(head >= 0 && head < b.heads, "attention block '{}' has {} heads, no head {}", b.name,
             b.heads, head);
  const int64_t begin = head * b.head_dim, end = begin + b.head_dim;
  std::vector<HeadSlice> s{{b.q_weight, 1, begin, end},
                           {b.k_weight, 1, begin, end},
                           {b.v_weight, 1, begin, end},
                           {b.o_weight, 0, begin, end}};
  for (const auto* bias : {&b.q_bias, &b.k_bias, &b.v_bias}) {
    if (!bias->empty()) s.push_back({*bias, -1, begin, end});
  }
  return s;
}

}  // namespace tamp::compression::pruning
