// MaxPool and AveragePool over 1-3 spatial dims of X (N, C, D1[, D2[, D3]]), both with
// dilations (AveragePool's since opset 19).
//
// Output sizes follow ONNX (floor or ceil_mode; auto_pad VALID / SAME_UPPER / SAME_LOWER).
// With ceil_mode a last window that would start inside the end padding is dropped, as
// PyTorch, ONNX Runtime and ONNX >= 1.16 do. AveragePool's count_include_pad counts the
// explicit padding, never the extra positions ceil_mode adds past it. MaxPool picks the first
// maximum of a window (NaN wins), returns Indices (int64, flat over the whole input, spatial
// part column-major when storage_order = 1) and routes the gradient to that element.
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/kernels/pool.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <type_traits>

namespace tamp::ops {

namespace {

constexpr int kMaxSpatial = 3;
using Dims = std::array<int64_t, kMaxSpatial>;

// Spatial dims are right-aligned in the arrays; unused leading dims are size 1 with a kernel
// of 1, so one 3-D loop serves 1-D, 2-D and 3-D pooling.
struct Geometry {
  int spatial = 0;
  int64_t planes = 0;  // N * C
  Dims in{1, 1, 1}, out{1, 1, 1}, kernel{1, 1, 1}, stride{1, 1, 1}, dilation{1, 1, 1};
  Dims pad_begin{0, 0, 0}, pad_end{0, 0, 0};
  int64_t in_plane = 1, out_plane = 1;
  Shape out_shape;
};

std::vector<int64_t> spatial_attr(const Attributes& at, const char* name, size_t size,
                                  int64_t fallback, const Shape& x_shape) {
  std::vector<int64_t> v = at.ints(name, std::vector<int64_t>(size, fallback));
  TAMP_CHECK(v.size() == size, "attribute {} has {} values, expected {} for X {}", name, v.size(),
             size, to_string(x_shape));
  return v;
}

Geometry geometry(const OpContext& ctx, const Shape& x_shape) {
  const auto& at = ctx.attrs();
  const int rank = static_cast<int>(x_shape.size());
  TAMP_CHECK(rank >= 3 && rank <= 2 + kMaxSpatial,
             "X {} must be (N, C, D1[, D2[, D3]]): rank 3 to 5", to_string(x_shape));
  Geometry g;
  g.spatial = rank - 2;
  const size_t ns = static_cast<size_t>(g.spatial);
  TAMP_CHECK(at.has("kernel_shape"), "attribute kernel_shape is required");
  const auto kernel = spatial_attr(at, "kernel_shape", ns, 1, x_shape);
  const auto strides = spatial_attr(at, "strides", ns, 1, x_shape);
  const auto dilations =
      spatial_attr(at, "dilations", ns, 1, x_shape);  // AveragePool's from opset 19
  const auto pads = spatial_attr(at, "pads", 2 * ns, 0, x_shape);
  const std::string auto_pad = at.s("auto_pad", "NOTSET");
  TAMP_CHECK(auto_pad == "NOTSET" || auto_pad == "VALID" || auto_pad == "SAME_UPPER" ||
                 auto_pad == "SAME_LOWER",
             "auto_pad '{}' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER", auto_pad);
  const bool ceil_mode = at.i("ceil_mode", 0) != 0;
  g.planes = x_shape[0] * x_shape[1];
  g.out_shape = {x_shape[0], x_shape[1]};
  for (size_t i = 0; i < ns; ++i) {
    const size_t d = kMaxSpatial - ns + i;
    const int64_t in = x_shape[2 + i], k = kernel[i], s = strides[i], dil = dilations[i];
    TAMP_CHECK(
        k >= 1 && s >= 1 && dil >= 1,
        "kernel_shape, strides and dilations must be >= 1, got {}, {} and {} on spatial axis {}", k,
        s, dil, i);
    TAMP_CHECK(k <= (int64_t{1} << 31) && dil <= (int64_t{1} << 31),
               "kernel_shape {} or dilation {} is too large", k, dil);
    const int64_t ek = (k - 1) * dil + 1;
    int64_t pb = pads[i], pe = pads[i + ns], out;
    if (auto_pad == "NOTSET") {
      TAMP_CHECK(
          pb >= 0 && pe >= 0 && pb < ek && pe < ek,
          "pads {} and {} on spatial axis {} must be >= 0 and smaller than the kernel extent {}",
          pb, pe, i, ek);
      const int64_t span = in + pb + pe - ek;
      TAMP_CHECK(
          span >= 0,
          "the kernel extent {} exceeds the padded input ({} + {} + {}) on spatial axis {} of X {}",
          ek, in, pb, pe, i, to_string(x_shape));
      out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
      if (ceil_mode && (out - 1) * s >= in + pb) --out;
    } else if (auto_pad == "VALID") {
      pb = pe = 0;
      TAMP_CHECK(in >= ek,
                 "the kernel extent {} exceeds the input size {} on spatial axis {} of X {}", ek,
                 in, i, to_string(x_shape));
      out = (in - ek) / s + 1;
    } else {
      out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + ek - in);
      pb = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe = total - pb;
    }
    g.in[d] = in;
    g.out[d] = out;
    g.kernel[d] = k;
    g.stride[d] = s;
    g.dilation[d] = dil;
    g.pad_begin[d] = pb;
    g.pad_end[d] = pe;
    g.out_shape.push_back(out);
  }
  checked_numel(g.out_shape);
  g.in_plane = g.in[0] * g.in[1] * g.in[2];
  g.out_plane = g.out[0] * g.out[1] * g.out[2];
  return g;
}

// For each output position along one dim: the first input index of its window and the range
// [lo, hi) of kernel taps inside the input; `padded` counts the taps inside the padded input.
struct Taps {
  std::vector<int64_t> start, lo, hi, padded;
};

std::array<Taps, kMaxSpatial> taps_of(const Geometry& g) {
  std::array<Taps, kMaxSpatial> t;
  for (int d = 0; d < kMaxSpatial; ++d) {
    const int64_t dil = g.dilation[d], k = g.kernel[d], in = g.in[d];
    auto taps_below = [&](int64_t limit, int64_t start) {  // taps j with start + j * dil < limit
      return limit <= start ? int64_t{0} : std::min(k, (limit - start + dil - 1) / dil);
    };
    for (int64_t o = 0; o < g.out[d]; ++o) {
      const int64_t start = o * g.stride[d] - g.pad_begin[d];
      t[d].start.push_back(start);
      t[d].lo.push_back(start >= 0 ? 0 : std::min(k, (-start + dil - 1) / dil));
      t[d].hi.push_back(std::max(t[d].lo.back(), taps_below(in, start)));
      t[d].padded.push_back(taps_below(in + g.pad_end[d], start));
    }
  }
  return t;
}

// Visits the input elements of window (a, b, c) as plane-local flat indices.
template <class V> void visit_window(const Geometry& g, const std::array<Taps, kMaxSpatial>& t,
                                     int64_t a, int64_t b, int64_t c, V&& v) {
  for (int64_t ja = t[0].lo[a]; ja < t[0].hi[a]; ++ja) {
    const int64_t ia = t[0].start[a] + ja * g.dilation[0];
    for (int64_t jb = t[1].lo[b]; jb < t[1].hi[b]; ++jb) {
      const int64_t row =
          (ia * g.in[1] + t[1].start[b] + jb * g.dilation[1]) * g.in[2] + t[2].start[c];
      for (int64_t jc = t[2].lo[c]; jc < t[2].hi[c]; ++jc) v(row + jc * g.dilation[2]);
    }
  }
}

struct MaxSaved {
  Tensor argmax;  // each output's input offset
  Shape x_shape;
};

struct AverageSaved {
  Shape x_shape;
};

// ---- MaxPool ----

// The first maximum of a window (NaN wins) as (value, plane-local index; -1 when empty).
template <class T>
std::pair<T, int64_t> window_max(const Geometry& g, const std::array<Taps, kMaxSpatial>& t,
                                 const T* plane, int64_t a, int64_t b, int64_t c) {
  T best = std::numeric_limits<T>::lowest();
  if constexpr (std::numeric_limits<T>::has_infinity) best = -std::numeric_limits<T>::infinity();
  int64_t at = -1;
  visit_window(g, t, a, b, c, [&](int64_t i) {
    const T v = plane[i];
    if (at < 0 || v > best || (v != v && best == best)) {
      best = v;
      at = i;
    }
  });
  return {best, at};
}

// 2x2 windows with stride 2 and no leading padding (a CNN's pooling) take a branch-free loop
// the compiler vectorises; windows cut by the input's end (ceil_mode, SAME_*) do not.
bool is_2x2_stride_2(const Geometry& g) {
  return g.spatial == 2 && g.kernel[1] == 2 && g.kernel[2] == 2 && g.stride[1] == 2 &&
         g.stride[2] == 2 && g.dilation[1] == 1 && g.dilation[2] == 1 && g.pad_begin[1] == 0 &&
         g.pad_begin[2] == 0;
}

// n full windows over input rows r0 and r0 + w, with window_max's rules: the first maximum
// wins ties; NaN wins, which the branch-free loop ignores, so a row holding NaN is redone.
template <class T, bool kIndex>
void max_row_2x2(const T* r0, int64_t w, int64_t n, int64_t base, T* y, int64_t* idx) {
  if constexpr (std::is_same_v<T, float>) {
    if (kernels::max_pool_2x2_row(r0, w, n, base, y, kIndex ? idx : nullptr)) return;
  }
  const T* r1 = r0 + w;
  for (int64_t j = 0; j < n; ++j) {
    const T a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
    const T m1 = std::max(a, b), m2 = std::max(c, d);
    y[j] = std::max(m1, m2);
    if constexpr (kIndex) {  // arithmetic, not selects, so the loop vectorises
      const int64_t sb = b > a, sd = d > c, s2 = m2 > m1;
      idx[j] = base + 2 * j + sb + s2 * (w + sd - sb);
    }
  }
  if constexpr (std::is_floating_point_v<T>) {
    using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    constexpr U kAbs = std::numeric_limits<U>::max() >> 1;
    U hi = 0;  // largest magnitude bit pattern; above infinity's means NaN
    for (int64_t i = 0; i < 2 * n; ++i)
      hi = std::max({hi, std::bit_cast<U>(r0[i]) & kAbs, std::bit_cast<U>(r1[i]) & kAbs});
    if (hi <= std::bit_cast<U>(std::numeric_limits<T>::infinity())) return;
    for (int64_t j = 0; j < n; ++j) {
      const T v[4] = {r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]};
      int k = 0;
      for (int q = 1; q < 4; ++q) {
        if (v[k] == v[k] && (v[q] > v[k] || v[q] != v[q])) k = q;
      }
      y[j] = v[k];
      if constexpr (kIndex) idx[j] = base + 2 * j + (k >= 2 ? w : 0) + (k & 1);
    }
  }
}

