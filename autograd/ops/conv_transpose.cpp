// ConvTranspose: the adjoint of a grouped convolution, Y = conv^T(X, W) + B. In conv
// orientation Y is the input and X the output, so the forward is a conv data gradient, the
// gradient for X is a conv forward, and the gradient for W is a conv weight gradient with
// the roles of X and dY swapped.
#include <tamp/autograd/kernels/conv.h>
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/conv_geometry.h>
#include <tamp/autograd/ops/op_helpers.h>

namespace tamp::ops {

namespace {

struct Saved {
  Tensor x, w;
};

std::vector<Tensor> conv_transpose_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "X");
  const Tensor& w = input(in, 1, "W");
  const Tensor b = optional_input(in, 2);
  const ConvGeometry g = conv_transpose_geometry(ctx.attrs(), x, w, b);
  Tensor y = Tensor::empty(g.y_shape, x.dtype());
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernels::conv_backward<T>(g.shape, nullptr, w.data<T>(), x.data<T>(), y.data<T>(), nullptr,
                              nullptr);
    if (b.defined()) {
      const int64_t channels = g.shape.in_channels, size = g.shape.in_size();
      const T* pb = b.data<T>();
      T* py = y.data<T>();
      kernels::parallel_for(g.shape.batch * channels, 16, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          T* row = py + i * size;
          const T v = pb[i % channels];
          for (int64_t j = 0; j < size; ++j) row[j] += v;
        }
      });
    }
  });
  if (ctx.any_grad()) ctx.save(Saved{x, w});
  return {y};
}

std::vector<Tensor> conv_transpose_backward(OpContext& ctx, const std::vector<Tensor>& grads) {
  const Saved& saved = ctx.saved_as<Saved>();
  const auto& x = saved.x;
  const auto& w = saved.w;
  const Tensor& dy = grads[0];  // (N, M, out...)
  if (!dy.defined()) return {};
  const ConvGeometry g = conv_transpose_geometry(ctx.attrs(), x, w, Tensor());
  const bool want_b = ctx.needs_grad.size() > 2 && ctx.needs_grad[2];
  Tensor dx, dw, db;
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (ctx.needs_grad[0]) {
      dx = Tensor::empty(x.shape(), x.dtype());
      kernels::conv_forward<T>(g.shape, dy.data<T>(), w.data<T>(), nullptr, dx.data<T>());
    }
    if (ctx.needs_grad[1]) {
      dw = Tensor::empty(w.shape(), w.dtype());
      kernels::conv_backward<T>(g.shape, dy.data<T>(), w.data<T>(), x.data<T>(), nullptr,
                                dw.data<T>(), nullptr);
    }
    if (want_b) {
      // dB[m] = sum of dY over the batch and the spatial positions of channel m.
      const int64_t channels = g.shape.in_channels, size = g.shape.in_size();
      db = Tensor::zeros({channels}, x.dtype());
      T* pdb = db.data<T>();
      const T* pdy = dy.data<T>();
      kernels::parallel_for(channels, 4, [&](int64_t begin, int64_t end) {
        for (int64_t m = begin; m < end; ++m) {
          T acc = T(0);
          for (int64_t n = 0; n < g.shape.batch; ++n) {
            const T* row = pdy + (n * channels + m) * size;
#pragma omp simd reduction(+ : acc)
            for (int64_t j = 0; j < size; ++j) acc += row[j];
          }
          pdb[m] = acc;
        }
      });
    }
  });
  return {dx, dw, db};
}

}  // namespace

OpDef conv_transpose_op() {
  return {"", "ConvTranspose", 1, &conv_transpose_forward, &conv_transpose_backward};
}

}  // namespace tamp::ops
