// GPTQ (Frantar et al., ICLR 2023): a linear layer's weight quantized column by column, each
// column's rounding error pushed onto the columns not yet quantized through the inverse Hessian
// H = X^T X. Algorithm: docs/quantization.md#weight-only-blocks-gptq-matmulnbits
//
//   HessianAccumulator h(k);
//   for (const Tensor& x : layer_inputs) h.add(x);                  // float32 [..., K]
//   BlockQuantized q = gptq_quantize(w_nk, h.hessian(), {.bits = 4, .group_size = 128});
#pragma once

#include <tamp/compression/quantization/ptq/block_quant.h>

#include <vector>

namespace tamp::compression {

// Sums X^T X over calibration inputs of one layer, in float64.
class HessianAccumulator {
 public:
  explicit HessianAccumulator(int64_t k);
  // x: float32 [..., K], each row one input vector.
  void add(const Tensor& x);
  int64_t k() const { return k_; }
  int64_t rows() const { return rows_; }
  // float64 [K, K]: the sum (not the mean; GPTQ is invariant to the scale of H).
  Tensor hessian() const;

 private:
  int64_t k_;
  int64_t rows_ = 0;
  std::vector<double> h_;  // (K, K)
};

struct GptqOptions {
  double damp_percent = 0.01;  // λ = damp_percent * mean(diag H), added to the diagonal
  int64_t block_size = 128;    // lazy-batch width (rounded up to a multiple of the group size)
  bool act_order = false;      // quantize columns by decreasing H_ii (static groups)
};

// requires: w_nk float32 [N, K] (rows are output channels), hessian float64 [K, K] symmetric
//           positive semi-definite with rows() > 0, spec as block_size_for accepts.
// ensures: codes and parameters in MatMulNBits' layout. Throws (kNumerical) when the damped
//          Hessian is not positive definite (NaN inputs) even after raising the damping.
BlockQuantized gptq_quantize(const Tensor& w_nk, const Tensor& hessian, const QuantSpec& spec,
                             const GptqOptions& options = {});

// ||(W - Ŵ) X||_F² = trace((W - Ŵ) H (W - Ŵ)^T) for H = X^T X: the layer's squared output
// error over the calibration inputs. w_nk and w_hat_nk float32 [N, K], hessian float64 [K, K].
double reconstruction_error(const Tensor& w_nk, const Tensor& w_hat_nk, const Tensor& hessian);

}  // namespace tamp::compression
