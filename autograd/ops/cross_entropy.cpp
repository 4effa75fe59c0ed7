// SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss (ONNX opset 12+), fused: one pass
// for the loss, one for the gradient, no intermediate graph of Softmax/Log/Gather nodes.
// The tamp-domain SoftmaxCrossEntropyLoss is the ONNX op plus PyTorch's `label_smoothing`
// attribute (losses are training-only, so the extension never reaches an exported model).
//
// Semantics (ONNX): scores (N, C, d1..dk), labels (N, d1..dk) int32/int64, optional class
// weights (C). Per position l = -w[t] * log p[t]; a label equal to ignore_index contributes
// 0 and no weight. reduction "mean" divides the sum by the summed weights of the positions
// kept, "sum" sums, "none" returns (N, d1..dk). With label smoothing e (PyTorch):
// l = (1 - e) * w[t] * -log p[t] + (e / C) * sum_c w[c] * -log p[c], same denominator.
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/loss_helpers.h>

namespace tamp::ops {

namespace {

struct LabelView {
  const int64_t* i64 = nullptr;
  const int32_t* i32 = nullptr;
  int64_t operator[](int64_t i) const { return i64 ? i64[i] : i32[i]; }
};

// Validated inputs of both ops.
struct ClassLoss {
  ClassAxis g;
  LabelView labels;
  Tensor weights;  // (C) or undefined
  bool has_ignore = false;
  int64_t ignore_index = 0;
  Reduction reduction = Reduction::kMean;
  Shape loss_shape;  // shape of the "none" output: scores without the class dim
  bool ignored(int64_t t) const { return has_ignore && t == ignore_index; }
};

ClassLoss check_class_loss(const Tensor& x, const Tensor& labels, const Tensor& weights,
                           const Attributes& attrs) {
  ClassLoss s;
  TAMP_CHECK(x.rank() >= 2, "scores {} must have rank >= 2 (N, C, d1..dk)", describe(x));
  TAMP_CHECK(labels.dtype() == DType::kInt64 || labels.dtype() == DType::kInt32,
             "labels must be int64 or int32, got {}", describe(labels));
  s.loss_shape = x.shape();
  s.loss_shape.erase(s.loss_shape.begin() + 1);
  TAMP_CHECK(labels.shape() == s.loss_shape, "labels {} do not match scores {}: expected shape {}",
             describe(labels), describe(x), to_string(s.loss_shape));
  s.g = class_axis(x.shape(), 1);
  if (labels.dtype() == DType::kInt64)
    s.labels.i64 = labels.data<int64_t>();
  else
    s.labels.i32 = labels.data<int32_t>();
  if (weights.defined()) {
    expect_same_dtype(x, weights, "scores and weights");
    TAMP_CHECK(weights.rank() == 1 && weights.dim(0) == s.g.classes,
               "weights {} must be 1-D with one weight per class ({})", describe(weights),
               s.g.classes);
    s.weights = weights;
  }
  s.has_ignore = attrs.has("ignore_index");
  if (s.has_ignore) s.ignore_index = attrs.i("ignore_index");
  s.reduction = parse_reduction(attrs, "mean", {"none", "sum", "mean"});
  for (int64_t i = 0; i < s.g.lines(); ++i) {
    const int64_t t = s.labels[i];
    if (s.ignored(t)) continue;
    TAMP_CHECK(t >= 0 && t < s.g.classes, "label {} at position {} is outside [0, {}){}", t, i,
               s.g.classes,
               s.has_ignore ? fmt::format(" and is not ignore_index ({})", s.ignore_index) : "");
  }
  return s;
}

// Reduces per-position losses (none: kept) and returns the "mean" denominator in `denom`.
template <class T>
Tensor reduce_loss(const ClassLoss& s, Tensor per_position, double weight_sum, double& denom) {
  denom = s.reduction == Reduction::kMean ? weight_sum : 1.0;
  if (s.reduction == Reduction::kNone) return per_position;
  const T* l = per_position.data<T>();
  double total = 0;
  for (int64_t i = 0; i < per_position.numel(); ++i) total += l[i];
  return Tensor::scalar(total / denom, per_position.dtype());
}

// Gradient scale of position `line`: dL/dl_line.
template <class T>
T position_scale(const ClassLoss& s, const Tensor& g, int64_t line, double denom) {
  if (s.reduction == Reduction::kNone) return g.data<T>()[line];
  return static_cast<T>(g.data<T>()[0] / denom);
}

// What both losses keep for backward. SoftmaxCrossEntropyLoss keeps the log-probabilities in
// `scores`; NegativeLogLikelihoodLoss keeps its input, of which backward reads the shape and
// dtype (keeping it costs no copy).
struct Saved {
  Tensor scores, labels, weights;  // weights undefined when omitted
  double denom = 1;                // the reduction's divisor
};

ClassLoss saved_spec(const OpContext& ctx) {
  // Re-parses attributes; labels and weights come from the saved tensors.
  const Saved& saved = ctx.saved_as<Saved>();
  return check_class_loss(saved.scores, saved.labels, saved.weights, ctx.attrs());
}

// ---- SoftmaxCrossEntropyLoss ----

std::vector<Tensor> sce_forward_impl(OpContext& ctx, const std::vector<Tensor>& in, double eps) {
  const Tensor& x = input(in, 0, "scores");
  const Tensor& labels = input(in, 1, "labels");
  const Tensor weights = optional_input(in, 2);
  const ClassLoss s = check_class_loss(x, labels, weights, ctx.attrs());
  TAMP_CHECK(eps >= 0 && eps <= 1, "label_smoothing {} must be in [0, 1]", eps);
  Tensor log_prob = Tensor::empty(x.shape(), x.dtype());
  Tensor per_position = Tensor::empty(s.loss_shape, x.dtype());
  double weight_sum = 0, denom = 1;
  Tensor loss = dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const ClassAxis& g = s.g;
    T* lp = log_prob.data<T>();
    log_softmax_lines<T>(x.data<T>(), lp, g, T(1));
    const T* w = s.weights.defined() ? s.weights.data<T>() : nullptr;
    T* l = per_position.data<T>();
    const T keep = T(1 - eps), spread = T(eps / static_cast<double>(g.classes));
    for (int64_t line = 0; line < g.lines(); ++line) {
      const int64_t t = s.labels[line];
      if (s.ignored(t)) {
        l[line] = 0;
        continue;
      }
      const T* lpl = lp + g.base(line);
      const T wt = w ? w[t] : T(1);
      T v = -keep * wt * lpl[t * g.inner];
      if (eps > 0) {
        T smooth = 0;
        for (int64_t c = 0; c < g.classes; ++c) smooth += (w ? w[c] : T(1)) * lpl[c * g.inner];
        v -= spread * smooth;
      }
      l[line] = v;
      weight_sum += wt;
    }
    return reduce_loss<T>(s, per_position, weight_sum, denom);
  });
  if (ctx.any_grad()) ctx.save(Saved{log_prob, labels, weights, denom});
  return {loss, log_prob};
}

