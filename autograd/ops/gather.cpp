// Gather (along one axis: row copies) and GatherElements (per element), any dtype. The
// gradients scatter-add back, so repeated indices accumulate.
#include <tamp/autograd/kernels/parallel.h>
#include <tamp/autograd/ops/op_helpers.h>
#include <tamp/autograd/ops/ops.h>

#include <cstring>

namespace tamp::ops {

namespace {

// Indices as int64 in [0, dim), after checking each lies in [-dim, dim).
std::vector<int64_t> checked_indices(const Tensor& indices, int64_t dim) {
  TAMP_CHECK(indices.dtype() == DType::kInt64 || indices.dtype() == DType::kInt32,
             "indices must be int64 or int32, got {}", describe(indices));
  std::vector<int64_t> idx(static_cast<size_t>(indices.numel()));
  for (int64_t j = 0; j < indices.numel(); ++j) {
    const int64_t i = indices.dtype() == DType::kInt64 ? indices.data<int64_t>()[j] : indices.data<int32_t>()[j];
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
  const size_t row = static_cast<size_t>(numel(data.shape(), axis + 1, data.rank())) * size_of(data.dtype());
  const int64_t n = static_cast<int64_t>(idx.size());
  const char* src = static_cast<const char*>(data.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  kernels::parallel_for(outer * n, std::max<int64_t>(1, 65536 / std::max<size_t>(row, 1)), [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      const int64_t o = k / n, j = k % n;
      std::memcpy(dst + k * row, src + (o * dim + idx[j]) * row, row);
    }
  });
  if (ctx.any_grad()) {
    const Shape& s = data.shape();
    ctx.save({indices, Tensor::from_vector<int64_t>({static_cast<int64_t>(s.size())}, s)});
  }
  return {out};
}

std::vector<Tensor> gather_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const Tensor& indices = ctx.saved.at(0);
  const Shape shape = ctx.saved.at(1).to_vector<int64_t>();
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
    kernels::parallel_for(outer, std::max<int64_t>(1, 65536 / std::max<int64_t>(n * inner, 1)), [&](int64_t b, int64_t e) {
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
    TAMP_CHECK(d == axis || indices.shape()[d] <= data_shape[d], "indices {} exceed data {} on axis {}",
               describe(indices), to_string(data_shape), d);
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
  if (ctx.any_grad()) {
    const Shape& s = data.shape();
    ctx.save({indices, Tensor::from_vector<int64_t>({static_cast<int64_t>(s.size())}, s)});
  }
  return {out};
}

std::vector<Tensor> gather_elements_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const Tensor& indices = ctx.saved.at(0);
  const Shape shape = ctx.saved.at(1).to_vector<int64_t>();
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

}  // namespace

OpDef gather_elements_op() {
  return {"", "GatherElements", 11, &gather_elements_forward, &gather_elements_backward, {1}};
}
OpDef gather_op() { return {"", "Gather", 1, &gather_forward, &gather_backward, {1}}; }

}  // namespace tamp::ops
