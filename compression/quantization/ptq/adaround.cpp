#include <tamp/compression/quantization/ptq/adaround.h>

#include <tamp/autograd/apply.h>
#include <tamp/autograd/random.h>
#include <tamp/compression/quantization/fake_quant_graph.h>
#include <tamp/compression/quantization/quant_plan.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace tamp::compression {

namespace {

constexpr float kZeta = 1.1f, kGamma = -0.1f;

float sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }
float rectified(float v) { return std::clamp(sigmoid(v) * (kZeta - kGamma) + kGamma, 0.0f, 1.0f); }

// Rows `idx` of x along axis 0.
Tensor take_rows(const Tensor& x, const std::vector<int64_t>& idx) {
  Shape s = x.shape();
  const size_t row = x.nbytes() / static_cast<size_t>(s[0]);
  s[0] = static_cast<int64_t>(idx.size());
  Tensor out = Tensor::empty(s, x.dtype());
  auto* dst = static_cast<char*>(out.raw_data());
  const auto* src = static_cast<const char*>(x.raw_data());
  for (size_t i = 0; i < idx.size(); ++i)
    std::memcpy(dst + i * row, src + static_cast<size_t>(idx[i]) * row, row);
  return out;
}

Tensor concat_rows(const std::vector<Tensor>& parts) {
  Shape s = parts.at(0).shape();
  s[0] = 0;
  for (const Tensor& p : parts) s[0] += p.dim(0);
  Tensor out = Tensor::empty(s, parts[0].dtype());
  auto* dst = static_cast<char*>(out.raw_data());
  for (const Tensor& p : parts) {
    std::memcpy(dst, p.raw_data(), p.nbytes());
    dst += p.nbytes();
  }
  return out;
}

// The layer's output for inputs x and weight w (a Variable, so gradients reach it).
Variable layer_output(const nn::Node& node, const Variable& x, const Variable& w,
                      const std::vector<Tensor>& inputs) {
  std::vector<Variable> in{x, w};
  for (size_t i = 2; i < inputs.size(); ++i)
    in.push_back(inputs[i].defined() ? Variable(inputs[i]) : Variable());
  return apply1(node.op_type, in, *node.attrs);
}

// Σ over a sample's outputs of (a − b)², mean over the samples (axis 0).
double per_example_sse(const Tensor& a, const Tensor& b) {
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) s += static_cast<double>(pa[i] - pb[i]) * (pa[i] - pb[i]);
  return s / static_cast<double>(a.dim(0));
}

// The layer's output over all of x, in chunks, without a tape.
Tensor full_output(const nn::Node& node, const Tensor& x, const Tensor& w,
                   const std::vector<Tensor>& inputs) {
  NoGradGuard no_grad;
  std::vector<Tensor> parts;
  for (int64_t at = 0; at < x.dim(0); at += 64) {
    std::vector<int64_t> idx;
    for (int64_t i = at; i < std::min(x.dim(0), at + 64); ++i) idx.push_back(i);
    parts.push_back(layer_output(node, Variable(take_rows(x, idx)), Variable(w), inputs).value());
  }
  return concat_rows(parts);
}

// Per weight: floor(W / s) + zp, the step s, the nearest grid point, whether the weight may
// move at all, and the rounding variable's start (its fractional part, inverted through the
// rectified sigmoid).
struct Rounding {
  std::vector<float> base, step, nearest;
  std::vector<uint8_t> free;
  std::vector<float> v;

  template <typename Channel> Rounding(const nn::Node& node, const Tensor& w, const Tensor& scale,
                                       const Tensor& zero_point, Channel channel, int64_t qmin,
                                       int64_t qmax) {
    const int64_t n = w.numel();
    const float* pw = w.data<float>();
    const float* ps = scale.data<float>();
    const float* pz = zero_point.data<float>();
    base.resize(static_cast<size_t>(n));
    step.resize(static_cast<size_t>(n));
    nearest.resize(static_cast<size_t>(n));
    free.resize(static_cast<size_t>(n));
    v.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const float s = ps[channel(i)], zp = pz[channel(i)];
      TAMP_CHECK(s > 0, "AdaRound: '{}' has a non-positive scale", node.name);
      const float r = pw[i] / s, f = std::floor(r);
      base[i] = f + zp;
      step[i] = s;
      nearest[i] =
          std::clamp(std::nearbyint(r) + zp, static_cast<float>(qmin), static_cast<float>(qmax));
      free[i] = base[i] >= static_cast<float>(qmin) && base[i] + 1 <= static_cast<float>(qmax);
      const float frac = std::clamp(r - f, 1e-4f, 1 - 1e-4f);
      v[i] = -std::log((kZeta - kGamma) / (frac - kGamma) - 1);
    }
  }
};