// Calls row(p, a, b, o) for each output row (plane p, outer indices a, b; first output o),
// parallel over planes.
template <class F> void for_each_row(const Geometry& g, F&& row) {
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(g.out_plane, 1));
  kernels::parallel_for(g.planes, grain, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      for (int64_t a = 0; a < g.out[0]; ++a) {
        for (int64_t b = 0; b < g.out[1]; ++b)
          row(p, a, b, (p * g.out[0] + a) * g.out[1] * g.out[2] + b * g.out[2]);
      }
    }
  });
}

// idx (row-major, flat over the input) is written when kIndex.
template <class T, bool kIndex> void max_pool_kernel(const Geometry& g,
                                                     const std::array<Taps, kMaxSpatial>& t,
                                                     const T* x, T* y, int64_t* idx) {
  const bool fast = is_2x2_stride_2(g);
  const int64_t full_rows = g.in[1] / 2, full_cols = std::min(g.out[2], g.in[2] / 2);
  for_each_row(g, [&](int64_t p, int64_t a, int64_t b, int64_t o) {
    const T* plane = x + p * g.in_plane;
    int64_t c = 0;
    if (fast && b < full_rows) {
      max_row_2x2<T, kIndex>(plane + 2 * b * g.in[2], g.in[2], full_cols,
                             p * g.in_plane + 2 * b * g.in[2], y + o, kIndex ? idx + o : nullptr);
      c = full_cols;
    }
    for (; c < g.out[2]; ++c) {
      const auto [best, at] = window_max(g, t, plane, a, b, c);
      y[o + c] = best;
      if constexpr (kIndex) idx[o + c] = at < 0 ? -1 : p * g.in_plane + at;
    }
  });
}

