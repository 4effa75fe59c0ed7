#include <tamp/autograd/tensor_math.h>

#include <tamp/autograd/kernels/rows.h>

#include <cmath>
#include <type_traits>

namespace tamp {

namespace {

template <class T> void sum_to_impl(const Tensor& t, Tensor& out) {
  const Shape& in_shape = t.shape();
  const int rank = t.rank();
  // Align the output shape to the input's rank with leading 1s.
  Shape target(rank, 1);
  const Shape& os = out.shape();
  for (size_t i = 0; i < os.size(); ++i) target[rank - os.size() + i] = os[i];
  const auto in_strides = strides_of(in_shape);
  const auto out_strides = strides_of(target);
  const T* src = t.data<T>();
  T* dst = out.data<T>();
  std::fill(dst, dst + out.numel(), T(0));
  // Innermost dim fast path: when it is kept, add rows; when reduced, sum rows.
  const int64_t inner = rank ? in_shape[rank - 1] : 1;
  const bool inner_kept = rank == 0 || target[rank - 1] == inner;
  const int64_t outer = inner ? t.numel() / inner : 0;
  std::vector<int64_t> idx(rank, 0);
  for (int64_t o = 0; o < outer; ++o) {
    int64_t off = 0;
    for (int d = 0; d < rank - 1; ++d) off += (target[d] == 1 ? 0 : idx[d]) * out_strides[d];
    const T* row = src + o * inner;
    if constexpr (std::is_same_v<T, float>) {  // the vectorised row kernels (kernels/rows.h)
      if (inner_kept) {
        kernels::add_rows(row, inner, dst + off, 1, inner);
      } else {
        float s = 0;
        kernels::row_sums(row, &s, 1, inner);
        dst[off] += s;
      }
    } else if (inner_kept) {
      T* drow = dst + off;
      for (int64_t i = 0; i < inner; ++i) drow[i] += row[i];
    } else {
      T s = 0;
      for (int64_t i = 0; i < inner; ++i) s += row[i];
      dst[off] += s;
    }
    for (int d = rank - 2; d >= 0; --d) {
      if (++idx[d] < in_shape[d]) break;
      idx[d] = 0;
    }
  }
  (void)in_strides;
}

void check_same(const Tensor& a, const Tensor& b, const char* what) {
  TAMP_CHECK(a.shape() == b.shape() && a.dtype() == b.dtype(), "{}: {} and {} differ", what,
             describe(a), describe(b));
}

}  // namespace

Tensor sum_to(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  TAMP_CHECK(broadcast_shapes(shape, t.shape()) == t.shape(),
             "gradient of shape {} cannot be reduced to {}", to_string(t.shape()),
             to_string(shape));
  Tensor out = Tensor::empty(shape, t.dtype());
  if (t.dtype() == DType::kFloat32)
    sum_to_impl<float>(t, out);
  else if (t.dtype() == DType::kFloat64)
    sum_to_impl<double>(t, out);
  else
    throw Error(fmt::format("sum_to: unsupported dtype {}", dtype_name(t.dtype())),
                ErrorKind::kUnsupported);
  return out;
}

void add_(Tensor& a, const Tensor& b) {
  check_same(a, b, "add_");
  if (a.dtype() == DType::kFloat32) {
    float* x = a.data<float>();
    const float* y = b.data<float>();
    const int64_t n = a.numel();
    for (int64_t i = 0; i < n; ++i) x[i] += y[i];
  } else if (a.dtype() == DType::kFloat64) {
    double* x = a.data<double>();
    const double* y = b.data<double>();
    const int64_t n = a.numel();
    for (int64_t i = 0; i < n; ++i) x[i] += y[i];
  } else {
    throw Error(fmt::format("add_: unsupported dtype {}", dtype_name(a.dtype())),
                ErrorKind::kUnsupported);
  }
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = a.clone();
  add_(out, b);
  return out;
}

bool all_finite(const Tensor& t) {
  if (t.dtype() == DType::kFloat32) {
    const float* p = t.data<float>();
    for (int64_t i = 0; i < t.numel(); ++i)
      if (!std::isfinite(p[i])) return false;
  } else if (t.dtype() == DType::kFloat64) {
    const double* p = t.data<double>();
    for (int64_t i = 0; i < t.numel(); ++i)
      if (!std::isfinite(p[i])) return false;
  } else if (is_floating(t.dtype())) {
    for (int64_t i = 0; i < t.numel(); ++i)
      if (!std::isfinite(t.at(i))) return false;
  }
  return true;
}

}  // namespace tamp