// One Adam step on the rounding variables v (moments m, sq) at step t: the reconstruction
// gradient gw (d loss / d weight) through the rectified sigmoid, plus, after the warm-up,
// the regularizer that pushes each rounding to 0 or 1 with an annealed beta.
void adam_step(std::vector<float>& v, std::vector<float>& m, std::vector<float>& sq,
               const Rounding& r, const float* gw, int64_t t, const AdaRoundOptions& o) {
  const int64_t warm = static_cast<int64_t>(o.warmup * static_cast<double>(o.steps));
  const bool reg = t >= warm;
  const double frac =
      reg ? static_cast<double>(t - warm) / std::max<int64_t>(1, o.steps - warm) : 0;
  const float beta = static_cast<float>(o.beta_start + (o.beta_end - o.beta_start) * frac);
  const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
  const float c1 = 1 - std::pow(b1, static_cast<float>(t + 1)),
              c2 = 1 - std::pow(b2, static_cast<float>(t + 1));
  for (size_t i = 0; i < v.size(); ++i) {
    if (!r.free[i]) continue;
    const float sg = sigmoid(v[i]), raw = sg * (kZeta - kGamma) + kGamma;
    const float dh = raw > 0 && raw < 1 ? sg * (1 - sg) * (kZeta - kGamma) : 0.0f;
    float g = gw[i] * r.step[i] * dh;
    if (reg) {
      const float h = std::clamp(raw, 0.0f, 1.0f), u = 2 * h - 1;
      const float du =
          u == 0 ? 0.0f : -beta * std::pow(std::abs(u), beta - 1) * (u > 0 ? 1.0f : -1.0f) * 2;
      g += static_cast<float>(o.reg_weight) * du * dh;
    }
    m[i] = b1 * m[i] + (1 - b1) * g;
    sq[i] = b2 * sq[i] + (1 - b2) * g * g;
    v[i] -= static_cast<float>(o.lr) * (m[i] / c1) / (std::sqrt(sq[i] / c2) + eps);
  }
}

}  // namespace

Tensor adaround_weight(const nn::Node& node, const Tensor& w, const Tensor& scale,
                       const Tensor& zero_point, int axis, int64_t qmin, int64_t qmax,
                       const Tensor& x, const std::vector<Tensor>& inputs, const AdaRoundOptions& o,
                       AdaRoundLayer* report) {
  TAMP_CHECK(
      w.dtype() == DType::kFloat32 && x.dtype() == DType::kFloat32 && x.rank() >= 1 && x.dim(0) > 0,
      "AdaRound: '{}' needs float32 weights and a non-empty float32 input", node.name);
  const int64_t n = w.numel(), channels = scale.numel();
  TAMP_CHECK(zero_point.numel() == channels && (channels == 1 || w.dim(axis) == channels),
             "AdaRound: '{}': {} scales for a weight of shape {}", node.name, channels,
             to_string(w.shape()));
  int64_t inner = 1;
  if (channels > 1)
    for (int d = axis + 1; d < w.rank(); ++d) inner *= w.dim(d);
  auto channel = [&](int64_t i) { return channels == 1 ? 0 : (i / inner) % channels; };
  const float* pz = zero_point.data<float>();
  Rounding rounding(node, w, scale, zero_point, channel, qmin, qmax);
  const std::vector<float>&base = rounding.base, &step = rounding.step, &nearest = rounding.nearest;
  const std::vector<uint8_t>& free = rounding.free;
  std::vector<float>& v = rounding.v;
  auto grid = [&](const std::vector<float>& q) {
    Tensor t = Tensor::empty(w.shape());
    float* p = t.data<float>();
    for (int64_t i = 0; i < n; ++i) p[i] = step[i] * (q[i] - pz[channel(i)]);
    return t;
  };
  const Tensor target = full_output(node, x, w, inputs);
  const Tensor w_nearest = grid(nearest);

  std::vector<float> m(static_cast<size_t>(n), 0.0f), sq(static_cast<size_t>(n), 0.0f),
      q(static_cast<size_t>(n));
  Generator rng(o.seed);
  const int64_t batch = std::min(o.batch, x.dim(0));
  for (int64_t t = 0; t < o.steps; ++t) {
    std::vector<int64_t> idx(static_cast<size_t>(batch));
    for (auto& i : idx) i = static_cast<int64_t>(rng.below(static_cast<uint64_t>(x.dim(0))));
    for (int64_t i = 0; i < n; ++i) q[i] = free[i] ? base[i] + rectified(v[i]) : nearest[i];
    Variable wt(grid(q), true);
    const Variable y = layer_output(node, Variable(take_rows(x, idx)), wt, inputs);
    const Tensor yt = take_rows(target, idx);
    // d/dy of Σ (y − yt)² / batch.
    Tensor seed = Tensor::empty(y.shape());
    const float* py = y.value().data<float>();
    const float* pt = yt.data<float>();
    float* pg = seed.data<float>();
    for (int64_t i = 0; i < seed.numel(); ++i)
      pg[i] = 2.0f * (py[i] - pt[i]) / static_cast<float>(batch);
    y.backward(seed);
    const float* gw = wt.grad().data<float>();
    adam_step(v, m, sq, rounding, gw, t, o);
  }
  int64_t changed = 0;
  for (int64_t i = 0; i < n; ++i) {
    q[i] = free[i] ? base[i] + (rectified(v[i]) >= 0.5f ? 1.0f : 0.0f) : nearest[i];
    changed += q[i] != nearest[i];
  }
  const Tensor w_learned = grid(q);
  AdaRoundLayer r{node.name, node.inputs[1]};
  r.mse_nearest = per_example_sse(full_output(node, x, w_nearest, inputs), target);
  r.mse_adaround = per_example_sse(full_output(node, x, w_learned, inputs), target);
  r.changed = changed;
  r.kept_nearest = r.mse_adaround > r.mse_nearest;
  if (report) *report = r;
  return r.kept_nearest ? w_nearest : w_learned;
}

