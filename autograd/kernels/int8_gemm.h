// Internal: the integer GEMM of the quantized ops: C (int32) = (A - a_zero_point) *
// (B - b_zero_point) for 8-bit A and B, exact, or with saturate_pairs as ONNX Runtime's x86
// kernels without VNNI compute it; threaded over rows of C unless inside a parallel region.
//
//   kernels::int8_gemm({x, k, false}, {w, n, true, &zb}, m, n, k, false, y, n);   // int32_t zb
// Details: docs/kernels.md#integer-kernels-int8
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
void int8_gemm(const Int8Matrix& a, const Int8Matrix& b, int64_t m, int64_t n, int64_t k,
               bool saturate_pairs, int32_t* c, int64_t ldc);

}  // namespace tamp::kernels
