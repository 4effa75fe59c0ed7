// BatchNormalization (opsets 6-15) over X (N, C, D1, ..., Dn), or (N) with C = 1. Opset 6's
// is_test = 1 node has the one output of an inference node; is_test = 0 has the five of a
// training node, so the number of outputs decides there as up to opset 13.
//
// Training (batch statistics) is on when the module is in train() mode (ctx.training) or the
// node asks for it: training_mode = 1 from opset 14, more than one output before (how
// torch.onnx exports a training-mode BatchNorm). It then returns the new running mean and
// variance as outputs 1 and 2, running = running * momentum + batch * (1 - momentum), which
// the executor writes back into the buffers (OpDef::state_updates); opsets < 14 also return
// saved_mean and saved_var (the batch mean and population variance).
//
// Which batch variance enters running_var: opsets 14 and 15 specify the population variance
// (divide by the count), and a training_mode = 1 node gets it (the backend node tests check
// it). Everything else gets PyTorch's unbiased one (divide by count - 1): older opsets leave
// it open, and a node trained because the module is in train() mode is an inference node
// exported from a framework, fine-tuned here, whose running statistics should evolve as in
// torch.nn.BatchNorm (whose momentum m is exported as 1 - m). Y is always normalised with
// the population variance, as both specify.
//
// Synchronised BatchNorm (data-parallel training): a node with the attribute tamp_sync_group
// = id (autograd/cross_rank.h; set by scheduler/dist for the training loop, never exported)
// computes its batch statistics over every rank — the per-channel sums, then the sums of
// squared deviations, each summed over the ranks — and its backward sums the two per-channel
// gradient sums over the ranks as well, so N ranks with batch B normalise and differentiate
// exactly like one process with batch N * B. dscale and dB stay per rank: the gradient
// allreduce averages them like any parameter's.
#include <tamp/autograd/cross_rank.h>
#include <tamp/autograd/kernels/channels.h>
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <Eigen/Core>

#include <cmath>
#include <type_traits>
#include <utility>

