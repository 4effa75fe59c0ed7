// FakeQuantize (domain "tamp"): QuantizeLinear followed by DequantizeLinear in one kernel,
// with ONNX's numerics exactly (kernels/quantize.h), so an exported QDQ model computes what
// training simulated.
//   inputs:  X (float), scale (scalar or [C] for per-channel), zero_point (same shape as
//            scale, float holding integers — learnable under LSQ)
//   attrs:   axis (channel axis when per-channel, default 0), quant_min, quant_max (the
//            integer range, e.g. -128..127, 0..255, -127..127 for narrow range),
//            grad_factor (LSQ's gradient scale for scale and zero_point, default 1)
// Gradients: X — straight-through inside the clip range, zero outside; scale and
// zero_point — LSQ (Esser et al.): d/ds = round(x/s) - x/s inside, (qmin|qmax) - zp outside;
// d/dzp = 0 inside, -s outside; both summed per channel and scaled by grad_factor.
// With frozen scales (the usual QAT case) the forward pass keeps only a byte mask of the
// values inside the clip range, so the backward is a masked copy (no division, no rounding).
#include <tamp/autograd/kernels/fake_quant.h>
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/kernels/quantize.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

namespace tamp::ops {

namespace {

// Straight-through with frozen scales keeps only the clip mask (u8, 1 inside the range);
// learnable scales keep x, scale and zero point.
struct Saved {
  Tensor clip_mask = {};
  Tensor x = {}, scale = {}, zp = {};
};

struct FakeQuantParams {
  kernels::QuantLayout layout;
  double qmin, qmax;
};

FakeQuantParams params_for(const OpContext& ctx, const Tensor& x, const Tensor& scale,
                           const Tensor& zp) {
  const auto& a = ctx.attrs();
  FakeQuantParams p;
  p.qmin = static_cast<double>(a.i("quant_min", -128));
  p.qmax = static_cast<double>(a.i("quant_max", 127));
  TAMP_CHECK(p.qmin < p.qmax, "quant_min {} must be below quant_max {}", p.qmin, p.qmax);
  TAMP_CHECK(p.qmax - p.qmin <= 65535, "range [{}, {}] is wider than 16 bits", p.qmin, p.qmax);
  expect_same_dtype(x, scale, "X and scale");
  expect_same_dtype(x, zp, "X and zero_point");
  TAMP_CHECK(zp.shape() == scale.shape(), "zero_point {} and scale {} differ", describe(zp),
             describe(scale));
  if (scale.numel() != 1) {
    TAMP_CHECK(scale.rank() == 1, "scale must be a scalar or 1-D, got {}", describe(scale));
    const int axis = normalize_axis(a.i("axis", 0), x.rank());
    TAMP_CHECK(scale.dim(0) == x.dim(axis), "scale {} does not match axis {} of X {}",
               describe(scale), axis, describe(x));
    p.layout.channels = x.dim(axis);
    p.layout.inner = numel(x.shape(), axis + 1, x.rank());
  }
  return p;
}

// Calls f(i0, i1, c) on the runs of [b, e) that share one channel c of the layout, so inner
// loops carry no per-element division.
template <class F>
void for_each_channel_run(const kernels::QuantLayout& layout, int64_t b, int64_t e, F&& f) {
  if (layout.channels == 1) {
    f(b, e, int64_t{0});
    return;
  }
  for (int64_t i = b; i < e;) {
    const int64_t end = std::min(e, (i / layout.inner + 1) * layout.inner);
    f(i, end, layout.channel_of(i));
    i = end;
  }
}

template <class T> void check_scale_values(const Tensor& scale) {
  const T* s = scale.data<T>();
  for (int64_t i = 0; i < scale.numel(); ++i) {
    if (!(std::isfinite(s[i]) && s[i] > T(0))) {
      throw Error(
          fmt::format("scale[{}] = {} must be finite and positive", i, static_cast<double>(s[i])),
          ErrorKind::kNumerical);
    }
  }
}

std::vector<Tensor> fake_quantize_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "X");
  const Tensor& scale = input(in, 1, "scale");
  const Tensor& zp = input(in, 2, "zero_point");
  const FakeQuantParams p = params_for(ctx, x, scale, zp);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  const bool ste_only = ctx.any_grad() && !ctx.needs_grad[1] && !ctx.needs_grad[2];
  Tensor mask =
      ste_only ? Tensor::empty(x.shape(), DType::kUInt8) : Tensor();  // 1: inside the clip range
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    check_scale_values<T>(scale);
    const T* px = x.data<T>();
    const T* ps = scale.data<T>();
    const T* pz = zp.data<T>();
    T* py = y.data<T>();
    uint8_t* pm = ste_only ? mask.data<uint8_t>() : nullptr;
    kernels::parallel_for(x.numel(), 16384, [&](int64_t b, int64_t e) {
      for_each_channel_run(p.layout, b, e, [&](int64_t i0, int64_t i1, int64_t c) {
        if constexpr (std::is_same_v<T, float>) {
          kernels::fake_quantize_run(
              px + i0, py + i0, pm ? pm + i0 : nullptr, i1 - i0,
              {.scale = ps[c], .zero_point = pz[c], .qmin = float(p.qmin), .qmax = float(p.qmax)});
          return;
        }
        // float64: the scalar definition (kernels/quantize.h), the reference of the fp32 kernel.
        const T s = ps[c], z = pz[c], qmin = T(p.qmin), qmax = T(p.qmax);
        for (int64_t i = i0; i < i1; ++i) {
          const T q = std::nearbyint(px[i] / s) + z;  // kernels::quantize_value before its clamp
          py[i] = ((q < qmin ? qmin : (q > qmax ? qmax : q)) - z) * s;
          if (pm) pm[i] = static_cast<uint8_t>((q >= qmin) & (q <= qmax));
        }
      });
    });
  });
  if (ste_only)
    ctx.save(Saved{.clip_mask = mask});
  else if (ctx.any_grad())
    ctx.save(Saved{.x = x, .scale = scale, .zp = zp});
  return {y};
}

