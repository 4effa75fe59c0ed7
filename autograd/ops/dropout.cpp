// Dropout (opsets 7-13). Drops when the module is in train() mode (ctx.training) or the node's
// training_mode input (opset >= 12) is true; otherwise Y is X itself and the mask all true.
// Kept elements are scaled by 1 / (1 - ratio). ratio is an attribute before opset 12 and an
// input from 12 on (default 0.5 in both).
//
// Masks come from ctx.generator(), so manual_seed() makes them reproducible; the node's
// `seed` attribute is ignored. Each call draws one seed from the generator; element i is kept
// when 32 bits of a counter-based hash of (seed, i) reach ratio * 2^32 (SplitMix64's output
// function over its Weyl sequence). The hash vectorises, and the mask depends on neither the
// thread count nor how the loop is split. The mask is bool, as from opset 10 (before: X's
// dtype, 1 for kept).
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <cmath>

namespace tamp::ops {

namespace {

struct Saved {
  Tensor mask;  // bool, true where kept
  double scale;
};

double ratio_of(const OpContext& ctx, const std::vector<Tensor>& in) {
  double ratio = 0.5;
  if (ctx.opset < 12) {
    ratio = ctx.attrs().f("ratio", 0.5f);
  } else if (Tensor r = optional_input(in, 1); r.defined()) {
    TAMP_CHECK(r.numel() == 1 && is_floating(r.dtype()),
               "ratio must be a floating-point scalar, got {}", describe(r));
    ratio = r.item();
  }
  TAMP_CHECK(ratio >= 0 && ratio < 1, "ratio must be in [0, 1), got {}", ratio);
  return ratio;
}

bool training_of(const OpContext& ctx, const std::vector<Tensor>& in) {
  if (ctx.training) return true;
  if (ctx.opset < 12) return false;
  const Tensor t = optional_input(in, 2);
  if (!t.defined()) return false;
  TAMP_CHECK(t.numel() == 1, "training_mode must be a scalar, got {}", describe(t));
  return t.item() != 0;
}

template <class T>
void drop(const T* x, T* y, bool* keep, int64_t n, uint64_t seed, double ratio, T scale) {
  const auto threshold =
      static_cast<uint64_t>(std::ldexp(ratio, 32));  // P(keep) = 1 - ratio within 2^-32
  kernels::parallel_for(
      n, 32768, [=](int64_t b, int64_t e) {  // by value: bool stores may alias refs
        for (int64_t i = b; i < e; ++i) {
          uint64_t z = seed + static_cast<uint64_t>(i + 1) * 0x9e3779b97f4a7c15ull;
          z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
          z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
          z ^= z >> 31;
          const bool k = (z >> 32) >= threshold;
          keep[i] = k;
          y[i] = k ? x[i] * scale : T(0);
        }
      });
}

template <class T> void apply_mask(const T* x, const bool* keep, T scale, T* y, int64_t n) {
  kernels::parallel_for(n, 32768, [=](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = keep[i] ? x[i] * scale : T(0);
  });
}

Tensor mask_output(const OpContext& ctx, const Tensor& mask, DType x_dtype) {
  return ctx.opset < 10 ? mask.to(x_dtype) : mask;
}

std::vector<Tensor> dropout_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "data");
  dispatch_float(x.dtype(), [](auto) {});
  const double ratio = ratio_of(ctx, in);
  if (!training_of(ctx, in) || ratio == 0) {
    if (ctx.num_outputs == 1) return {x};
    Tensor mask = Tensor::empty(x.shape(), DType::kBool);
    std::fill_n(mask.data<bool>(), mask.numel(), true);
    return {x, mask_output(ctx, mask, x.dtype())};  // saves nothing: backward passes dY through
  }
  Tensor mask = Tensor::empty(x.shape(), DType::kBool);
  const uint64_t seed = ctx.generator().next();
  const double scale = 1.0 / (1.0 - ratio);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    drop<T>(x.data<T>(), y.data<T>(), mask.data<bool>(), x.numel(), seed, ratio, T(scale));
  });
  if (ctx.any_grad()) ctx.save(Saved{mask, scale});
  if (ctx.num_outputs == 1) return {y};
  return {y, mask_output(ctx, mask, x.dtype())};
}

std::vector<Tensor> dropout_backward(OpContext& ctx, const std::vector<Tensor>& grads) {
  const Tensor& gy = grads[0];
  if (!gy.defined()) return {};
  if (!ctx.saved.has_value()) return {gy};  // nothing dropped
  const Saved& saved = ctx.saved_as<Saved>();
  const auto& mask = saved.mask;
  const auto& scale = saved.scale;
  Tensor dx = Tensor::empty(gy.shape(), gy.dtype());
  dispatch_float(gy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    apply_mask<T>(gy.data<T>(), mask.data<bool>(), T(scale), dx.data<T>(), gy.numel());
  });
  return {dx};
}

}  // namespace

OpDef dropout_op() {
  OpDef def{"", "Dropout", 7, &dropout_forward, &dropout_backward};
  def.nondiff_inputs = {1};  // ratio
  return def;
}

}  // namespace tamp::ops
