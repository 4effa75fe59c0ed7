#include <tamp/autograd/shape.h>

#include <tamp/autograd/error.h>

#include <limits>

namespace tamp {

std::string to_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t checked_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    TAMP_CHECK(d >= 0, "shape {} has a negative dimension", to_string(shape));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) {
      throw Error(fmt::format("shape {} has more elements than int64 can count", to_string(shape)));
    }
    n *= d;
  }
  return n;
}

int64_t numel(const Shape& shape) { return numel(shape, 0, static_cast<int>(shape.size())); }

int64_t numel(const Shape& shape, int begin, int end) {
  int64_t n = 1;
  for (int i = begin; i < end; ++i) n *= shape[i];
  return n;
}

std::vector<int64_t> strides_of(const Shape& shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t s = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

int normalize_axis(int64_t axis, int rank, const char* what) {
  if (axis < -rank || axis >= rank) {
    throw Error(fmt::format("{} {} is out of range for rank {}", what, axis, rank));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) {
      throw Error(fmt::format("shapes {} and {} cannot be broadcast", to_string(a), to_string(b)));
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int64_t broadcast_offset(int64_t i, const Shape& out, const Shape& own) {
  int64_t off = 0, stride = 1;
  const size_t shift = out.size() - own.size();
  for (int d = static_cast<int>(out.size()) - 1; d >= 0; --d) {
    const int64_t idx = i % out[d];
    i /= out[d];
    if (d >= static_cast<int>(shift)) {
      const int64_t od = own[d - shift];
      if (od != 1) off += idx * stride;
      stride *= od;
    }
  }
  return off;
}

}  // namespace tamp
