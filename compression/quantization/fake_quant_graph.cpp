#include <tamp/compression/quantization/fake_quant_graph.h>
#include <tamp/compression/quantization/observers/observer.h>
#include <tamp/nn/graph_edit.h>

#include <tamp/autograd/op.h>

#include <algorithm>
#include <cmath>

namespace tamp::compression {

namespace {

constexpr const char* kBypassSuffix = "_bypass";

}  // namespace

Attributes fake_quantize_attrs(const QuantSpec& spec, double grad_factor) {
  Attributes a;
  if (spec.per_channel) a.set("axis", static_cast<int64_t>(spec.axis));
  a.set("quant_min", spec.quant_min());
  a.set("quant_max", spec.quant_max());
  if (grad_factor != 1.0) a.set("grad_factor", static_cast<float>(grad_factor));
  return a;
}

namespace {

nn::Node fake_quantize_node(const FakeQuantSite& s, const std::string& output) {
  return {s.node,
          "FakeQuantize",
          std::string(kTampDomain),
          {s.input, s.scale, s.zero_point},
          {output},
          nn::attrs_with(fake_quantize_attrs(s.spec))};
}

// The weight's readers named in the plan (compute nodes, Transposes) read its fake-quantized
// copy.
FakeQuantSite weight_site(nn::Graph& g, nn::NameScope& names, const WeightSite& w,
                          const QuantSpec& weights) {
  FakeQuantSite s;
  s.is_weight = true;
  s.value = s.input = w.weight;
  s.spec = weights;
  const Tensor& t = g.initializers.at(w.weight);
  if (s.spec.per_channel) {
    if (w.axis < 0 || t.rank() < 1)
      s.spec.per_channel = false;
    else
      s.spec.axis = w.axis;
  }
  s.output = names.fresh(w.weight + "_quantized");
  s.node = names.fresh(w.weight + "_FakeQuantize");
  s.scale = names.fresh(w.weight + "_scale");
  s.zero_point = names.fresh(w.weight + "_zero_point");
  QuantParams p = weight_qparams(s.spec, t);
  g.initializers[s.scale] = p.scale;
  g.initializers[s.zero_point] = p.zero_point;
  const auto reads = [&](const std::string& node) {
    return std::find(w.nodes.begin(), w.nodes.end(), node) != w.nodes.end() ||
           std::find(w.transposes.begin(), w.transposes.end(), node) != w.transposes.end();
  };
  for (auto& n : g.nodes) {
    if (!reads(n.name)) continue;
    for (auto& in : n.inputs)
      if (in == w.weight) in = s.output;
  }
  return s;
}

// Every reader of activation `v` reads its fake-quantized value; with `bypass` an Identity
// carries the float value until activate_fake_quantize switches the FakeQuantize in.
FakeQuantSite activation_site(nn::Graph& g, nn::NameScope& names, const std::string& v,
                              const QuantSpec& activations, bool bypass,
                              std::vector<nn::Node>& added) {
  FakeQuantSite s;
  s.value = v;
  s.spec = activations;
  s.spec.per_channel = false;  // activations are quantized per tensor (what ORT fuses)
  s.node = names.fresh(v + "_FakeQuantize");
  s.scale = names.fresh(v + "_scale");
  s.zero_point = names.fresh(v + "_zero_point");
  const int p = g.producer(v);
  if (p >= 0) {
    // Readers keep reading `v`; the producer now writes the float value under a new name.
    s.input = names.fresh(v + "_float");
    for (auto& o : g.nodes[static_cast<size_t>(p)].outputs)
      if (o == v) o = s.input;
    s.output = v;
  } else {
    // A graph input (or initializer used as an activation): readers move to the new value.
    s.input = v;
    s.output = names.fresh(v + "_quantized");
    replace_uses(g, v, s.output);
  }
  QuantParams q = choose_qparams(s.spec, Tensor::scalar(0.0), Tensor::scalar(0.0));
  g.initializers[s.scale] = q.scale;
  g.initializers[s.zero_point] = q.zero_point;
  std::string y = s.output;
  if (bypass) {
    s.bypass_node = s.node + kBypassSuffix;
    y = names.fresh(s.node + "_unused");
    added.push_back({s.bypass_node, "Identity", "", {s.input}, {s.output}, nn::attrs_with({})});
  }
  added.push_back(fake_quantize_node(s, y));
  return s;
}

}  // namespace

std::vector<FakeQuantSite> insert_fake_quantize(nn::Graph& g, const QuantPlan& plan,
                                                const QuantSpec& weights,
                                                const QuantSpec& activations, bool bypass) {
  weights.validate();
  activations.validate();
  nn::NameScope names(g);
  g.opsets[std::string(kTampDomain)] = 1;
  std::vector<FakeQuantSite> sites;
  std::vector<nn::Node> added;
  for (const auto& w : plan.weights) {
    sites.push_back(weight_site(g, names, w, weights));
    added.push_back(fake_quantize_node(sites.back(), sites.back().output));
  }
  for (const auto& v : plan.activations)
    sites.push_back(activation_site(g, names, v, activations, bypass, added));
  g.nodes.insert(g.nodes.end(), added.begin(), added.end());
  g.validate();  // puts the new nodes in topological order
  return sites;
}

void activate_fake_quantize(nn::Graph& g, std::vector<FakeQuantSite>& sites) {
  for (auto& s : sites) {
    if (s.bypass_node.empty()) continue;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (g.nodes[i].name == s.bypass_node) {
        g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(i));
        break;
      }
    }
    for (auto& n : g.nodes)
      if (n.name == s.node) n.outputs = {s.output};
    s.bypass_node.clear();
  }
  remove_unused(g);
  g.validate();
}

