#include <tamp/compression/quantization/ptq/dynamic_quantization.h>

#include <tamp/compression/quantization/ptq/linear_layers.h>
#include <tamp/nn/graph_edit.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace tamp::compression {

namespace {

constexpr int64_t kOnnxFloat = 1;  // TensorProto.FLOAT, Cast's `to`

struct QuantizedWeight {
  Tensor q;           // int8 / uint8 [K, N]
  Tensor scale;       // float32 scalar or [N]
  Tensor zero_point;  // same dtype as q, scalar or [N]; undefined when symmetric
};

// w [K, N] quantized per output column (per_channel) or per tensor.
QuantizedWeight quantize_weight(const Tensor& w, const QuantSpec& spec) {
  const int64_t k = w.dim(0), n = w.dim(1);
  const int64_t channels = spec.per_channel ? n : 1;
  const Shape param_shape = spec.per_channel ? Shape{n} : Shape{};
  Tensor lo = Tensor::empty(param_shape), hi = Tensor::empty(param_shape);
  float* pl = lo.data<float>();
  float* ph = hi.data<float>();
  std::fill(pl, pl + channels, INFINITY);
  std::fill(ph, ph + channels, -INFINITY);
  const float* pw = w.data<float>();
  for (int64_t i = 0; i < k; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      const float v = pw[i * n + j];
      const int64_t c = spec.per_channel ? j : 0;
      if (std::isnan(v)) pl[c] = ph[c] = NAN;  // choose_qparams names it
      if (!std::isnan(pl[c])) {
        pl[c] = std::min(pl[c], v);
        ph[c] = std::max(ph[c], v);
      }
    }
  }
  QuantSpec s = spec;
  s.axis = 0;
  const QuantParams p = choose_qparams(s, lo, hi);
  QuantizedWeight out;
  out.scale = p.scale;
  out.q = Tensor::empty({k, n}, s.storage_dtype());
  const float qmin = static_cast<float>(s.quant_min()), qmax = static_cast<float>(s.quant_max());
  const float* ps = p.scale.data<float>();
  const float* pz = p.zero_point.data<float>();
  for (int64_t i = 0; i < k; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      const int64_t c = spec.per_channel ? j : 0;
      const float q = std::clamp(std::nearbyint(pw[i * n + j] / ps[c]) + pz[c], qmin, qmax);
      if (s.is_signed)
        out.q.data<int8_t>()[i * n + j] = static_cast<int8_t>(q);
      else
        out.q.data<uint8_t>()[i * n + j] = static_cast<uint8_t>(q);
    }
  }
  const bool zero_is_zero = std::all_of(pz, pz + channels, [](float z) { return z == 0; });
  if (!(zero_is_zero && s.is_signed)) {
    out.zero_point = Tensor::empty(param_shape, s.storage_dtype());
    for (int64_t c = 0; c < channels; ++c) {
      if (s.is_signed)
        out.zero_point.data<int8_t>()[c] = static_cast<int8_t>(pz[c]);
      else
        out.zero_point.data<uint8_t>()[c] = static_cast<uint8_t>(pz[c]);
    }
  }
  return out;
}

// The outputs of the DynamicQuantizeLinear of a value: quantized, scale, zero point.
struct QuantizedInput {
  std::string q, scale, zero_point;
};

void rewrite_layer(nn::Graph& g, const LinearLayer& layer, const QuantSpec& spec,
                   std::map<std::string, QuantizedInput>& quantized_inputs) {
  const QuantizedWeight w = quantize_weight(layer.weight, spec);
  nn::NameScope names(g);
  const std::string base = layer.weight_name;
  const std::string node = layer.node.empty() ? names.fresh(base + "_MatMulInteger") : layer.node;
  const std::string wq = names.fresh(base + "_quantized"), ws = names.fresh(base + "_scale");
  g.initializers[wq] = w.q;
  g.initializers[ws] = w.scale;
  std::vector<nn::Node> nodes;
  auto [it, fresh] = quantized_inputs.try_emplace(layer.input);
  if (fresh) {
    it->second = {names.fresh(layer.input + "_quantized"), names.fresh(layer.input + "_scale"),
                  names.fresh(layer.input + "_zero_point")};
    nodes.push_back({names.fresh(node + "_quantize_input"),
                     "DynamicQuantizeLinear",
                     "",
                     {layer.input},
                     {it->second.q, it->second.scale, it->second.zero_point}});
  }
  const std::string xq = it->second.q, xs = it->second.scale, xz = it->second.zero_point;
  std::vector<std::string> mm_inputs{xq, wq, xz};
  if (w.zero_point.defined()) {
    mm_inputs.push_back(names.fresh(base + "_zero_point"));
    g.initializers[mm_inputs.back()] = w.zero_point;
  }
  const std::string acc = names.fresh(layer.node_output + "_int32"),
                    accf = names.fresh(layer.node_output + "_float");
  const std::string scale = names.fresh(layer.node_output + "_scale");
  const std::string scaled =
      layer.bias.defined() ? names.fresh(layer.node_output + "_scaled") : layer.output;
  nodes.push_back({node, "MatMulInteger", "", mm_inputs, {acc}});
  nodes.push_back({names.fresh(node + "_cast"),
                   "Cast",
                   "",
                   {acc},
                   {accf},
                   nn::attrs_with({{"to", kOnnxFloat}})});
  // Scale product first with the input's scale first: ORT's fusion reads its inputs in this order.
  nodes.push_back({names.fresh(node + "_scale"), "Mul", "", {xs, ws}, {scale}});
  nodes.push_back({names.fresh(node + "_rescale"), "Mul", "", {accf, scale}, {scaled}});
  if (layer.bias.defined()) {
    const std::string bias = names.fresh(base + "_bias");
    g.initializers[bias] = layer.bias;
    nodes.push_back({names.fresh(node + "_bias"), "Add", "", {scaled, bias}, {layer.output}});
  }
  const size_t at = remove_linear_layer(g, layer);
  g.nodes.insert(g.nodes.begin() + static_cast<std::ptrdiff_t>(at), nodes.begin(), nodes.end());
}

}  // namespace

nn::Graph quantize_dynamic(const nn::Graph& graph, const DynamicQuantOptions& options) {
  options.weights.validate();
  TAMP_CHECK(options.weights.bits == 8,
             "dynamic quantization stores 8-bit weights (MatMulInteger), got {} bits",
             options.weights.bits);
  TAMP_CHECK(options.weights.group_size == 0,
             "dynamic quantization has no groups (got group size {}); use "
             "weight-only quantization for block-wise scales",
             options.weights.group_size);
  TAMP_CHECK(graph.opset() >= 11,
             "dynamic quantization needs opset >= 11 (DynamicQuantizeLinear), the graph has {}",
             graph.opset());
  nn::Graph g = graph;
  release_training_modes(g);  // the written model is an inference model
  const LinearLayerOptions find{options.exclude};
  const std::vector<LinearLayer> layers = find_linear_layers(g, find);
  require_linear_layers(g, layers, find);
  // DynamicQuantizeLinear makes uint8 activations.
  const QuantSpec weights = weights_for_target(options.weights, quint8, options.target);
  std::map<std::string, QuantizedInput> quantized_inputs;
  for (const auto& l : layers) {
    try {
      rewrite_layer(g, l, weights, quantized_inputs);
    } catch (Error& e) {
      e.add_context(fmt::format("quantizing layer '{}'", l.node));
      throw;
    }
  }
  remove_unused(g);
  g.metadata[std::string(kTargetMetadataKey)] = std::string(export_target_name(options.target));
  g.validate();
  return g;
}

}  // namespace tamp::compression
