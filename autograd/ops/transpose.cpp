// Transpose: a strided copy; the gradient is the inverse permutation.
#include <tamp/autograd/kernels/layout.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

namespace tamp::ops {

namespace {

// perm from the attribute (reversed dims by default), checked to be a permutation.
std::vector<int> perm_of(const OpContext& ctx, int rank) {
  std::vector<int> perm;
  if (!ctx.attrs().has("perm")) {
    for (int d = rank - 1; d >= 0; --d) perm.push_back(d);
    return perm;
  }
  const auto& p = ctx.attrs().ints("perm");
  TAMP_CHECK(static_cast<int>(p.size()) == rank, "perm has {} entries for an input of rank {}",
             p.size(), rank);
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t a : p) {
    TAMP_CHECK(a >= 0 && a < rank && !seen[a], "perm is not a permutation of 0..{}", rank - 1);
    seen[a] = true;
    perm.push_back(static_cast<int>(a));
  }
  return perm;
}

std::vector<Tensor> transpose_forward(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& x = input(in, 0, "data");
  return {kernels::permute(x, perm_of(ctx, x.rank()))};
}

std::vector<Tensor> transpose_backward(OpContext& ctx, const std::vector<Tensor>& g) {
  const auto perm = perm_of(ctx, g[0].rank());
  std::vector<int> inverse(perm.size());
  for (size_t k = 0; k < perm.size(); ++k) inverse[perm[k]] = static_cast<int>(k);
  return {kernels::permute(g[0], inverse)};
}

}  // namespace

OpDef transpose_op() { return {"", "Transpose", 1, &transpose_forward, &transpose_backward}; }

}  // namespace tamp::ops