namespace tamp::ops {

namespace {

struct Geometry {
  int64_t n, c, s;  // X as (N, C, S)
  int64_t count;    // elements per channel, N * S
};

// What forward keeps for backward. total_count: elements per channel over every rank (the
// synchronised backward divides by it).
struct Saved {
  Tensor x, scale, mean, rstd;
  double total_count = 0;
};

struct Mode {
  bool training;
  bool unbiased;  // running_var takes the unbiased batch variance
  double momentum, epsilon;
  int64_t group = 0;  // tamp_sync_group: statistics summed over ranks (0: this process only)
};

Mode mode_of(const OpContext& ctx) {
  const auto& at = ctx.attrs();
  const bool onnx_training = ctx.opset >= 14 && at.i("training_mode", 0) != 0;
  const bool node_training = onnx_training || (ctx.opset < 14 && ctx.num_outputs > 1);
  // tamp's QAT freezes a BatchNormalization while the model trains (running statistics, no
  // updates); the attribute never reaches an export, the folding pass removes the node first.
  const bool frozen = at.i("tamp_frozen_statistics", 0) != 0;
  Mode m{!frozen && (ctx.training || node_training), !onnx_training, at.f("momentum", 0.9f),
         at.f("epsilon", 1e-5f)};
  TAMP_CHECK(std::isfinite(m.momentum), "momentum must be finite, got {}", m.momentum);
  TAMP_CHECK(std::isfinite(m.epsilon) && m.epsilon >= 0, "epsilon must be finite and >= 0, got {}",
             m.epsilon);
  TAMP_CHECK(at.i("spatial", 1) == 1,
             "spatial = 0 is not supported; flatten X to (N, C * D1 * ... * Dn) instead");
  m.group = at.i("tamp_sync_group", 0);
  return m;
}

Geometry geometry(const Tensor& x) {
  TAMP_CHECK(x.rank() >= 1, "X must have rank >= 1, got {}", describe(x));
  const int64_t n = x.dim(0), c = x.rank() >= 2 ? x.dim(1) : 1;
  const int64_t s = numel(x.shape(), std::min(2, x.rank()), x.rank());
  return {n, c, s, n * s};
}

void check_channel_input(const Tensor& t, const Tensor& x, const Geometry& g, const char* name) {
  expect_same_dtype(x, t, name);
  TAMP_CHECK(t.rank() == 1 && t.dim(0) == g.c, "{} {} must have shape [{}] (the channels of X {})",
             name, describe(t), g.c, describe(x));
}

template <class T> using ConstVecMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T> using VecMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;

// Channel c of an (N, C, S) tensor: N runs of S values, C * S apart.
kernels::Strided channel_runs(const Geometry& g) { return {g.n, g.c * g.s, g.s}; }

// Sum over channel c of f(offset of a run), in double across runs (float64 tensors; float32
// ones go through the vectorised kernels of kernels/channels.h).
template <class F> double run_sum(const Geometry& g, int64_t c, F&& f) {
  double total = 0;
  for (int64_t i = 0; i < g.n; ++i) total += static_cast<double>(f((i * g.c + c) * g.s));
  return total;
}

// sum(x) over channel c.
template <class T> double channel_sum(const Geometry& g, const T* x, int64_t c) {
  if constexpr (std::is_same_v<T, float>) return kernels::strided_sum(x + c * g.s, channel_runs(g));
  return run_sum(g, c, [&](int64_t off) { return ConstVecMap<T>(x + off, g.s).sum(); });
}

// sum((x - mu)^2) over channel c.
template <class T> double channel_centered_squares(const Geometry& g, const T* x, int64_t c, T mu) {
  if constexpr (std::is_same_v<T, float>)
    return kernels::strided_centered_squares(x + c * g.s, channel_runs(g), mu);
  return run_sum(g, c,
                 [&](int64_t off) { return (ConstVecMap<T>(x + off, g.s) - mu).square().sum(); });
}

template <class T>
void normalize_channels(const Geometry& g, const T* x, const T* a, const T* b, T* y) {
  kernels::parallel_for(g.c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      if constexpr (std::is_same_v<T, float>) {
        kernels::strided_affine(x + c * g.s, y + c * g.s, channel_runs(g), a[c], b[c]);
        continue;
      }
      for (int64_t i = 0; i < g.n; ++i) {
        const int64_t off = (i * g.c + c) * g.s;
        VecMap<T>(y + off, g.s) = ConstVecMap<T>(x + off, g.s) * a[c] + b[c];
      }
    }
  });
}

// Synchronised batch statistics: mean and population variance over every rank's X; returns
// the total count per channel.
template <class T>
double synced_statistics(const Geometry& g, int64_t group, const T* px, T* pm, T* pv) {
  Tensor sums = Tensor::empty({g.c + 1}, DType::kFloat64);  // (C) sums of x, then the count
  double* ps = sums.data<double>();
  kernels::parallel_for(g.c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      ps[c] = channel_sum(g, px, c);
    }
  });
  ps[g.c] = static_cast<double>(g.count);
  cross_rank_sum(group, sums);
  const double total = ps[g.c];
  for (int64_t c = 0; c < g.c; ++c) pm[c] = static_cast<T>(ps[c] / total);
  Tensor squares = Tensor::empty({g.c}, DType::kFloat64);  // (C) sums of (x - mean)^2
  double* pq = squares.data<double>();
  kernels::parallel_for(g.c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const T mu = pm[c];
      pq[c] = channel_centered_squares(g, px, c, mu);
    }
  });
  cross_rank_sum(group, squares);
  for (int64_t c = 0; c < g.c; ++c) pv[c] = static_cast<T>(pq[c] / total);
  return total;
}

