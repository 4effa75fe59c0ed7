// Elementwise unary ops. Each is a small functor: f(x) forward, df(s) the derivative given
// the saved input (kSavesOutput = false) or output (true).
#include <tamp/autograd/kernels/broadcast.h>
#include <tamp/autograd/kernels/elementwise.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <cmath>
#include <concepts>
#include <type_traits>

namespace tamp::ops {

namespace {

struct UnarySaved {
  Tensor point;  // where the derivative is taken: the input, or the output when Fn::kSavesOutput
};

struct AbsSaved {
  Tensor x;
};

// Functors with a vectorised fp32 kernel (kernels/elementwise.h) name it as kKernel; their
// f and df stay the definition (fp64 and the kernel tests use them).
template <class Fn>
concept HasKernel = requires(const Fn& fn) {
  Fn::kKernel;
  { fn.params() } -> std::same_as<kernels::UnaryParams>;
};

// y = f(x) through the functor's kernel: true when there is one for T.
template <class Fn, class T> bool kernel_forward(const Fn&, const T*, T*, int64_t) { return false; }
template <HasKernel Fn> bool kernel_forward(const Fn& fn, const float* x, float* y, int64_t n) {
  kernels::unary_forward(Fn::kKernel, fn.params(), x, y, n);
  return true;
}

// dx = dy * f'(saved) through the functor's kernel: true when there is one for T.
template <class Fn, class T> bool kernel_backward(const Fn&, const T*, const T*, T*, int64_t) {
  return false;
}
template <HasKernel Fn>
bool kernel_backward(const Fn& fn, const float* saved, const float* dy, float* dx, int64_t n) {
  kernels::unary_backward(Fn::kKernel, fn.params(), saved, dy, dx, n);
  return true;
}

template <class Fn>
std::vector<Tensor> unary_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "X");
  const Fn fn(ctx.attrs());
  Tensor y = dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    Tensor out = Tensor::empty(x.shape(), x.dtype());
    if (!kernel_forward(fn, x.data<T>(), out.data<T>(), x.numel())) {
      kernels::map_unary(x.data<T>(), out.data<T>(), x.numel(), [&](T v) { return fn.f(v); });
    }
    return out;
  });
  if (ctx.any_grad()) ctx.save(UnarySaved{Fn::kSavesOutput ? y : x});
  return {y};
}

template <class Fn>
std::vector<Tensor> unary_backward(OpContext& ctx, const std::vector<Tensor>& grads) {
  const Tensor& s = ctx.saved_as<UnarySaved>().point;
  const Tensor& g = grads[0];
  const Fn fn(ctx.attrs());
  Tensor dx = Tensor::empty(s.shape(), s.dtype());
  dispatch_float(s.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* ps = s.data<T>();
    const T* pg = g.data<T>();
    T* pd = dx.data<T>();
    if (!kernel_backward(fn, ps, pg, pd, s.numel())) {
      kernels::parallel_for(s.numel(), 32768, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) pd[i] = pg[i] * fn.df(ps[i]);
      });
    }
  });
  return {dx};
}

// Forward only, for ops without a useful gradient (Floor, Ceil, Round, Sign).
template <class Fn>
std::vector<Tensor> unary_forward_only(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "X");
  const Fn fn(ctx.attrs());
  return {dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    Tensor out = Tensor::empty(x.shape(), x.dtype());
    kernels::map_unary(x.data<T>(), out.data<T>(), x.numel(), [&](T v) { return fn.f(v); });
    return out;
  })};
}