// Row-major plane-local index -> ONNX's column-major spatial layout (storage_order = 1).
int64_t column_major(const Geometry& g, int64_t flat) {
  const int64_t plane = flat / g.in_plane, local = flat % g.in_plane;
  const Dims pos{local / (g.in[1] * g.in[2]), (local / g.in[2]) % g.in[1], local % g.in[2]};
  // Column-major: the first spatial dim varies fastest.
  int64_t out = 0, stride = 1;
  for (int d = kMaxSpatial - g.spatial; d < kMaxSpatial; ++d) {
    out += pos[d] * stride;
    stride *= g.in[d];
  }
  return plane * g.in_plane + out;
}

std::vector<Tensor> max_pool_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "X");
  const Geometry g = geometry(ctx, x.shape());
  const int64_t storage_order = ctx.attrs().i("storage_order", 0);
  TAMP_CHECK(storage_order == 0 || storage_order == 1, "storage_order must be 0 or 1, got {}",
             storage_order);
  const auto t = taps_of(g);
  // Indices serve both the optional output and backward; skipped when neither wants them.
  const bool want_indices = ctx.num_outputs != 1 || ctx.any_grad();
  Tensor y = Tensor::empty(g.out_shape, x.dtype());
  Tensor idx = want_indices ? Tensor::empty(g.out_shape, DType::kInt64) : Tensor();
  auto run = [&](auto tag) {
    using T = decltype(tag);
    if (want_indices)
      max_pool_kernel<T, true>(g, t, x.data<T>(), y.data<T>(), idx.data<int64_t>());
    else
      max_pool_kernel<T, false>(g, t, x.data<T>(), y.data<T>(), nullptr);
  };
  if (x.dtype() == DType::kInt8)
    run(int8_t{});
  else if (x.dtype() == DType::kUInt8)
    run(uint8_t{});
  else
    dispatch_float(x.dtype(), run);
  if (ctx.any_grad()) ctx.save(MaxSaved{idx, x.shape()});
  if (ctx.num_outputs == 1) return {y};
  if (storage_order == 0) return {y, idx};
  Tensor cm = Tensor::empty(g.out_shape, DType::kInt64);
  const int64_t* pi = idx.data<int64_t>();
  int64_t* pc = cm.data<int64_t>();
  for (int64_t i = 0; i < cm.numel(); ++i) pc[i] = pi[i] < 0 ? -1 : column_major(g, pi[i]);
  return {y, cm};
}

