#include <tamp/autograd/kernels/layout.h>
#include <tamp/autograd/kernels/parallel.h>

#include <cstring>

namespace tamp::kernels {

namespace {

struct Plan {
  Shape dims;
  std::vector<int64_t> src, dst;  // element strides per dim
};

// Drops size-1 dims and merges neighbours that are contiguous on both sides, so a copy of
// whole rows becomes one long run.
Plan simplify(const Shape& shape, const std::vector<int64_t>& src,
              const std::vector<int64_t>& dst) {
  Plan p;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!p.dims.empty() && p.src.back() == src[d] * shape[d] && p.dst.back() == dst[d] * shape[d]) {
      p.dims.back() *= shape[d];
      p.src.back() = src[d];
      p.dst.back() = dst[d];
    } else {
      p.dims.push_back(shape[d]);
      p.src.push_back(src[d]);
      p.dst.push_back(dst[d]);
    }
  }
  return p;
}

template <class W> void copy_run(const char* s, int64_t ss, char* d, int64_t ds, int64_t n) {
  const W* sp = reinterpret_cast<const W*>(s);
  W* dp = reinterpret_cast<W*>(d);
  if (ss == 1 && ds == 1) {  // short contiguous runs: cheaper than a memcpy call
    for (int64_t i = 0; i < n; ++i) dp[i] = sp[i];
  } else if (ss == 0) {
    const W v = *sp;
    for (int64_t i = 0; i < n; ++i) dp[i * ds] = v;
  } else {
    for (int64_t i = 0; i < n; ++i) dp[i * ds] = sp[i * ss];
  }
}

// One run of the innermost dim: n elements, strides ss and ds (elements of `elem` bytes).
void run(const char* s, int64_t ss, char* d, int64_t ds, int64_t n, size_t elem) {
  if (ss == 1 && ds == 1 && n * static_cast<int64_t>(elem) > 256) {
    std::memcpy(d, s, static_cast<size_t>(n) * elem);
    return;
  }
  switch (elem) {
    case 1:
      return copy_run<uint8_t>(s, ss, d, ds, n);
    case 2:
      return copy_run<uint16_t>(s, ss, d, ds, n);
    case 4:
      return copy_run<uint32_t>(s, ss, d, ds, n);
    case 8:
      return copy_run<uint64_t>(s, ss, d, ds, n);
    default:
      for (int64_t i = 0; i < n; ++i) std::memcpy(d + i * ds * elem, s + i * ss * elem, elem);
  }
}

// A transpose-like copy: the source is contiguous along dim k, the destination along the
// last dim. Copying square tiles keeps both sides' cache lines in use.
template <class W> void copy_tiled(const char* s0, char* d0, const Plan& p, int k) {
  constexpr int64_t kTile = 16;
  const int rank = static_cast<int>(p.dims.size());
  const int last = rank - 1;
  std::vector<int> others;
  for (int d = 0; d < last; ++d)
    if (d != k) others.push_back(d);
  int64_t outer = 1;
  for (int d : others) outer *= p.dims[d];
  const int64_t rows = p.dims[k], cols = p.dims[last];
  const int64_t tr = (rows + kTile - 1) / kTile, tc = (cols + kTile - 1) / kTile;
  const int64_t ss = p.src[last], ds = p.dst[k];
  const W* src = reinterpret_cast<const W*>(s0);
  W* dst = reinterpret_cast<W*>(d0);
  parallel_for(outer * tr * tc, 16, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      int64_t rem = task / (tr * tc), so = 0, dof = 0;
      for (size_t i = others.size(); i-- > 0;) {
        const int d = others[i];
        const int64_t idx = rem % p.dims[d];
        rem /= p.dims[d];
        so += idx * p.src[d];
        dof += idx * p.dst[d];
      }
      const int64_t r0 = (task / tc % tr) * kTile, c0 = (task % tc) * kTile;
      const int64_t r1 = std::min(rows, r0 + kTile), c1 = std::min(cols, c0 + kTile);
      for (int64_t r = r0; r < r1; ++r) {
        const W* s = src + so + r;
        W* d = dst + dof + r * ds;
        for (int64_t c = c0; c < c1; ++c) d[c] = s[c * ss];
      }
    }
  });
}

}  // namespace

