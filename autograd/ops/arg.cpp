// ArgMax and ArgMin along one axis (int64 indices; not differentiable). Ties go to the first
// index, or the last with select_last_index.
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

namespace tamp::ops {

namespace {

template <bool kMax>
std::vector<Tensor> arg_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "data");
  TAMP_CHECK(x.rank() >= 1, "data must have rank >= 1, got {}", describe(x));
  const int axis = normalize_axis(ctx.attrs().i("axis", 0), x.rank());
  const bool keepdims = ctx.attrs().i("keepdims", 1) != 0;
  const bool last = ctx.attrs().i("select_last_index", 0) != 0;
  const int64_t outer = numel(x.shape(), 0, axis);
  const int64_t len = x.shape()[axis];
  const int64_t inner = numel(x.shape(), axis + 1, x.rank());
  TAMP_CHECK(len > 0 || outer * inner == 0, "cannot take the arg{} of the empty axis {} of {}",
             kMax ? "max" : "min", axis, describe(x));
  Shape shape = x.shape();
  if (keepdims)
    shape[axis] = 1;
  else
    shape.erase(shape.begin() + axis);
  Tensor out = Tensor::empty(shape, DType::kInt64);
  int64_t* dst = out.data<int64_t>();
  dispatch_numeric(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = x.data<T>();
    kernels::parallel_for(outer * inner, std::max<int64_t>(1, 32768 / std::max<int64_t>(len, 1)),
                          [&](int64_t b, int64_t e) {
                            for (int64_t k = b; k < e; ++k) {
                              const T* p = src + (k / inner) * len * inner + k % inner;
                              int64_t best = 0;
                              for (int64_t r = 1; r < len; ++r) {
                                const T v = p[r * inner], cur = p[best * inner];
                                const bool better = kMax ? (v > cur || (last && v == cur))
                                                         : (v < cur || (last && v == cur));
                                if (better) best = r;
                              }
                              dst[k] = best;
                            }
                          });
  });
  return {out};
}

}  // namespace

OpDef arg_max_op() { return {"", "ArgMax", 1, &arg_forward<true>, nullptr}; }
OpDef arg_min_op() { return {"", "ArgMin", 1, &arg_forward<false>, nullptr}; }

}  // namespace tamp::ops
