// Internal helpers of the loss op files (cross_entropy.cpp, kl_div.cpp, mse.cpp): the
// reduction attribute, the class-axis geometry and a log-softmax over one axis.
#pragma once

#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace tamp::ops {

enum class Reduction { kNone, kSum, kMean, kBatchMean };

// Reads the "reduction" attribute; `allowed` lists the accepted spellings ("none", "sum",
// "mean", "batchmean").
Reduction parse_reduction(const Attributes& attrs, const std::string& fallback,
                          std::initializer_list<const char*> allowed);

// A tensor seen as (outer, classes, inner) around its class axis: element (o, c, i) sits at
// (o * classes + c) * inner + i.
struct ClassAxis {
  int64_t outer = 1, classes = 1, inner = 1;
  int64_t lines() const { return outer * inner; }
  // Flat index of element (line, c); `line` counts (o, i) pairs row-major.
  int64_t base(int64_t line) const { return (line / inner) * classes * inner + line % inner; }
};
ClassAxis class_axis(const Shape& shape, int axis);

// Lines per parallel chunk so that each chunk touches ~16k elements.
inline int64_t line_grain(const ClassAxis& g) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, g.classes));
}

// y = log_softmax(x * inv_temperature) along the class axis.
template <class T> void log_softmax_lines(const T* x, T* y, const ClassAxis& g, T inv_temperature) {
  const int64_t c = g.classes, stride = g.inner;
  kernels::parallel_for(g.lines(), line_grain(g), [&](int64_t begin, int64_t end) {
    for (int64_t line = begin; line < end; ++line) {
      const int64_t b = g.base(line);
      const T* xl = x + b;
      T* yl = y + b;
      T m = -std::numeric_limits<T>::infinity();
      for (int64_t k = 0; k < c; ++k) m = std::max(m, xl[k * stride]);
      if (!std::isfinite(m)) m = 0;  // all -inf (or a NaN): let the NaN/-inf propagate
      T s = 0;
      for (int64_t k = 0; k < c; ++k) {
        yl[k * stride] = (xl[k * stride] - m) * inv_temperature;
        s += std::exp(yl[k * stride]);
      }
      const T lse = std::log(s);
      for (int64_t k = 0; k < c; ++k) yl[k * stride] -= lse;
    }
  });
}

}  // namespace tamp::ops
