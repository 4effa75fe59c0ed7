#include <tamp/nn/init.h>

#include <cmath>

namespace tamp::nn::init {

Tensor uniform(const Shape& shape, double lo, double hi, Generator& rng) {
  TAMP_CHECK(lo <= hi, "init::uniform: lo {} > hi {}", lo, hi);
  Tensor t = Tensor::empty(shape, DType::kFloat32);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] = static_cast<float>(lo + (hi - lo) * rng.uniform_double());
  return t;
}

Tensor normal(const Shape& shape, double mean, double std, Generator& rng) {
  TAMP_CHECK(std >= 0, "init::normal: std {} is negative", std);
  Tensor t = Tensor::empty(shape, DType::kFloat32);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(mean + std * rng.normal());
  return t;
}

Tensor kaiming_uniform(const Shape& shape, int64_t fan_in, Generator& rng, double a) {
  TAMP_CHECK(fan_in > 0, "init::kaiming_uniform: fan_in {} must be positive", fan_in);
  const double bound = std::sqrt(6.0 / ((1 + a * a) * static_cast<double>(fan_in)));
  return uniform(shape, -bound, bound, rng);
}

Tensor fan_in_uniform(const Shape& shape, int64_t fan_in, Generator& rng) {
  TAMP_CHECK(fan_in > 0, "init::fan_in_uniform: fan_in {} must be positive", fan_in);
  const double bound = 1 / std::sqrt(static_cast<double>(fan_in));
  return uniform(shape, -bound, bound, rng);
}

}  // namespace tamp::nn::init