// Stable on both sides: exp of a non-positive number never overflows.
template <class T> T sigmoid(T x) {
  if (x >= 0) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

// log(1 + exp(x)) without overflow for large x.
template <class T> T softplus(T x) {
  return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

struct NoAttrs {
  explicit NoAttrs(const Attributes&) {}
  kernels::UnaryParams params() const { return {}; }
};

struct ExpFn : NoAttrs {
  using NoAttrs::NoAttrs;
  static constexpr auto kKernel = kernels::Unary::kExp;
  static constexpr bool kSavesOutput = true;
  template <class T> T f(T x) const { return std::exp(x); }
  template <class T> T df(T y) const { return y; }
};
struct LogFn : NoAttrs {
  using NoAttrs::NoAttrs;
  static constexpr bool kSavesOutput = false;
  template <class T> T f(T x) const { return std::log(x); }
  template <class T> T df(T x) const { return T(1) / x; }
};
struct SqrtFn : NoAttrs {
  using NoAttrs::NoAttrs;
  static constexpr bool kSavesOutput = true;
  template <class T> T f(T x) const { return std::sqrt(x); }
  template <class T> T df(T y) const { return T(0.5) / y; }
};
struct ReciprocalFn : NoAttrs {
  using NoAttrs::NoAttrs;
  static constexpr bool kSavesOutput = true;
  template <class T> T f(T x) const { return T(1) / x; }
  template <class T> T df(T y) const { return -y * y; }
};
struct ErfFn : NoAttrs {
  using NoAttrs::NoAttrs;
  static constexpr auto kKernel = kernels::Unary::kErf;
  static constexpr bool kSavesOutput = false;
  template <class T> T f(T x) const { return std::erf(x); }
  template <class T> T df(T x) const { return T(1.1283791670955126) * std::exp(-x * x); }
};
struct TanhFn : NoAttrs {
  using NoAttrs::NoAttrs;
  static constexpr auto kKernel = kernels::Unary::kTanh;
  static constexpr bool kSavesOutput = true;
  template <class T> T f(T x) const { return std::tanh(x); }
  template <class T> T df(T y) const { return T(1) - y * y; }
};
struct SigmoidFn : NoAttrs {
  using NoAttrs::NoAttrs;
  static constexpr auto kKernel = kernels::Unary::kSigmoid;
  static constexpr bool kSavesOutput = true;
  template <class T> T f(T x) const { return sigmoid(x); }
  template <class T> T df(T y) const { return y * (T(1) - y); }
};
struct SinFn : NoAttrs {
  using NoAttrs::NoAttrs;
  static constexpr bool kSavesOutput = false;
  template <class T> T f(T x) const { return std::sin(x); }
  template <class T> T df(T x) const { return std::cos(x); }
};
struct CosFn : NoAttrs {
  using NoAttrs::NoAttrs;
  static constexpr bool kSavesOutput = false;
  template <class T> T f(T x) const { return std::cos(x); }
  template <class T> T df(T x) const { return -std::sin(x); }
};
struct ReluFn : NoAttrs {
  using NoAttrs::NoAttrs;
  static constexpr auto kKernel = kernels::Unary::kRelu;
  static constexpr bool kSavesOutput = true;
  template <class T> T f(T x) const { return x > T(0) ? x : T(0); }
  template <class T> T df(T y) const { return y > T(0) ? T(1) : T(0); }
};
struct LeakyReluFn {
  explicit LeakyReluFn(const Attributes& a) : alpha(a.f("alpha", 0.01f)) {}
  static constexpr auto kKernel = kernels::Unary::kLeakyRelu;
  static constexpr bool kSavesOutput = false;
  template <class T> T f(T x) const { return x >= T(0) ? x : T(alpha) * x; }
  template <class T> T df(T x) const { return x >= T(0) ? T(1) : T(alpha); }
  kernels::UnaryParams params() const { return {alpha, 0}; }
  float alpha;
};
struct EluFn {
  explicit EluFn(const Attributes& a) : alpha(a.f("alpha", 1.0f)) {}
  static constexpr bool kSavesOutput = false;
  template <class T> T f(T x) const { return x > T(0) ? x : T(alpha) * (std::exp(x) - T(1)); }
  template <class T> T df(T x) const { return x > T(0) ? T(1) : T(alpha) * std::exp(x); }
  float alpha;
};
struct SeluFn {
  explicit SeluFn(const Attributes& a)
      : alpha(a.f("alpha", 1.67326319217681884765625f)),
        gamma(a.f("gamma", 1.05070102214813232421875f)) {}
  static constexpr bool kSavesOutput = false;
  template <class T> T f(T x) const {
    return x > T(0) ? T(gamma) * x : T(gamma) * T(alpha) * (std::exp(x) - T(1));
  }
  template <class T> T df(T x) const {
    return x > T(0) ? T(gamma) : T(gamma) * T(alpha) * std::exp(x);
  }
  float alpha, gamma;
};
// Gelu (opset 20): x * Phi(x) with the exact normal CDF, or its tanh approximation.
struct GeluFn {
  explicit GeluFn(const Attributes& a) : tanh_approx(a.s("approximate", "none") == "tanh") {
    const std::string m = a.s("approximate", "none");
    TAMP_CHECK(m == "none" || m == "tanh", "approximate must be 'none' or 'tanh', got '{}'", m);
  }
  static constexpr auto kKernel = kernels::Unary::kGelu;
  static constexpr bool kSavesOutput = false;
  kernels::UnaryParams params() const { return {tanh_approx ? 1.0f : 0.0f, 0}; }
  static constexpr double kSqrt2OverPi = 0.79788456080286535588, kCubic = 0.044715;
  template <class T> T f(T x) const {
    if (tanh_approx)
      return T(0.5) * x * (T(1) + std::tanh(T(kSqrt2OverPi) * (x + T(kCubic) * x * x * x)));
    return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
  }
  template <class T> T df(T x) const {
    if (tanh_approx) {
      const T t = std::tanh(T(kSqrt2OverPi) * (x + T(kCubic) * x * x * x));
      return T(0.5) * (T(1) + t) +
             T(0.5) * x * (T(1) - t * t) * T(kSqrt2OverPi) * (T(1) + T(3 * kCubic) * x * x);
    }
    return T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440))) +
           x * std::exp(T(-0.5) * x * x) * T(0.39894228040143267794);  // x * pdf(x)
  }
  bool tanh_approx;
};
struct SoftplusFn : NoAttrs {
  using NoAttrs::NoAttrs;
  static constexpr bool kSavesOutput = false;
  template <class T> T f(T x) const { return softplus(x); }
  template <class T> T df(T x) const { return sigmoid(x); }
};
struct MishFn : NoAttrs {  // x * tanh(softplus(x)), opset 18
  using NoAttrs::NoAttrs;
  static constexpr bool kSavesOutput = false;
  template <class T> T f(T x) const { return x * std::tanh(softplus(x)); }
  template <class T> T df(T x) const {
    const T t = std::tanh(softplus(x));
    return t + x * (T(1) - t * t) * sigmoid(x);
  }
};
struct HardSigmoidFn {
  explicit HardSigmoidFn(const Attributes& a)
      : alpha(a.f("alpha", 0.2f)), beta(a.f("beta", 0.5f)) {}
  static constexpr auto kKernel = kernels::Unary::kHardSigmoid;
  static constexpr bool kSavesOutput = false;
  template <class T> T f(T x) const { return std::clamp(T(alpha) * x + T(beta), T(0), T(1)); }
  template <class T> T df(T x) const {
    const T v = T(alpha) * x + T(beta);
    return v > T(0) && v < T(1) ? T(alpha) : T(0);
  }
  kernels::UnaryParams params() const { return {alpha, beta}; }
  float alpha, beta;
};
struct HardSwishFn : NoAttrs {
  using NoAttrs::NoAttrs;
  static constexpr auto kKernel = kernels::Unary::kHardSwish;
  static constexpr bool kSavesOutput = false;
  template <class T> T f(T x) const { return x * std::clamp(x / T(6) + T(0.5), T(0), T(1)); }
  template <class T> T df(T x) const {
    if (x < T(-3)) return T(0);
    if (x > T(3)) return T(1);
    return (T(2) * x + T(3)) / T(6);
  }
};
struct FloorFn : NoAttrs {
  using NoAttrs::NoAttrs;
  template <class T> T f(T x) const { return std::floor(x); }
};
struct CeilFn : NoAttrs {
  using NoAttrs::NoAttrs;
  template <class T> T f(T x) const { return std::ceil(x); }
};
struct RoundFn : NoAttrs {  // ONNX Round: half to even
  using NoAttrs::NoAttrs;
  template <class T> T f(T x) const { return std::nearbyint(x); }
};

