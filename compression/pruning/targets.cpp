#include <tamp/compression/pruning/targets.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

namespace tamp::compression::pruning {

namespace {

bool is_fake_quantize(const nn::Node& n) {
  return n.op_type == "FakeQuantize" && n.domain == "tamp";
}

bool is_float(const Tensor& t) {
  return t.dtype() == DType::kFloat32 || t.dtype() == DType::kFloat64;
}

// A Clip whose range holds 0 (ReLU6 is Clip(0, 6)) keeps a zero a zero.
bool clip_keeps_zero(const nn::Graph& g, const nn::Node& n) {
  if (!n.domain.empty() || n.op_type != "Clip") return false;
  auto bound = [&](size_t input, const char* attr, double missing) -> std::optional<double> {
    if (input < n.inputs.size() && !n.inputs[input].empty()) {
      const Tensor t = constant_value(g, n.inputs[input]);
      if (!t.defined() || t.numel() != 1) return std::nullopt;
      return t.at(0);
    }
    return n.attrs->has(attr) ? n.attrs->f(attr)
                              : missing;  // opset < 11 keeps min and max as attributes
  };
  const auto lo = bound(1, "min", -HUGE_VAL), hi = bound(2, "max", HUGE_VAL);
  return lo && hi && *lo <= 0 && *hi >= 0;
}

// Ops that map a zero channel to a zero channel, elementwise.
bool is_elementwise(const nn::Graph& g, const nn::Node& n) {
  static const std::set<std::string> ops{"Relu", "LeakyRelu", "Dropout", "Identity"};
  return (n.domain.empty() && ops.count(n.op_type)) || clip_keeps_zero(g, n);
}

// Ops that map a zero channel (axis 1) to a zero channel and keep the channel axis.
bool is_pass_through(const nn::Graph& g, const nn::Node& n) {
  static const std::set<std::string> ops{"MaxPool", "AveragePool", "GlobalAveragePool",
                                         "GlobalMaxPool"};
  return is_elementwise(g, n) || (n.domain.empty() && ops.count(n.op_type));
}

// A depthwise Conv over exactly `channels` channels (group = channels, one filter per channel,
// weight and bias initializers read directly): channel c of its output reads only channel c of
// its input, so a removed channel takes its filter and bias along and goes on through it.
bool is_depthwise_over(const nn::Graph& g, const nn::Node& n, int64_t channels) {
  if (!n.domain.empty() || n.op_type != "Conv" || n.attrs->i("group", 1) != channels ||
      n.inputs.size() < 2) {
    return false;
  }
  auto w = g.initializers.find(n.inputs[1]);
  if (w == g.initializers.end() || w->second.rank() < 3 || w->second.dim(0) != channels ||
      w->second.dim(1) != 1) {
    return false;
  }
  return n.inputs.size() < 3 || n.inputs[2].empty() || g.initializers.count(n.inputs[2]);
}

bool per_tensor_qdq(const nn::Graph& g, const nn::Node& n) {
  if (!n.domain.empty() || (n.op_type != "QuantizeLinear" && n.op_type != "DequantizeLinear"))
    return false;
  const Tensor scale = n.inputs.size() > 1 ? constant_value(g, n.inputs[1]) : Tensor();
  return scale.defined() && scale.numel() == 1;
}

std::string node_label(const nn::Node& n) { return fmt::format("{} node '{}'", n.op_type, n.name); }

// A value whose channels are followed; flattened: they sit in (batch, C * H * W) now.
struct TracedValue {
  std::string value;
  bool flattened;
};

// A Conv / Gemm / MatMul reading the channels: a consumer whose input channels shrink with
// them. Returns why it cannot be ("" when it can).
std::string add_channel_consumer(const nn::Graph& g, int ci, bool flattened, int64_t channels,
                                 PrunableWeight& w) {
  const nn::Node& c = g.nodes[ci];
  const std::string weight = c.inputs.size() > 1 ? c.inputs[1] : "";
  auto it = g.initializers.find(weight);
  if (it == g.initializers.end()) {
    return fmt::format("{} reads them with a weight that is not an initializer", node_label(c));
  }
  if (c.op_type == "Conv" && (c.attrs->i("group", 1) != 1 || flattened)) {
    return fmt::format("{} is grouped or reads flattened channels", node_label(c));
  }
  if (c.op_type == "Gemm" && c.attrs->i("transA", 0) != 0)
    return fmt::format("{} has transA = 1", node_label(c));
  if (c.op_type != "Conv" && it->second.rank() != 2) {
    return fmt::format("{} has a weight of rank {}", node_label(c), it->second.rank());
  }
  ChannelConsumer cc;
  cc.node = ci;
  cc.weight = weight;
  cc.layout = WeightLayout::of(c.op_type, it->second.shape(),
                               c.op_type == "Gemm" && c.attrs->i("transB", 0) == 0);
  cc.flattened = flattened;
  if (cc.layout.in_channels % channels != 0 || (!flattened && cc.layout.in_channels != channels)) {
    return fmt::format("{} reads {} input channels, not a multiple of the {} produced",
                       node_label(c), cc.layout.in_channels, channels);
  }
  cc.per_channel = cc.layout.in_channels / channels;
  w.consumers.push_back(cc);
  return "";
}

// One consumer of a traced value: the channels go on through it (into `todo`), end in a layer
// that reads them (w.consumers), or cannot be removed: then the reason.
std::string follow_consumer(const nn::Graph& g, int ci, const TracedValue& item, int64_t channels,
                            bool channels_last, PrunableWeight& w, std::vector<TracedValue>& todo) {
  const nn::Node& c = g.nodes[ci];
  const bool first_input = !c.inputs.empty() && c.inputs[0] == item.value &&
                           std::count(c.inputs.begin(), c.inputs.end(), item.value) == 1;
  if (!first_input)
    return fmt::format("its channels feed input of {} other than the first", node_label(c));
  const bool elementwise = is_elementwise(g, c) || is_fake_quantize(c) || per_tensor_qdq(g, c);
  if (channels_last && !elementwise && c.op_type != "Gemm" && c.op_type != "MatMul") {
    return fmt::format("its channels (last axis) feed {}", node_label(c));
  }
  if (elementwise || is_pass_through(g, c)) {
    if (is_fake_quantize(c)) {
      const Tensor scale = c.inputs.size() > 1 ? constant_value(g, c.inputs[1]) : Tensor();
      if (!scale.defined() || scale.numel() != 1)
        return fmt::format("its channels go through per-channel {}", node_label(c));
    }
    if (item.flattened && c.op_type.find("Pool") != std::string::npos) {
      return fmt::format("{} reads flattened channels", node_label(c));
    }
    todo.push_back({c.outputs[0], item.flattened});
  } else if (c.op_type == "BatchNormalization" && c.domain.empty()) {
    if (item.flattened) return fmt::format("{} reads flattened channels", node_label(c));
    w.batch_norms.push_back(ci);
    todo.push_back({c.outputs[0], false});
  } else if (c.op_type == "Flatten" && c.domain.empty()) {
    if (c.attrs->i("axis", 1) != 1 || item.flattened)
      return fmt::format("{} does not flatten from axis 1", node_label(c));
    todo.push_back({c.outputs[0], true});
  } else if (c.op_type == "Reshape" && c.domain.empty()) {
    const Tensor shape = c.inputs.size() > 1 ? constant_value(g, c.inputs[1]) : Tensor();
    if (!shape.defined() || shape.numel() != 2 || shape.at(1) != -1 || shape.at(0) == -1 ||
        item.flattened) {
      return fmt::format("{} is not a flatten to (batch, -1) with a constant shape", node_label(c));
    }
    w.reshapes.push_back(ci);
    todo.push_back({c.outputs[0], true});
  } else if (!item.flattened && is_depthwise_over(g, c, channels)) {
    w.depthwise.push_back(ci);
    todo.push_back({c.outputs[0], false});
  } else if ((c.op_type == "Conv" || c.op_type == "Gemm" || c.op_type == "MatMul") &&
             c.domain.empty()) {
    return add_channel_consumer(g, ci, item.flattened, channels, w);
  } else {
    return fmt::format("its channels feed {}", node_label(c));
  }
  return "";
}

// Follows the channels of `value` to the layers that read them; fills w.channel_problem on
// the first path that cannot carry a removed channel.
// Conv outputs carry channels on axis 1, Gemm/MatMul outputs on the last axis; only
// elementwise ops keep the last axis, so pooling, BatchNormalization and flattening are
// followed for Conv producers only.
void trace_channels(const nn::Graph& g, const std::string& start, int64_t channels,
                    bool channels_last, PrunableWeight& w) {
  std::vector<TracedValue> todo{{start, false}};
  std::set<std::string> seen;
  while (!todo.empty() && w.channel_problem.empty()) {
    const TracedValue item = todo.back();
    todo.pop_back();
    if (!seen.insert(item.value).second) continue;
    for (const auto& o : g.outputs) {
      if (o.name == item.value && w.channel_problem.empty()) {
        w.channel_problem = fmt::format("its channels reach the graph output '{}'", o.name);
      }
    }
    for (int ci : g.consumers(item.value)) {
      std::string why = follow_consumer(g, ci, item, channels, channels_last, w, todo);
      if (!why.empty()) {
        if (w.channel_problem.empty()) w.channel_problem = std::move(why);
        break;
      }
    }
  }
  if (w.channel_problem.empty() && w.consumers.empty())
    w.channel_problem = "no layer reads its channels";
}

}  // namespace

Tensor constant_value(const nn::Graph& g, const std::string& value) {
  if (auto it = g.initializers.find(value); it != g.initializers.end()) return it->second;
  const int p = g.producer(value);
  if (p >= 0 && g.nodes[p].op_type == "Constant" && g.nodes[p].domain.empty() &&
      g.nodes[p].attrs->has("value")) {
    return g.nodes[p].attrs->t("value");
  }
  return {};
}

std::string resolve_initializer(const nn::Graph& g, const std::string& value) {
  std::string v = value;
  for (int hops = 0; hops < 4 && !v.empty(); ++hops) {
    if (g.initializers.count(v)) return v;
    const int p = g.producer(v);
    if (p < 0 || !is_fake_quantize(g.nodes[p]) || g.nodes[p].inputs.empty()) return {};
    v = g.nodes[p].inputs[0];
  }
  return {};
}

// The rank-2 initializer W a MatMul reads as Transpose(W) (perm [1, 0]), as torch's
// training-mode export writes nn.Linear on a 3-D input; FakeQuantize on either side is looked
// through. "" if the value is not that.
std::string transposed_initializer(const nn::Graph& g, const std::string& value) {
  std::string v = value;
  for (int hops = 0; hops < 4; ++hops) {
    const int p = g.producer(v);
    if (p < 0) return {};
    const nn::Node& n = g.nodes[p];
    if (is_fake_quantize(n) && !n.inputs.empty()) {
      v = n.inputs[0];
      continue;
    }
    if (n.op_type != "Transpose" || !n.domain.empty() || n.inputs.empty()) return {};
    const auto perm = n.attrs->ints("perm", {1, 0});
    const std::string w = resolve_initializer(g, n.inputs[0]);
    if (w.empty() || g.initializers.at(w).rank() != 2 || perm != std::vector<int64_t>{1, 0})
      return {};
    return w;
  }
  return {};
}

std::vector<PrunableWeight> find_prunable_weights(const nn::Graph& g) {
  std::vector<PrunableWeight> out;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const nn::Node& n = g.nodes[i];
    if (!n.domain.empty() || (n.op_type != "Conv" && n.op_type != "Gemm" && n.op_type != "MatMul"))
      continue;
    if (n.inputs.size() < 2) continue;
    std::string weight = resolve_initializer(g, n.inputs[1]);
    const bool through_transpose = weight.empty() && n.op_type == "MatMul";
    if (through_transpose) weight = transposed_initializer(g, n.inputs[1]);
    if (weight.empty()) continue;
    const Tensor& t = g.initializers.at(weight);
    if (!is_float(t)) continue;
    if (n.op_type == "Conv" ? t.rank() < 3 : t.rank() != 2) continue;
    PrunableWeight w;
    w.weight = weight;
    w.node = n.name;
    w.node_index = static_cast<int>(i);
    w.op_type = n.op_type;
    // Transpose(W) is read like Gemm's B with transB = 1: W is [out, reduction].
    w.layout = through_transpose
                   ? WeightLayout::of("Gemm", t.shape())
                   : WeightLayout::of(n.op_type, t.shape(),
                                      n.op_type == "Gemm" && n.attrs->i("transB", 0) == 0);
    w.weight_is_initializer = weight == n.inputs[1];
    std::string output = n.outputs.empty() ? "" : n.outputs[0];
    if (n.op_type != "MatMul") {
      if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
        const std::string b = resolve_initializer(g, n.inputs[2]);
        if (!b.empty() && g.initializers.at(b).numel() == w.layout.out) w.bias = b;
      }
    } else {
      // x @ W + b: the Add right after, when it is the only reader and b is an initializer [N].
      const auto readers = g.consumers(output);
      if (readers.size() == 1 && g.nodes[readers[0]].op_type == "Add" &&
          g.nodes[readers[0]].domain.empty()) {
        const nn::Node& add = g.nodes[readers[0]];
        const std::string other = add.inputs[0] == output ? add.inputs[1] : add.inputs[0];
        const std::string b = resolve_initializer(g, other);
        if (!b.empty() && g.initializers.at(b).numel() == w.layout.out &&
            g.initializers.at(b).shape().back() == w.layout.out) {
          w.bias = b;
          w.bias_add = readers[0];
          output = add.outputs[0];
        }
      }
    }
    if (through_transpose) {
      w.channel_problem = "its weight is read through a Transpose";
    } else if (n.op_type == "Conv" && n.attrs->i("group", 1) != 1) {
      w.channel_problem = "grouped convolutions keep their channels";
    } else {
      trace_channels(g, output, w.layout.out, /*channels_last=*/n.op_type != "Conv", w);
    }
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace tamp::compression::pruning
