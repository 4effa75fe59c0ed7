#include <tamp/compression/pruning/heads.h>
#include <tamp/compression/pruning/shrink.h>
#include <tamp/compression/pruning/targets.h>
#include <tamp/nn/graph_cost.h>

#include <cstring>
#include <set>

namespace tamp::compression::pruning {

namespace {

// The entries of `t` whose index along `axis` is in `keep` (ascending), any dtype.
Tensor keep_along(const Tensor& t, int axis, const std::vector<int64_t>& keep) {
  if (axis < 0) axis += t.rank();
  TAMP_CHECK(axis >= 0 && axis < t.rank(), "keep_along: axis {} of {}", axis, describe(t));
  Shape shape = t.shape();
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= shape[d];
  for (int d = axis + 1; d < t.rank(); ++d) inner *= shape[d];
  const int64_t dim = shape[axis];
  shape[axis] = static_cast<int64_t>(keep.size());
  Tensor out = Tensor::empty(shape, t.dtype());
  const size_t chunk = static_cast<size_t>(inner) * size_of(t.dtype());
  const auto* src = static_cast<const char*>(t.raw_data());
  auto* dst = static_cast<char*>(out.raw_data());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t k : keep) {
      TAMP_CHECK(k >= 0 && k < dim, "keep_along: index {} outside {}", k, dim);
      std::memcpy(dst, src + (o * dim + k) * chunk, chunk);
      dst += chunk;
    }
  }
  return out;
}

float at_f(const Tensor& t, int64_t i) { return static_cast<float>(t.at(i)); }

// Points input `k` of node `n` at a new initializer holding `value` (the old one may be
// shared); remembers the old name in `replaced`.
void replace_constant_input(nn::Graph& g, nn::Node& n, size_t k, Tensor value,
                            std::set<std::string>& replaced) {
  replaced.insert(n.inputs[k]);
  std::string name = n.inputs[k] + "_pruned";
  while (g.initializers.count(name)) name += "_";
  g.initializers[name] = std::move(value);
  n.inputs[k] = name;
}

std::vector<int64_t> complement(int64_t n, const std::set<int64_t>& dead) {
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < n; ++i)
    if (!dead.count(i)) keep.push_back(i);
  return keep;
}

// The output channels of `w` that are zero everywhere they reach: weight row, bias, the
// BatchNormalizations' shift (with a zero scale or mean) and the depthwise Convs' bias.
std::set<int64_t> dead_channels(const nn::Graph& original, const PrunableWeight& w) {
  const std::vector<float> view = to_view(original.initializers.at(w.weight), w.layout);
  std::set<int64_t> dead;
  for (int64_t row = 0; row < w.layout.out; ++row) {
    bool zero = true;
    for (int64_t c = 0; c < w.layout.reduction && zero; ++c)
      zero = view[row * w.layout.reduction + c] == 0;
    if (zero && !w.bias.empty()) zero = at_f(original.initializers.at(w.bias), row) == 0;
    for (int bn : w.batch_norms) {
      const nn::Node& n = original.nodes[bn];
      const Tensor scale = constant_value(original, n.inputs[1]),
                   shift = constant_value(original, n.inputs[2]);
      const Tensor mean = n.inputs.size() > 3 ? constant_value(original, n.inputs[3]) : Tensor();
      if (!scale.defined() || !shift.defined() || !mean.defined()) {
        zero = false;
        break;
      }
      zero = zero && at_f(shift, row) == 0 && (at_f(scale, row) == 0 || at_f(mean, row) == 0);
    }
    for (int dw : w.depthwise) {
      const nn::Node& n = original.nodes[dw];
      if (zero && n.inputs.size() > 2 && !n.inputs[2].empty())
        zero = at_f(original.initializers.at(n.inputs[2]), row) == 0;
    }
    if (zero) dead.insert(row);
  }
  return dead;
}

