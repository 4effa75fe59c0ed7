#include <tamp/autograd/ops/loss_helpers.h>

namespace tamp::ops {

Reduction parse_reduction(const Attributes& attrs, const std::string& fallback,
                          std::initializer_list<const char*> allowed) {
  const std::string r = attrs.s("reduction", fallback);
  bool ok = false;
  std::string list;
  for (const char* a : allowed) {
    ok = ok || r == a;
    list += list.empty() ? fmt::format("'{}'", a) : fmt::format(", '{}'", a);
  }
  TAMP_CHECK(ok, "reduction '{}' is not one of {}", r, list);
  if (r == "none") return Reduction::kNone;
  if (r == "sum") return Reduction::kSum;
  if (r == "mean") return Reduction::kMean;
  return Reduction::kBatchMean;
}

ClassAxis class_axis(const Shape& shape, int axis) {
  ClassAxis g;
  const int rank = static_cast<int>(shape.size());
  g.outer = numel(shape, 0, axis);
  g.classes = shape[axis];
  g.inner = numel(shape, axis + 1, rank);
  return g;
}

}  // namespace tamp::ops