std::vector<Tensor> sce_backward_impl(OpContext& ctx, const std::vector<Tensor>& grads,
                                      double eps) {
  const Tensor& log_prob = ctx.saved_as<Saved>().scores;
  const ClassLoss s = saved_spec(ctx);
  const double denom = ctx.saved_as<Saved>().denom;
  const Tensor& g_loss = grads[0];
  const Tensor g_lp = grads.size() > 1 ? grads[1] : Tensor();
  Tensor dx = Tensor::empty(log_prob.shape(), log_prob.dtype());
  dispatch_float(log_prob.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const ClassAxis& g = s.g;
    const T* lp = log_prob.data<T>();
    const T* glp = g_lp.defined() ? g_lp.data<T>() : nullptr;
    const T* w = s.weights.defined() ? s.weights.data<T>() : nullptr;
    T* d = dx.data<T>();
    const T keep = T(1 - eps), spread = T(eps / static_cast<double>(g.classes));
    T weight_total = 0;
    for (int64_t c = 0; c < g.classes; ++c) weight_total += w ? w[c] : T(1);
    kernels::parallel_for(g.lines(), line_grain(g), [&](int64_t begin, int64_t end) {
      for (int64_t line = begin; line < end; ++line) {
        const int64_t b = g.base(line), t = s.labels[line];
        const bool skip = s.ignored(t) || !g_loss.defined();
        const T scale = skip ? T(0) : position_scale<T>(s, g_loss, line, denom);
        const T wt = skip ? T(0) : (w ? w[t] : T(1));
        // d/dx_c of the smoothed loss: p_c * (keep*w_t + spread*sum(w)) - keep*w_t*[c==t] -
        // spread*w_c
        const T a = scale * (keep * wt + spread * weight_total);
        T glp_sum = 0;
        if (glp)
          for (int64_t c = 0; c < g.classes; ++c) glp_sum += glp[b + c * g.inner];
        for (int64_t c = 0; c < g.classes; ++c) {
          const int64_t k = b + c * g.inner;
          const T p = std::exp(lp[k]);
          T v = skip ? T(0) : p * a - scale * spread * (w ? w[c] : T(1));
          if (glp) v += glp[k] - p * glp_sum;
          d[k] = v;
        }
        if (!skip) d[b + t * g.inner] -= scale * keep * wt;
      }
    });
  });
  return {dx, Tensor(), Tensor()};
}