// Abs and Neg also take integers.
template <bool kAbs>
std::vector<Tensor> sign_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "X");
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  dispatch_numeric(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::map_unary(x.data<T>(), y.data<T>(), x.numel(), [](T v) -> T {
      if constexpr (kAbs) {
        if constexpr (std::is_unsigned_v<T>)
          return v;
        else
          return v < T(0) ? T(-v) : v;
      } else {
        return static_cast<T>(-v);
      }
    });
  });
  if (kAbs && ctx.any_grad()) ctx.save(AbsSaved{x});
  return {y};
}

std::vector<Tensor> abs_backward(OpContext& ctx, const std::vector<Tensor>& grads) {
  const Tensor& x = ctx.saved_as<AbsSaved>().x;
  Tensor dx = Tensor::empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    const T* pg = grads[0].data<T>();
    T* pd = dx.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i)
      pd[i] = px[i] > T(0) ? pg[i] : (px[i] < T(0) ? -pg[i] : T(0));
  });
  return {dx};
}

std::vector<Tensor> neg_backward(OpContext&, const std::vector<Tensor>& grads) {
  return {neg(grads[0])};
}

std::vector<Tensor> not_forward(OpContext&, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "X");
  TAMP_CHECK(x.dtype() == DType::kBool, "Not takes bool, got {}", describe(x));
  Tensor y = Tensor::empty(x.shape(), DType::kBool);
  kernels::map_unary(x.data<bool>(), y.data<bool>(), x.numel(), [](bool v) { return !v; });
  return {y};
}

