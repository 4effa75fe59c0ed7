// Internal: vectorised fp32 kernels over contiguous rows (the last axis), on the CPU's best
// instruction set: Softmax / LogSoftmax and LayerNormalization, forward and backward, and the
// sums of ReduceSum / ReduceMean and of broadcast gradients (reduce.cpp, sum_to). The
// ops (ops/softmax.cpp, ops/layer_norm.cpp) keep their general code for other layouts and
// dtypes; rows run in parallel.
//
//   kernels::softmax_rows(x, y, rows, n, /*log=*/false);         // y = softmax over each row
#pragma once

#include <cstdint>

namespace tamp::kernels {

// y[r] = softmax(x[r]) (or log_softmax), each of `rows` rows n long; max subtracted first.
void softmax_rows(const float* x, float* y, int64_t rows, int64_t n, bool log);

// dx[r] = y * (g - sum(g * y)) (softmax) or g - exp(y) * sum(g) (log_softmax), y the output.
void softmax_rows_backward(const float* y, const float* g, float* dx, int64_t rows, int64_t n,
                           bool log);

// y[r] = (x[r] - mean) * rstd * scale + bias per row; mean and rstd (1 / sqrt(var + eps)) of
// each row stored. scale and bias have n values (bias may be null).
void layer_norm_rows(const float* x, const float* scale, const float* bias, float eps, float* y,
                     float* mean, float* rstd, int64_t rows, int64_t n);

// dx[r] = rstd * (gs - mean(gs) - xhat * mean(gs * xhat)) with gs = dy * scale and
// xhat = (x - mean) * rstd: the data gradient of layer_norm_rows without its statistics'
// own gradients (the op adds those).
void layer_norm_rows_backward(const float* x, const float* scale, const float* mean,
                              const float* rstd, const float* dy, float* dx, int64_t rows,
                              int64_t n);

// out[r] = sum of row r (n values), for `rows` rows; float lanes, summed at the end.
void row_sums(const float* x, float* out, int64_t rows, int64_t n);

// out[i] += sum over r < rows of x[r * stride + i], for i < n: rows added onto one.
void add_rows(const float* x, int64_t stride, float* out, int64_t rows, int64_t n);

}  // namespace tamp::kernels