AdaRound::AdaRound(AdaRoundOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  TAMP_CHECK(o.steps >= 0 && o.batch > 0 && o.max_examples > 0,
             "AdaRound: steps >= 0, batch > 0 and max_examples > 0");
  TAMP_CHECK(o.lr > 0 && o.reg_weight >= 0 && o.warmup >= 0 && o.warmup <= 1 && o.beta_start > 0 &&
                 o.beta_end > 0,
             "AdaRound: lr > 0, reg_weight >= 0, warmup in [0, 1] and positive betas");
}

void AdaRound::attach(nn::GraphModule& model, nn::Collective&) {
  const auto sites = find_fake_quantize(model.graph());
  const bool any =
      std::any_of(sites.begin(), sites.end(), [](const FakeQuantSite& s) { return s.is_weight; });
  if (!any) {
    throw Error(
        "AdaRound learns the rounding of fake-quantized weights: the model has none (run it after "
        "a ptq stage)",
        ErrorKind::kInvalidInput);
  }
}

void AdaRound::on_calibration_batch(const Batch& batch) {
  if (examples_ >= options_.max_examples) return;
  std::map<std::string, Tensor> kept;
  int64_t rows = 0;
  for (const auto& [name, v] : batch.inputs) {
    const int64_t take = std::min(v.value().dim(0), options_.max_examples - examples_);
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < take; ++i) idx.push_back(i);
    kept[name] = take_rows(v.value(), idx);
    rows = take;
  }
  examples_ += rows;
  inputs_.push_back(std::move(kept));
}

void AdaRound::finalize(nn::GraphModule& model) {
  TAMP_CHECK(!inputs_.empty(), "AdaRound: no calibration batch was seen");
  model.eval();
  const auto& ex = options_.exclude;
  auto excluded = [&](const nn::Node& n) {
    return std::find(ex.begin(), ex.end(), n.name) != ex.end() ||
           std::find(ex.begin(), ex.end(), n.op_type) != ex.end();
  };
  for (const FakeQuantSite& site : find_fake_quantize(model.graph())) {
    if (!site.is_weight) continue;
    const nn::Graph& g = model.graph();
    const auto readers = g.consumers(site.output);
    if (readers.size() != 1) continue;
    const nn::Node node = g.nodes[static_cast<size_t>(readers[0])];
    if (!is_quantizable_compute(node.op_type) || node.op_type == "ConvTranspose" ||
        node.inputs.size() < 2 || node.inputs[1] != site.output || excluded(node)) {
      continue;
    }
    std::vector<Tensor> parts;
    {
      NoGradGuard no_grad;
      for (const auto& b : inputs_) {
        std::map<std::string, Variable> in;
        for (const auto& [name, t] : b) in.emplace(name, Variable(t));
        parts.push_back(model.forward(in, {node.inputs[0]}).at(node.inputs[0]).value());
      }
    }
    std::vector<Tensor> others(node.inputs.size());
    bool constant = true;  // a computed bias makes no layer AdaRound can replay
    for (size_t i = 2; i < node.inputs.size(); ++i) {
      if (node.inputs[i].empty()) continue;
      auto it = g.initializers.find(node.inputs[i]);
      constant = constant && it != g.initializers.end();
      if (constant) others[i] = it->second;
    }
    if (!constant) continue;
    const int axis = site.spec.per_channel ? site.spec.axis : 0;
    AdaRoundLayer report;
    Tensor learned;
    TAMP_WITH_CONTEXT(fmt::format("AdaRound of '{}'", node.name),
                      learned = adaround_weight(
                          node, g.initializers.at(site.input), g.initializers.at(site.scale),
                          g.initializers.at(site.zero_point), axis, site.spec.quant_min(),
                          site.spec.quant_max(), concat_rows(parts), others, options_, &report));
    report.weight = site.input;
    layers_.push_back(report);
    nn::Graph edited = model.export_graph();
    edited.initializers[site.input] = learned;
    model.set_graph(std::move(edited));
  }
  inputs_.clear();
}

}  // namespace tamp::compression
