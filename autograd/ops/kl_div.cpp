// tamp::SoftmaxKLDivLoss — the knowledge-distillation loss (Hinton et al.), fused:
//   loss = T^2 * KL(softmax(teacher / T) || softmax(student / T)), reduced
// along attribute `axis` (default -1, the class axis). reduction "batchmean" (default)
// divides the sum by dim 0 as PyTorch's kl_div does, "mean" by the element count, "sum"
// not at all. T^2 keeps the gradient's size independent of T. Both inputs are logits and
// both are differentiable (the teacher usually requires no gradient, and then gets none).
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/loss_helpers.h>

#include <vector>

namespace tamp::ops {

namespace {

struct Saved {
  Tensor q, lp;  // log_softmax(student / T), log_softmax(teacher / T)
};

struct KlSpec {
  ClassAxis g;
  double temperature = 1;
  double divisor = 1;
};

KlSpec check_kl(const Tensor& s, const Tensor& t, const Attributes& attrs) {
  TAMP_CHECK(s.shape() == t.shape(), "student {} and teacher {} logits must have the same shape",
             describe(s), describe(t));
  expect_same_dtype(s, t, "student and teacher");
  TAMP_CHECK(s.rank() >= 1, "logits {} must have rank >= 1", describe(s));
  KlSpec k;
  k.temperature = attrs.f("temperature", 1.0f);
  TAMP_CHECK(k.temperature > 0 && std::isfinite(k.temperature), "temperature {} must be positive",
             k.temperature);
  k.g = class_axis(s.shape(), normalize_axis(attrs.i("axis", -1), s.rank()));
  switch (parse_reduction(attrs, "batchmean", {"batchmean", "sum", "mean"})) {
    case Reduction::kBatchMean:
      k.divisor = static_cast<double>(s.dim(0));
      break;
    case Reduction::kMean:
      k.divisor = static_cast<double>(s.numel());
      break;
    default:
      k.divisor = 1;
      break;
  }
  return k;
}

std::vector<Tensor> kl_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& s = input(in, 0, "student");
  const Tensor& t = input(in, 1, "teacher");
  const KlSpec k = check_kl(s, t, ctx.attrs());
  Tensor q = Tensor::empty(s.shape(), s.dtype());   // log_softmax(student / T)
  Tensor lp = Tensor::empty(s.shape(), s.dtype());  // log_softmax(teacher / T)
  Tensor loss = dispatch_float(s.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const ClassAxis& g = k.g;
    const T inv = T(1 / k.temperature);
    log_softmax_lines<T>(s.data<T>(), q.data<T>(), g, inv);
    log_softmax_lines<T>(t.data<T>(), lp.data<T>(), g, inv);
    const T* pq = q.data<T>();
    const T* pl = lp.data<T>();
    std::vector<double> per_line(static_cast<size_t>(g.lines()));
    kernels::parallel_for(g.lines(), line_grain(g), [&](int64_t begin, int64_t end) {
      for (int64_t line = begin; line < end; ++line) {
        const int64_t b = g.base(line);
        T acc = 0;
        for (int64_t c = 0; c < g.classes; ++c) {
          const int64_t i = b + c * g.inner;
          acc += std::exp(pl[i]) * (pl[i] - pq[i]);
        }
        per_line[static_cast<size_t>(line)] = acc;
      }
    });
    double total = 0;  // summed in a fixed order: the same loss at any thread count
    for (double v : per_line) total += v;
    return Tensor::scalar(total * k.temperature * k.temperature / k.divisor, s.dtype());
  });
  if (ctx.any_grad()) ctx.save(Saved{q, lp});
  return {loss};
}

std::vector<Tensor> kl_backward(OpContext& ctx, const std::vector<Tensor>& grads) {
  const Saved& saved = ctx.saved_as<Saved>();
  const auto& q = saved.q;
  const auto& lp = saved.lp;
  const KlSpec k = check_kl(q, lp, ctx.attrs());
  Tensor ds, dt;
  dispatch_float(q.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const ClassAxis& g = k.g;
    // d(T^2 KL)/d(logits) = T * (softmax - target); the reduction scales it.
    const T scale = T(grads[0].item() * k.temperature / k.divisor);
    const T* pq = q.data<T>();
    const T* pl = lp.data<T>();
    T* pds = nullptr;
    T* pdt = nullptr;
    if (ctx.needs_grad[0]) pds = (ds = Tensor::empty(q.shape(), q.dtype())).template data<T>();
    if (ctx.needs_grad[1]) pdt = (dt = Tensor::empty(q.shape(), q.dtype())).template data<T>();
    kernels::parallel_for(g.lines(), line_grain(g), [&](int64_t begin, int64_t end) {
      for (int64_t line = begin; line < end; ++line) {
        const int64_t b = g.base(line);
        T mean_gap = 0;  // sum_c p_c (log p_c - log q_c), for the teacher's gradient
        for (int64_t c = 0; c < g.classes; ++c) {
          const int64_t i = b + c * g.inner;
          const T p = std::exp(pl[i]);
          if (pds) pds[i] = scale * (std::exp(pq[i]) - p);
          if (pdt) mean_gap += p * (pl[i] - pq[i]);
        }
        if (!pdt) continue;
        for (int64_t c = 0; c < g.classes; ++c) {
          const int64_t i = b + c * g.inner;
          pdt[i] = scale * std::exp(pl[i]) * ((pl[i] - pq[i]) - mean_gap);
        }
      }
    });
  });
  return {ds, dt};
}

}  // namespace

OpDef tamp_softmax_kl_div_loss_op() {
  return {std::string(kTampDomain), "SoftmaxKLDivLoss", 1, &kl_forward, &kl_backward};
}

}  // namespace tamp::ops
