// Internal: elementwise loops over broadcast operands.
//
//   Tensor out = broadcast_binary<float, float>(a, b, DType::kFloat32,
//                                               [](float x, float y) { return x + y; });
#pragma once

#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/tensor.h>

namespace tamp::kernels {

// The iteration space of out = f(a, b) with broadcasting, with adjacent dims that broadcast
// alike merged, so a bias add over NCHW is a short loop nest.
struct BroadcastPlan {
  Shape out_shape;
  Shape dims;                               // merged dims
  std::vector<int64_t> stride_a, stride_b;  // element strides per merged dim (0: broadcast)
};
BroadcastPlan plan_broadcast(const Shape& a, const Shape& b);

// Calls f(offset_out, offset_a, offset_b, count, step_a, step_b) for each contiguous run of
// the innermost merged dim, runs split over threads when `parallel`.
template <class F> void for_each_run(const BroadcastPlan& p, bool parallel, F&& f) {
  const int rank = static_cast<int>(p.dims.size());
  if (rank == 0) {
    f(int64_t{0}, int64_t{0}, int64_t{0}, int64_t{1}, int64_t{0}, int64_t{0});
    return;
  }
  const int64_t inner = p.dims[rank - 1];
  const int64_t step_a = p.stride_a[rank - 1], step_b = p.stride_b[rank - 1];
  int64_t outer = 1;
  for (int d = 0; d < rank - 1; ++d) outer *= p.dims[d];
  auto body = [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      int64_t rem = o, off_a = 0, off_b = 0;
      for (int d = rank - 2; d >= 0; --d) {
        const int64_t i = rem % p.dims[d];
        rem /= p.dims[d];
        off_a += i * p.stride_a[d];
        off_b += i * p.stride_b[d];
      }
      f(o * inner, off_a, off_b, inner, step_a, step_b);
    }
  };
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(inner, 1));
  if (parallel)
    parallel_for(outer, grain, body);
  else
    body(0, outer);
}

template <class A, class R, class F>
Tensor broadcast_binary(const Tensor& a, const Tensor& b, DType out_dtype, F f) {
  const BroadcastPlan plan = plan_broadcast(a.shape(), b.shape());
  Tensor out = Tensor::empty(plan.out_shape, out_dtype);
  const A* pa = a.data<A>();
  const A* pb = b.data<A>();
  R* po = out.data<R>();
  for_each_run(plan, out.numel() >= 65536,
               [&](int64_t oo, int64_t oa, int64_t ob, int64_t n, int64_t sa, int64_t sb) {
                 R* o = po + oo;
                 const A* x = pa + oa;
                 const A* y = pb + ob;
                 if (sa == 1 && sb == 1) {
                   for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
                 } else if (sa == 1 && sb == 0) {
                   const A yv = *y;
                   for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
                 } else if (sa == 0 && sb == 1) {
                   const A xv = *x;
                   for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
                 } else {
                   for (int64_t i = 0; i < n; ++i) o[i] = f(x[i * sa], y[i * sb]);
                 }
               });
  return out;
}

// out[i] = f(in[i]) over a whole tensor, in parallel when large.
template <class A, class R, class F> void map_unary(const A* in, R* out, int64_t n, F f) {
  parallel_for(n, 32768, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = f(in[i]);
  });
}

}  // namespace tamp::kernels