std::vector<FakeQuantSite> find_fake_quantize(const nn::Graph& g) {
  std::vector<FakeQuantSite> sites;
  for (const auto& n : g.nodes) {
    if (n.op_type != "FakeQuantize" || canonical_domain(n.domain) != kTampDomain) continue;
    TAMP_CHECK(n.inputs.size() == 3 && n.outputs.size() == 1,
               "FakeQuantize '{}' needs 3 inputs and 1 output", n.name);
    FakeQuantSite s;
    s.node = n.name;
    s.input = n.inputs[0];
    s.scale = n.inputs[1];
    s.zero_point = n.inputs[2];
    s.output = n.outputs[0];
    s.is_weight = g.initializers.count(s.input) != 0;
    s.value = s.is_weight ? s.input : s.output;
    if (const nn::Node* b = g.find_node(n.name + kBypassSuffix); b && b->op_type == "Identity") {
      s.bypass_node = b->name;
      s.value = b->outputs.at(0);
    } else if (!s.is_weight && g.producer(s.input) < 0) {
      s.value = s.input;
    }
    const int64_t qmin = n.attrs->i("quant_min", -128), qmax = n.attrs->i("quant_max", 127);
    TAMP_CHECK(qmin < qmax && qmax - qmin <= 255,
               "FakeQuantize '{}' has integer range [{}, {}]: more than 8 bits", n.name, qmin,
               qmax);
    s.spec.is_signed = qmin < 0;
    s.spec.narrow_range = qmin < 0 && qmin == -qmax;
    s.spec.bits =
        static_cast<int>(std::ceil(std::log2(static_cast<double>(qmax - qmin + 1)) - 1e-9));
    auto it = g.initializers.find(s.scale);
    s.spec.per_channel =
        it != g.initializers.end() && it->second.rank() == 1 && n.attrs->has("axis");
    s.spec.axis = static_cast<int>(n.attrs->i("axis", 0));
    auto zp = g.initializers.find(s.zero_point);
    bool zero_centred = zp != g.initializers.end();
    if (zero_centred) {
      const double mid =
          s.spec.is_signed ? 0.0 : std::floor(static_cast<double>(qmin + qmax + 1) / 2);
      for (int64_t i = 0; i < zp->second.numel(); ++i)
        zero_centred = zero_centred && zp->second.at(i) == mid;
    }
    s.spec.symmetric = zero_centred;
    sites.push_back(s);
  }
  return sites;
}

}  // namespace tamp::compression
