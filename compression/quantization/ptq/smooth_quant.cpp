#include <tamp/compression/quantization/ptq/smooth_quant.h>

#include <tamp/compression/quantization/ptq/linear_layers.h>
#include <tamp/nn/graph_edit.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace tamp::compression {

namespace {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A float initializer read by exactly one node (its edit changes nothing else).
bool private_initializer(const nn::Graph& g, const std::string& name, int64_t numel) {
  auto it = g.initializers.find(name);
  if (it == g.initializers.end() || it->second.dtype() != DType::kFloat32 ||
      it->second.numel() != numel)
    return false;
  for (const auto& in : g.inputs)
    if (in.name == name) return false;
  return g.consumers(name).size() == 1;
}

// A copy of initializer `name` ([R, C] or any shape of f.size() values when axis < 0) with
// element (r, c) multiplied (or divided) by f[r] (axis 0), f[c] (axis 1), f[flat] (axis < 0).
void scale_initializer(nn::Graph& g, const std::string& name, int axis, const std::vector<float>& f,
                       bool divide) {
  Tensor t = g.initializers.at(name).clone();
  float* p = t.data<float>();
  const int64_t cols = axis < 0 ? 1 : t.dim(1);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const size_t j = static_cast<size_t>(axis < 0 ? i : axis == 0 ? i / cols : i % cols);
    p[i] = divide ? p[i] / f[j] : p[i] * f[j];
  }
  g.initializers[name] = t;
}

const nn::Node& node_named(const nn::Graph& g, const std::string& name) {
  for (const auto& n : g.nodes)
    if (n.name == name) return n;
  throw Error(fmt::format("SmoothQuant: node '{}' is not in the graph", name),
              ErrorKind::kInvalidInput);
}

// The constant bias initializer of a linear layer (Gemm's C or the bias Add's constant), or "".
std::string bias_initializer(const nn::Graph& g, const LinearLayer& l) {
  if (l.op_type == "Gemm") {
    const nn::Node& n = node_named(g, l.node);
    return n.inputs.size() > 2 ? n.inputs[2] : "";
  }
  if (l.bias_add.empty()) return "";
  const nn::Node& add = node_named(g, l.bias_add);
  return g.initializers.count(add.inputs[0]) ? add.inputs[0] : add.inputs[1];
}

// Whether node `n` (a linear layer) has its weight stored transposed ([N, K]).
bool stored_transposed(const nn::Node& n) {
  return n.op_type == "Gemm" && n.attrs->i("transB", 0) != 0;
}

bool foldable_layer_norm(const nn::Graph& g, const nn::Node& n, int64_t k) {
  if (n.op_type != "LayerNormalization" || !n.domain.empty() || n.attrs->i("axis", -1) != -1)
    return false;
  for (size_t o = 1; o < n.outputs.size(); ++o)
    if (!n.outputs[o].empty() && !g.consumers(n.outputs[o]).empty()) return false;
  if (n.inputs.size() < 2 || !private_initializer(g, n.inputs[1], k)) return false;
  return n.inputs.size() < 3 || n.inputs[2].empty() || private_initializer(g, n.inputs[2], k);
}

// Fake quantization for the α search: x per tensor to uint8 (asymmetric min-max), w [K, N]
// per column to int8 symmetric [-127, 127].
void fake_quantize_activation(Matrix& x) {
  const float lo = std::min(0.0f, x.minCoeff()), hi = std::max(0.0f, x.maxCoeff());
  if (hi <= lo) return;
  const float s = (hi - lo) / 255.0f, zp = std::nearbyint(-lo / s);
  x = x.unaryExpr(
      [&](float v) { return (std::clamp(std::nearbyint(v / s) + zp, 0.0f, 255.0f) - zp) * s; });
}

void fake_quantize_columns(Matrix& w) {
  for (Eigen::Index c = 0; c < w.cols(); ++c) {
    const float m = w.col(c).cwiseAbs().maxCoeff();
    if (m == 0) continue;
    const float s = m / 127.0f;
    w.col(c) = w.col(c).unaryExpr(
        [&](float v) { return std::clamp(std::nearbyint(v / s), -127.0f, 127.0f) * s; });
  }
}

}  // namespace

