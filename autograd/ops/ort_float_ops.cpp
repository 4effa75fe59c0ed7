// ONNX Runtime 1.30's float CPU kernels as they compute on x86 with AVX2 + FMA, bit for bit, in
// the tamp domain (version 1). Forward only: the simulation of a quantized model's run in ONNX
// Runtime (fused_simulation.h) evaluates them in place of the ONNX op, whose last bits move a
// value over the rounding boundary of the QuantizeLinear after it.
//
// OrtSoftmax (Softmax, opset 13: one axis, default -1): MLAS (core/mlas/lib/compute.cpp,
// MlasComputeSoftmaxThreaded; x86_64/TransKernelFma3.S, MlasComputeSumExpF32KernelFma3): per
// row, e_i = exp(x_i - max) by MLAS's polynomial (below), summed in eight float lanes (lane i
// mod 8, in order), the lanes added as vhaddps twice and the two 128-bit halves:
// ((l4 + l5) + (l6 + l7)) + ((l0 + l1) + (l2 + l3)); then y_i = e_i * (1 / sum). AVX-512 CPUs
// run the 16-lane kernel (SoftmaxKernelAvx512F.S) and ARM the generic one; they sum in another
// order and may differ from this in the last bit.
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace tamp::ops {

namespace {

// MlasExpConstants (compute.cpp).
constexpr float kLowerRangeSumExp = -88.3762626647949f;
constexpr float kRoundingBias = 12582912.f;  // MLAS_ROUNDING_BIAS_MAGIC: 1.5 * 2^23
constexpr float kLog2Reciprocal = 1.44269504088896341f;
constexpr float kLog2High = -6.93145752e-1f;
constexpr float kLog2Low = -1.42860677e-6f;
constexpr float kPoly[] = {0x1.694000p-10f, 0x1.125edcp-7f, 0x1.555b5ap-5f,
                           0x1.555450p-3f,  0x1.fffff6p-2f, 0x1.000000p+0f};
constexpr uint32_t kExponentBias = 0x3F800000;

// exp(x + negative_max), MlasComputeSumExpF32KernelFma3's ProcessSingleVector, one lane.
float mlas_exp(float x, float negative_max) {
  x = std::max(kLowerRangeSumExp, x + negative_max);
  const float biased = std::fma(x, kLog2Reciprocal, kRoundingBias);
  const float m = biased - kRoundingBias;
  x = std::fma(m, kLog2High, x);
  x = std::fma(m, kLog2Low, x);
  float p = kPoly[0];
  for (int k = 1; k < 6; ++k) p = std::fma(p, x, kPoly[k]);
  p = std::fma(p, x, kPoly[5]);  // poly_56 twice: the polynomial's last two terms
  uint32_t bits;
  std::memcpy(&bits, &biased, sizeof bits);
  bits = (bits << 23) + kExponentBias;  // 2^m
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// One row of n values `stride` apart.
void mlas_softmax_row(const float* x, float* y, int64_t n, int64_t stride) {
  float max = x[0];
  for (int64_t i = 1; i < n; ++i) max = std::max(max, x[i * stride]);
  const float negative_max = -max;
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t i = 0; i < n; ++i) {
    const float e = mlas_exp(x[i * stride], negative_max);
    y[i * stride] = e;
    lanes[i % 8] += e;
  }
  const float sum = ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7])) +
                    ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]));
  const float scale = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) y[i * stride] *= scale;
}

std::vector<Tensor> ort_softmax(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "input");
  TAMP_CHECK(x.dtype() == DType::kFloat32, "input {} must be float32", describe(x));
  const int rank = x.rank();
  TAMP_CHECK(rank >= 1, "input must have rank >= 1, got a scalar");
  const int64_t a = ctx.attrs().i("axis", -1);
  TAMP_CHECK(a >= -rank && a < rank, "axis {} is out of range for input {}", a, describe(x));
  const int axis = normalize_axis(a, rank);
  const int64_t outer = numel(x.shape(), 0, axis), dim = x.shape()[axis],
                inner = numel(x.shape(), axis + 1, rank);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  if (x.numel() == 0) return {y};
  const float* px = x.data<float>();
  float* py = y.data<float>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t off = o * dim * inner + i;
      mlas_softmax_row(px + off, py + off, dim, inner);
    }
  }
  return {y};
}

}  // namespace

OpDef ort_softmax_op() {
  return {std::string(kTampDomain), "OrtSoftmax", 1, &ort_softmax, nullptr};
}

}  // namespace tamp::ops