// Why the zero channels of `w` cannot be removed ("" when they can).
std::string why_channels_stay(const nn::Graph& original, const PrunableWeight& w) {
  if (!w.channel_problem.empty()) return w.channel_problem;
  if (!w.weight_is_initializer) return "the weight is read through a quantizer";
  for (int bn : w.batch_norms)
    for (size_t k = 1; k < 5 && k < original.nodes[bn].inputs.size(); ++k)
      if (!original.initializers.count(original.nodes[bn].inputs[k]))
        return "a BatchNormalization input is not an initializer";
  return "";
}

// Keeps the channels `keep` of `w`'s producer, depthwise Convs and consumers.
void keep_channels(nn::Graph& g, const PrunableWeight& w, const std::vector<int64_t>& keep) {
  // The producer: weight rows (axis 0 for Conv and transB=1 Gemm, else 1), bias, BN entries.
  const int out_axis = w.layout.kind == WeightLayout::Kind::kColumns ? 1 : 0;
  g.initializers[w.weight] = keep_along(g.initializers.at(w.weight), out_axis, keep);
  if (!w.bias.empty()) g.initializers[w.bias] = keep_along(g.initializers.at(w.bias), -1, keep);
  for (int bn : w.batch_norms) {
    for (size_t k = 1; k < 5 && k < g.nodes[bn].inputs.size(); ++k) {
      const std::string& name = g.nodes[bn].inputs[k];
      g.initializers[name] = keep_along(g.initializers.at(name), 0, keep);
    }
  }
  // Depthwise Convs on the way: one filter (and bias entry) per channel, one group each.
  for (int dw : w.depthwise) {
    nn::Node& n = g.nodes[dw];
    g.initializers[n.inputs[1]] = keep_along(g.initializers.at(n.inputs[1]), 0, keep);
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
      g.initializers[n.inputs[2]] = keep_along(g.initializers.at(n.inputs[2]), 0, keep);
    }
    Attributes a = *n.attrs;
    a.set("group", static_cast<int64_t>(keep.size()));
    n.attrs = nn::attrs_with(std::move(a));
  }
  // The consumers: their input channels (H*W consecutive inputs each after a Flatten).
  for (const ChannelConsumer& c : w.consumers) {
    std::vector<int64_t> cols;
    for (int64_t ch : keep)
      for (int64_t j = 0; j < c.per_channel; ++j) cols.push_back(ch * c.per_channel + j);
    const int in_axis = c.layout.kind == WeightLayout::Kind::kColumns ? 0 : 1;
    g.initializers[c.weight] = keep_along(g.initializers.at(c.weight), in_axis, cols);
  }
}

void shrink_channels(const nn::Graph& original, nn::Graph& g, ShrinkReport& r) {
  for (const PrunableWeight& w : find_prunable_weights(original)) {
    std::set<int64_t> dead = dead_channels(original, w);
    if (dead.empty()) continue;
    const std::string why = why_channels_stay(original, w);
    if (!why.empty()) {
      const std::string where = fmt::format("'{}' ({} node '{}')", w.weight, w.op_type, w.node);
      r.notes.push_back(fmt::format("{}: {} zero channels stay: {}", where, dead.size(), why));
      continue;
    }
    if (static_cast<int64_t>(dead.size()) == w.layout.out)
      dead.erase(dead.begin());  // keep one channel
    const std::vector<int64_t> keep = complement(w.layout.out, dead);
    keep_channels(g, w, keep);
    r.layers.push_back({w.node, w.weight, w.layout.out, static_cast<int64_t>(keep.size())});
  }
}

