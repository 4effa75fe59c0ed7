// Gemm and MatMul: the GEMMs of Linear layers and attention.
#include <tamp/autograd/kernels/gemm.h>
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>
#include <tamp/autograd/tensor_math.h>

namespace tamp::ops {

namespace {

struct Saved {
  Tensor a, b;
};

// ---- Gemm: Y = alpha * op(A) * op(B) + beta * C ----

std::vector<Tensor> gemm_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& a = input(in, 0, "A");
  const Tensor& b = input(in, 1, "B");
  const Tensor c = optional_input(in, 2);
  expect_same_dtype(a, b, "A and B");
  TAMP_CHECK(a.rank() == 2 && b.rank() == 2, "A {} and B {} must be 2-D", describe(a), describe(b));
  const auto& at = ctx.attrs();
  const bool ta = at.i("transA", 0) != 0, tb = at.i("transB", 0) != 0;
  const float alpha = at.f("alpha", 1.0f), beta = at.f("beta", 1.0f);
  const int64_t m = ta ? a.dim(1) : a.dim(0), k = ta ? a.dim(0) : a.dim(1);
  const int64_t kb = tb ? b.dim(1) : b.dim(0), n = tb ? b.dim(0) : b.dim(1);
  TAMP_CHECK(k == kb, "A {} (transA={}) and B {} (transB={}) disagree on K", describe(a), ta,
             describe(b), tb);
  Tensor y = Tensor::empty({m, n}, a.dtype());
  dispatch_float(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T bias_scale = T(0);
    if (c.defined() && beta != 0.0f) {
      expect_same_dtype(a, c, "A and C");
      TAMP_CHECK(broadcast_shapes(c.shape(), {m, n}) == Shape({m, n}),
                 "C {} does not broadcast to [{}, {}]", describe(c), m, n);
      // Write C, broadcast, into Y; the GEMM then accumulates onto it.
      const Shape cs =
          c.rank() == 2 ? c.shape() : (c.rank() == 1 ? Shape{1, c.dim(0)} : Shape{1, 1});
      const T* pc = c.data<T>();
      T* py = y.data<T>();
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
          py[i * n + j] = pc[(cs[0] == 1 ? 0 : i) * cs[1] + (cs[1] == 1 ? 0 : j)];
        }
      }
      bias_scale = T(beta);
    }
    kernels::gemm(ta, tb, m, n, k, T(alpha), a.data<T>(), a.dim(1), b.data<T>(), b.dim(1),
                  bias_scale, y.data<T>(), n);
  });
  if (ctx.any_grad()) ctx.save(Saved{a, b});
  return {y};
}

std::vector<Tensor> gemm_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const Saved& saved = ctx.saved_as<Saved>();
  const auto& a = saved.a;
  const auto& b = saved.b;
  const Tensor& dy = g[0];  // (M, N)
  const auto& at = ctx.attrs();
  const bool ta = at.i("transA", 0) != 0, tb = at.i("transB", 0) != 0;
  const float alpha = at.f("alpha", 1.0f), beta = at.f("beta", 1.0f);
  const int64_t m = dy.dim(0), n = dy.dim(1), k = ta ? a.dim(0) : a.dim(1);
  Tensor da, db, dc;
  dispatch_float(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    const T* pg = dy.data<T>();
    if (ctx.needs_grad[0]) {
      da = Tensor::empty(a.shape(), a.dtype());
      // op(A) grad = alpha * dY * op(B)^T (M x K); stored transposed when transA.
      if (!ta)
        kernels::gemm(false, !tb, m, k, n, T(alpha), pg, n, pb, b.dim(1), T(0), da.data<T>(), k);
      else
        kernels::gemm(tb, true, k, m, n, T(alpha), pb, b.dim(1), pg, n, T(0), da.data<T>(), m);
    }
    if (ctx.needs_grad[1]) {
      db = Tensor::empty(b.shape(), b.dtype());
      // op(B) grad = alpha * op(A)^T * dY (K x N); stored transposed when transB.
      if (!tb)
        kernels::gemm(!ta, false, k, n, m, T(alpha), pa, a.dim(1), pg, n, T(0), db.data<T>(), n);
      else
        kernels::gemm(true, ta, n, k, m, T(alpha), pg, n, pa, a.dim(1), T(0), db.data<T>(), k);
    }
    if (ctx.needs_grad.size() > 2 && ctx.needs_grad[2]) {
      dc = beta == 1.0f ? dy : mul(dy, Tensor::scalar(beta, dy.dtype()));
    }
  });
  return {da, db, dc};
}

// ---- MatMul: numpy matmul with batch broadcasting ----

struct MatMulDims {
  int64_t m, k, n;
  Shape batch;              // broadcast batch dims of the output
  Shape a_batch, b_batch;   // each operand's own batch dims
  bool a_vector, b_vector;  // 1-D operands (promoted, then squeezed from the result)
  Shape out_shape;
};

