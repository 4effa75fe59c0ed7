#include <tamp/nn/dataset.h>

#include <cstring>

namespace tamp::nn {

namespace {

// Copies rows `indices` of `t` (rows along dim 0) into a new tensor.
Tensor gather_rows(const Tensor& t, const std::vector<int64_t>& indices) {
  Shape shape = t.shape();
  shape[0] = static_cast<int64_t>(indices.size());
  Tensor out = Tensor::empty(shape, t.dtype());
  const int64_t n = t.dim(0);
  const size_t row = n ? t.nbytes() / static_cast<size_t>(n) : 0;
  const auto* src = static_cast<const char*>(t.raw_data());
  auto* dst = static_cast<char*>(out.raw_data());
  for (size_t k = 0; k < indices.size(); ++k) {
    std::memcpy(dst + k * row, src + static_cast<size_t>(indices[k]) * row, row);
  }
  return out;
}

}  // namespace

TensorDataset::TensorDataset(Tensor x, Tensor y) : x_(std::move(x)), y_(std::move(y)) {
  TAMP_CHECK(x_.defined() && x_.rank() >= 1,
             "TensorDataset: x must have rank >= 1 (examples first)");
  if (y_.defined()) {
    TAMP_CHECK(y_.rank() >= 1 && y_.dim(0) == x_.dim(0),
               "TensorDataset: x {} and y {} hold different numbers of examples", describe(x_),
               describe(y_));
  }
}

Batch TensorDataset::get_batch(const std::vector<int64_t>& indices) const {
  const int64_t n = size();
  for (int64_t i : indices) {
    TAMP_CHECK(i >= 0 && i < n, "TensorDataset: index {} is outside [0, {})", i, n);
  }
  Batch b;
  b.x = gather_rows(x_, indices);
  if (y_.defined()) b.y = gather_rows(y_, indices);
  b.indices = indices;
  return b;
}

std::shared_ptr<TensorDataset> TensorDataset::slice(int64_t begin, int64_t end) const {
  TAMP_CHECK(0 <= begin && begin <= end && end <= size(),
             "TensorDataset: slice [{}, {}) of {} examples", begin, end, size());
  std::vector<int64_t> rows(static_cast<size_t>(end - begin));
  for (int64_t i = begin; i < end; ++i) rows[static_cast<size_t>(i - begin)] = i;
  return std::make_shared<TensorDataset>(gather_rows(x_, rows),
                                         y_.defined() ? gather_rows(y_, rows) : Tensor());
}

std::pair<std::shared_ptr<TensorDataset>, std::shared_ptr<TensorDataset>> TensorDataset::split(
    int64_t at) const {
  return {slice(0, at), slice(at, size())};
}

}  // namespace tamp::nn
