#include <tamp/autograd/kernels/broadcast.h>

namespace tamp::kernels {

BroadcastPlan plan_broadcast(const Shape& a, const Shape& b) {
  BroadcastPlan p;
  p.out_shape = broadcast_shapes(a, b);
  const size_t rank = p.out_shape.size();
  auto dim_of = [rank](const Shape& s, size_t i) {
    return i < rank - s.size() ? int64_t{1} : s[i - (rank - s.size())];
  };
  // Merge dims whose (a broadcast?, b broadcast?) pattern matches the previous one's.
  Shape dims;
  std::vector<bool> bcast_a, bcast_b;
  for (size_t i = 0; i < rank; ++i) {
    const int64_t d = p.out_shape[i];
    if (d == 1) continue;  // size-1 dims carry no iteration
    const bool ba = dim_of(a, i) == 1, bb = dim_of(b, i) == 1;
    if (!dims.empty() && bcast_a.back() == ba && bcast_b.back() == bb) {
      dims.back() *= d;
    } else {
      dims.push_back(d);
      bcast_a.push_back(ba);
      bcast_b.push_back(bb);
    }
  }
  p.dims = dims;
  p.stride_a.resize(dims.size());
  p.stride_b.resize(dims.size());
  int64_t sa = 1, sb = 1;
  for (int i = static_cast<int>(dims.size()) - 1; i >= 0; --i) {
    p.stride_a[i] = bcast_a[i] ? 0 : sa;
    p.stride_b[i] = bcast_b[i] ? 0 : sb;
    if (!bcast_a[i]) sa *= dims[i];
    if (!bcast_b[i]) sb *= dims[i];
  }
  return p;
}

}  // namespace tamp::kernels
