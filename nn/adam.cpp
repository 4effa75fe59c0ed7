#include <tamp/nn/adam.h>

#include <tamp/autograd/kernels/optimizer_step.h>
#include <tamp/autograd/kernels/parallel.h>

#include <algorithm>
#include <cmath>

namespace tamp::nn {

namespace {

constexpr int64_t kGrain = 1 << 15;

struct AdamStep {
  double lr, beta1, beta2, eps, l2, decay_factor, step_size, inv_sqrt_bc2;
};

// Elements [begin, end) of a float64 parameter (float32 ones go through kernels::adam_step).
// The file is compiled with -fno-math-errno (nn/CMakeLists.txt): with errno semantics GCC
// keeps a branch to libm's sqrt in the loop and does not vectorise it.
template <class T, bool kAmsgrad> void adam_range(T* p, const T* g, T* m, T* v, T* vmax,
                                                  int64_t begin, int64_t end, const AdamStep& s) {
  const T b1 = T(s.beta1), b2 = T(s.beta2), c1 = T(1 - s.beta1), c2 = T(1 - s.beta2);
  const T l2 = T(s.l2), decay = T(s.decay_factor), step_size = T(s.step_size);
  const T inv_sqrt_bc2 = T(s.inv_sqrt_bc2), eps = T(s.eps);
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    const T pi = p[i] * decay;
    const T d = g[i] + l2 * pi;
    const T mi = b1 * m[i] + c1 * d;
    T vi = b2 * v[i] + c2 * d * d;
    m[i] = mi;
    v[i] = vi;
    if constexpr (kAmsgrad) {
      vi = vmax[i] > vi ? vmax[i] : vi;
      vmax[i] = vi;
    }
    p[i] = pi - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
  }
}

template <class T, bool kAmsgrad>
void adam_kernel(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, const AdamStep& s) {
  kernels::parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    adam_range<T, kAmsgrad>(p, g, m, v, vmax, begin, end, s);
  });
}

template <class T> void run(Tensor& value, const Tensor& grad, std::vector<Tensor>& slots,
                            bool amsgrad, const AdamStep& s) {
  T* p = value.data<T>();
  const T* g = grad.data<T>();
  if (amsgrad) {
    adam_kernel<T, true>(p, g, slots[0].data<T>(), slots[1].data<T>(), slots[2].data<T>(),
                         value.numel(), s);
  } else {
    adam_kernel<T, false>(p, g, slots[0].data<T>(), slots[1].data<T>(), nullptr, value.numel(), s);
  }
}

}  // namespace

Adam::Adam(NamedParameters params, AdamOptions options)
    : Optimizer(std::move(params), options.lr), options_(options) {
  TAMP_CHECK(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1,
             "Adam: betas ({}, {}) must be in [0, 1)", options.beta1, options.beta2);
  TAMP_CHECK(options.eps >= 0 && options.weight_decay >= 0,
             "Adam: eps ({}) and weight_decay ({}) must be >= 0", options.eps,
             options.weight_decay);
}

AdamW::AdamW(NamedParameters params, AdamOptions options) : Adam(std::move(params), options) {}

void Adam::update(Tensor& value, const Tensor& grad, ParamState& state) {
  auto& slots = state.slots;
  for (int k = 0; k < (options_.amsgrad ? 3 : 2); ++k) {
    if (!slots[k].defined()) slots[k] = Tensor::zeros(value.shape(), value.dtype());
  }
  const double t = static_cast<double>(state.step);
  AdamStep s{};
  s.lr = lr();
  s.beta1 = options_.beta1;
  s.beta2 = options_.beta2;
  s.eps = options_.eps;
  s.l2 = decoupled() ? 0 : options_.weight_decay;
  s.decay_factor = decoupled() ? 1 - lr() * options_.weight_decay : 1;
  s.step_size = lr() / (1 - std::pow(options_.beta1, t));
  s.inv_sqrt_bc2 = 1 / std::sqrt(1 - std::pow(options_.beta2, t));
  if (value.dtype() == DType::kFloat32) {
    const kernels::AdamStep step{
        static_cast<float>(s.beta1),        static_cast<float>(s.beta2),
        static_cast<float>(s.eps),          static_cast<float>(s.l2),
        static_cast<float>(s.decay_factor), static_cast<float>(s.step_size),
        static_cast<float>(s.inv_sqrt_bc2)};
    float* p = value.data<float>();
    const float* g = grad.data<float>();
    float* vmax = options_.amsgrad ? slots[2].data<float>() : nullptr;
    kernels::parallel_for(value.numel(), kGrain, [&](int64_t begin, int64_t end) {
      kernels::adam_step(p, g, slots[0].data<float>(), slots[1].data<float>(), vmax, begin, end,
                         step);
    });
  } else if (value.dtype() == DType::kFloat64) {
    run<double>(value, grad, slots, options_.amsgrad, s);
  } else {
    throw Error(
        fmt::format("Adam: parameters of dtype {} are not supported", dtype_name(value.dtype())),
        ErrorKind::kUnsupported);
  }
}

}  // namespace tamp::nn
