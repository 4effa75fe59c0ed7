#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/kernels/reduce.h>
#include <tamp/autograd/kernels/rows.h>

#include <algorithm>
#include <limits>
#include <type_traits>

namespace tamp::kernels {

namespace {

template <class T, ReduceKind K> struct Fold {
  static T identity() {
    if constexpr (K == ReduceKind::kSum) return T(0);
    if constexpr (K == ReduceKind::kProd) return T(1);
    if constexpr (K == ReduceKind::kMax) {
      if constexpr (std::numeric_limits<T>::has_infinity)
        return -std::numeric_limits<T>::infinity();
      else
        return std::numeric_limits<T>::lowest();
    }
    if constexpr (K == ReduceKind::kMin) {
      if constexpr (std::numeric_limits<T>::has_infinity)
        return std::numeric_limits<T>::infinity();
      else
        return std::numeric_limits<T>::max();
    }
  }
  static T apply(T a, T b) {
    if constexpr (K == ReduceKind::kSum) return T(a + b);
    if constexpr (K == ReduceKind::kProd) return T(a * b);
    if constexpr (K == ReduceKind::kMax) return b > a ? b : a;
    if constexpr (K == ReduceKind::kMin) return b < a ? b : a;
  }
};

// out[o, i] = fold over r of in[o, r, i], for in of shape (outer, r_len, inner).
template <class T, ReduceKind K>
void reduce_block(const T* in, T* out, int64_t outer, int64_t r_len, int64_t inner) {
  using F = Fold<T, K>;
  constexpr bool kFloatSum = std::is_same_v<T, float> && K == ReduceKind::kSum;  // rows.h's kernels
  if constexpr (kFloatSum) {
    if (inner == 1) {
      const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(r_len, 1));
      parallel_for(outer, grain, [&](int64_t begin, int64_t end) {
        row_sums(in + begin * r_len, out + begin, end - begin, r_len);
      });
      return;
    }
  }
  if (inner == 1) {
    const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(r_len, 1));
    parallel_for(outer, grain, [&](int64_t begin, int64_t end) {
      constexpr int kLanes = 16;  // independent accumulators the compiler keeps in vector registers
      for (int64_t o = begin; o < end; ++o) {
        const T* row = in + o * r_len;
        T acc[kLanes];
        std::fill(acc, acc + kLanes, F::identity());
        int64_t r = 0;
        for (; r + kLanes <= r_len; r += kLanes) {
          for (int l = 0; l < kLanes; ++l) acc[l] = F::apply(acc[l], row[r + l]);
        }
        T total = F::identity();
        for (; r < r_len; ++r) total = F::apply(total, row[r]);
        for (int l = 0; l < kLanes; ++l) total = F::apply(total, acc[l]);
        out[o] = total;
      }
    });
    return;
  }
  constexpr int64_t kChunk = 512;  // columns per task
  const int64_t chunks = (inner + kChunk - 1) / kChunk;
  const int64_t grain =
      std::max<int64_t>(1, 32768 / std::max<int64_t>(r_len * std::min(inner, kChunk), 1));
  parallel_for(outer * chunks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t o = task / chunks;
      const int64_t c0 = (task % chunks) * kChunk;
      const int64_t c1 = std::min(inner, c0 + kChunk);
      T* dst = out + o * inner;
      for (int64_t i = c0; i < c1; ++i) dst[i] = F::identity();
      const T* src = in + o * r_len * inner;
      if constexpr (kFloatSum) {
        add_rows(src + c0, inner, dst + c0, r_len, c1 - c0);
        continue;
      }
      for (int64_t r = 0; r < r_len; ++r) {
        const T* row = src + r * inner;
        for (int64_t i = c0; i < c1; ++i) dst[i] = F::apply(dst[i], row[i]);
      }
    }
  });
}

struct Group {
  int64_t size;
  bool reduced;
};

template <class T, ReduceKind K>
Tensor reduce_typed(const Tensor& x, std::vector<Group> groups, const Shape& out_shape) {
  Tensor cur = x;
  while (true) {
    int g = -1;
    for (int i = static_cast<int>(groups.size()) - 1; i >= 0 && g < 0; --i)
      if (groups[i].reduced) g = i;
    if (g < 0) break;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < g; ++i) outer *= groups[i].size;
    for (size_t i = g + 1; i < groups.size(); ++i) inner *= groups[i].size;
    Tensor next = Tensor::empty({outer * inner}, x.dtype());
    reduce_block<T, K>(cur.data<T>(), next.data<T>(), outer, groups[g].size, inner);
    cur = next;
    groups.erase(groups.begin() + g);
    // The neighbours of the reduced group are now adjacent and both kept: merge them.
    if (g > 0 && g < static_cast<int>(groups.size()) && !groups[g - 1].reduced &&
        !groups[g].reduced) {
      groups[g - 1].size *= groups[g].size;
      groups.erase(groups.begin() + g);
    }
  }
  if (cur.shares_storage(x)) cur = x.clone();  // nothing was reduced (only size-1 axes)
  return cur.reshape(out_shape);
}

}  // namespace

Shape reduced_shape(const Shape& shape, const std::vector<int>& axes, bool keepdims) {
  std::vector<bool> reduce(shape.size(), false);
  for (int a : axes) reduce.at(static_cast<size_t>(a)) = true;
  Shape out;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (!reduce[d])
      out.push_back(shape[d]);
    else if (keepdims)
      out.push_back(1);
  }
  return out;
}

Tensor reduce(const Tensor& x, const std::vector<int>& axes, ReduceKind kind) {
  std::vector<bool> reduced(x.shape().size(), false);
  for (int a : axes) reduced.at(static_cast<size_t>(a)) = true;
  const Shape out_shape = reduced_shape(x.shape(), axes, true);
  // Merge neighbouring dims of the same kind; size-1 dims change nothing and are dropped.
  std::vector<Group> groups;
  for (size_t d = 0; d < x.shape().size(); ++d) {
    const int64_t n = x.shape()[d];
    if (n == 1) continue;
    if (!groups.empty() && groups.back().reduced == reduced[d])
      groups.back().size *= n;
    else
      groups.push_back({n, reduced[d]});
  }
  auto run = [&](auto tag) -> Tensor {
    using T = decltype(tag);
    switch (kind) {
      case ReduceKind::kSum:
        return reduce_typed<T, ReduceKind::kSum>(x, groups, out_shape);
      case ReduceKind::kProd:
        return reduce_typed<T, ReduceKind::kProd>(x, groups, out_shape);
      case ReduceKind::kMax:
        return reduce_typed<T, ReduceKind::kMax>(x, groups, out_shape);
      case ReduceKind::kMin:
        return reduce_typed<T, ReduceKind::kMin>(x, groups, out_shape);
    }
    return {};
  };
  return dispatch_numeric(x.dtype(), run);
}

}  // namespace tamp::kernels
