// Gather (along one axis: row copies) and GatherElements (per element), any dtype; their
// gradients scatter-add back, so repeated indices accumulate. ScatterElements and ScatterND
// write updates into a copy of data at the indexed elements (slices for ScatterND), replacing
// them or combining with reduction add / mul (opset 16), max / min (opset 18). Their gradient
// (reduction none or add; with none, an element written twice has no defined value in ONNX)
// goes to data where nothing was replaced and to each update from the element it wrote.
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <cstring>

namespace tamp::ops {

namespace {

struct GatherSaved {
  Tensor indices;
  Shape data_shape;
};

struct ScatterSaved {
  Tensor indices, updates;
};

// Indices as int64 in [0, dim), after checking each lies in [-dim, dim).
std::vector<int64_t> checked_indices(const Tensor& indices, int64_t dim) {
  TAMP_CHECK(indices.dtype() == DType::kInt64 || indices.dtype() == DType::kInt32,
             "indices must be int64 or int32, got {}", describe(indices));
  std::vector<int64_t> idx(static_cast<size_t>(indices.numel()));
  for (int64_t j = 0; j < indices.numel(); ++j) {
    const int64_t i =
        indices.dtype() == DType::kInt64 ? indices.data<int64_t>()[j] : indices.data<int32_t>()[j];
    TAMP_CHECK(i >= -dim && i < dim, "index {} is out of range for an axis of size {}", i, dim);
    idx[j] = i < 0 ? i + dim : i;
  }
  return idx;
}

std::vector<Tensor> gather_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& data = input(in, 0, "data");
  const Tensor& indices = input(in, 1, "indices");
  TAMP_CHECK(data.rank() >= 1, "data must have rank >= 1, got {}", describe(data));
  const int axis = normalize_axis(ctx.attrs().i("axis", 0), data.rank());
  const int64_t dim = data.shape()[axis];
  const auto idx = checked_indices(indices, dim);
  Shape shape(data.shape().begin(), data.shape().begin() + axis);
  shape.insert(shape.end(), indices.shape().begin(), indices.shape().end());
  shape.insert(shape.end(), data.shape().begin() + axis + 1, data.shape().end());
  Tensor out = Tensor::empty(shape, data.dtype());
  const int64_t outer = numel(data.shape(), 0, axis);
  const size_t row =
      static_cast<size_t>(numel(data.shape(), axis + 1, data.rank())) * size_of(data.dtype());
  const int64_t n = static_cast<int64_t>(idx.size());
  const char* src = static_cast<const char*>(data.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  kernels::parallel_for(outer * n, std::max<int64_t>(1, 65536 / std::max<size_t>(row, 1)),
                        [&](int64_t b, int64_t e) {
                          for (int64_t k = b; k < e; ++k) {
                            const int64_t o = k / n, j = k % n;
                            std::memcpy(dst + k * row, src + (o * dim + idx[j]) * row, row);
                          }
                        });
  if (ctx.any_grad()) ctx.save(GatherSaved{indices, data.shape()});
  return {out};
}

std::vector<Tensor> gather_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const GatherSaved& saved = ctx.saved_as<GatherSaved>();
  const auto& indices = saved.indices;
  const auto& shape = saved.data_shape;
  const int axis = normalize_axis(ctx.attrs().i("axis", 0), static_cast<int>(shape.size()));
  const int64_t dim = shape[axis];
  const auto idx = checked_indices(indices, dim);
  Tensor dx = Tensor::zeros(shape, g[0].dtype());
  const int64_t outer = numel(shape, 0, axis);
  const int64_t inner = numel(shape, axis + 1, static_cast<int>(shape.size()));
  const int64_t n = static_cast<int64_t>(idx.size());
  dispatch_float(dx.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = g[0].data<T>();
    T* dst = dx.data<T>();
    // Threads own disjoint outer slices, so repeated indices never race.
    kernels::parallel_for(outer, std::max<int64_t>(1, 65536 / std::max<int64_t>(n * inner, 1)),
                          [&](int64_t b, int64_t e) {
                            for (int64_t o = b; o < e; ++o) {
                              for (int64_t j = 0; j < n; ++j) {
                                const T* s = src + (o * n + j) * inner;
                                T* d = dst + (o * dim + idx[j]) * inner;
                                for (int64_t i = 0; i < inner; ++i) d[i] += s[i];
                              }
                            }
                          });
  });
  return {dx, Tensor()};
}

