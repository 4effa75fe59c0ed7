#include <tamp/compression/quantization/ptq/weight_only.h>

#include <tamp/autograd/enum_names.h>
#include <tamp/autograd/variable.h>
#include <tamp/nn/graph_edit.h>
#include <tamp/nn/graph_module.h>

#include <cmath>
#include <limits>
#include <optional>

namespace tamp::compression {

namespace {

constexpr EnumName<WeightOnlyAlgorithm> kAlgorithmNames[] = {{WeightOnlyAlgorithm::kRtn, "rtn"},
                                                             {WeightOnlyAlgorithm::kGptq, "gptq"}};

// Hessians of the inputs of `which` layers over the calibration data, running `graph` in
// tamp (earlier layers may already be MatMulNBits).
void accumulate_hessians(const nn::Graph& graph, const std::vector<LinearLayer>& layers,
                         const std::vector<size_t>& which,
                         const std::vector<CalibrationBatch>& calibration,
                         std::vector<std::optional<HessianAccumulator>>& hessians) {
  nn::GraphModule model(graph);
  model.eval();
  NoGradGuard no_grad;
  std::vector<std::string> wanted;
  for (size_t l : which) {
    if (std::find(wanted.begin(), wanted.end(), layers[l].input) == wanted.end())
      wanted.push_back(layers[l].input);
    if (!hessians[l]) hessians[l].emplace(layers[l].k());
  }
  for (size_t b = 0; b < calibration.size(); ++b) {
    std::map<std::string, Variable> inputs;
    for (const auto& [name, t] : calibration[b]) inputs.emplace(name, Variable(t));
    std::map<std::string, Variable> values;
    TAMP_WITH_CONTEXT(fmt::format("calibration batch {}", b),
                      values = model.forward(inputs, wanted));
    for (size_t l : which) hessians[l]->add(values.at(layers[l].input).value());
  }
}

WeightOnlyLayerReport report_for(const LinearLayer& layer, const Tensor& w_nk,
                                 const BlockQuantized& q,
                                 const std::optional<HessianAccumulator>& h) {
  WeightOnlyLayerReport r{layer.node, layer.k(), layer.n(), q.block_size};
  if (!h || h->rows() == 0) {
    r.error = r.relative_error = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  const Tensor hessian = h->hessian();
  r.error = reconstruction_error(w_nk, dequantize(q), hessian);
  const double base = reconstruction_error(w_nk, Tensor::zeros(w_nk.shape()), hessian);
  r.relative_error = base > 0 ? r.error / base : 0.0;
  return r;
}

}  // namespace

std::string_view weight_only_algorithm_name(WeightOnlyAlgorithm a) {
  return name_of(kAlgorithmNames, a);
}

WeightOnlyAlgorithm weight_only_algorithm_from_name(std::string_view name) {
  return value_named(kAlgorithmNames, name, "weight-only algorithm");
}

void rewrite_as_matmul_nbits(nn::Graph& g, const LinearLayer& layer, const BlockQuantized& q,
                             int accuracy_level) {
  TAMP_CHECK(accuracy_level >= 0 && accuracy_level <= 4,
             "MatMulNBits accuracy_level must be in 0..4, got {}", accuracy_level);
  TAMP_CHECK(q.n() == layer.n() && q.k() == layer.k(),
             "quantized weight [{}, {}] does not fit layer '{}' (K {}, N {})", q.n(), q.k(),
             layer.node, layer.k(), layer.n());
  const MatMulNBitsWeights packed = pack_matmul_nbits(q);
  nn::NameScope names(g);
  const std::string base = layer.weight_name;
  const std::string b_name = names.fresh(base + "_nbits"), s_name = names.fresh(base + "_scales");
  g.initializers[b_name] = packed.b;
  g.initializers[s_name] = packed.scales;
  std::vector<std::string> inputs{layer.input, b_name, s_name};
  if (packed.zero_points.defined()) {
    inputs.push_back(names.fresh(base + "_zero_points"));
    g.initializers[inputs.back()] = packed.zero_points;
  }
  const std::string node_name =
      layer.node.empty() ? names.fresh(base + "_MatMulNBits") : layer.node;
  const std::string product =
      layer.bias.defined() ? names.fresh(layer.node_output + "_nbits") : layer.output;
  Attributes attrs{
      {"K", layer.k()}, {"N", layer.n()}, {"bits", int64_t{q.bits}}, {"block_size", q.block_size}};
  if (accuracy_level != 0) attrs.set("accuracy_level", int64_t{accuracy_level});
  std::vector<nn::Node> nodes;
  nodes.push_back({node_name,
                   "MatMulNBits",
                   "com.microsoft",
                   inputs,
                   {product},
                   nn::attrs_with(std::move(attrs))});
  if (layer.bias.defined()) {
    const std::string bias_name = names.fresh(base + "_bias");
    g.initializers[bias_name] = layer.bias;
    nodes.push_back(
        {names.fresh(node_name + "_bias"), "Add", "", {product, bias_name}, {layer.output}});
  }
  const size_t at = remove_linear_layer(g, layer);
  g.nodes.insert(g.nodes.begin() + static_cast<std::ptrdiff_t>(at), nodes.begin(), nodes.end());
  g.opsets["com.microsoft"] = 1;
}

nn::Graph dequantize_matmul_nbits(const nn::Graph& graph) {
  nn::Graph g = graph;
  nn::NameScope names(g);
  std::vector<nn::Node> bias_adds;  // appended after the loop; validate() orders them
  for (auto& node : g.nodes) {
    if (node.op_type != "MatMulNBits" || node.domain != "com.microsoft") continue;
    auto constant = [&](size_t i) -> Tensor {
      if (i >= node.inputs.size() || node.inputs[i].empty()) return {};
      auto it = g.initializers.find(node.inputs[i]);
      if (it == g.initializers.end()) {
        throw Error(fmt::format("MatMulNBits '{}': input {} ('{}') is not an initializer",
                                node.name, i, node.inputs[i]),
                    ErrorKind::kUnsupported);
      }
      return it->second;
    };
    TAMP_CHECK(node.inputs.size() >= 3, "MatMulNBits '{}' has {} inputs, needs at least 3",
               node.name, node.inputs.size());
    if (node.inputs.size() > 4 && !node.inputs[4].empty()) {
      throw Error(fmt::format("MatMulNBits '{}' uses g_idx, which the simulation does not support",
                              node.name),
                  ErrorKind::kUnsupported);
    }
    const Attributes& a = *node.attrs;
    MatMulNBitsWeights w{constant(1),      constant(2), constant(3),
                         a.i("K"),         a.i("N"),    static_cast<int>(a.i("bits")),
                         a.i("block_size")};
    const Tensor w_kn = to_output_major(dequantize(w));  // [N, K] transposed: [K, N]
    const std::string weight = names.fresh(node.inputs[1] + "_dequantized");
    g.initializers[weight] = w_kn;
    const Tensor bias = node.inputs.size() > 5 ? constant(5) : Tensor();
    std::string product = node.outputs.at(0);
    if (bias.defined()) {
      product = names.fresh(product + "_matmul");
      const std::string bias_name = names.fresh(node.inputs[5] + "_bias");
      g.initializers[bias_name] = bias;
      bias_adds.push_back(
          {names.fresh(node.name + "_bias"), "Add", "", {product, bias_name}, {node.outputs[0]}});
    }
    node = nn::Node{node.name, "MatMul", "", {node.inputs[0], weight}, {product}};
  }
  g.nodes.insert(g.nodes.end(), bias_adds.begin(), bias_adds.end());
  remove_unused(g);
  g.validate();
  return g;
}

WeightOnlyResult quantize_weight_only(const nn::Graph& graph,
                                      const std::vector<CalibrationBatch>& calibration,
                                      const WeightOnlyOptions& options) {
  options.weights.validate();
  check_matmul_nbits_format(options.weights.bits, 16);
  TAMP_CHECK(options.accuracy_level >= 0 && options.accuracy_level <= 4,
             "MatMulNBits accuracy_level must be in 0..4, got {}", options.accuracy_level);
  WeightOnlyResult result{graph, {}};
  nn::Graph& g = result.graph;
  const LinearLayerOptions find{options.exclude};
  const std::vector<LinearLayer> layers = find_linear_layers(g, find);
  require_linear_layers(g, layers, find);
  for (const auto& l : layers) {
    TAMP_WITH_CONTEXT(fmt::format("layer '{}' (K {}, N {})", l.node, l.k(), l.n()),
                      block_size_for(options.weights, l.k()));
  }
  const bool gptq = options.algorithm == WeightOnlyAlgorithm::kGptq;
  if (gptq && calibration.empty()) {
    throw Error("GPTQ needs calibration data, but the calibration set is empty",
                ErrorKind::kInvalidInput, "give calibration batches, or use RTN, which needs none");
  }
  // Layers reading the same value (attention's q, k and v) are calibrated together.
  std::vector<std::vector<size_t>> groups;
  std::map<std::string, size_t> group_of;
  for (size_t i = 0; i < layers.size(); ++i) {
    auto [it, fresh] = group_of.emplace(layers[i].input, groups.size());
    if (fresh) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  std::vector<std::optional<HessianAccumulator>> hessians(layers.size());
  const bool one_pass = !calibration.empty() && !(gptq && options.sequential);
  if (one_pass) {
    std::vector<size_t> all(layers.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = i;
    accumulate_hessians(g, layers, all, calibration, hessians);
  }
  for (const auto& group : groups) {
    if (gptq && options.sequential) accumulate_hessians(g, layers, group, calibration, hessians);
    std::vector<BlockQuantized> quantized;
    for (size_t l : group) {
      const LinearLayer& layer = layers[l];
      try {
        const Tensor w_nk = to_output_major(layer.weight);
        if (gptq && hessians[l]->rows() == 0) {
          throw Error("the calibration batches hold no rows for this layer (empty batches)",
                      ErrorKind::kInvalidInput);
        }
        BlockQuantized q =
            gptq ? gptq_quantize(w_nk, hessians[l]->hessian(), options.weights, options.gptq)
                 : quantize_blocks_rtn(w_nk, options.weights);
        result.layers.push_back(report_for(layer, w_nk, q, hessians[l]));
        quantized.push_back(std::move(q));
      } catch (Error& e) {
        e.add_context(fmt::format("quantizing layer '{}'", layer.node));
        throw;
      }
    }
    for (size_t i = 0; i < group.size(); ++i) {
      rewrite_as_matmul_nbits(g, layers[group[i]], quantized[i], options.accuracy_level);
    }
  }
  remove_unused(g);
  g.validate();
  return result;
}

}  // namespace tamp::compression
