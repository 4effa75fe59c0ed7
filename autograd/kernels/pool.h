// Internal: the vectorised part of MaxPool (ops/pool.cpp), on the CPU's best instruction set.
//
//   if (!kernels::max_pool_2x2_row(row, w, n, base, y, idx)) { /* a NaN: the scalar path */ }
#pragma once

#include <cstdint>

namespace tamp::kernels {

// n full 2x2 windows of stride 2 over the input rows `row` and row + w (fp32): y[j] = their
// maximum and, when idx is not null, idx[j] = base + the row-major offset of the window's
// first maximum (ties go to the earlier element). Returns false, with y and idx unspecified,
// when one of the inputs is NaN (NaN wins a window, which the caller handles).
bool max_pool_2x2_row(const float* row, int64_t w, int64_t n, int64_t base, float* y, int64_t* idx);

}  // namespace tamp::kernels
