// Where(condition, X, Y) with three-way broadcasting, any dtype (elements are moved, not
// computed). Gradients: X gets the output gradient where the condition holds, Y elsewhere,
// both in the output shape (the engine sums them down).
#include <tamp/autograd/kernels/layout.h>
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

namespace tamp::ops {

namespace {

struct Saved {
  Tensor condition;
};

// out[i] = c[i] ? x[i] : y[i] over `shape`, each operand read through broadcast strides.
template <class W> void select(const bool* c, const W* x, const W* y, W* out, const Shape& shape,
                               const std::vector<int64_t>& sc, const std::vector<int64_t>& sx,
                               const std::vector<int64_t>& sy) {
  const int rank = static_cast<int>(shape.size());
  const int64_t inner = rank ? shape[rank - 1] : 1;
  const int64_t total = numel(shape);
  const int64_t outer = inner ? total / inner : 0;
  const int64_t ic = rank ? sc[rank - 1] : 0, ix = rank ? sx[rank - 1] : 0,
                iy = rank ? sy[rank - 1] : 0;
  kernels::parallel_for(outer, std::max<int64_t>(1, 32768 / std::max<int64_t>(inner, 1)),
                        [&](int64_t b, int64_t e) {
                          for (int64_t o = b; o < e; ++o) {
                            int64_t oc = 0, ox = 0, oy = 0, rem = o;
                            for (int d = rank - 2; d >= 0; --d) {
                              const int64_t i = rem % shape[d];
                              rem /= shape[d];
                              oc += i * sc[d];
                              ox += i * sx[d];
                              oy += i * sy[d];
                            }
                            W* dst = out + o * inner;
                            for (int64_t i = 0; i < inner; ++i)
                              dst[i] = c[oc + i * ic] ? x[ox + i * ix] : y[oy + i * iy];
                          }
                        });
}

Tensor where(const Tensor& cond, const Tensor& x, const Tensor& y) {
  TAMP_CHECK(cond.dtype() == DType::kBool, "condition must be bool, got {}", describe(cond));
  expect_same_dtype(x, y, "X and Y");
  const Shape shape = broadcast_shapes(cond.shape(), broadcast_shapes(x.shape(), y.shape()));
  Tensor out = Tensor::empty(shape, x.dtype());
  const auto sc = kernels::broadcast_strides(cond.shape(), shape);
  const auto sx = kernels::broadcast_strides(x.shape(), shape);
  const auto sy = kernels::broadcast_strides(y.shape(), shape);
  auto run = [&](auto tag) {
    using W = decltype(tag);
    select<W>(cond.data<bool>(), static_cast<const W*>(x.raw_data()),
              static_cast<const W*>(y.raw_data()), static_cast<W*>(out.raw_data()), shape, sc, sx,
              sy);
  };
  dispatch_by_size(x.dtype(), run);
  return out;
}

std::vector<Tensor> where_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& cond = input(in, 0, "condition");
  Tensor out = where(cond, input(in, 1, "X"), input(in, 2, "Y"));
  if (ctx.any_grad()) ctx.save(Saved{cond});
  return {out};
}

std::vector<Tensor> where_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const Tensor& cond = ctx.saved_as<Saved>().condition;
  const Tensor zero = Tensor::zeros({}, g[0].dtype());
  return {Tensor(), ctx.needs_grad[1] ? where(cond, g[0], zero) : Tensor(),
          ctx.needs_grad[2] ? where(cond, zero, g[0]) : Tensor()};
}

}  // namespace

OpDef where_op() { return {"", "Where", 9, &where_forward, &where_backward, {0}}; }

}  // namespace tamp::ops
