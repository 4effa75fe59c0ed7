#include <tamp/nn/sgd.h>

#include <tamp/autograd/kernels/optimizer_step.h>
#include <tamp/autograd/kernels/parallel.h>

#include <cmath>

namespace tamp::nn {

namespace {

// Elements per thread below which a tensor is updated on one thread.
constexpr int64_t kGrain = 1 << 15;

// float64 parameters (float32 ones go through kernels::sgd_step).
template <class T>
void sgd_kernel(T* p, const T* g, T* buf, int64_t n, const SgdOptions& o, T lr, bool first) {
  const T wd = T(o.weight_decay), mu = T(o.momentum), keep = T(1 - o.dampening);
  kernels::parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    if (!buf) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) p[i] -= lr * (g[i] + wd * p[i]);
    } else if (first) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) {
        const T d = g[i] + wd * p[i];
        buf[i] = d;
        p[i] -= lr * (o.nesterov ? d + mu * d : d);
      }
    } else {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) {
        const T d = g[i] + wd * p[i];
        const T b = mu * buf[i] + keep * d;
        buf[i] = b;
        p[i] -= lr * (o.nesterov ? d + mu * b : b);
      }
    }
  });
}

}  // namespace

Sgd::Sgd(NamedParameters params, SgdOptions options)
    : Optimizer(std::move(params), options.lr), options_(options) {
  TAMP_CHECK(options.momentum >= 0 && options.dampening >= 0 && options.weight_decay >= 0,
             "SGD: momentum ({}), dampening ({}) and weight_decay ({}) must be >= 0",
             options.momentum, options.dampening, options.weight_decay);
  TAMP_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
             "SGD: Nesterov momentum needs momentum > 0 and dampening 0");
}

void Sgd::update(Tensor& value, const Tensor& grad, ParamState& state) {
  Tensor& buf = state.slots[0];
  const bool first = options_.momentum != 0 && !buf.defined();
  if (first) buf = Tensor::empty(value.shape(), value.dtype());
  if (value.dtype() == DType::kFloat32) {
    const kernels::SgdStep step{static_cast<float>(lr()), static_cast<float>(options_.weight_decay),
                                static_cast<float>(options_.momentum),
                                static_cast<float>(1 - options_.dampening), options_.nesterov};
    float* p = value.data<float>();
    const float* g = grad.data<float>();
    float* b = options_.momentum != 0 ? buf.data<float>() : nullptr;
    kernels::parallel_for(value.numel(), kGrain, [&](int64_t begin, int64_t end) {
      kernels::sgd_step(p, g, b, begin, end, step, first);
    });
  } else if (value.dtype() == DType::kFloat64) {
    sgd_kernel<double>(value.data<double>(), grad.data<double>(),
                       options_.momentum != 0 ? buf.data<double>() : nullptr, value.numel(),
                       options_, lr(), first);
  } else {
    throw Error(
        fmt::format("SGD: parameters of dtype {} are not supported", dtype_name(value.dtype())),
        ErrorKind::kUnsupported);
  }
}

}  // namespace tamp::nn