// GatherElements: out[i] = data[i with i[axis] replaced by indices[i]]. Calls
// f(flat index into indices, flat index into data) for every element of `indices`.
template <class F>
void for_each_element(const Shape& data_shape, const Tensor& indices, int axis, F f) {
  const int rank = static_cast<int>(data_shape.size());
  TAMP_CHECK(indices.rank() == rank, "indices {} must have the rank of data {}", describe(indices),
             to_string(data_shape));
  for (int d = 0; d < rank; ++d) {
    TAMP_CHECK(d == axis || indices.shape()[d] <= data_shape[d],
               "indices {} exceed data {} on axis {}", describe(indices), to_string(data_shape), d);
  }
  const auto idx = checked_indices(indices, data_shape[axis]);
  const auto strides = strides_of(data_shape);
  std::vector<int64_t> pos(static_cast<size_t>(rank), 0);
  int64_t base = 0;  // data offset of pos, without the axis term
  for (int64_t j = 0; j < indices.numel(); ++j) {
    f(j, base + idx[j] * strides[axis]);
    for (int d = rank - 1; d >= 0; --d) {
      if (d != axis) base += strides[d];
      if (++pos[d] < indices.shape()[d]) break;
      if (d != axis) base -= strides[d] * pos[d];
      pos[d] = 0;
    }
  }
}

std::vector<Tensor> gather_elements_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& data = input(in, 0, "data");
  const Tensor& indices = input(in, 1, "indices");
  TAMP_CHECK(data.rank() >= 1, "data must have rank >= 1, got {}", describe(data));
  const int axis = normalize_axis(ctx.attrs().i("axis", 0), data.rank());
  Tensor out = Tensor::empty(indices.shape(), data.dtype());
  const size_t elem = size_of(data.dtype());
  const char* src = static_cast<const char*>(data.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  for_each_element(data.shape(), indices, axis, [&](int64_t j, int64_t k) {
    std::memcpy(dst + j * elem, src + k * elem, elem);
  });
  if (ctx.any_grad()) ctx.save(GatherSaved{indices, data.shape()});
  return {out};
}

std::vector<Tensor> gather_elements_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const GatherSaved& saved = ctx.saved_as<GatherSaved>();
  const auto& indices = saved.indices;
  const auto& shape = saved.data_shape;
  const int axis = normalize_axis(ctx.attrs().i("axis", 0), static_cast<int>(shape.size()));
  Tensor dx = Tensor::zeros(shape, g[0].dtype());
  dispatch_float(dx.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = g[0].data<T>();
    T* dst = dx.data<T>();
    for_each_element(shape, indices, axis, [&](int64_t j, int64_t k) { dst[k] += src[j]; });
  });
  return {dx, Tensor()};
}

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

Reduction reduction_of(const OpContext& ctx) {
  const std::string r = ctx.attrs().s("reduction", "none");
  if (r == "none") return Reduction::kNone;
  if (r == "add") return Reduction::kAdd;
  if (r == "mul") return Reduction::kMul;
  if (r == "max") return Reduction::kMax;
  if (r == "min") return Reduction::kMin;
  throw Error(fmt::format("unknown reduction '{}' (none, add, mul, max or min)", r));
}

template <class T> T reduce_into(Reduction r, T old, T update) {
  switch (r) {
    case Reduction::kAdd:
      return static_cast<T>(old + update);
    case Reduction::kMul:
      return static_cast<T>(old * update);
    case Reduction::kMax:
      return old < update ? update : old;
    case Reduction::kMin:
      return update < old ? update : old;
    default:
      return update;
  }
}

// Calls f(flat index into updates, flat index into data, count) for each run of `count`
// elements an update writes: single elements for ScatterElements (count 1), slices for
// ScatterND.
template <bool kND, class F> void for_each_write(const Shape& data_shape, const Tensor& indices,
                                                 const Tensor& updates, int axis, F f) {
  if constexpr (!kND) {
    TAMP_CHECK(updates.shape() == indices.shape(), "updates {} must have the shape of indices {}",
               describe(updates), describe(indices));
    for_each_element(data_shape, indices, axis, [&](int64_t j, int64_t k) { f(j, k, int64_t{1}); });
  } else {
    const int rank = static_cast<int>(data_shape.size());
    TAMP_CHECK(indices.rank() >= 1, "indices {} must have rank >= 1", describe(indices));
    const int k = static_cast<int>(indices.shape().back());
    TAMP_CHECK(k >= 1 && k <= rank, "indices {} index {} axes of data {} (1 to its rank)",
               describe(indices), k, to_string(data_shape));
    Shape want(indices.shape().begin(), indices.shape().end() - 1);
    want.insert(want.end(), data_shape.begin() + k, data_shape.end());
    TAMP_CHECK(updates.shape() == want, "updates {} must have shape {} (indices {}, data {})",
               describe(updates), to_string(want), describe(indices), to_string(data_shape));
    TAMP_CHECK(indices.dtype() == DType::kInt64, "indices must be int64, got {}",
               describe(indices));
    const int64_t slice = numel(data_shape, k, rank);
    const auto strides = strides_of(data_shape);
    const int64_t* idx = indices.data<int64_t>();
    const int64_t n = indices.numel() / k;
    for (int64_t i = 0; i < n; ++i) {
      int64_t offset = 0;
      for (int d = 0; d < k; ++d) {
        const int64_t v = idx[i * k + d], dim = data_shape[d];
        TAMP_CHECK(v >= -dim && v < dim, "index {} is out of range for axis {} of size {}", v, d,
                   dim);
        offset += (v < 0 ? v + dim : v) * strides[d];
      }
      f(i * slice, offset, slice);
    }
  }
}

