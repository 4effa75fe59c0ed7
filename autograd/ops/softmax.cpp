// Softmax and LogSoftmax. Opset >= 13 normalises along one axis (default -1); older opsets
// coerce the input to 2-D at `axis` (default 1) and normalise each row of that matrix.
// Both subtract the maximum first, so exp never overflows.
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/kernels/rows.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <Eigen/Core>

#include <cmath>
#include <type_traits>

namespace tamp::ops {

namespace {

struct Saved {
  Tensor y;  // the output: softmax's or log_softmax's gradient needs only it
};

// The input seen as (outer, dim, inner); the op normalises along `dim`.
struct Geometry {
  int64_t outer, dim, inner;
};

Geometry geometry(const OpContext& ctx, const Shape& shape) {
  const int rank = static_cast<int>(shape.size());
  if (ctx.opset >= 13) {
    TAMP_CHECK(rank >= 1, "input must have rank >= 1, got a scalar");
    const int64_t a = ctx.attrs().i("axis", -1);
    TAMP_CHECK(a >= -rank && a < rank,
               "axis {} is out of range for input {} (opset {} allows [-{}, {}])", a,
               to_string(shape), ctx.opset, rank, rank - 1);
    const int axis = normalize_axis(a, rank);
    return {numel(shape, 0, axis), shape[axis], numel(shape, axis + 1, rank)};
  }
  int64_t axis = ctx.attrs().i("axis", 1);
  TAMP_CHECK(axis >= -rank && axis <= rank,
             "axis {} is out of range for input {} (opset {} allows [-{}, {}])", axis,
             to_string(shape), ctx.opset, rank, rank);
  if (axis < 0) axis += rank;
  const int a = static_cast<int>(axis);
  return {numel(shape, 0, a), numel(shape, a, rank), 1};
}

template <class T> using Vec = Eigen::Array<T, Eigen::Dynamic, 1>;
template <class T> using Block = Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T> using BlockMap = Eigen::Map<Block<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T> using ConstBlockMap =
    Eigen::Map<const Block<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// Strided case: columns of width up to kWidth are normalised together, so the reductions
// along `dim` run as vector operations across the columns.
constexpr int64_t kWidth = 256;

// Calls f(row_offset) for inner == 1 (a contiguous row of `dim` elements), else
// f(offset, width) for a (dim, width) block with row stride `inner`; parallel over both.
template <class Rows, class Blocks>
void for_each_slice(const Geometry& g, Rows&& rows, Blocks&& blocks) {
  const int64_t work = std::max<int64_t>(g.dim * std::min(g.inner, kWidth), 1);
  const int64_t grain = std::max<int64_t>(1, 16384 / work);
  if (g.inner == 1) {
    kernels::parallel_for(g.outer, grain, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) rows(o * g.dim);
    });
    return;
  }
  const int64_t per_outer = (g.inner + kWidth - 1) / kWidth;
  kernels::parallel_for(g.outer * per_outer, grain, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / per_outer, col = (t % per_outer) * kWidth;
      blocks(o * g.dim * g.inner + col, std::min(kWidth, g.inner - col));
    }
  });
}

template <class T, bool kLog> void forward_kernel(const Geometry& g, const T* x, T* y) {
  const int64_t d = g.dim;
  auto rows = [&](int64_t off) {
    if constexpr (std::is_same_v<T, float>)
      return kernels::softmax_rows(x + off, y + off, 1, d, kLog);
    Eigen::Map<const Vec<T>> xr(x + off, d);
    Eigen::Map<Vec<T>> yr(y + off, d);
    const T m = xr.maxCoeff();
    if constexpr (kLog) {
      yr = xr - m;
      yr -= std::log(yr.exp().sum());
    } else {
      yr = (xr - m).exp();
      yr *= T(1) / yr.sum();
    }
  };
  auto blocks = [&](int64_t off, int64_t w) {
    ConstBlockMap<T> xb(x + off, d, w, Eigen::OuterStride<>(g.inner));  // (dim, w)
    BlockMap<T> yb(y + off, d, w, Eigen::OuterStride<>(g.inner));
    const Eigen::Array<T, 1, Eigen::Dynamic> m = xb.colwise().maxCoeff();  // (1, w)
    yb = (xb.rowwise() - m).exp();
    const Eigen::Array<T, 1, Eigen::Dynamic> s = yb.colwise().sum();
    if constexpr (kLog) {
      yb = xb.rowwise() - (m + s.log());
    } else {
      yb.rowwise() *= s.inverse();
    }
  };
  for_each_slice(g, rows, blocks);
}

// Softmax: dx = y * (g - sum(g * y)).  LogSoftmax: dx = g - exp(y) * sum(g).
template <class T, bool kLog>
void backward_kernel(const Geometry& g, const T* y, const T* gy, T* dx) {
  const int64_t d = g.dim;
  auto rows = [&](int64_t off) {
    if constexpr (std::is_same_v<T, float>)
      return kernels::softmax_rows_backward(y + off, gy + off, dx + off, 1, d, kLog);
    Eigen::Map<const Vec<T>> yr(y + off, d), gr(gy + off, d);
    Eigen::Map<Vec<T>> dr(dx + off, d);
    if constexpr (kLog) {
      dr = gr - yr.exp() * gr.sum();
    } else {
      dr = yr * (gr - (gr * yr).sum());
    }
  };
  auto blocks = [&](int64_t off, int64_t w) {
    const Eigen::OuterStride<> stride(g.inner);
    ConstBlockMap<T> yb(y + off, d, w, stride), gb(gy + off, d, w, stride);  // (dim, w)
    BlockMap<T> db(dx + off, d, w, stride);
    if constexpr (kLog) {
      const Eigen::Array<T, 1, Eigen::Dynamic> s = gb.colwise().sum();
      db = gb - yb.exp().rowwise() * s;
    } else {
      const Eigen::Array<T, 1, Eigen::Dynamic> s = (gb * yb).colwise().sum();
      db = yb * (gb.rowwise() - s);
    }
  };
  for_each_slice(g, rows, blocks);
}

template <bool kLog>
std::vector<Tensor> softmax_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "input");
  const Geometry g = geometry(ctx, x.shape());
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (x.numel() > 0) forward_kernel<T, kLog>(g, x.data<T>(), y.data<T>());
  });
  if (ctx.any_grad()) ctx.save(Saved{y});
  return {y};
}

template <bool kLog>
std::vector<Tensor> softmax_backward(OpContext& ctx, const std::vector<Tensor>& grads) {
  const Tensor& y = ctx.saved_as<Saved>().y;
  const Geometry g = geometry(ctx, y.shape());
  Tensor dx = Tensor::empty(y.shape(), y.dtype());
  dispatch_float(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (y.numel() > 0) backward_kernel<T, kLog>(g, y.data<T>(), grads[0].data<T>(), dx.data<T>());
  });
  return {dx};
}

}  // namespace

OpDef log_softmax_op() {
  return {"", "LogSoftmax", 1, &softmax_forward<true>, &softmax_backward<true>};
}
OpDef softmax_op() { return {"", "Softmax", 1, &softmax_forward<false>, &softmax_backward<false>}; }

}  // namespace tamp::ops