void copy_strided(const void* src, const std::vector<int64_t>& src_strides, int64_t src_offset,
                  void* dst, const std::vector<int64_t>& dst_strides, int64_t dst_offset,
                  const Shape& shape, size_t elem_size) {
  for (int64_t d : shape)
    if (d == 0) return;
  const char* s0 = static_cast<const char*>(src) + src_offset * static_cast<int64_t>(elem_size);
  char* d0 = static_cast<char*>(dst) + dst_offset * static_cast<int64_t>(elem_size);
  const Plan p = simplify(shape, src_strides, dst_strides);
  const int rank = static_cast<int>(p.dims.size());
  if (rank == 0) {
    std::memcpy(d0, s0, elem_size);
    return;
  }
  const int64_t inner = p.dims[rank - 1];
  int k = -1;  // a dim along which the source is contiguous
  for (int d = 0; d < rank - 1; ++d)
    if (p.src[d] == 1 && p.dims[d] >= 8) k = d;
  if (k >= 0 && p.dst[rank - 1] == 1 && p.src[rank - 1] != 1 && inner >= 8) {
    switch (elem_size) {
      case 1:
        return copy_tiled<uint8_t>(s0, d0, p, k);
      case 2:
        return copy_tiled<uint16_t>(s0, d0, p, k);
      case 4:
        return copy_tiled<uint32_t>(s0, d0, p, k);
      case 8:
        return copy_tiled<uint64_t>(s0, d0, p, k);
      default:
        break;
    }
  }
  int64_t outer = 1;
  for (int d = 0; d < rank - 1; ++d) outer *= p.dims[d];
  const int64_t elem = static_cast<int64_t>(elem_size);
  // Rows per thread chunk: about 256 KiB of data each.
  const int64_t grain =
      std::max<int64_t>(1, (int64_t{1} << 18) / std::max<int64_t>(1, inner * elem));
  parallel_for(outer, grain, [&](int64_t begin, int64_t end) {
    // Odometer over the outer dims, started at row `begin`.
    std::vector<int64_t> idx(static_cast<size_t>(std::max(rank - 1, 0)));
    int64_t so = 0, dof = 0, rem = begin;
    for (int d = rank - 2; d >= 0; --d) {
      idx[d] = rem % p.dims[d];
      rem /= p.dims[d];
      so += idx[d] * p.src[d];
      dof += idx[d] * p.dst[d];
    }
    for (int64_t o = begin; o < end; ++o) {
      run(s0 + so * elem, p.src[rank - 1], d0 + dof * elem, p.dst[rank - 1], inner, elem_size);
      for (int d = rank - 2; d >= 0; --d) {
        so += p.src[d];
        dof += p.dst[d];
        if (++idx[d] < p.dims[d]) break;
        so -= p.src[d] * p.dims[d];
        dof -= p.dst[d] * p.dims[d];
        idx[d] = 0;
      }
    }
  });
}

std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  TAMP_CHECK(in.size() <= out.size(), "shape {} cannot be broadcast to {}", to_string(in),
             to_string(out));
  std::vector<int64_t> strides(out.size(), 0);
  const size_t lead = out.size() - in.size();
  int64_t s = 1;
  for (size_t i = in.size(); i-- > 0;) {
    TAMP_CHECK(in[i] == out[lead + i] || in[i] == 1, "shape {} cannot be broadcast to {}",
               to_string(in), to_string(out));
    strides[lead + i] = in[i] == 1 ? 0 : s;
    s *= in[i];
  }
  return strides;
}

Tensor expand_to(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  const auto src = broadcast_strides(t.shape(), shape);
  Tensor out = Tensor::empty(shape, t.dtype());
  copy_strided(t.raw_data(), src, 0, out.raw_data(), strides_of(shape), 0, shape,
               size_of(t.dtype()));
  return out;
}

Tensor permute(const Tensor& t, const std::vector<int>& perm) {
  const auto in_strides = strides_of(t.shape());
  Shape shape(perm.size());
  std::vector<int64_t> src(perm.size());
  for (size_t k = 0; k < perm.size(); ++k) {
    shape[k] = t.shape()[perm[k]];
    src[k] = in_strides[perm[k]];
  }
  Tensor out = Tensor::empty(shape, t.dtype());
  copy_strided(t.raw_data(), src, 0, out.raw_data(), strides_of(shape), 0, shape,
               size_of(t.dtype()));
  return out;
}

}  // namespace tamp::kernels
