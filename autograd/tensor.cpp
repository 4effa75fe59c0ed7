#include <tamp/autograd/allocator.h>
#include <tamp/autograd/tensor.h>

#include <cstdlib>
#include <limits>
#include <new>

namespace tamp {

// 64-byte aligned, from the buffer cache (allocator.h).
class Storage {
 public:
  explicit Storage(size_t nbytes) : data_(allocate_buffer(nbytes, &capacity_)), nbytes_(nbytes) {}
  ~Storage() { release_buffer(data_, capacity_); }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() { return data_; }
  size_t nbytes() const { return nbytes_; }

 private:
  size_t capacity_ = 0;
  void* data_;
  size_t nbytes_;
};

Tensor::Tensor(Shape shape, DType dtype, std::shared_ptr<Storage> storage)
    : shape_(std::move(shape)),
      dtype_(dtype),
      numel_(tamp::numel(shape_)),
      storage_(std::move(storage)) {}

Tensor::Tensor(Shape shape, DType dtype) : Tensor(empty(std::move(shape), dtype)) {
  std::memset(raw_data(), 0, nbytes());
}

Tensor Tensor::empty(Shape shape, DType dtype) {
  const int64_t n = checked_numel(shape);
  const size_t elem = size_of(dtype);
  TAMP_CHECK(n <= static_cast<int64_t>(SIZE_MAX / 2 / elem), "shape {} is too large to allocate",
             to_string(shape));
  auto storage = std::make_shared<Storage>(static_cast<size_t>(n) * elem);
  return Tensor(std::move(shape), dtype, std::move(storage));
}

Tensor Tensor::zeros(Shape shape, DType dtype) { return Tensor(std::move(shape), dtype); }

Tensor Tensor::full(Shape shape, double value, DType dtype) {
  Tensor t = empty(std::move(shape), dtype);
  t.fill(value);
  return t;
}

int64_t Tensor::dim(int64_t axis) const { return shape_[normalize_axis(axis, rank(), "dim")]; }

void* Tensor::raw_data() {
  TAMP_CHECK(storage_, "access to the data of an undefined tensor");
  return storage_->data();
}

const void* Tensor::raw_data() const {
  TAMP_CHECK(storage_, "access to the data of an undefined tensor");
  return storage_->data();
}

void Tensor::check_dtype(DType expected) const {
  if (expected != dtype_) {
    throw Error(fmt::format("tensor {} accessed as {}", describe(*this), dtype_name(expected)),
                ErrorKind::kInternal);
  }
}

Tensor Tensor::clone() const {
  if (!defined()) return {};
  Tensor t = empty(shape_, dtype_);
  std::memcpy(t.raw_data(), raw_data(), nbytes());
  return t;
}

Tensor Tensor::reshape(Shape shape) const {
  TAMP_CHECK(checked_numel(shape) == numel_, "cannot reshape {} to {}", describe(*this),
             to_string(shape));
  return Tensor(std::move(shape), dtype_, storage_);
}

namespace {

template <class T> double load(const T& v) {
  if constexpr (std::is_same_v<T, Half>)
    return half_to_float(v);
  else if constexpr (std::is_same_v<T, BFloat16>)
    return bfloat16_to_float(v);
  else
    return static_cast<double>(v);
}

template <class T> T store(double v) {
  if constexpr (std::is_same_v<T, Half>)
    return float_to_half(static_cast<float>(v));
  else if constexpr (std::is_same_v<T, BFloat16>)
    return float_to_bfloat16(static_cast<float>(v));
  else if constexpr (std::is_same_v<T, bool>)
    return v != 0;
  else
    return saturating_cast<T>(v);
}

}  // namespace

void Tensor::fill(double value) {
  dispatch(dtype_, [&](auto tag) {
    using T = decltype(tag);
    const T v = store<T>(value);
    T* p = static_cast<T*>(raw_data());
    std::fill(p, p + numel_, v);
  });
}

void Tensor::copy_from(const Tensor& other) {
  TAMP_CHECK(other.shape_ == shape_ && other.dtype_ == dtype_, "copy_from: {} into {}",
             describe(other), describe(*this));
  std::memcpy(raw_data(), other.raw_data(), nbytes());
}

double Tensor::at(int64_t i) const {
  TAMP_CHECK(i >= 0 && i < numel_, "index {} out of range for {}", i, describe(*this));
  return dispatch(dtype_, [&](auto tag) {
    using T = decltype(tag);
    return load(static_cast<const T*>(raw_data())[i]);
  });
}

double Tensor::item() const {
  TAMP_CHECK(numel_ == 1, "item() of {} which has {} elements", describe(*this), numel_);
  return at(0);
}

Tensor Tensor::to(DType dtype) const {
  Tensor out = empty(shape_, dtype);
  dispatch(dtype_, [&](auto src_tag) {
    using S = decltype(src_tag);
    dispatch(dtype, [&](auto dst_tag) {
      using D = decltype(dst_tag);
      const S* src = static_cast<const S*>(raw_data());
      D* dst = static_cast<D*>(out.raw_data());
      if constexpr (std::is_same_v<S, D>) {
        std::memcpy(dst, src, nbytes());
      } else if constexpr (std::is_same_v<S, float> && std::is_same_v<D, double>) {
        for (int64_t i = 0; i < numel_; ++i) dst[i] = src[i];
      } else if constexpr (std::is_same_v<S, double> && std::is_same_v<D, float>) {
        for (int64_t i = 0; i < numel_; ++i)
          dst[i] = static_cast<D>(src[i]);  // D, not float: clang checks this in discarded branches
      } else {
        for (int64_t i = 0; i < numel_; ++i) dst[i] = store<D>(load(src[i]));
      }
    });
  });
  return out;
}

std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined";
  return std::string(dtype_name(t.dtype())) + to_string(t.shape());
}

}  // namespace tamp
