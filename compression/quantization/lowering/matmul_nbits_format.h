// ONNX Runtime's com.microsoft MatMulNBits weight layout: block-quantized integer weights
// packed into the B / scales / zero_points initializers, and back.
// Layout: docs/quantization.md#weight-only-blocks-gptq-matmulnbits
//
//   MatMulNBitsWeights p = pack_matmul_nbits(q);         // q: quantize_blocks_rtn (block_quant.h)
//   // B uint8 [N, K/32, 16], scales float [N * K/32], zero_points absent (symmetric: zp 8)
//   Tensor w_hat = dequantize(p);                       // float [N, K], what ORT multiplies by
#pragma once

#include <tamp/autograd/tensor.h>

namespace tamp::compression {

// Integer block-quantized weights in MatMulNBits' orientation: w[n, k] ≈
// (q[n, k] - zero_point[n, k / block]) * scale[n, k / block].
struct BlockQuantized {
  Tensor q;            // uint8 [N, K], values in [0, 2^bits)
  Tensor scales;       // float32 [N, k_blocks]
  Tensor zero_points;  // uint8 [N, k_blocks] in [0, 2^bits); undefined: 2^(bits-1) everywhere
  int bits = 4;
  int64_t block_size = 32;
  int64_t n() const { return q.dim(0); }
  int64_t k() const { return q.dim(1); }
  int64_t k_blocks() const { return (k() + block_size - 1) / block_size; }
};

struct MatMulNBitsWeights {
  Tensor b;            // uint8 [N, k_blocks, block_size * bits / 8]
  Tensor scales;       // float32 [N * k_blocks]
  Tensor zero_points;  // uint8 [N * zp_bytes], or undefined
  int64_t k = 0, n = 0;
  int bits = 4;
  int64_t block_size = 32;
};

// Throws (kInvalidInput) unless bits is 4 or 8 (what tamp exports; ORT also reads 2) and the
// block size is a power of two in 16..256 (what ORT 1.30's CPU kernel accepts).
void check_matmul_nbits_format(int bits, int64_t block_size);

// requires: q, scales and zero_points shaped as BlockQuantized documents, values in range
//           (checked: a bad value throws naming its position).
MatMulNBitsWeights pack_matmul_nbits(const BlockQuantized& q);
// The inverse of pack_matmul_nbits (padding dropped); zero_points undefined when absent.
BlockQuantized unpack_matmul_nbits(const MatMulNBitsWeights& w);

// The float weight ORT multiplies by, [N, K]: (q - zp) * scale per block, in float32.
Tensor dequantize(const BlockQuantized& q);
Tensor dequantize(const MatMulNBitsWeights& w);

}  // namespace tamp::compression