void shrink_heads(const nn::Graph& original, nn::Graph& g, ShrinkReport& r,
                  std::set<std::string>& replaced) {
  for (const AttentionBlock& b : find_attention_blocks(original)) {
    const bool direct = [&] {
      for (const auto& n : {b.q_weight, b.k_weight, b.v_weight, b.o_weight}) {
        bool read_directly = false;
        for (const auto& node : original.nodes) {
          for (const auto& in : node.inputs) read_directly = read_directly || in == n;
        }
        if (!read_directly) return false;
      }
      return true;
    }();
    const Tensor& v = original.initializers.at(b.v_weight);
    const Tensor* bv = b.v_bias.empty() ? nullptr : &original.initializers.at(b.v_bias);
    std::set<int64_t> dead;
    for (int64_t h = 0; h < b.heads; ++h) {
      bool zero = true;
      for (int64_t row = 0; row < v.dim(0) && zero; ++row) {
        for (int64_t c = h * b.head_dim; c < (h + 1) * b.head_dim && zero; ++c)
          zero = at_f(v, row * v.dim(1) + c) == 0;
      }
      for (int64_t c = h * b.head_dim; bv && c < (h + 1) * b.head_dim && zero; ++c)
        zero = at_f(*bv, c) == 0;
      if (zero) dead.insert(h);
    }
    if (dead.empty()) continue;
    if (!direct) {
      r.notes.push_back(
          fmt::format("attention '{}': {} zero heads stay: a weight is read through a quantizer",
                      b.name, dead.size()));
      continue;
    }
    if (static_cast<int64_t>(dead.size()) == b.heads) dead.erase(dead.begin());
    const std::vector<int64_t> heads = complement(b.heads, dead);
    std::vector<int64_t> cols;
    for (int64_t h : heads)
      for (int64_t j = 0; j < b.head_dim; ++j) cols.push_back(h * b.head_dim + j);
    for (const auto& n : {b.q_weight, b.k_weight, b.v_weight})
      g.initializers[n] = keep_along(g.initializers.at(n), 1, cols);
    for (const auto* n : {&b.q_bias, &b.k_bias, &b.v_bias}) {
      if (!n->empty()) g.initializers[*n] = keep_along(g.initializers.at(*n), -1, cols);
    }
    g.initializers[b.o_weight] = keep_along(g.initializers.at(b.o_weight), 0, cols);
    const auto kept = static_cast<int64_t>(heads.size());
    for (int ri : b.split_reshapes) {
      Tensor shape = constant_value(original, original.nodes[ri].inputs[1]).to(DType::kInt64);
      shape.data<int64_t>()[2] = kept;
      replace_constant_input(g, g.nodes[ri], 1, shape, replaced);
    }
    Tensor merged =
        constant_value(original, original.nodes[b.merge_reshape].inputs[1]).to(DType::kInt64);
    if (merged.data<int64_t>()[2] != -1) merged.data<int64_t>()[2] = kept * b.head_dim;
    replace_constant_input(g, g.nodes[b.merge_reshape], 1, merged, replaced);
    r.layers.push_back({b.name, b.v_weight, b.heads, kept});
  }
}

}  // namespace

nn::Graph shrink_pruned(const nn::Graph& graph, ShrinkReport* report) {
  ShrinkReport local;
  ShrinkReport& r = report ? *report : local;
  r = {};
  nn::Graph g = graph;
  r.parameters_before = nn::float_parameter_count(graph);
  shrink_channels(graph, g, r);
  std::set<std::string> replaced;
  shrink_heads(graph, g, r, replaced);
  if (!r.layers.empty()) {
    // Declared shapes of intermediate values changed; the exporter infers them again.
    g.value_info.clear();
    std::set<std::string> used;
    for (const auto& n : g.nodes) used.insert(n.inputs.begin(), n.inputs.end());
    for (const auto& i : g.inputs) used.insert(i.name);
    for (const auto& o : g.outputs) used.insert(o.name);
    for (const auto& name : replaced)
      if (!used.count(name)) g.initializers.erase(name);
  }
  g.validate();
  r.parameters_after = nn::float_parameter_count(g);
  return g;
}

}  // namespace tamp::compression::pruning