MatMulDims matmul_dims(const Tensor& a, const Tensor& b) {
  TAMP_CHECK(a.rank() >= 1 && b.rank() >= 1, "operands {} and {} must have rank >= 1", describe(a),
             describe(b));
  MatMulDims d;
  d.a_vector = a.rank() == 1;
  d.b_vector = b.rank() == 1;
  const Shape as = d.a_vector ? Shape{1, a.dim(0)} : a.shape();
  const Shape bs = d.b_vector ? Shape{b.dim(0), 1} : b.shape();
  d.m = as[as.size() - 2];
  d.k = as.back();
  d.n = bs.back();
  TAMP_CHECK(d.k == bs[bs.size() - 2], "A {} and B {} disagree on the inner dimension", describe(a),
             describe(b));
  d.a_batch.assign(as.begin(), as.end() - 2);
  d.b_batch.assign(bs.begin(), bs.end() - 2);
  d.batch = broadcast_shapes(d.a_batch, d.b_batch);
  d.out_shape = d.batch;
  if (!d.a_vector) d.out_shape.push_back(d.m);
  if (!d.b_vector) d.out_shape.push_back(d.n);
  return d;
}

// C[b] = op(A[b]) * op(B[b]) over the output batch, parallel over the batch.
template <class T> void batched_gemm(const MatMulDims& d, bool ta, bool tb, int64_t m, int64_t n,
                                     int64_t k, const T* a, const Shape& a_batch, int64_t a_rows,
                                     int64_t a_cols, const T* b, const Shape& b_batch,
                                     int64_t b_rows, int64_t b_cols, T* c) {
  const int64_t count = numel(d.batch);
  kernels::parallel_for(count, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T* ai = a + broadcast_offset(i, d.batch, a_batch) * a_rows * a_cols;
      const T* bi = b + broadcast_offset(i, d.batch, b_batch) * b_rows * b_cols;
      kernels::gemm(ta, tb, m, n, k, T(1), ai, a_cols, bi, b_cols, T(0), c + i * m * n, n);
    }
  });
}

std::vector<Tensor> matmul_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& a = input(in, 0, "A");
  const Tensor& b = input(in, 1, "B");
  expect_same_dtype(a, b, "A and B");
  const MatMulDims d = matmul_dims(a, b);
  Tensor y = Tensor::empty(d.out_shape, a.dtype());
  dispatch_float(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (d.b_batch.empty()) {
      // Every batch shares B: one GEMM over all rows of A (Linear layers on sequences).
      const int64_t rows = numel(d.a_batch) * d.m;
      kernels::gemm(false, false, rows, d.n, d.k, T(1), a.data<T>(), d.k, b.data<T>(), d.n, T(0),
                    y.data<T>(), d.n);
    } else {
      batched_gemm<T>(d, false, false, d.m, d.n, d.k, a.data<T>(), d.a_batch, d.m, d.k, b.data<T>(),
                      d.b_batch, d.k, d.n, y.data<T>());
    }
  });
  if (ctx.any_grad()) ctx.save(Saved{a, b});
  return {y};
}

std::vector<Tensor> matmul_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const Saved& saved = ctx.saved_as<Saved>();
  const auto& a = saved.a;
  const auto& b = saved.b;
  const MatMulDims d = matmul_dims(a, b);
  Tensor da, db;
  dispatch_float(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pg = g[0].data<T>();  // (batch, M, N)
    if (ctx.needs_grad[0]) {
      // dA = dY * B^T, in the output's batch shape; the engine sums broadcast batches.
      Shape s = d.batch;
      s.push_back(d.m);
      s.push_back(d.k);
      Tensor full = Tensor::empty(s, a.dtype());
      if (d.b_batch.empty()) {
        kernels::gemm(false, true, numel(d.batch) * d.m, d.k, d.n, T(1), pg, d.n, b.data<T>(), d.n,
                      T(0), full.data<T>(), d.k);
      } else {
        batched_gemm<T>(d, false, true, d.m, d.k, d.n, pg, d.batch, d.m, d.n, b.data<T>(),
                        d.b_batch, d.k, d.n, full.data<T>());
      }
      Shape own = d.a_batch;
      own.push_back(d.m);
      own.push_back(d.k);
      da = (full.shape() == own ? full : sum_to(full, own)).reshape(a.shape());
    }
    if (ctx.needs_grad[1]) {
      if (d.b_batch.empty()) {
        // dB = sum over all rows of A^T * dY: one GEMM with K = batch * M.
        db = Tensor::empty({d.k, d.n}, b.dtype());
        const int64_t rows = numel(d.a_batch) * d.m;
        kernels::gemm(true, false, d.k, d.n, rows, T(1), a.data<T>(), d.k, pg, d.n, T(0),
                      db.data<T>(), d.n);
      } else {
        Shape s = d.batch;
        s.push_back(d.k);
        s.push_back(d.n);
        Tensor full = Tensor::empty(s, b.dtype());
        batched_gemm<T>(d, true, false, d.k, d.n, d.m, a.data<T>(), d.a_batch, d.m, d.k, pg,
                        d.batch, d.m, d.n, full.data<T>());
        Shape own = d.b_batch;
        own.push_back(d.k);
        own.push_back(d.n);
        db = full.shape() == own ? full : sum_to(full, own);
      }
      db = db.reshape(b.shape());
    }
  });
  return {da, db};
}

}  // namespace

OpDef gemm_op() { return {"", "Gemm", 6, &gemm_forward, &gemm_backward}; }
OpDef matmul_op() { return {"", "MatMul", 1, &matmul_forward, &matmul_backward}; }

}  // namespace tamp::ops
