#include <tamp/compression/quantization/batch_norm_folding.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace tamp::compression {

namespace {

bool used(const nn::Graph& g, const std::string& v) {
  if (!g.consumers(v).empty()) return true;
  for (const auto& o : g.outputs)
    if (o.name == v) return true;
  return false;
}

const Tensor* float_initializer(const nn::Graph& g, const std::string& name, int64_t numel) {
  auto it = g.initializers.find(name);
  if (it == g.initializers.end() || it->second.dtype() != DType::kFloat32) return nullptr;
  if (numel >= 0 && it->second.numel() != numel) return nullptr;
  return &it->second;
}

// Folds BN node `b` into Conv node `c` when the pattern holds; returns whether it did.
bool fold_one(nn::Graph& g, size_t c, size_t b, std::vector<FoldedBatchNorm>* record) {
  nn::Node& conv = g.nodes[c];
  const nn::Node bn = g.nodes[b];
  if (bn.inputs.size() < 5 || conv.inputs.size() < 2) return false;
  for (size_t k = 1; k < bn.outputs.size(); ++k)
    if (!bn.outputs[k].empty() && used(g, bn.outputs[k])) return false;
  const Tensor* w = float_initializer(g, conv.inputs[1], -1);
  if (!w || w->rank() < 2) return false;
  const int64_t channels = w->dim(0);
  const Tensor* gamma = float_initializer(g, bn.inputs[1], channels);
  const Tensor* beta = float_initializer(g, bn.inputs[2], channels);
  const Tensor* mean = float_initializer(g, bn.inputs[3], channels);
  const Tensor* var = float_initializer(g, bn.inputs[4], channels);
  const bool has_bias = conv.inputs.size() > 2 && !conv.inputs[2].empty();
  const Tensor* bias = has_bias ? float_initializer(g, conv.inputs[2], channels) : nullptr;
  if (!gamma || !beta || !mean || !var || (has_bias && !bias)) return false;
  // A weight or bias shared with another node cannot change for this one alone.
  if (g.consumers(conv.inputs[1]).size() != 1 ||
      (has_bias && g.consumers(conv.inputs[2]).size() != 1))
    return false;

  const double eps = bn.attrs->f("epsilon", 1e-5f);
  Tensor new_w = w->clone();
  Tensor new_b = Tensor::empty({channels});
  const int64_t per_channel = w->numel() / channels;
  for (int64_t o = 0; o < channels; ++o) {
    const double v = var->data<float>()[o];
    TAMP_CHECK(
        v + eps > 0,
        "BatchNormalization '{}': running variance {} of channel {} plus epsilon is not positive",
        bn.name, v, o);
    const double f = gamma->data<float>()[o] / std::sqrt(v + eps);
    float* wo = new_w.data<float>() + o * per_channel;
    for (int64_t i = 0; i < per_channel; ++i) wo[i] = static_cast<float>(wo[i] * f);
    const double b0 = bias ? bias->data<float>()[o] : 0.0;
    new_b.data<float>()[o] =
        static_cast<float>((b0 - mean->data<float>()[o]) * f + beta->data<float>()[o]);
  }
  const std::string bias_name = has_bias ? conv.inputs[2] : bn.inputs[2];
  if (record) {
    record->push_back({conv.name, conv.inputs[1], bias_name, w->clone(),
                       bias ? bias->clone() : Tensor(), bn, gamma->clone(), beta->clone(),
                       mean->clone(), var->clone()});
  }
  g.initializers[conv.inputs[1]] = new_w;
  if (conv.inputs.size() < 3) conv.inputs.resize(3);
  conv.inputs[2] = bias_name;
  conv.outputs[0] = bn.outputs[0];
  g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(b));
  for (size_t k = 1; k < bn.inputs.size(); ++k) {
    const std::string& in = bn.inputs[k];
    if (in != bias_name && !in.empty() && !used(g, in)) g.initializers.erase(in);
  }
  g.initializers[bias_name] = new_b;
  return true;
}

}  // namespace

int fold_batch_norms(nn::Graph& g, const std::vector<std::string>& exclude,
                     std::vector<FoldedBatchNorm>* record) {
  auto is_excluded = [&](const nn::Node& n) {
    return std::find(exclude.begin(), exclude.end(), n.name) != exclude.end();
  };
  int folded = 0;
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t b = 0; b < g.nodes.size() && !changed; ++b) {
      const nn::Node& bn = g.nodes[b];
      if (bn.op_type != "BatchNormalization" || is_excluded(bn) || bn.inputs.empty()) continue;
      const int c = g.producer(bn.inputs[0]);
      if (c < 0) continue;
      const nn::Node& conv = g.nodes[static_cast<size_t>(c)];
      if (conv.op_type != "Conv" || is_excluded(conv)) continue;
      if (g.consumers(bn.inputs[0]).size() != 1 || !used(g, bn.outputs[0])) continue;
      bool graph_output = false;
      for (const auto& o : g.outputs) graph_output = graph_output || o.name == bn.inputs[0];
      if (graph_output) continue;
      if (fold_one(g, static_cast<size_t>(c), b, record)) {
        ++folded;
        changed = true;
      }
    }
  }
  return folded;
}

}  // namespace tamp::compression
