// Internal: the integer GEMM of the quantized ops (MatMulInteger, QLinearMatMul, ConvInteger,
// QLinearConv): C (int32) = (A - a_zero_point) * (B - b_zero_point) for 8-bit A and B, on the
// best instruction set of the CPU (simd_target.h), multi-threaded over rows of C unless called
// inside a parallel region.
//
//   const int32_t zb = 3;
//   kernels::int8_gemm({x, k, false}, {w, n, true, &zb}, m, n, k, false, y, n);
//
// Exact: the operands are widened to int16 and multiplied in pairs into int32 (x86 vpmaddwd,
// NEON vmlal), which never saturates; sums wrap as int32 arithmetic does (only past 2^31).
// With saturate_pairs it computes what ONNX Runtime's x86 kernels without VNNI compute
// (vpmaddubsw): the raw products of neighbouring k (2j, 2j + 1; an odd K pairs its last one
// with zero) summed and saturated to int16, then accumulated in int32; the zero points are
// applied exactly afterwards through row and column sums, as MLAS does.
#pragma once

#include <cstdint>

namespace tamp::kernels {

// A row-major 8-bit matrix (int8 or uint8) and its zero points: none (null), one, or one per
// row of A / per column of B.
struct Int8Matrix {
  const void* data;
  int64_t ld;  // elements from one row to the next
  bool is_signed;
  const int32_t* zero_points = nullptr;
  bool zero_point_per_vector = false;
};

// c (m, n; rows ldc apart) = (A - za)(B - zb), A (m, k), B (k, n); m, n, k > 0. saturate_pairs
// needs one uint8 and one int8 operand (their products fit int16).
void int8_gemm(const Int8Matrix& a, const Int8Matrix& b, int64_t m, int64_t n, int64_t k, bool saturate_pairs,
               int32_t* c, int64_t ldc);

}  // namespace tamp::kernels
