#include <tamp/compression/quantization/qat/batch_norm_qat.h>
#include <tamp/nn/graph_edit.h>

#include <tamp/autograd/op.h>

#include <algorithm>
#include <cmath>

namespace tamp::compression {

namespace {

constexpr const char* kFrozen = "tamp_frozen_statistics";

nn::Node& node_named(nn::Graph& g, const std::string& name) {
  for (auto& n : g.nodes)
    if (n.name == name) return n;
  throw Error(
      fmt::format("the graph has no node '{}' (was it rewritten since QAT attached?)", name));
}

float epsilon_of(const nn::Node& bn) { return bn.attrs->f("epsilon", 1e-5f); }

// [-1, 1, ..., 1] (rank entries, the channel first) or [1, -1, 1, ...] (channel second).
Tensor channel_shape(int rank, int channel_axis) {
  Tensor t = Tensor::empty({rank}, DType::kInt64);
  for (int k = 0; k < rank; ++k) t.data<int64_t>()[k] = k == channel_axis ? -1 : 1;
  return t;
}

const Tensor& init(const nn::Graph& g, const std::string& name) {
  auto it = g.initializers.find(name);
  TAMP_CHECK(it != g.initializers.end() && it->second.dtype() == DType::kFloat32,
             "QAT BatchNorm: '{}' is not a float initializer any more", name);
  return it->second;
}

}  // namespace

Tensor live_folded_weight(const Tensor& w, const Tensor& gamma, const Tensor& var, float eps) {
  const int64_t channels = w.dim(0), per = w.numel() / std::max<int64_t>(1, channels);
  TAMP_CHECK(gamma.numel() == channels && var.numel() == channels,
             "weight {} and BatchNorm scale {} / var {} disagree", describe(w), describe(gamma),
             describe(var));
  Tensor out = Tensor::empty(w.shape(), DType::kFloat32);
  for (int64_t o = 0; o < channels; ++o) {
    // Add, Sqrt, Div, Mul: one rounding each, as the graph's float32 kernels do.
    const float sd = std::sqrt(var.data<float>()[o] + eps);
    const float s = gamma.data<float>()[o] / sd;
    const float* src = w.data<float>() + o * per;
    float* dst = out.data<float>() + o * per;
    for (int64_t i = 0; i < per; ++i) dst[i] = src[i] * s;
  }
  return out;
}

namespace {

nn::Node& weight_fake_quantize(nn::Graph& g, const FoldedBatchNorm& f) {
  for (auto& n : g.nodes) {
    if (n.op_type == "FakeQuantize" && !n.inputs.empty() && n.inputs[0] == f.weight) return n;
  }
  throw Error(fmt::format("QAT BatchNorm: no FakeQuantize reads the weight '{}' of Conv '{}'",
                          f.weight, f.conv));
}

// The Conv's weight and bias and the BatchNormalization's parameters as before folding.
void restore_unfolded_parameters(nn::Graph& g, const FoldedBatchNorm& f) {
  g.initializers[f.weight] = f.weight_before.clone();
  if (f.conv_bias_before.defined()) g.initializers[f.bias] = f.conv_bias_before.clone();
  g.initializers[f.bn.inputs[1]] = f.gamma.clone();
  g.initializers[f.bn.inputs[2]] = f.beta.clone();
  g.initializers[f.bn.inputs[3]] = f.mean.clone();
  g.initializers[f.bn.inputs[4]] = f.var.clone();
}

}  // namespace

LiveBatchNorm unfold_for_training(nn::Graph& g, const FoldedBatchNorm& f) {
  LiveBatchNorm live;
  live.fold = f;
  nn::Node* fq = &weight_fake_quantize(g, f);
  live.fake_quantize = fq->name;
  nn::NameScope names(g);
  const int rank = f.weight_before.rank();
  const std::string& gamma = f.bn.inputs[1];
  const std::string& beta = f.bn.inputs[2];
  const std::string& mean = f.bn.inputs[3];
  const std::string& var = f.bn.inputs[4];
  const bool has_bias = f.conv_bias_before.defined();
  const std::string base = f.bn.name;
  auto value = [&](const char* suffix) { return names.fresh(base + suffix); };
  std::vector<nn::Node> added;
  auto add = [&](const std::string& op, std::vector<std::string> in, std::vector<std::string> out,
                 Attributes a = {}) {
    added.push_back({names.fresh(base + "/qat_" + op), op, "", std::move(in), std::move(out),
                     nn::attrs_with(std::move(a))});
    live.nodes.push_back(added.back().name);
  };

  const std::string eps = value("_epsilon"), var_eps = value("_var_eps"), sd = value("_std"),
                    s = value("_scale_factor");
  const std::string shape_w = value("_weight_shape"), shape_y = value("_channel_shape");
  const std::string s_w = value("_scale_factor_weight"), inv = value("_inverse_scale_factor");
  const std::string inv_y = value("_inverse_scale_factor_channel");
  live.folded_weight = names.fresh(f.weight + "_folded");
  add("Constant", {}, {eps},
      Attributes{{"value", Tensor::scalar(epsilon_of(f.bn), DType::kFloat32)}});
  add("Add", {var, eps}, {var_eps});
  add("Sqrt", {var_eps}, {sd});
  add("Div", {gamma, sd}, {s});
  add("Reshape", {s, shape_w}, {s_w});
  add("Mul", {f.weight, s_w}, {live.folded_weight});
  fq->inputs[0] = live.folded_weight;

  nn::Node& conv = node_named(g, f.conv);
  const std::string out = conv.outputs.at(0);
  live.conv_output = names.fresh(out + "_conv");
  conv.outputs[0] = live.conv_output;
  conv.inputs.resize(2);
  if (has_bias) {
    // (Conv(x, W s) + b s) / s = Conv(x, W s) / s + b: the bias rides in the Conv, one pass
    // over the activations fewer (forward and backward).
    const std::string b_s = value("_bias_scaled");
    add("Mul", {f.bias, s}, {b_s});
    conv.inputs.push_back(b_s);
  }
  // Multiplying by 1/s is cheaper than dividing by s, above all in the backward pass.
  add("Div", {sd, gamma}, {inv});
  add("Reshape", {inv, shape_y}, {inv_y});
  const std::string y = value("_unscaled");
  add("Mul", {live.conv_output, inv_y}, {y});
  Attributes bn_attrs = *f.bn.attrs;
  bn_attrs.erase("training_mode");  // follows the module's train()/eval(), as torch's BN does
  added.push_back({f.bn.name,
                   "BatchNormalization",
                   "",
                   {y, gamma, beta, mean, var},
                   {out},
                   nn::attrs_with(std::move(bn_attrs))});
  live.nodes.push_back(f.bn.name);

  restore_unfolded_parameters(g, f);
  g.initializers[shape_w] = channel_shape(rank, 0);
  g.initializers[shape_y] = channel_shape(rank, 1);
  g.nodes.insert(g.nodes.end(), added.begin(), added.end());
  g.validate();  // topological order
  return live;
}

void set_batch_norm_frozen(nn::Graph& g, const LiveBatchNorm& live, bool frozen) {
  nn::Node& bn = node_named(g, live.fold.bn.name);
  Attributes a = *bn.attrs;
  if (frozen)
    a.set(kFrozen, int64_t{1});
  else
    a.erase(kFrozen);
  bn.attrs = nn::attrs_with(std::move(a));
}

void refold(nn::Graph& g, const LiveBatchNorm& live) {
  const FoldedBatchNorm& f = live.fold;
  const nn::Node bn = node_named(g, f.bn.name);
  const float eps = epsilon_of(bn);
  const Tensor& w = init(g, f.weight);
  const Tensor& gamma = init(g, bn.inputs[1]);
  const Tensor& beta = init(g, bn.inputs[2]);
  const Tensor& mean = init(g, bn.inputs[3]);
  const Tensor& var = init(g, bn.inputs[4]);
  const bool has_bias = f.conv_bias_before.defined();
  const int64_t channels = w.dim(0);
  Tensor new_w = live_folded_weight(w, gamma, var, eps);
  Tensor new_b = Tensor::empty({channels}, DType::kFloat32);
  for (int64_t o = 0; o < channels; ++o) {
    const float s = gamma.data<float>()[o] / std::sqrt(var.data<float>()[o] + eps);
    const float b0 = has_bias ? init(g, f.bias).data<float>()[o] : 0.0f;
    new_b.data<float>()[o] = (b0 - mean.data<float>()[o]) * s + beta.data<float>()[o];
  }
  nn::Node& conv = node_named(g, f.conv);
  conv.inputs.resize(3);
  conv.inputs[2] = f.bias;
  conv.outputs[0] = bn.outputs.at(0);
  node_named(g, live.fake_quantize).inputs[0] = f.weight;
  g.nodes.erase(std::remove_if(g.nodes.begin(), g.nodes.end(),
                               [&](const nn::Node& n) {
                                 return std::find(live.nodes.begin(), live.nodes.end(), n.name) !=
                                        live.nodes.end();
                               }),
                g.nodes.end());
  g.initializers[f.weight] = new_w;
  g.initializers[f.bias] = new_b;
  remove_unused(g);
  g.validate();
}

}  // namespace tamp::compression
