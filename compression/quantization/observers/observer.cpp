#include <tamp/compression/quantization/observers/histogram_observer.h>
#include <tamp/compression/quantization/observers/minmax_observer.h>
#include <tamp/compression/quantization/observers/observer.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace tamp::compression {

namespace {

struct MinMaxAcc {
  float lo = std::numeric_limits<float>::infinity();
  float hi = -std::numeric_limits<float>::infinity();
  int64_t nan = 0;
};

// One contiguous run; vectorises (the NaN count keeps NaN from vanishing in min/max).
MinMaxAcc scan(const float* p, int64_t n, MinMaxAcc a) {
  float lo = a.lo, hi = a.hi;
  int64_t nan = 0;
#pragma omp simd reduction(min : lo) reduction(max : hi) reduction(+ : nan)
  for (int64_t i = 0; i < n; ++i) {
    const float v = p[i];
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    nan += v != v;
  }
  return {lo, hi, a.nan + nan};
}

void throw_nan(int64_t count, const Tensor& x) {
  throw Error(fmt::format("{} NaN value(s) in the observed tensor {}", count, describe(x)),
              ErrorKind::kNumerical,
              "the model produces NaN before this point; check the inputs and the learning rate");
}

}  // namespace

Observer::Observer(QuantSpec spec) : spec_(spec) { spec_.validate(); }

void Observer::observe(const Tensor& x) {
  if (frozen_) return;
  TAMP_CHECK(x.defined() && x.dtype() == DType::kFloat32, "observers take float32 tensors, got {}",
             x.defined() ? describe(x) : "an undefined tensor");
  if (x.numel() == 0) return;
  update(x);
}

QuantParams Observer::qparams() const {
  auto [lo, hi] = range();
  return choose_qparams(spec_, lo, hi);
}

int64_t Observer::channels_of(const Tensor& x) {
  int64_t c = 1;
  if (spec_.per_channel) {
    TAMP_CHECK(spec_.axis >= -x.rank() && spec_.axis < x.rank(),
               "channel axis {} is out of range for {}", spec_.axis, describe(x));
    c = x.dim(spec_.axis);
  }
  TAMP_CHECK(channels_ == 0 || channels_ == c, "observer saw {} channels before, now {} ({})",
             channels_, c, describe(x));
  channels_ = c;
  return c;
}

std::pair<Tensor, Tensor> channel_min_max(const Tensor& x, bool per_channel, int axis) {
  TAMP_CHECK(x.dtype() == DType::kFloat32 && x.numel() > 0,
             "min/max needs a non-empty float32 tensor, got {}", describe(x));
  const float* p = x.data<float>();
  if (!per_channel) {
    const int64_t n = x.numel();
    const int threads = n >= (1 << 16) ? omp_get_max_threads() : 1;
    std::vector<MinMaxAcc> part(static_cast<size_t>(threads));
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int t = 0; t < threads; ++t) {
      const int64_t b = n * t / threads, e = n * (t + 1) / threads;
      part[static_cast<size_t>(t)] = scan(p + b, e - b, {});
    }
    MinMaxAcc all;
    for (const auto& a : part) {
      all.lo = std::min(all.lo, a.lo);
      all.hi = std::max(all.hi, a.hi);
      all.nan += a.nan;
    }
    if (all.nan) throw_nan(all.nan, x);
    return {Tensor::scalar(all.lo), Tensor::scalar(all.hi)};
  }
  TAMP_CHECK(axis >= -x.rank() && axis < x.rank(), "channel axis {} is out of range for {}", axis,
             describe(x));
  const int a = axis < 0 ? axis + x.rank() : axis;
  const int64_t channels = x.dim(a);
  int64_t inner = 1, outer = 1;
  for (int d = a + 1; d < x.rank(); ++d) inner *= x.dim(d);
  for (int d = 0; d < a; ++d) outer *= x.dim(d);
  std::vector<MinMaxAcc> acc(static_cast<size_t>(channels));
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      acc[static_cast<size_t>(c)] =
          scan(p + (o * channels + c) * inner, inner, acc[static_cast<size_t>(c)]);
    }
  }
  Tensor lo = Tensor::empty({channels}), hi = Tensor::empty({channels});
  int64_t nan = 0;
  for (int64_t c = 0; c < channels; ++c) {
    lo.data<float>()[c] = acc[static_cast<size_t>(c)].lo;
    hi.data<float>()[c] = acc[static_cast<size_t>(c)].hi;
    nan += acc[static_cast<size_t>(c)].nan;
  }
  if (nan) throw_nan(nan, x);
  return {lo, hi};
}

Tensor state_entry(const std::map<std::string, Tensor>& state, const std::string& key,
                   const Tensor& like) {
  auto it = state.find(key);
  TAMP_CHECK(it != state.end(), "observer state has no '{}' entry", key);
  if (like.defined()) {
    TAMP_CHECK(it->second.shape() == like.shape() && it->second.dtype() == like.dtype(),
               "observer state '{}' is {}, expected {}", key, describe(it->second), describe(like));
  }
  return it->second;
}

std::unique_ptr<Observer> make_observer(const QuantSpec& spec) {
  spec.validate();
  switch (spec.observer.kind) {
    case ObserverKind::kMinMax:
      return std::make_unique<MinMaxObserver>(spec);
    case ObserverKind::kMovingAverageMinMax:
      return std::make_unique<MovingAverageMinMaxObserver>(spec);
    case ObserverKind::kPercentile:
    case ObserverKind::kEntropy:
    case ObserverKind::kMse:
      return std::make_unique<HistogramObserver>(spec);
  }
  throw Error("unknown observer kind", ErrorKind::kInternal);
}

QuantParams weight_qparams(const QuantSpec& spec, const Tensor& w) {
  switch (spec.observer.kind) {
    case ObserverKind::kPercentile:
    case ObserverKind::kEntropy:
    case ObserverKind::kMse: {
      HistogramObserver h(spec);
      h.observe(w);
      auto [lo, hi] = h.range();
      return choose_qparams(spec, lo, hi);
    }
    default: {
      auto [lo, hi] = channel_min_max(w, spec.per_channel, spec.axis);
      return choose_qparams(spec, lo, hi);
    }
  }
}

}  // namespace tamp::compression
