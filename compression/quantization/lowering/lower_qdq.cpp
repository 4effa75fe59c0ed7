// FakeQuantize graph -> QDQ ONNX (see lower.h).
#include <tamp/compression/quantization/detail/lower_common.h>
#include <tamp/compression/quantization/lowering/lower.h>
#include <tamp/compression/quantization/ptq/block_quant.h>
#include <tamp/compression/quantization/quant_plan.h>
#include <tamp/nn/graph_edit.h>

#include <tamp/autograd/op.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

namespace tamp::compression {

namespace {

struct ActQuant {
  std::string scale, zero_point;  // initializers (float scale, integer zero point)
};

// Dropout is the identity at inference; its mask output must be unused.
void remove_dropouts(nn::Graph& g) {
  for (size_t i = g.nodes.size(); i-- > 0;) {
    const nn::Node n = g.nodes[i];
    if (n.op_type != "Dropout") continue;
    if (n.outputs.size() > 1 && !n.outputs[1].empty() &&
        (!g.consumers(n.outputs[1]).empty() || is_graph_output(g, n.outputs[1]))) {
      continue;  // the mask is used: leave the node (ONNX Runtime runs it in inference mode)
    }
    g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(i));
    if (is_graph_output(g, n.outputs[0])) {
      g.nodes.push_back(
          {n.name, "Identity", "", {n.inputs[0]}, {n.outputs[0]}, nn::attrs_with({})});
    } else {
      replace_uses(g, n.outputs[0], n.inputs[0]);
    }
  }
}

nn::Node make_node(std::string name, const char* op, std::vector<std::string> in,
                   std::vector<std::string> out, Attributes a = {}) {
  return {std::move(name), op, "", std::move(in), std::move(out), nn::attrs_with(std::move(a))};
}

// Bias of a Conv/ConvTranspose/Gemm as int32 with scale s_x * s_w, zero point 0.
void quantize_bias(nn::Graph& g, nn::NameScope& names, nn::Node& n, const ActQuant& x,
                   const std::string& w_scale, std::vector<nn::Node>& added) {
  if (n.inputs.size() < 3 || n.inputs[2].empty()) return;
  auto bi = g.initializers.find(n.inputs[2]);
  if (bi == g.initializers.end() || bi->second.dtype() != DType::kFloat32) return;
  Tensor b = bi->second;
  const Tensor& sx = g.initializers.at(x.scale);
  const Tensor& sw = g.initializers.at(w_scale);
  if (sx.numel() != 1) return;
  int64_t channels = b.numel();
  if (n.op_type == "Gemm") {
    if (n.attrs->i("transA", 0) != 0 || !(b.rank() == 1 || (b.rank() == 2 && b.dim(0) == 1)))
      return;
    const float beta = n.attrs->f("beta", 1.0f);
    if (beta != 1.0f) {
      b = b.clone();
      for (int64_t i = 0; i < b.numel(); ++i) b.data<float>()[i] *= beta;
      Attributes a = *n.attrs;
      a.set("beta", 1.0f);
      n.attrs = nn::attrs_with(a);
    }
  } else if (b.rank() != 1) {
    return;
  }
  if (sw.numel() != 1 && sw.numel() != channels) return;
  const float s_x = sx.data<float>()[0];
  const Tensor bq = detail::bias_as_int32(n.name, b, s_x, sw);
  Tensor bs = Tensor::empty({channels});
  for (int64_t c = 0; c < channels; ++c)
    bs.data<float>()[c] = s_x * sw.data<float>()[sw.numel() == 1 ? 0 : c];
  // Gemm's C given as [1, N] becomes [N]: Gemm broadcasts both the same way.
  const std::string base = n.inputs[2];
  const std::string q_name = names.fresh(base + "_int32"), s_name = names.fresh(base + "_scale");
  const std::string z_name = names.fresh(base + "_zero_point"),
                    out = names.fresh(base + "_dequantized");
  g.initializers[q_name] = bq;
  g.initializers[s_name] = bs;
  g.initializers[z_name] = Tensor::zeros({channels}, DType::kInt32);
  Attributes a;
  a.set("axis", int64_t{0});
  added.push_back(make_node(names.fresh(base + "_DequantizeLinear"), "DequantizeLinear",
                            {q_name, s_name, z_name}, {out}, a));
  n.inputs[2] = out;
}

// Replaces g's nodes by `nodes`; pass-through ops keep the grid: Q/DQ with their input's
// parameters after them, so ORT runs them on integers (and fuses the op after them).
void append_with_pass_through_qdq(nn::Graph& g, nn::NameScope& names,
                                  const std::vector<nn::Node>& nodes,
                                  std::map<std::string, ActQuant>& act) {
  g.nodes.clear();
  for (const auto& n : nodes) {
    g.nodes.push_back(n);
    if (!is_pass_through(n.op_type) || n.inputs.empty() || n.outputs.empty() ||
        !act.count(n.inputs[0]))
      continue;
    const ActQuant p = act.at(n.inputs[0]);
    const std::string o = n.outputs[0];
    const std::string pre = names.fresh(o + "_float"), q = names.fresh(o + "_quantized");
    g.nodes.back().outputs[0] = pre;
    g.nodes.push_back(make_node(names.fresh(n.name + "_QuantizeLinear"), "QuantizeLinear",
                                {pre, p.scale, p.zero_point}, {q}));
    g.nodes.push_back(make_node(names.fresh(n.name + "_DequantizeLinear"), "DequantizeLinear",
                                {q, p.scale, p.zero_point}, {o}));
    act[o] = p;
  }
}

// Conv / ConvTranspose / Gemm between a quantized activation and weight get an int32 bias.
void quantize_biases(nn::Graph& g, nn::NameScope& names, const std::map<std::string, ActQuant>& act,
                     const std::map<std::string, std::string>& weight_scale) {
  std::vector<nn::Node> added;
  for (auto& n : g.nodes) {
    if (n.op_type != "Conv" && n.op_type != "ConvTranspose" && n.op_type != "Gemm") continue;
    if (n.inputs.size() < 2 || !act.count(n.inputs[0]) || !weight_scale.count(n.inputs[1]))
      continue;
    TAMP_WITH_CONTEXT(
        fmt::format("node '{}' ({})", n.name, n.op_type),
        quantize_bias(g, names, n, act.at(n.inputs[0]), weight_scale.at(n.inputs[1]), added));
  }
  g.nodes.insert(g.nodes.end(), added.begin(), added.end());
}

// The Transpose (perm [1, 0]) that is the only reader of a rank-2 weight's fake-quantized
// copy (MatMul(x, Transpose(W)), torch's nn.Linear on a 3-D input), or null. Lowering stores
// that weight transposed so its DequantizeLinear feeds the MatMul directly, the pattern ONNX
// Runtime fuses into QLinearMatMul (QDQ) and qdq_to_qoperator writes as MatMulInteger.
const nn::Node* foldable_transpose(const nn::Graph& g, const FakeQuantSite& s) {
  const auto readers = g.consumers(s.output);
  if (!s.is_weight || readers.size() != 1 || is_graph_output(g, s.output) ||
      g.initializers.at(s.input).rank() != 2)
    return nullptr;
  const nn::Node& t = g.nodes[static_cast<size_t>(readers[0])];
  if (t.op_type != "Transpose" || !t.domain.empty() ||
      t.attrs->ints("perm", {1, 0}) != std::vector<int64_t>{1, 0})
    return nullptr;
  return &t;
}

// The DequantizeLinear of weight site `s` (its FakeQuantize `n`) over the weight quantized as
// `type`; a Transpose it folds (foldable_transpose) is added to `folded`.
nn::Node dequantized_weight(nn::Graph& g, nn::NameScope& names, const FakeQuantSite& s,
                            const nn::Node& n, DType type, std::set<std::string>& folded) {
  const Tensor& scale = g.initializers.at(s.scale);
  Tensor w = g.initializers.at(s.input);
  int axis = static_cast<int>(n.attrs->i("axis", 0));
  std::string output = s.output;
  if (const nn::Node* t = foldable_transpose(g, s)) {
    w = to_output_major(w);
    axis = 1 - axis;
    output = t->outputs.at(0);
    folded.insert(t->name);
  }
  const std::string q = names.fresh(s.input + (type == DType::kInt8 ? "_int8" : "_uint8"));
  g.initializers[q] =
      detail::quantize_tensor(w, scale, g.initializers.at(s.zero_point), axis,
                              static_cast<float>(n.attrs->i("quant_min", -128)),
                              static_cast<float>(n.attrs->i("quant_max", 127)), type);
  Attributes a;
  if (scale.rank() == 1 && scale.numel() > 1) a.set("axis", int64_t{axis});
  return make_node(n.name, "DequantizeLinear", {q, s.scale, s.zero_point}, {output}, a);
}

}  // namespace