std::vector<Tensor> batch_norm_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "X");
  const Tensor& scale = input(in, 1, "scale");
  const Tensor& bias = input(in, 2, "B");
  const Tensor& run_mean = input(in, 3, "input_mean");
  const Tensor& run_var = input(in, 4, "input_var");
  const Geometry g = geometry(x);
  check_channel_input(scale, x, g, "scale");
  check_channel_input(bias, x, g, "B");
  check_channel_input(run_mean, x, g, "input_mean");
  check_channel_input(run_var, x, g, "input_var");
  const Mode m = mode_of(ctx);
  if (m.training) {
    TAMP_CHECK(g.count > (m.unbiased ? 1 : 0),
               "training needs more than one value per channel, X {} has {}", describe(x), g.count);
  }

  Tensor y = Tensor::empty(x.shape(), x.dtype());
  Tensor mean = Tensor::empty({g.c}, x.dtype()), var = Tensor::empty({g.c}, x.dtype());  // (C)
  Tensor rstd = Tensor::empty({g.c}, x.dtype());
  Tensor new_mean, new_var;
  double count = static_cast<double>(g.count);  // over every rank when synchronised
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* pm = mean.data<T>();
    T* pv = var.data<T>();
    T* pr = rstd.data<T>();
    if (m.training && m.group != 0) {
      count = synced_statistics<T>(g, m.group, px, pm, pv);
    } else if (m.training) {
      kernels::parallel_for(g.c, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          const T mu = static_cast<T>(channel_sum(g, px, c) / g.count);
          const double ss = channel_centered_squares(g, px, c, mu);
          pm[c] = mu;
          pv[c] = static_cast<T>(ss / g.count);
        }
      });
    } else {
      std::copy_n(run_mean.data<T>(), g.c, pm);
      std::copy_n(run_var.data<T>(), g.c, pv);
    }
    std::vector<T> a(g.c), b(g.c);
    const T* ps = scale.data<T>();
    const T* pb = bias.data<T>();
    for (int64_t c = 0; c < g.c; ++c) {
      pr[c] = T(1) / std::sqrt(pv[c] + T(m.epsilon));
      a[c] = ps[c] * pr[c];
      b[c] = pb[c] - pm[c] * a[c];
    }
    normalize_channels<T>(g, px, a.data(), b.data(), y.data<T>());
    if (m.training) {
      new_mean = Tensor::empty({g.c}, x.dtype());
      new_var = Tensor::empty({g.c}, x.dtype());
      const T mom = T(m.momentum);
      const T correction = m.unbiased ? T(count) / T(count - 1) : T(1);
      const T* rm = run_mean.data<T>();
      const T* rv = run_var.data<T>();
      for (int64_t c = 0; c < g.c; ++c) {
        new_mean.data<T>()[c] = rm[c] * mom + pm[c] * (T(1) - mom);
        new_var.data<T>()[c] = rv[c] * mom + pv[c] * correction * (T(1) - mom);
      }
    }
  });
  if (ctx.any_grad()) ctx.save(Saved{x, scale, mean, rstd, count});
  if (!m.training) return {y};
  if (ctx.opset >= 14) return {y, new_mean, new_var};
  return {y, new_mean, new_var, mean, var};
}

// What both backward passes start from: the saved tensors, the incoming gradients (dY and the
// statistics outputs' gradients, undefined when absent) and the gradients to fill.
struct Backward {
  const Tensor &x, &scale, &mean, &rstd, &gy;
  Geometry g;
  Tensor g_run_mean, g_run_var, g_saved_mean, g_saved_var;
  bool need_x, need_scale, need_b;
  Tensor dx, dscale, db;

  // sum(dY) and sum(dY * (x - mean)) over channel c, in one pass over memory.
  template <class T> std::pair<double, double> channel_sums(int64_t c) const {
    const T* px = x.data<T>();
    const T* pg = gy.data<T>();
    const T mu = mean.data<T>()[c];
    if constexpr (std::is_same_v<T, float>)
      return kernels::strided_grad_sums(pg + c * g.s, px + c * g.s, channel_runs(g), mu);
    double sg = 0, sgx = 0;
    for (int64_t i = 0; i < g.n; ++i) {
      const int64_t off = (i * g.c + c) * g.s;
      ConstVecMap<T> gb(pg + off, g.s);
      sg += static_cast<double>(gb.sum());
      sgx += static_cast<double>((gb * (ConstVecMap<T>(px + off, g.s) - mu)).sum());
    }
    return {sg, sgx};
  }

