#include <tamp/compression/quantization/qspec.h>

#include <tamp/autograd/enum_names.h>

#include <algorithm>
#include <cmath>

namespace tamp::compression {

namespace {

constexpr EnumName<ObserverKind> kObserverNames[] = {
    {ObserverKind::kMinMax, "minmax"},
    {ObserverKind::kMovingAverageMinMax, "moving-average"},
    {ObserverKind::kPercentile, "percentile"},
    {ObserverKind::kEntropy, "entropy"},
    {ObserverKind::kMse, "mse"},
};

}  // namespace

std::string_view observer_name(ObserverKind kind) { return name_of(kObserverNames, kind); }

ObserverKind observer_from_name(std::string_view name) {
  return value_named(kObserverNames, name, "observer");
}

int64_t QuantSpec::quant_min() const {
  if (!is_signed) return 0;
  const int64_t lo = -(int64_t{1} << (bits - 1));
  return narrow_range ? lo + 1 : lo;
}

int64_t QuantSpec::quant_max() const {
  return is_signed ? (int64_t{1} << (bits - 1)) - 1 : (int64_t{1} << bits) - 1;
}

DType QuantSpec::storage_dtype() const { return is_signed ? DType::kInt8 : DType::kUInt8; }

void QuantSpec::validate() const {
  TAMP_CHECK(bits >= 2 && bits <= 8, "quantization bits must be in 2..8, got {}", bits);
  TAMP_CHECK(group_size >= 0, "group size must be 0 (whole axis) or positive, got {}", group_size);
  TAMP_CHECK(!(narrow_range && !is_signed), "narrow range applies to signed specs only");
  TAMP_CHECK(observer.averaging_constant > 0 && observer.averaging_constant <= 1,
             "observer averaging constant must be in (0, 1], got {}", observer.averaging_constant);
  TAMP_CHECK(observer.percentile > 50 && observer.percentile <= 100,
             "observer percentile must be in (50, 100], got {}", observer.percentile);
  TAMP_CHECK(observer.bins >= 16 && observer.bins <= (1 << 16),
             "observer bins must be in 16..65536, got {}", observer.bins);
}

std::string QuantSpec::describe() const {
  std::string s =
      fmt::format("{}int{} {}", is_signed ? "" : "u", bits, symmetric ? "symmetric" : "asymmetric");
  if (per_channel)
    s += fmt::format(" per-channel(axis {})", axis);
  else
    s += " per-tensor";
  if (group_size > 0) s += fmt::format(" group {}", group_size);
  if (narrow_range) s += " narrow";
  if (power_of_two) s += " pow2";
  s += fmt::format(" {}", observer_name(observer.kind));
  return s;
}

float power_of_two_scale(float scale) {
  TAMP_CHECK(std::isfinite(scale) && scale > 0, "scale {} must be finite and positive", scale);
  int exp = 0;
  const float m = std::frexp(scale, &exp);  // scale = m * 2^exp, m in [0.5, 1)
  return m == 0.5f ? scale : std::ldexp(1.0f, exp);
}

QuantParams choose_qparams(const QuantSpec& spec, const Tensor& min, const Tensor& max) {
  spec.validate();
  TAMP_CHECK(min.defined() && max.defined() && min.shape() == max.shape(),
             "range bounds must have the same shape, got {} and {}",
             min.defined() ? describe(min) : "none", max.defined() ? describe(max) : "none");
  TAMP_CHECK(min.rank() <= 1, "range bounds must be a scalar or 1-D, got {}", describe(min));
  const int64_t n = min.numel();
  TAMP_CHECK(n > 0, "range bounds are empty ({})", describe(min));
  const double qmin = static_cast<double>(spec.quant_min());
  const double qmax = static_cast<double>(spec.quant_max());
  QuantParams p{Tensor::empty(min.shape()), Tensor::empty(min.shape())};
  float* ps = p.scale.data<float>();
  float* pz = p.zero_point.data<float>();
  for (int64_t c = 0; c < n; ++c) {
    double lo = min.at(c), hi = max.at(c);
    if (!std::isfinite(lo) || !std::isfinite(hi)) {
      throw Error(
          fmt::format("observed range [{}, {}] (channel {}) is not finite: the values quantized "
                      "contain NaN or Inf",
                      lo, hi, c),
          ErrorKind::kNumerical);
    }
    TAMP_CHECK(lo <= hi, "observed range [{}, {}] (channel {}) has min above max", lo, hi, c);
    lo = std::min(lo, 0.0);
    hi = std::max(hi, 0.0);
    double scale, zp;
    if (spec.symmetric) {
      // Zero point in the middle of the integer range: 0 for signed, 2^(b-1) for unsigned.
      zp = spec.is_signed ? 0.0 : std::floor((qmin + qmax + 1) / 2);
      const double amax = std::max(-lo, hi);
      scale = amax / std::min(qmax - zp, zp - qmin);
    } else {
      scale = (hi - lo) / (qmax - qmin);
      zp = 0;  // set below, from the final scale
    }
    float s = static_cast<float>(scale);
    // A zero-width range (an all-zero tensor, a pruned channel): any scale represents it.
    // Subnormal scales would overflow int32 biases; treat them the same way.
    if (!(s >= 1e-30f)) s = 1.0f;
    if (spec.power_of_two) s = power_of_two_scale(s);
    if (!spec.symmetric)
      zp = std::clamp(qmin - std::nearbyint(lo / static_cast<double>(s)), qmin, qmax);
    ps[c] = s;
    pz[c] = static_cast<float>(zp);
  }
  return p;
}

}  // namespace tamp::compression