template <bool kND>
std::vector<Tensor> scatter_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& data = input(in, 0, "data");
  const Tensor& indices = input(in, 1, "indices");
  const Tensor& updates = input(in, 2, "updates");
  expect_same_dtype(data, updates, "data and updates");
  TAMP_CHECK(data.rank() >= 1, "data must have rank >= 1, got {}", describe(data));
  const int axis = kND ? 0 : normalize_axis(ctx.attrs().i("axis", 0), data.rank());
  const Reduction r = reduction_of(ctx);
  Tensor out = data.clone();
  if (r == Reduction::kNone) {
    const size_t elem = size_of(data.dtype());
    const char* src = static_cast<const char*>(updates.raw_data());
    char* dst = static_cast<char*>(out.raw_data());
    for_each_write<kND>(data.shape(), indices, updates, axis, [&](int64_t j, int64_t k, int64_t n) {
      std::memcpy(dst + k * elem, src + j * elem, static_cast<size_t>(n) * elem);
    });
  } else {
    dispatch_numeric(data.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* src = updates.data<T>();
      T* dst = out.data<T>();
      for_each_write<kND>(data.shape(), indices, updates, axis,
                          [&](int64_t j, int64_t k, int64_t n) {
                            for (int64_t t = 0; t < n; ++t)
                              dst[k + t] = reduce_into(r, dst[k + t], src[j + t]);
                          });
    });
  }
  if (ctx.any_grad()) {
    TAMP_CHECK(r == Reduction::kNone || r == Reduction::kAdd,
               "no gradient for reduction '{}' (none and add have one)",
               ctx.attrs().s("reduction", "none"));
    ctx.save(ScatterSaved{indices, updates});
  }
  return {out};
}

template <bool kND>
std::vector<Tensor> scatter_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const ScatterSaved& saved = ctx.saved_as<ScatterSaved>();
  const auto& indices = saved.indices;
  const auto& updates = saved.updates;
  const Shape& shape = g[0].shape();
  const int axis =
      kND ? 0 : normalize_axis(ctx.attrs().i("axis", 0), static_cast<int>(shape.size()));
  const bool replaced = reduction_of(ctx) == Reduction::kNone;
  Tensor ddata = ctx.needs_grad[0] ? g[0].clone() : Tensor();
  Tensor dupdates = ctx.needs_grad[2] ? Tensor::empty(updates.shape(), g[0].dtype()) : Tensor();
  dispatch_float(g[0].dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = g[0].data<T>();
    for_each_write<kND>(shape, indices, updates, axis, [&](int64_t j, int64_t k, int64_t n) {
      if (dupdates.defined()) std::copy(src + k, src + k + n, dupdates.data<T>() + j);
      if (ddata.defined() && replaced)
        std::fill(ddata.data<T>() + k, ddata.data<T>() + k + n, T(0));
    });
  });
  return {ddata, Tensor(), dupdates};
}

}  // namespace

OpDef gather_elements_op() {
  return {"", "GatherElements", 11, &gather_elements_forward, &gather_elements_backward, {1}};
}
OpDef gather_op() { return {"", "Gather", 1, &gather_forward, &gather_backward, {1}}; }
OpDef scatter_elements_op() {
  return {"", "ScatterElements", 11, &scatter_forward<false>, &scatter_backward<false>, {1}};
}
OpDef scatter_nd_op() {
  return {"", "ScatterND", 11, &scatter_forward<true>, &scatter_backward<true>, {1}};
}

}  // namespace tamp::ops
