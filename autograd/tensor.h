// Tensor: a shape, a dtype and shared, contiguous, row-major storage aligned to 64 bytes.
// A value type: copying shares storage, clone() copies it.
//
//   Tensor x = Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4});
//   Tensor y = x.reshape({4});        // same storage
//   y.data<float>()[0] = 10;          // x sees it
//   Tensor z = x.clone();             // independent
//   Tensor u;                         // undefined: an omitted optional input
#pragma once

#include <tamp/autograd/dtype.h>
#include <tamp/autograd/error.h>
#include <tamp/autograd/shape.h>

#include <cstring>
#include <memory>
#include <vector>

namespace tamp {

class Storage;

class Tensor {
 public:
  Tensor() = default;                                           // undefined
  explicit Tensor(Shape shape, DType dtype = DType::kFloat32);  // zero-filled

  static Tensor empty(Shape shape, DType dtype = DType::kFloat32);  // uninitialised
  static Tensor zeros(Shape shape, DType dtype = DType::kFloat32);
  static Tensor full(Shape shape, double value, DType dtype = DType::kFloat32);
  static Tensor ones(Shape shape, DType dtype = DType::kFloat32) {
    return full(std::move(shape), 1, dtype);
  }
  static Tensor scalar(double value, DType dtype = DType::kFloat32) {
    return full({}, value, dtype);
  }
  template <class T> static Tensor from_vector(Shape shape, const std::vector<T>& values);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int64_t axis) const;  // negative axes count from the end
  int64_t numel() const { return numel_; }
  DType dtype() const { return dtype_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * size_of(dtype_); }

  template <class T> T* data();
  template <class T> const T* data() const;
  void* raw_data();
  const void* raw_data() const;

  Tensor clone() const;
  Tensor reshape(Shape shape) const;  // shares storage; numel must match
  Tensor to(DType dtype) const;       // converts (a copy even when the dtype matches)
  void fill(double value);
  void copy_from(const Tensor& other);  // same shape and dtype

  // Element as double (for scalars and small index tensors), any dtype.
  double item() const;
  double at(int64_t flat_index) const;
  template <class T> std::vector<T> to_vector() const;  // converts each element

  bool shares_storage(const Tensor& other) const { return storage_ == other.storage_; }
  // True when no other Tensor shares this storage, so it may be modified in place.
  bool unique() const { return storage_.use_count() == 1; }

 private:
  Tensor(Shape shape, DType dtype, std::shared_ptr<Storage> storage);
  void check_dtype(DType expected) const;

  Shape shape_;
  DType dtype_ = DType::kFloat32;
  int64_t numel_ = 0;
  std::shared_ptr<Storage> storage_;
};

std::string describe(const Tensor& t);  // "float32[2, 3]"

// ---- implementation of the templates ----

template <class T> T* Tensor::data() {
  check_dtype(dtype_of<T>());
  return static_cast<T*>(raw_data());
}

template <class T> const T* Tensor::data() const {
  check_dtype(dtype_of<T>());
  return static_cast<const T*>(raw_data());
}

template <class T> Tensor Tensor::from_vector(Shape shape, const std::vector<T>& values) {
  Tensor t = empty(std::move(shape), dtype_of<T>());
  TAMP_CHECK(static_cast<int64_t>(values.size()) == t.numel(),
             "from_vector: {} values for shape {}", values.size(), to_string(t.shape()));
  if constexpr (std::is_same_v<T, bool>) {
    bool* out = t.data<bool>();
    for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
  } else if (!values.empty()) {
    std::memcpy(t.raw_data(), values.data(), t.nbytes());
  }
  return t;
}

template <class T> std::vector<T> Tensor::to_vector() const {
  std::vector<T> out(static_cast<size_t>(numel_));
  for (int64_t i = 0; i < numel_; ++i) out[static_cast<size_t>(i)] = static_cast<T>(at(i));
  return out;
}

}  // namespace tamp