std::vector<Tensor> sce_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  return sce_forward_impl(ctx, in, 0.0);
}
std::vector<Tensor> sce_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  return sce_backward_impl(ctx, g, 0.0);
}
std::vector<Tensor> smoothed_sce_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  return sce_forward_impl(ctx, in, ctx.attrs().f("label_smoothing", 0.0f));
}
std::vector<Tensor> smoothed_sce_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  return sce_backward_impl(ctx, g, ctx.attrs().f("label_smoothing", 0.0f));
}

// ---- NegativeLogLikelihoodLoss: the input already holds log-probabilities ----

std::vector<Tensor> nll_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "input");
  const Tensor& labels = input(in, 1, "target");
  const Tensor weights = optional_input(in, 2);
  const ClassLoss s = check_class_loss(x, labels, weights, ctx.attrs());
  Tensor per_position = Tensor::empty(s.loss_shape, x.dtype());
  double weight_sum = 0, denom = 1;
  Tensor loss = dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    const T* w = s.weights.defined() ? s.weights.data<T>() : nullptr;
    T* l = per_position.data<T>();
    for (int64_t line = 0; line < s.g.lines(); ++line) {
      const int64_t t = s.labels[line];
      if (s.ignored(t)) {
        l[line] = 0;
        continue;
      }
      const T wt = w ? w[t] : T(1);
      l[line] = -wt * px[s.g.base(line) + t * s.g.inner];
      weight_sum += wt;
    }
    return reduce_loss<T>(s, per_position, weight_sum, denom);
  });
  if (ctx.any_grad()) ctx.save(Saved{x, labels, weights, denom});
  return {loss};
}

std::vector<Tensor> nll_backward(OpContext& ctx, const std::vector<Tensor>& grads) {
  const ClassLoss s = saved_spec(ctx);
  const Tensor& x = ctx.saved_as<Saved>().scores;
  const double denom = ctx.saved_as<Saved>().denom;
  Tensor dx = Tensor::zeros(x.shape(), x.dtype());
  dispatch_float(dx.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* w = s.weights.defined() ? s.weights.data<T>() : nullptr;
    T* d = dx.data<T>();
    for (int64_t line = 0; line < s.g.lines(); ++line) {
      const int64_t t = s.labels[line];
      if (s.ignored(t)) continue;
      d[s.g.base(line) + t * s.g.inner] =
          -(w ? w[t] : T(1)) * position_scale<T>(s, grads[0], line, denom);
    }
  });
  return {dx, Tensor(), Tensor()};
}

}  // namespace

OpDef negative_log_likelihood_loss_op() {
  return {"", "NegativeLogLikelihoodLoss", 12, &nll_forward, &nll_backward, {2}};
}
OpDef softmax_cross_entropy_loss_op() {
  return {"", "SoftmaxCrossEntropyLoss", 12, &sce_forward, &sce_backward, {2}};
}
OpDef tamp_softmax_cross_entropy_loss_op() {
  return {std::string(kTampDomain), "SoftmaxCrossEntropyLoss", 1,
          &smoothed_sce_forward,    &smoothed_sce_backward,    {2}};
}

}  // namespace tamp::ops