nn::Graph lower_to_qdq(const nn::Graph& in) {
  nn::Graph g = in;
  const int64_t opset = g.opset("");
  if (opset < 13) {
    throw Error(fmt::format("the model imports opset {}; per-channel "
                            "QuantizeLinear/DequantizeLinear need opset >= 13",
                            opset),
                ErrorKind::kUnsupported, "re-export the float model with opset >= 13");
  }
  const auto sites = find_fake_quantize(g);
  TAMP_CHECK(!sites.empty(),
             "the graph has no FakeQuantize node: quantize it first (QAT or static PTQ)");
  remove_dropouts(g);
  nn::NameScope names(g);
  std::map<std::string, ActQuant> act;              // activation DQ output -> its parameters
  std::map<std::string, std::string> weight_scale;  // weight DQ output -> scale initializer
  std::vector<nn::Node> nodes;
  std::set<std::string> folded;  // Transposes stored in their weight's initializer
  for (const auto& n : g.nodes) {
    if (folded.count(n.name)) continue;
    if (n.op_type != "FakeQuantize" || canonical_domain(n.domain) != kTampDomain) {
      nodes.push_back(n);
      continue;
    }
    auto it = std::find_if(sites.begin(), sites.end(),
                           [&](const FakeQuantSite& s) { return s.node == n.name; });
    const FakeQuantSite& s = *it;
    const DType type = detail::check_lowerable(g, s, n);
    if (s.is_weight) {
      nodes.push_back(dequantized_weight(g, names, s, n, type, folded));
      weight_scale[nodes.back().outputs[0]] = s.scale;
    } else {
      const Tensor scale = g.initializers.at(s.scale);
      Attributes axis;
      if (scale.rank() == 1 && scale.numel() > 1) axis.set("axis", n.attrs->i("axis", 0));
      const std::string q = names.fresh(s.output + "_quantized");
      nodes.push_back(make_node(names.fresh(n.name + "_QuantizeLinear"), "QuantizeLinear",
                                {s.input, s.scale, s.zero_point}, {q}, axis));
      nodes.push_back(make_node(names.fresh(n.name + "_DequantizeLinear"), "DequantizeLinear",
                                {q, s.scale, s.zero_point}, {s.output}, axis));
      act[s.output] = {s.scale, s.zero_point};
    }
    g.initializers[s.zero_point] = detail::integers_as(g.initializers.at(s.zero_point), type);
  }
  // Every range is storable (check_lowerable); now each must be exact on the target's CPUs.
  g.metadata[std::string(kTargetMetadataKey)] =
      std::string(export_target_name(detail::checked_export_target(g, sites)));
  append_with_pass_through_qdq(g, names, nodes, act);
  quantize_biases(g, names, act, weight_scale);
  g.opsets.erase(std::string(kTampDomain));
  remove_unused(g);
  g.validate();
  return g;
}

QuantFormat quant_format_from_name(std::string_view name) {
  if (name == "qdq") return QuantFormat::kQdq;
  if (name == "qoperator") return QuantFormat::kQOperator;
  throw Error(fmt::format("unknown quantization format '{}' (qdq, qoperator)", name));
}

nn::Graph lower_quantized(const nn::Graph& graph, QuantFormat format) {
  nn::Graph qdq = lower_to_qdq(graph);
  return format == QuantFormat::kQdq ? qdq : qdq_to_qoperator(qdq);
}

}  // namespace tamp::compression