std::vector<Tensor> fake_quantize_backward(OpContext& ctx, const std::vector<Tensor>& grads) {
  const Saved& s = ctx.saved_as<Saved>();
  if (s.clip_mask.defined()) {
    // Straight-through with frozen scales: the forward's clip mask decides.
    const Tensor& mask = s.clip_mask;
    const Tensor& g = grads[0];
    Tensor dx = Tensor::empty(g.shape(), g.dtype());
    dispatch_float(g.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const uint8_t* __restrict pm = mask.data<uint8_t>();
      const T* __restrict pg = g.data<T>();
      T* __restrict pdx = dx.data<T>();
      kernels::parallel_for(g.numel(), 32768, [&](int64_t b, int64_t e) {
        const uint8_t* __restrict ms = pm;
        const T* __restrict gs = pg;
        T* __restrict ds = pdx;
        for (int64_t i = b; i < e; ++i) ds[i] = ms[i] ? gs[i] : T(0);
      });
    });
    return {dx, Tensor(), Tensor()};
  }
  const Tensor& x = s.x;
  const Tensor& scale = s.scale;
  const Tensor& zp = s.zp;
  const Tensor& g = grads[0];
  const FakeQuantParams p = params_for(ctx, x, scale, zp);
  const double factor = ctx.attrs().f("grad_factor", 1.0f);
  Tensor dx, dscale, dzp;
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    const T* ps = scale.data<T>();
    const T* pz = zp.data<T>();
    const T* pg = g.data<T>();
    T* pdx = nullptr;
    if (ctx.needs_grad[0]) {
      dx = Tensor::empty(x.shape(), x.dtype());
      pdx = dx.data<T>();
    }
    // LSQ (learnable scale or zero point); frozen scales took the mask path above.
    std::vector<double> ds(static_cast<size_t>(p.layout.channels), 0.0), dz(ds.size(), 0.0);
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int64_t c = p.layout.channel_of(i);
      const T v = px[i] / ps[c];
      const T q = std::nearbyint(v) + pz[c];
      const bool below = q<T(p.qmin), above = q> T(p.qmax);
      if (pdx) pdx[i] = below || above ? T(0) : pg[i];
      if (below || above) {
        ds[c] +=
            static_cast<double>(pg[i]) * ((below ? p.qmin : p.qmax) - static_cast<double>(pz[c]));
        dz[c] -= static_cast<double>(pg[i]) * static_cast<double>(ps[c]);
      } else {
        ds[c] += static_cast<double>(pg[i]) *
                 (static_cast<double>(std::nearbyint(v)) - static_cast<double>(v));
      }
    }
    auto to_tensor = [&](const std::vector<double>& v) {
      Tensor t = Tensor::empty(scale.shape(), scale.dtype());
      for (size_t k = 0; k < v.size(); ++k) t.data<T>()[k] = static_cast<T>(v[k] * factor);
      return t;
    };
    if (ctx.needs_grad[1]) dscale = to_tensor(ds);
    if (ctx.needs_grad[2]) dzp = to_tensor(dz);
  });
  return {dx, dscale, dzp};
}

}  // namespace

OpDef fake_quantize_op() {
  return {std::string(kTampDomain), "FakeQuantize", 1, &fake_quantize_forward,
          &fake_quantize_backward};
}

}  // namespace tamp::ops
