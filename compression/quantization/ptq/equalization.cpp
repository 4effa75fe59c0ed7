#include <tamp/compression/quantization/batch_norm_folding.h>
#include <tamp/compression/quantization/fake_quant_graph.h>
#include <tamp/compression/quantization/ptq/equalization.h>
#include <tamp/nn/graph_edit.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace tamp::compression {

namespace {

struct Pair {
  size_t first, second;  // Conv node indices
};

int node_index(const nn::Graph& g, const std::string& name) {
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].name == name) return static_cast<int>(i);
  return -1;
}

// A float initializer read by this node only (scaling it must not change another node).
bool own_float(const nn::Graph& g, const std::string& name) {
  auto it = g.initializers.find(name);
  return it != g.initializers.end() && it->second.dtype() == DType::kFloat32 &&
         g.consumers(name).size() == 1;
}

// The scalar value of an optional Clip bound; nullopt-like NaN when it is not a constant.
double clip_bound(const nn::Graph& g, const nn::Node& n, size_t input, const char* attr,
                  double absent) {
  if (g.opset(n.domain) < 11)
    return n.attrs->has(attr) ? n.attrs->f(attr, static_cast<float>(absent)) : absent;
  if (n.inputs.size() <= input || n.inputs[input].empty()) return absent;
  auto it = g.initializers.find(n.inputs[input]);
  if (it == g.initializers.end() || it->second.numel() != 1)
    return std::numeric_limits<double>::quiet_NaN();
  return it->second.item();
}

enum class Activation { kHomogeneous, kRelu6, kOther };

// Per-channel ops that commute with a positive per-channel scale: f(x / s) = f(x) / s.
Activation classify(const nn::Graph& g, const nn::Node& n) {
  if (!n.domain.empty()) return Activation::kOther;
  if (n.op_type == "Relu" || n.op_type == "LeakyRelu" || n.op_type == "MaxPool" ||
      n.op_type == "AveragePool") {
    return n.outputs.size() == 1 || n.outputs[1].empty() ? Activation::kHomogeneous
                                                         : Activation::kOther;
  }
  if (n.op_type != "Clip") return Activation::kOther;
  const double lo = clip_bound(g, n, 1, "min", -std::numeric_limits<double>::infinity());
  const double hi = clip_bound(g, n, 2, "max", std::numeric_limits<double>::infinity());
  if (lo != 0) return Activation::kOther;  // NaN (not constant) lands here too
  if (std::isinf(hi) && hi > 0) return Activation::kHomogeneous;
  return hi > 0 ? Activation::kRelu6 : Activation::kOther;
}

bool excluded(const EqualizationOptions& o, const nn::Node& n) {
  return std::find(o.exclude.begin(), o.exclude.end(), n.name) != o.exclude.end();
}

bool is_float_conv(const nn::Graph& g, const nn::Node& n) {
  if (n.op_type != "Conv" || !n.domain.empty() || n.inputs.size() < 2 || !own_float(g, n.inputs[1]))
    return false;
  if (g.initializers.at(n.inputs[1]).rank() < 3) return false;
  return n.inputs.size() < 3 || n.inputs[2].empty() || own_float(g, n.inputs[2]);
}

// The single reader of `value`, or -1 (none, several, or `value` is a graph output).
int only_reader(const nn::Graph& g, const std::string& value) {
  if (is_graph_output(g, value)) return -1;
  const auto readers = g.consumers(value);
  return readers.size() == 1 ? readers[0] : -1;
}

// Finds the pairs (and turns their ReLU6 into Relu when asked); fills r.pairs. Between the
// two Convs: a chain of single-reader ops that commute with the scaling (classify).
std::vector<Pair> find_pairs(nn::Graph& g, const EqualizationOptions& o, EqualizationReport& r) {
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!is_float_conv(g, g.nodes[i]) || excluded(o, g.nodes[i])) continue;
    std::string joined = g.nodes[i].outputs[0];
    std::vector<size_t> relu6;
    int next = only_reader(g, joined);
    bool ok = next >= 0;
    while (ok && g.nodes[static_cast<size_t>(next)].op_type != "Conv") {
      const Activation kind = classify(g, g.nodes[static_cast<size_t>(next)]);
      if (kind == Activation::kOther) ok = false;
      if (kind == Activation::kRelu6) relu6.push_back(static_cast<size_t>(next));
      joined = g.nodes[static_cast<size_t>(next)].outputs[0];
      next = ok ? only_reader(g, joined) : -1;
      ok = ok && next >= 0;
    }
    if (!ok) continue;
    const nn::Node& second = g.nodes[static_cast<size_t>(next)];
    if (!is_float_conv(g, second) || excluded(o, second) || second.inputs[0] != joined) continue;
    const int64_t channels = g.initializers.at(g.nodes[i].inputs[1]).dim(0);
    const Tensor& w2 = g.initializers.at(second.inputs[1]);
    if (w2.dim(1) * second.attrs->i("group", 1) != channels) continue;
    if (!relu6.empty() && !o.relu6_to_relu) {
      ++r.skipped_relu6;
      continue;
    }
    for (size_t k : relu6) {
      nn::Node& clip = g.nodes[k];
      clip.op_type = "Relu";
      clip.inputs.resize(1);
      clip.attrs = nn::attrs_with({});
      ++r.relu6_replaced;
    }
    r.pairs.emplace_back(g.nodes[i].name, second.name);
  }
  remove_unused(g);  // a replaced Clip's bounds
  std::vector<Pair> out;
  for (const auto& [a, b] : r.pairs) {
    out.push_back({static_cast<size_t>(node_index(g, a)), static_cast<size_t>(node_index(g, b))});
  }
  return out;
}

