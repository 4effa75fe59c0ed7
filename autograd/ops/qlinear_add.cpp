// QLinearAdd (domain com.microsoft, version 1): ONNX Runtime's fusion of DequantizeLinear x2
// -> Add -> QuantizeLinear, C = quantize(dequantize(A) + dequantize(B)), uint8 or int8, with
// numpy broadcasting. Forward only: tamp runs it to say what ONNX Runtime computes.
//
// The float arithmetic is MLAS's x86 AVX2 kernel (qladd_avx2.cpp, MlasQLinearAdd*KernelAvx2)
// as ONNX Runtime 1.30's build compiles it, which is not the graph's: with rA = fl(sA / sC),
// rB = fl(sB / sC) and fixed = fl(zC - fma(rA, zA, fl(rB * zB))) (the compiler contracts
// the source's zC - (rA * zA + rB * zB) into an FMA: checked over every input pair against
// ORT), an element of two spans is fma(a, rA, fma(b, rB, fixed)) on the raw stored values,
// rounded half to even (vcvtps2dq) and saturated (vpackssdw, vpackuswb / vpacksswb). Where
// one operand is one value for a whole run of the other (ONNX Runtime's broadcast spans; the
// runs of kernels::for_each_run), ORT passes the run as the kernel's A and folds the single
// value into fixed first: fixed' = fma(one, r_one, fixed), element fma(run, r_run, fixed').
// SSE-only x86 CPUs and ARM (fixed point) round some ties differently
// (docs/quantization_targets.md).
#include <tamp/autograd/kernels/broadcast.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <cmath>

namespace tamp::ops {

namespace {

struct Operand {
  float scale;
  float zero_point;
};

Operand operand(const std::vector<Tensor>& in, size_t scale_at, const char* scale_name,
                const Tensor& data) {
  const Tensor& s = input(in, scale_at, scale_name);
  TAMP_CHECK(s.dtype() == DType::kFloat32 && s.numel() == 1, "{} {} must be one float32 value",
             scale_name, describe(s));
  const float scale = s.data<float>()[0];
  TAMP_CHECK(std::isfinite(scale) && scale > 0, "{} {} must be finite and positive", scale_name,
             scale);
  const Tensor zp = optional_input(in, scale_at + 1);
  float z = 0;
  if (zp.defined()) {
    TAMP_CHECK(zp.numel() == 1 && zp.dtype() == data.dtype(),
               "the zero point {} after {} must be one {} value", describe(zp), scale_name,
               dtype_name(data.dtype()));
    z = data.dtype() == DType::kUInt8 ? zp.data<uint8_t>()[0] : zp.data<int8_t>()[0];
  }
  return {scale, z};
}

template <class T> T saturate(float v) {
  // vcvtps2dq rounds half to even in the default MXCSR mode, as nearbyint does; packs + packus
  // saturate to the 8-bit range.
  const float r = std::nearbyint(v);
  constexpr float lo = std::is_signed_v<T> ? -128.0f : 0.0f,
                  hi = std::is_signed_v<T> ? 127.0f : 255.0f;
  return static_cast<T>(r < lo ? lo : (r > hi ? hi : r));
}

template <class T>
Tensor qlinear_add_typed(const Tensor& a, Operand oa, const Tensor& b, Operand ob, Operand oc) {
  const float ra = oa.scale / oc.scale, rb = ob.scale / oc.scale;
  const float fixed = oc.zero_point - std::fma(ra, oa.zero_point, rb * ob.zero_point);
  const kernels::BroadcastPlan plan = kernels::plan_broadcast(a.shape(), b.shape());
  Tensor out = Tensor::empty(plan.out_shape, a.dtype());
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* po = out.data<T>();
  kernels::for_each_run(
      plan, out.numel() >= 65536,
      [&](int64_t oo, int64_t oa_, int64_t ob_, int64_t n, int64_t sa, int64_t sb) {
        T* o = po + oo;
        const T* x = pa + oa_;
        const T* y = pb + ob_;
        if (sa == 0 || sb == 0) {
          // One value for the run: ORT's kernel takes the run as A, the value folded into fixed.
          const bool a_single = sa == 0;
          const T* run = a_single ? y : x;
          const float r_run = a_single ? rb : ra;
          const float r_one = a_single ? ra : rb;
          const float one = static_cast<float>(a_single ? *x : *y);
          const int64_t step = a_single ? sb : sa;
          const float f = std::fma(one, r_one, fixed);
          for (int64_t i = 0; i < n; ++i)
            o[i] = saturate<T>(std::fma(static_cast<float>(run[i * step]), r_run, f));
          return;
        }
        for (int64_t i = 0; i < n; ++i) {
          const float t = std::fma(static_cast<float>(y[i]), rb, fixed);
          o[i] = saturate<T>(std::fma(static_cast<float>(x[i]), ra, t));
        }
      });
  return out;
}

std::vector<Tensor> qlinear_add(OpContext&, const std::vector<Tensor>& in) {
  const Tensor& a = input(in, 0, "A");
  const Tensor& b = input(in, 3, "B");
  TAMP_CHECK(a.dtype() == DType::kUInt8 || a.dtype() == DType::kInt8, "A {} must be uint8 or int8",
             describe(a));
  expect_same_dtype(a, b, "A and B");
  const Operand oa = operand(in, 1, "A_scale", a), ob = operand(in, 4, "B_scale", b),
                oc = operand(in, 6, "C_scale", a);
  if (a.dtype() == DType::kUInt8) return {qlinear_add_typed<uint8_t>(a, oa, b, ob, oc)};
  return {qlinear_add_typed<int8_t>(a, oa, b, ob, oc)};
}

}  // namespace

OpDef qlinear_add_op() { return {"com.microsoft", "QLinearAdd", 1, &qlinear_add, nullptr}; }

}  // namespace tamp::ops
