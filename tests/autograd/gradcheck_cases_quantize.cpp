// FakeQuantize: straight-through for X, LSQ for scale and zero_point, checked against the
// surrogate y = s * (clamp(x/s + c + z, qmin, qmax) - z), with c = round(x0/s0) - x0/s0
// frozen at the base point: its derivative is exactly the estimator's.
#include "autograd/gradcheck.h"

#include <algorithm>
#include <cmath>

namespace tamp::test {

namespace {

std::vector<Tensor> fake_quant_surrogate(const std::vector<Tensor>& in,
                                         const std::vector<Tensor>& base, int64_t axis, double qmin,
                                         double qmax) {
  const Tensor& x = in[0];
  const Tensor& s = in[1];
  const Tensor& z = in[2];
  const int64_t channels = s.numel();
  const int64_t inner = channels == 1 ? 1 : numel(x.shape(), static_cast<int>(axis) + 1, x.rank());
  Tensor y = Tensor::empty(x.shape(), DType::kFloat64);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t ch = channels == 1 ? 0 : (i / inner) % channels;
    const double v0 = base[0].data<double>()[i] / base[1].data<double>()[ch];
    const double c = std::nearbyint(v0) - v0;
    const double sc = s.data<double>()[ch], zc = z.data<double>()[ch];
    const double q = std::clamp(x.data<double>()[i] / sc + c + zc, qmin, qmax);
    y.data<double>()[i] = sc * (q - zc);
  }
  return {y};
}

// Values whose x/s stays clear of rounding ties and whose quantized value is not exactly
// qmin or qmax, so small steps never cross a kink of the surrogate.
Tensor grid_values(const Shape& shape, const Tensor& scale, const Tensor& zp, int64_t inner,
                   double qmin, double qmax, double lo, double hi, uint64_t seed) {
  Tensor t = uniform(shape, lo, hi, seed);
  const int64_t channels = scale.numel();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const int64_t ch = channels == 1 ? 0 : (i / inner) % channels;
    const double s = scale.data<double>()[ch], z = zp.data<double>()[ch];
    double& v = t.data<double>()[i];
    for (;;) {
      const double q = v / s;
      const double r = std::nearbyint(q) + z;
      if (std::abs(q - std::floor(q) - 0.5) > 0.1 && r != qmin && r != qmax) break;
      v += 0.37 * s;
    }
  }
  return t;
}

}  // namespace

TAMP_GRAD_CASES(fake_quantize_cases) {
  const Attributes int8{{"quant_min", int64_t{-128}}, {"quant_max", int64_t{127}}};
  const Attributes uint8_ch{
      {"quant_min", int64_t{0}}, {"quant_max", int64_t{255}}, {"axis", int64_t{1}}};
  const Tensor s1 = Tensor::scalar(0.05, DType::kFloat64), z1 = Tensor::scalar(3, DType::kFloat64);
  const Tensor s2 = Tensor::from_vector<double>({3}, {0.01, 0.02, 0.015});
  const Tensor z2 = Tensor::from_vector<double>({3}, {100, 128, 90});
  return {
      {.op = "FakeQuantize",
       .inputs = {grid_values({4, 6}, s1, z1, 1, -128, 127, -8, 8, 1), s1, z1},
       .attrs = int8,
       .label = "per_tensor_with_clipping",
       .domain = "tamp",
       .surrogate = [](const auto& in,
                       const auto& base) { return fake_quant_surrogate(in, base, 0, -128, 127); }},
      {.op = "FakeQuantize",
       .inputs = {grid_values({2, 3, 4}, s2, z2, 4, 0, 255, -1.5, 2.5, 2), s2, z2},
       .attrs = uint8_ch,
       .label = "per_channel_axis1",
       .domain = "tamp",
       .surrogate = [](const auto& in,
                       const auto& base) { return fake_quant_surrogate(in, base, 1, 0, 255); }},
  };
}

}  // namespace tamp::test