std::vector<Tensor> max_pool_backward(OpContext& ctx, const std::vector<Tensor>& grads) {
  const MaxSaved& saved = ctx.saved_as<MaxSaved>();
  const auto& idx = saved.argmax;
  const auto& x_shape = saved.x_shape;
  const Tensor& gy = grads[0];
  Tensor dx = Tensor::empty(x_shape, gy.dtype());
  const int64_t planes = x_shape[0] * x_shape[1];
  const int64_t in_plane = planes > 0 ? dx.numel() / planes : 0,
                out_plane = planes > 0 ? idx.numel() / planes : 0;
  dispatch_float(gy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gy.data<T>();
    const int64_t* pi = idx.data<int64_t>();
    T* pd = dx.data<T>();
    // Each plane's indices stay inside the plane, so planes scatter independently. (Zeroing
    // then scattering beat writing each 2x2 window's four values directly, by 5x.)
    const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(out_plane, 1));
    kernels::parallel_for(planes, grain, [&](int64_t p0, int64_t p1) {
      std::fill(pd + p0 * in_plane, pd + p1 * in_plane, T(0));
      for (int64_t o = p0 * out_plane; o < p1 * out_plane; ++o) {
        if (pi[o] >= 0) pd[pi[o]] += pg[o];
      }
    });
  });
  return {dx};
}

