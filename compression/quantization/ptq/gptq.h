// GPTQ (Frantar et al., "GPTQ: Accurate Post-Training Quantization for Generative
// Pre-trained Transformers", ICLR 2023): quantizes a linear layer's weight column by column,
// pushing each column's rounding error onto the columns not yet quantized through the inverse
// Hessian of the layer's reconstruction error ||W X - Ŵ X||², H = X^T X over calibration
// inputs.
//
//   HessianAccumulator h(k);
//   for (const Tensor& x : layer_inputs) h.add(x);                  // float32 [..., K]
//   BlockQuantized q = gptq_quantize(w_nk, h.hessian(), {.bits = 4, .group_size = 128});
//   double e = reconstruction_error(w_nk, dequantize(q), h.hessian());
//
// What it does, as in the paper: dead inputs (H_ii = 0) get their weights zeroed; H is damped
// by `damp_percent` of its mean diagonal; the upper Cholesky factor U of H^-1 gives each
// column's update row; columns are processed in lazy batches of `block_size` — inside a batch
// updates go column by column, the rest of the matrix gets one GEMM per batch. Group
// parameters (scale, zero point per group_size columns) are chosen when the loop reaches a
// group, from the weights as the earlier columns' errors left them.
// act_order processes columns by decreasing H_ii. With groups it uses "static groups": the
// group parameters are chosen up front from the original weights, so that groups stay
// contiguous in K and the export needs no g_idx permutation (ORT's fast MatMulNBits path
// does not take g_idx).
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
