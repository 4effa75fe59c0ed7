// Clip(x, min, max): bounds are optional scalar inputs from opset 11, attributes before.
// The gradient passes where min <= x <= max (bounds are never differentiated).
#include <tamp/autograd/kernels/broadcast.h>
#include <tamp/autograd/kernels/elementwise.h>
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <limits>
#include <type_traits>

namespace tamp::ops {

namespace {

struct Saved {
  Tensor x, min, max;  // min and max undefined when omitted
};

template <class T>
std::pair<T, T> bounds(const OpContext& ctx, const std::vector<Tensor>& in, const Tensor& x) {
  T lo = std::numeric_limits<T>::lowest(), hi = std::numeric_limits<T>::max();
  if (ctx.opset < 11) {
    // Float bounds as attributes; ONNX allows these opsets float tensors only (an integer one
    // would also make the default bounds unrepresentable).
    if constexpr (!std::is_floating_point_v<T>) {
      throw Error(fmt::format("Clip before opset 11 takes float tensors, got {} (opset {})",
                              describe(x), ctx.opset));
    }
    lo = static_cast<T>(ctx.attrs().f("min", std::numeric_limits<float>::lowest()));
    hi = static_cast<T>(ctx.attrs().f("max", std::numeric_limits<float>::max()));
    return {lo, hi};
  }
  auto read = [&](size_t i, const char* name, T& v) {
    Tensor b = optional_input(in, i);
    if (!b.defined()) return;
    TAMP_CHECK(b.dtype() == x.dtype() && b.numel() == 1, "{} must be a {} scalar, got {}", name,
               dtype_name(x.dtype()), describe(b));
    v = b.data<T>()[0];
  };
  read(1, "min", lo);
  read(2, "max", hi);
  return {lo, hi};
}

std::vector<Tensor> clip_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "input");
  Tensor y = dispatch_numeric(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const auto [lo, hi] = bounds<T>(ctx, in, x);
    Tensor out = Tensor::empty(x.shape(), x.dtype());
    if constexpr (std::is_same_v<T, float>) {
      kernels::unary_forward(kernels::Unary::kClip, {lo, hi}, x.data<float>(), out.data<float>(),
                             x.numel());
      return out;
    }
    // As numpy.clip: the upper bound wins when min > max.
    kernels::map_unary(x.data<T>(), out.data<T>(), x.numel(), [lo = lo, hi = hi](T v) {
      const T a = v < lo ? lo : v;
      return a > hi ? hi : a;
    });
    return out;
  });
  if (ctx.any_grad()) ctx.save(Saved{x, optional_input(in, 1), optional_input(in, 2)});
  return {y};
}

std::vector<Tensor> clip_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const Saved& s = ctx.saved_as<Saved>();
  const Tensor& x = s.x;
  const std::vector<Tensor> inputs{s.x, s.min, s.max};
  Tensor dx = Tensor::empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const auto [lo, hi] = bounds<T>(ctx, inputs, x);
    const T* px = x.data<T>();
    const T* pg = g[0].data<T>();
    T* pd = dx.data<T>();
    if constexpr (std::is_same_v<T, float>) {
      kernels::unary_backward(kernels::Unary::kClip, {lo, hi}, px, pg, pd, x.numel());
      return;
    }
    kernels::parallel_for(x.numel(), 32768, [&, lo = lo, hi = hi](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) pd[i] = px[i] >= lo && px[i] <= hi ? pg[i] : T(0);
    });
  });
  return {dx, Tensor(), Tensor()};
}

}  // namespace

OpDef clip_op() { return {"", "Clip", 6, &clip_forward, &clip_backward, {1, 2}}; }

}  // namespace tamp::ops