// Largest |w| per output channel (axis 0).
std::vector<double> output_ranges(const Tensor& w) {
  const int64_t c = w.dim(0), per = w.numel() / c;
  std::vector<double> r(static_cast<size_t>(c), 0.0);
  for (int64_t o = 0; o < c; ++o) {
    const float* p = w.data<float>() + o * per;
    for (int64_t k = 0; k < per; ++k)
      r[static_cast<size_t>(o)] = std::max(r[static_cast<size_t>(o)], std::fabs(double(p[k])));
  }
  return r;
}

// Calls f(input_channel, pointer to the kernel) for every (output channel, input slot) of a
// grouped Conv weight [Cout, Cin / group, k...]: input channel = group * (Cin / group) + slot.
template <class F> void for_input_channels(Tensor& w, int64_t group, F&& f) {
  const int64_t cout = w.dim(0), slots = w.dim(1), kernel = w.numel() / (cout * slots),
                per_group = cout / group;
  for (int64_t o = 0; o < cout; ++o) {
    for (int64_t s = 0; s < slots; ++s)
      f((o / per_group) * slots + s, w.data<float>() + (o * slots + s) * kernel, kernel);
  }
}

// One pass over a pair; returns the largest |ln s_i|.
double equalize_pair(nn::Graph& g, const Pair& p) {
  const nn::Node& a = g.nodes[p.first];
  const nn::Node& b = g.nodes[p.second];
  Tensor w1 = g.initializers.at(a.inputs[1]).clone();
  Tensor w2 = g.initializers.at(b.inputs[1]).clone();
  const int64_t group = b.attrs->i("group", 1);
  const std::vector<double> r1 = output_ranges(w1);
  std::vector<double> r2(r1.size(), 0.0);
  for_input_channels(w2, group, [&](int64_t i, const float* k, int64_t n) {
    for (int64_t j = 0; j < n; ++j)
      r2[static_cast<size_t>(i)] = std::max(r2[static_cast<size_t>(i)], std::fabs(double(k[j])));
  });
  std::vector<double> s(r1.size(), 1.0);
  double change = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (r1[i] > 0 && r2[i] > 0) s[i] = std::sqrt(r1[i] * r2[i]) / r2[i];  // a dead channel stays
    change = std::max(change, std::fabs(std::log(s[i])));
  }
  const int64_t per = w1.numel() / w1.dim(0);
  for (int64_t o = 0; o < w1.dim(0); ++o) {
    float* p1 = w1.data<float>() + o * per;
    for (int64_t k = 0; k < per; ++k) p1[k] = static_cast<float>(p1[k] / s[static_cast<size_t>(o)]);
  }
  for_input_channels(w2, group, [&](int64_t i, float* k, int64_t n) {
    for (int64_t j = 0; j < n; ++j) k[j] = static_cast<float>(k[j] * s[static_cast<size_t>(i)]);
  });
  g.initializers[a.inputs[1]] = w1;
  g.initializers[b.inputs[1]] = w2;
  if (a.inputs.size() > 2 && !a.inputs[2].empty()) {
    Tensor b1 = g.initializers.at(a.inputs[2]).clone();
    for (int64_t o = 0; o < b1.numel(); ++o)
      b1.data<float>()[o] = static_cast<float>(b1.data<float>()[o] / s[static_cast<size_t>(o)]);
    g.initializers[a.inputs[2]] = b1;
  }
  return change;
}

}  // namespace

EqualizationReport equalize_cross_layer(nn::Graph& g, const EqualizationOptions& o) {
  TAMP_CHECK(o.max_iterations >= 1 && o.tolerance >= 0,
             "equalization: max_iterations {} must be positive and "
             "tolerance {} not negative",
             o.max_iterations, o.tolerance);
  if (!find_fake_quantize(g).empty()) {
    throw Error(
        "cross-layer equalization rescales float weights, and this model is quantized already",
        ErrorKind::kInvalidInput, "equalize before quantizing (equalization before ptq)");
  }
  EqualizationReport r;
  release_training_modes(g);
  r.folded_batch_norms = fold_batch_norms(g, o.exclude);
  const std::vector<Pair> pairs = find_pairs(g, o, r);
  while (!pairs.empty() && r.iterations < o.max_iterations) {
    ++r.iterations;
    double change = 0;
    for (const auto& p : pairs) change = std::max(change, equalize_pair(g, p));
    if (change < o.tolerance) break;
  }
  return r;
}

void CrossLayerEqualization::attach(nn::GraphModule& model, nn::Collective&) {
  nn::Graph g = model.export_graph();
  report_ = equalize_cross_layer(g, options_);
  model.set_graph(std::move(g));
}

}  // namespace tamp::compression