std::vector<SmoothGroup> find_smooth_groups(const nn::Graph& g,
                                            const std::vector<std::string>& exclude) {
  const std::vector<LinearLayer> readers = find_linear_layers(g, {.exclude = exclude});
  const std::vector<LinearLayer> all = find_linear_layers(g);
  std::vector<SmoothGroup> groups;
  std::vector<std::string> seen;
  for (const LinearLayer& first : readers) {
    const std::string& v = first.input;
    if (std::find(seen.begin(), seen.end(), v) != seen.end()) continue;
    seen.push_back(v);
    if (is_graph_output(g, v)) continue;
    SmoothGroup grp{.value = v, .channels = first.k()};
    bool ok = true;
    for (int c : g.consumers(v)) {
      const nn::Node& n = g.nodes[static_cast<size_t>(c)];
      auto l = std::find_if(readers.begin(), readers.end(),
                            [&](const LinearLayer& r) { return r.node_output == n.outputs[0]; });
      ok = ok && l != readers.end() && n.inputs[0] == v && n.inputs[1] != v &&
           private_initializer(g, l->weight_name, l->k() * l->n());
      if (ok) grp.readers.push_back(n.name);
    }
    int p = g.producer(v);
    if (!ok || p < 0) continue;
    std::string y = v;
    if (g.nodes[static_cast<size_t>(p)].op_type == "Relu") {
      y = g.nodes[static_cast<size_t>(p)].inputs[0];
      grp.through_relu = true;
      if (is_graph_output(g, y) || g.consumers(y).size() != 1) continue;
      p = g.producer(y);
      if (p < 0) continue;
    }
    const nn::Node& prod = g.nodes[static_cast<size_t>(p)];
    if (foldable_layer_norm(g, prod, grp.channels)) {
      grp.producer = prod.name;
      grp.producer_op = prod.op_type;
      groups.push_back(std::move(grp));
      continue;
    }
    auto l =
        std::find_if(all.begin(), all.end(), [&](const LinearLayer& r) { return r.output == y; });
    if (l == all.end() || l->n() != grp.channels ||
        !private_initializer(g, l->weight_name, l->k() * l->n()))
      continue;
    const std::string b = bias_initializer(g, *l);
    if (!b.empty() && !private_initializer(g, b, l->n())) continue;
    grp.producer = l->node;
    grp.producer_op = l->op_type;
    groups.push_back(std::move(grp));
  }
  return groups;
}

std::vector<float> smoothing_factors(const std::vector<float>& act_absmax,
                                     const std::vector<float>& weight_absmax, double alpha) {
  TAMP_CHECK(act_absmax.size() == weight_absmax.size(),
             "SmoothQuant: {} activation channels, {} weight rows", act_absmax.size(),
             weight_absmax.size());
  if (!(alpha >= 0 && alpha <= 1))
    throw Error(fmt::format("SmoothQuant: alpha {} is outside [0, 1]", alpha),
                ErrorKind::kInvalidInput);
  std::vector<float> s(act_absmax.size(), 1.0f);
  for (size_t j = 0; j < s.size(); ++j) {
    const double a = act_absmax[j], w = weight_absmax[j];
    if (!(a > 0) || !(w > 0)) continue;
    s[j] = static_cast<float>(std::clamp(std::pow(a, alpha) / std::pow(w, 1 - alpha), 1e-5, 1e5));
  }
  return s;
}

std::vector<float> reader_weight_absmax(const nn::Graph& g, const SmoothGroup& group) {
  std::vector<float> m(static_cast<size_t>(group.channels), 0.0f);
  for (const auto& r : group.readers) {
    const nn::Node& n = node_named(g, r);
    const Tensor& w = g.initializers.at(n.inputs[1]);
    const bool t = stored_transposed(n);
    const float* p = w.data<float>();
    for (int64_t i = 0; i < w.numel(); ++i) {
      const size_t j = static_cast<size_t>(t ? i % w.dim(1) : i / w.dim(1));
      m[j] = std::max(m[j], std::abs(p[i]));
    }
  }
  return m;
}

void apply_smoothing(nn::Graph& g, const SmoothGroup& group, const std::vector<float>& s) {
  TAMP_CHECK(static_cast<int64_t>(s.size()) == group.channels,
             "SmoothQuant: {} factors for {} channels", s.size(), group.channels);
  for (float f : s)
    TAMP_CHECK(f > 0 && std::isfinite(f), "SmoothQuant: factor {} is not positive", f);
  const nn::Node& prod = node_named(g, group.producer);
  if (group.producer_op == "LayerNormalization") {
    scale_initializer(g, prod.inputs[1], -1, s, true);
    if (prod.inputs.size() > 2 && !prod.inputs[2].empty())
      scale_initializer(g, prod.inputs[2], -1, s, true);
  } else {
    LinearLayer l;
    for (const LinearLayer& c : find_linear_layers(g))
      if (c.node == group.producer) l = c;
    TAMP_CHECK(!l.node.empty(), "SmoothQuant: '{}' is no longer a linear layer", group.producer);
    scale_initializer(g, prod.inputs[1], stored_transposed(prod) ? 0 : 1, s, true);
    const std::string b = bias_initializer(g, l);
    if (!b.empty()) scale_initializer(g, b, -1, s, true);
  }
  for (const auto& r : group.readers) {
    const nn::Node& n = node_named(g, r);
    scale_initializer(g, n.inputs[1], stored_transposed(n) ? 1 : 0, s, false);
  }
}

SmoothQuant::SmoothQuant(SmoothQuantOptions options) : options_(std::move(options)) {
  if (!(options_.alpha >= 0 && options_.alpha <= 1)) {
    throw Error(fmt::format("SmoothQuant: alpha {} is outside [0, 1]", options_.alpha),
                ErrorKind::kInvalidInput);
  }
  TAMP_CHECK(options_.search_rows > 0, "SmoothQuant: search_rows must be positive");
}