template <class Fn> OpDef unary(const char* type, int since = 6) {
  return {"", type, since, &unary_forward<Fn>, &unary_backward<Fn>};
}

}  // namespace

OpDef abs_op() { return {"", "Abs", 6, &sign_forward<true>, &abs_backward}; }
OpDef ceil_op() { return {"", "Ceil", 6, &unary_forward_only<CeilFn>, nullptr}; }
OpDef cos_op() { return unary<CosFn>("Cos", 7); }
OpDef elu_op() { return unary<EluFn>("Elu"); }
OpDef erf_op() { return unary<ErfFn>("Erf", 9); }
OpDef exp_op() { return unary<ExpFn>("Exp"); }
OpDef floor_op() { return {"", "Floor", 6, &unary_forward_only<FloorFn>, nullptr}; }
OpDef gelu_op() { return unary<GeluFn>("Gelu", 20); }
OpDef hard_sigmoid_op() { return unary<HardSigmoidFn>("HardSigmoid"); }
OpDef hard_swish_op() { return unary<HardSwishFn>("HardSwish", 14); }
OpDef leaky_relu_op() { return unary<LeakyReluFn>("LeakyRelu"); }
OpDef log_op() { return unary<LogFn>("Log"); }
OpDef mish_op() { return unary<MishFn>("Mish", 18); }
OpDef neg_op() { return {"", "Neg", 6, &sign_forward<false>, &neg_backward}; }
OpDef not_op() { return {"", "Not", 1, &not_forward, nullptr}; }
OpDef reciprocal_op() { return unary<ReciprocalFn>("Reciprocal"); }
OpDef relu_op() { return unary<ReluFn>("Relu"); }
OpDef round_op() { return {"", "Round", 11, &unary_forward_only<RoundFn>, nullptr}; }
OpDef selu_op() { return unary<SeluFn>("Selu"); }
OpDef sigmoid_op() { return unary<SigmoidFn>("Sigmoid"); }
OpDef sin_op() { return unary<SinFn>("Sin", 7); }
OpDef softplus_op() { return unary<SoftplusFn>("Softplus", 1); }
OpDef sqrt_op() { return unary<SqrtFn>("Sqrt"); }
OpDef tanh_op() { return unary<TanhFn>("Tanh"); }

}  // namespace tamp::ops