  // dX = alpha * dY + beta * (x - mean) + gamma over channel c (no dY term when dY is absent).
  template <class T> void write_dx(int64_t c, T alpha, T beta, T gamma) {
    const T* px = x.data<T>();
    const T* pg = gy.defined() ? gy.data<T>() : nullptr;
    const T mu = mean.data<T>()[c];
    T* pd = dx.data<T>();
    if constexpr (std::is_same_v<T, float>) {
      const float* pgc = pg ? pg + c * g.s : nullptr;
      return kernels::strided_affine_grad(pgc, px + c * g.s, pd + c * g.s, channel_runs(g), mu,
                                          alpha, beta, gamma);
    }
    for (int64_t i = 0; i < g.n; ++i) {
      const int64_t off = (i * g.c + c) * g.s;
      VecMap<T> d(pd + off, g.s);
      if (pg)
        d = ConstVecMap<T>(pg + off, g.s) * alpha + (ConstVecMap<T>(px + off, g.s) - mu) * beta +
            gamma;
      else
        d = (ConstVecMap<T>(px + off, g.s) - mu) * beta + gamma;
    }
  }
};

Backward backward_of(const OpContext& ctx, const std::vector<Tensor>& grads) {
  auto stat_grad = [&](size_t k) {
    return k < grads.size() && grads[k].defined() ? grads[k] : Tensor();
  };
  const Saved& s = ctx.saved_as<Saved>();
  const Tensor& x = s.x;
  const Tensor& gy = grads[0];
  Backward b{x,
             s.scale,
             s.mean,
             s.rstd,
             gy,
             geometry(x),
             stat_grad(1),
             stat_grad(2),
             stat_grad(3),
             stat_grad(4),
             ctx.needs_grad[0],
             ctx.needs_grad[1] && gy.defined(),
             ctx.needs_grad[2] && gy.defined(),
             Tensor(),
             Tensor(),
             Tensor()};
  if (b.need_x) b.dx = Tensor::empty(x.shape(), x.dtype());
  if (b.need_scale) b.dscale = Tensor::empty({b.g.c}, x.dtype());
  if (b.need_b) b.db = Tensor::empty({b.g.c}, x.dtype());
  return b;
}