// ---- AveragePool ----

template <class T> T divisor(const Geometry& g, const std::array<Taps, kMaxSpatial>& t,
                             bool include_pad, int64_t a, int64_t b, int64_t c) {
  if (include_pad) return T(t[0].padded[a] * t[1].padded[b] * t[2].padded[c]);
  return T((t[0].hi[a] - t[0].lo[a]) * (t[1].hi[b] - t[1].lo[b]) * (t[2].hi[c] - t[2].lo[c]));
}

std::vector<Tensor> average_pool_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "X");
  const Geometry g = geometry(ctx, x.shape());
  const bool include_pad = ctx.attrs().i("count_include_pad", 0) != 0;
  const auto t = taps_of(g);
  const bool fast = is_2x2_stride_2(g);
  const int64_t full_rows = g.in[1] / 2, full_cols = std::min(g.out[2], g.in[2] / 2);
  Tensor y = Tensor::empty(g.out_shape, x.dtype());
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for_each_row(g, [&](int64_t p, int64_t a, int64_t b, int64_t o) {
      const T* plane = px + p * g.in_plane;
      int64_t c = 0;
      if (fast && b < full_rows) {
        const T* r0 = plane + 2 * b * g.in[2];
        const T* r1 = r0 + g.in[2];
        for (; c < full_cols; ++c)
          py[o + c] = (r0[2 * c] + r0[2 * c + 1] + r1[2 * c] + r1[2 * c + 1]) * T(0.25);
      }
      for (; c < g.out[2]; ++c) {
        T sum = 0;
        visit_window(g, t, a, b, c, [&](int64_t i) { sum += plane[i]; });
        const T n = divisor<T>(g, t, include_pad, a, b, c);
        py[o + c] = n > 0 ? sum / n : T(0);
      }
    });
  });
  if (ctx.any_grad()) ctx.save(AverageSaved{x.shape()});
  return {y};
}

std::vector<Tensor> average_pool_backward(OpContext& ctx, const std::vector<Tensor>& grads) {
  const Shape& x_shape = ctx.saved_as<AverageSaved>().x_shape;
  const Geometry g = geometry(ctx, x_shape);
  const bool include_pad = ctx.attrs().i("count_include_pad", 0) != 0;
  const auto t = taps_of(g);
  const bool fast = is_2x2_stride_2(g);
  const int64_t full_rows = g.in[1] / 2, full_cols = std::min(g.out[2], g.in[2] / 2);
  const Tensor& gy = grads[0];
  Tensor dx = Tensor::zeros(x_shape, gy.dtype());
  dispatch_float(gy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gy.data<T>();
    T* pd = dx.data<T>();
    // Windows of one plane may overlap, so each plane is one task.
    for_each_row(g, [&](int64_t p, int64_t a, int64_t b, int64_t o) {
      T* plane = pd + p * g.in_plane;
      int64_t c = 0;
      if (fast && b < full_rows) {  // disjoint full windows: plain stores
        T* r0 = plane + 2 * b * g.in[2];
        T* r1 = r0 + g.in[2];
        for (; c < full_cols; ++c) {
          const T share = pg[o + c] * T(0.25);
          r0[2 * c] = r0[2 * c + 1] = r1[2 * c] = r1[2 * c + 1] = share;
        }
      }
      for (; c < g.out[2]; ++c) {
        const T n = divisor<T>(g, t, include_pad, a, b, c);
        if (n <= 0) continue;
        const T share = pg[o + c] / n;
        visit_window(g, t, a, b, c, [&](int64_t i) { plane[i] += share; });
      }
    });
  });
  return {dx};
}

}  // namespace

OpDef average_pool_op() {
  return {"", "AveragePool", 1, &average_pool_forward, &average_pool_backward};
}
OpDef max_pool_op() { return {"", "MaxPool", 1, &max_pool_forward, &max_pool_backward}; }

}  // namespace tamp::ops
