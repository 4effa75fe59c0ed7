#include <tamp/compression/quantization/fake_quant_graph.h>
#include <tamp/compression/quantization/observers/observer.h>
#include <tamp/nn/graph_cost.h>
#include <tamp/scheduler/evaluate.h>
#include <tamp/scheduler/tuning/detail/trial_graph.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

namespace tamp::tuning {

using namespace compression;

namespace {

// The quantized compute op whose settings an activation point takes.
std::map<std::string, std::string> point_owners(const nn::Graph& g, const QuantPlan& plan) {
  const std::set<std::string> compute(plan.compute_nodes.begin(), plan.compute_nodes.end());
  std::map<std::string, std::string> owner;
  for (const auto& p : plan.activations) {
    std::string v = p;
    for (int guard = 0; guard < 64; ++guard) {  // up through Relu and pass-through ops
      const int i = g.producer(v);
      if (i < 0) break;
      const nn::Node& n = g.nodes[static_cast<size_t>(i)];
      if (compute.count(n.name)) {
        owner[p] = n.name;
        break;
      }
      if ((n.op_type != "Relu" && !is_pass_through(n.op_type)) || n.inputs.empty()) break;
      v = n.inputs[0];
    }
    if (owner.count(p)) continue;
    for (const auto& name : plan.compute_nodes) {
      const nn::Node* n = g.find_node(name);
      bool reads = false;
      for (const auto& in : n->inputs)
        reads = reads || (!in.empty() && quantization_source(g, in, plan.activations) == p);
      if (reads) {
        owner[p] = name;
        break;
      }
    }
  }
  return owner;
}

void set_attrs(nn::Graph& g, const std::string& node, const QuantSpec& spec) {
  for (auto& n : g.nodes) {
    if (n.name == node) n.attrs = nn::attrs_with(fake_quantize_attrs(spec));
  }
}

}  // namespace

void apply_quantization(nn::Graph& g, const QuantPlan& plan, const TrialSettings& st,
                        CalibrationCache& cache) {
  const auto owners = point_owners(g, plan);
  std::map<std::string, std::string> weight_owner;
  for (const auto& w : plan.weights) weight_owner[w.weight] = w.nodes.at(0);
  auto sites =
      insert_fake_quantize(g, plan, qint8_per_channel, quint8, /*bypass_activations=*/false);
  for (const auto& s : sites) {
    QuantParams p;
    QuantSpec spec;
    if (s.is_weight) {
      const std::string& op = weight_owner.at(s.value);
      spec = qint8;
      spec.per_channel =
          s.spec.per_channel && st.setting(op, "granularity", "per_channel") == "per_channel";
      spec.axis = s.spec.axis;
      spec.narrow_range = st.weight_narrow_range;
      spec = weights_for_target(spec, quint8, st.target);
      auto [lo, hi] = channel_min_max(g.initializers.at(s.input), spec.per_channel, spec.axis);
      p = choose_qparams(spec, lo, hi);
    } else {
      auto o = owners.find(s.value);
      const std::string op = o == owners.end() ? std::string() : o->second;
      spec = quint8;
      spec.symmetric = st.setting(op, "scheme", "asym") == "sym";
      spec.observer.kind = observer_from_name(st.setting(op, "calibration", "minmax"));
      spec.observer.percentile = st.percentile;
      TAMP_WITH_CONTEXT(fmt::format("activation '{}'", s.value), p = cache.qparams(s.value, spec));
    }
    g.initializers[s.scale] = p.scale;
    g.initializers[s.zero_point] = p.zero_point;
    set_attrs(g, s.node, spec);
  }
  g.metadata[std::string(kTargetMetadataKey)] = std::string(export_target_name(st.target));
}

std::vector<std::string> calibration_values(const nn::Graph& g, const std::vector<std::string>& ops,
                                            const std::vector<std::string>& exclude) {
  std::vector<std::string> values;
  auto add = [&](const std::vector<std::string>& vs) {
    for (const auto& v : vs)
      if (std::find(values.begin(), values.end(), v) == values.end()) values.push_back(v);
  };
  if (ops.empty()) return values;
  add(plan_quantization(g, {.exclude = exclude}).activations);
  for (const auto& op : ops) {
    std::vector<std::string> without = exclude, alone = exclude;
    without.push_back(op);
    for (const auto& other : ops)
      if (other != op) alone.push_back(other);
    if (ops.size() > 1) add(plan_quantization(g, {.exclude = without}).activations);
    add(plan_quantization(g, {.exclude = alone}).activations);
  }
  for (const auto& op : ops) {
    const nn::Node* n = g.find_node(op);
    if (!n->inputs.empty() && !g.initializers.count(n->inputs[0])) add({n->inputs[0]});
    if (!n->outputs.empty()) add({n->outputs[0]});
  }
  return values;
}

std::map<std::string, int64_t> macs_per_example(const nn::Graph& g,
                                                const std::vector<std::string>& ops,
                                                const std::map<std::string, Shape>& shapes) {
  std::map<std::string, Shape> all = shapes;  // the calibration values, and the weights
  for (const auto& [name, t] : g.initializers) all.emplace(name, t.shape());
  std::map<std::string, int64_t> macs;
  for (const auto& op : ops) {
    const nn::Node* n = g.find_node(op);
    if (!n || n->outputs.empty()) continue;
    auto out = all.find(n->outputs[0]);
    if (out == all.end() || out->second.empty() || out->second[0] == 0) continue;
    if (const int64_t m = nn::node_macs(*n, all); m > 0) macs[op] = m / out->second[0];
  }
  return macs;
}

bool weight_has_channel_axis(const nn::Graph& g, const std::string& op, const std::string& weight) {
  const QuantPlan plan = plan_quantization(g, {});
  for (const auto& w : plan.weights) {
    if (w.weight == weight) return w.axis >= 0;
  }
  return false;
}

void prune_by_magnitude(nn::Graph& g, const std::string& weight, double sparsity) {
  Tensor t = g.initializers.at(weight).clone();
  TAMP_CHECK(t.dtype() == DType::kFloat32, "pruning '{}': weight is not float32", weight);
  const int64_t n = t.numel();
  const auto k = static_cast<int64_t>(std::llround(sparsity * static_cast<double>(n)));
  if (k <= 0) return;
  float* x = t.data<float>();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return std::fabs(x[a]) < std::fabs(x[b]); });
  for (int64_t i = 0; i < std::min(k, n); ++i) x[order[static_cast<size_t>(i)]] = 0.0f;
  g.initializers[weight] = t;
}

double relative_mse(const Tensor& a, const Tensor& b) {
  TAMP_CHECK(a.shape() == b.shape() && a.dtype() == DType::kFloat32 && b.dtype() == DType::kFloat32,
             "relative MSE of {} and {}", describe(a), describe(b));
  double num = 0, den = 0;
  const float* x = a.data<float>();
  const float* y = b.data<float>();
  for (int64_t i = 0; i < a.numel(); ++i) {
    num += (static_cast<double>(y[i]) - x[i]) * (static_cast<double>(y[i]) - x[i]);
    den += static_cast<double>(x[i]) * x[i];
  }
  return den > 0 ? num / den : num;
}

}  // namespace tamp::tuning