// Training, per channel with xhat = (x - mean) * rstd:
//   dX = scale * rstd * (dY - mean(dY) - xhat * mean(dY * xhat))
//        + d(outputs 1-4)/dX (running and saved statistics depend on the batch)
//   dscale = sum(dY * xhat), dB = sum(dY).
// Eval: mean and rstd are constants, dX = scale * rstd * dY.
// Either way dX = alpha * dY + beta * (x - mean) + gamma per channel.
// Synchronised training backward: the same formula with sum(dY), sum(dY * (x - mean)) and the
// statistics outputs' terms summed over the ranks (one cross-rank sum of 4C values) and the
// total count; dscale and dB from this rank's sums.
std::vector<Tensor> synced_backward(OpContext& ctx, const std::vector<Tensor>& grads,
                                    const Mode& m) {
  Backward b = backward_of(ctx, grads);
  const double total = ctx.saved_as<Saved>().total_count;
  Tensor sums = Tensor::zeros({4 * b.g.c},
                              DType::kFloat64);  // (4, C): dY, dY * (x - mean), var and mean terms
  double* ps = sums.data<double>();
  std::vector<double> local(2 * static_cast<size_t>(b.g.c),
                            0.0);  // this rank's dY and dY * (x - mean) sums
  dispatch_float(b.x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* ps_scale = b.scale.data<T>();
    const T* pr = b.rstd.data<T>();
    auto at = [](const Tensor& t, int64_t c) {
      return t.defined() ? static_cast<double>(t.data<T>()[c]) : 0.0;
    };
    const double keep = 1.0 - static_cast<double>(static_cast<T>(m.momentum));
    const double correction = m.unbiased && total > 1 ? total / (total - 1) : 1.0;
    kernels::parallel_for(b.g.c, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const auto [sg, sgx] = b.gy.defined() ? b.channel_sums<T>(c) : std::pair<double, double>();
        local[static_cast<size_t>(c)] = sg;
        local[static_cast<size_t>(b.g.c + c)] = sgx;
        ps[c] = sg;
        ps[b.g.c + c] = sgx;
        ps[2 * b.g.c + c] = 2 * (at(b.g_run_var, c) * keep * correction + at(b.g_saved_var, c));
        ps[3 * b.g.c + c] = at(b.g_run_mean, c) * keep + at(b.g_saved_mean, c);
      }
    });
    // Every rank sums, whether or not it needs dX here (the graphs are the same, so they all do).
    if (b.need_x) cross_rank_sum(m.group, sums);
    for (int64_t c = 0; c < b.g.c; ++c) {
      if (b.need_scale)
        b.dscale.data<T>()[c] = static_cast<T>(local[static_cast<size_t>(b.g.c + c)]) * pr[c];
      if (b.need_b) b.db.data<T>()[c] = static_cast<T>(local[static_cast<size_t>(c)]);
    }
    if (!b.need_x) return;
    kernels::parallel_for(b.g.c, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const T rs = pr[c];
        const T alpha = b.gy.defined() ? ps_scale[c] * rs : T(0);
        const T beta =
            static_cast<T>(-alpha * rs * rs * ps[b.g.c + c] / total + ps[2 * b.g.c + c] / total);
        const T gamma = static_cast<T>(-alpha * ps[c] / total + ps[3 * b.g.c + c] / total);
        b.write_dx<T>(c, alpha, beta, gamma);
      }
    });
  });
  return {b.dx, b.dscale, b.db, Tensor(), Tensor()};
}

std::vector<Tensor> batch_norm_backward(OpContext& ctx, const std::vector<Tensor>& grads) {
  const Mode m = mode_of(ctx);
  if (m.training && m.group != 0) return synced_backward(ctx, grads, m);
  Backward b = backward_of(ctx, grads);
  dispatch_float(b.x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* ps = b.scale.data<T>();
    const T* pr = b.rstd.data<T>();
    auto at = [](const Tensor& t, int64_t c) { return t.defined() ? t.data<T>()[c] : T(0); };
    const T cnt = T(b.g.count);
    const T keep = T(1) - T(m.momentum);
    const T correction = m.unbiased && b.g.count > 1 ? cnt / (cnt - 1) : T(1);
    kernels::parallel_for(b.g.c, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const T rs = pr[c];
        const bool need_sums =
            b.gy.defined() && (b.need_scale || b.need_b || (b.need_x && m.training));
        const auto [sg, sgx] = need_sums ? b.channel_sums<T>(c) : std::pair<double, double>();
        if (b.need_scale) b.dscale.data<T>()[c] = static_cast<T>(sgx) * rs;
        if (b.need_b) b.db.data<T>()[c] = static_cast<T>(sg);
        if (!b.need_x) continue;
        const T alpha = b.gy.defined() ? ps[c] * rs : T(0);
        T beta = 0, gamma = 0;
        if (m.training) {
          beta = -alpha * rs * rs * static_cast<T>(sgx) / cnt +
                 T(2) * (at(b.g_run_var, c) * keep * correction + at(b.g_saved_var, c)) / cnt;
          gamma = -alpha * static_cast<T>(sg) / cnt +
                  (at(b.g_run_mean, c) * keep + at(b.g_saved_mean, c)) / cnt;
        }
        b.write_dx<T>(c, alpha, beta, gamma);
      }
    });
  });
  return {b.dx, b.dscale, b.db, Tensor(), Tensor()};
}

}  // namespace

OpDef batch_normalization_op() {
  OpDef def{"", "BatchNormalization", 6, &batch_norm_forward, &batch_norm_backward};
  def.nondiff_inputs = {3, 4};
  def.state_updates = {{1, 3}, {2, 4}};
  return def;
}

}  // namespace tamp::ops