void SmoothQuant::attach(nn::GraphModule& model, nn::Collective& collective) {
  model_ = &model;
  collective_ = &collective;
  groups_ = find_smooth_groups(model.graph(), options_.exclude);
  absmax_.assign(groups_.size(), {});
  rows_.assign(groups_.size(), {});
}

std::vector<std::string> SmoothQuant::extra_outputs() const {
  std::vector<std::string> out;
  for (const auto& g : groups_) out.push_back(g.value);
  return out;
}

void SmoothQuant::on_calibration_batch(const Batch& batch) {
  for (size_t i = 0; i < groups_.size(); ++i) {
    const Tensor& x = batch.values.at(groups_[i].value).value();
    const int64_t k = groups_[i].channels;
    TAMP_CHECK(x.dtype() == DType::kFloat32 && x.rank() >= 1 && x.shape().back() == k,
               "SmoothQuant: '{}' has shape {}, expected [..., {}]", groups_[i].value,
               to_string(x.shape()), k);
    auto& m = absmax_[i];
    if (m.empty()) m.assign(static_cast<size_t>(k), 0.0f);
    const float* p = x.data<float>();
    for (int64_t e = 0; e < x.numel(); ++e) {
      if (std::isnan(p[e]))
        throw Error(fmt::format("SmoothQuant: '{}' holds NaN", groups_[i].value),
                    ErrorKind::kNumerical);
      m[static_cast<size_t>(e % k)] = std::max(m[static_cast<size_t>(e % k)], std::abs(p[e]));
    }
    if (!options_.search_alpha) continue;
    auto& rows = rows_[i];
    const int64_t keep =
        std::min(x.numel() / k, options_.search_rows - static_cast<int64_t>(rows.size()) / k);
    if (keep > 0) rows.insert(rows.end(), p, p + keep * k);
  }
}

double SmoothQuant::search_alpha(size_t i, const std::vector<float>& act_absmax,
                                 const std::vector<float>& weight_absmax) const {
  const SmoothGroup& grp = groups_[i];
  const nn::Graph& g = model_->graph();
  const int64_t k = grp.channels, m = static_cast<int64_t>(rows_[i].size()) / k;
  const Eigen::Map<const Matrix> x(rows_[i].data(), m, k);
  std::vector<Matrix> w;  // readers' weights as [K, N]
  for (const auto& r : grp.readers) {
    const nn::Node& n = node_named(g, r);
    const Tensor& t = g.initializers.at(n.inputs[1]);
    const Eigen::Map<const Matrix> stored(t.data<float>(), t.dim(0), t.dim(1));
    w.push_back(stored_transposed(n) ? Matrix(stored.transpose()) : Matrix(stored));
  }
  double best = std::numeric_limits<double>::infinity(), best_alpha = options_.alpha;
  for (int step = 0; step <= 10; ++step) {
    const double alpha = step / 10.0;
    const std::vector<float> s = smoothing_factors(act_absmax, weight_absmax, alpha);
    const Eigen::Map<const Eigen::RowVectorXf> sv(s.data(), k);
    Matrix xq = x.array().rowwise() / sv.array();
    fake_quantize_activation(xq);
    double err = 0;
    for (const Matrix& wr : w) {
      Matrix wq = wr.array().colwise() * sv.transpose().array();
      fake_quantize_columns(wq);
      err += ((xq * wq) - x * wr).squaredNorm();
    }
    if (err < best) {
      best = err;
      best_alpha = alpha;
    }
  }
  return best_alpha;
}

void SmoothQuant::finalize(nn::GraphModule& model) {
  if (groups_.empty()) return;
  nn::Graph g = model.export_graph();
  for (size_t i = 0; i < groups_.size(); ++i) {
    auto& m = absmax_[i];
    if (m.empty()) {
      throw Error(fmt::format("SmoothQuant: '{}' was never observed (no calibration batch)",
                              groups_[i].value),
                  ErrorKind::kInvalidInput);
    }
    Tensor t = Tensor::from_vector<float>({groups_[i].channels}, m);
    collective_->allreduce(t, nn::Reduce::kMax);
    m = t.to_vector<float>();
    const std::vector<float> w = reader_weight_absmax(g, groups_[i]);
    double alpha =
        options_.search_alpha && !rows_[i].empty() ? search_alpha(i, m, w) : options_.alpha;
    Tensor a = Tensor::scalar(alpha, DType::kFloat64);
    collective_->broadcast(a);  // each rank searched its own rows: rank 0's choice holds
    groups_[i].alpha = alpha = a.item();
    apply_smoothing(g, groups_[i], smoothing_factors(m, w, groups_[i].alpha));
    // The α search reads the readers' weights from the model: keep it current.
    model.set_graph(g);
  }
  rows_.assign(groups_.size(), {});
}

}  // namespace tamp::compression
