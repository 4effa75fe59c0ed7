// MaxPool's 2x2 / stride-2 row kernel (pool.h), compiled once per instruction set.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tamp/autograd/kernels/pool.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>
#include <tamp/autograd/kernels/dispatch.h>
#include <tamp/autograd/kernels/pool.h>
#include <tamp/autograd/kernels/simd_inl.h>

#include <cmath>

HWY_BEFORE_NAMESPACE();
namespace tamp::kernels::HWY_NAMESPACE {

bool max_pool_2x2_row_f32(const float* row, int64_t w, int64_t n, int64_t base, float* y,
                          int64_t* idx) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  constexpr int64_t kL = static_cast<int64_t>(hn::MaxLanes(d));
  const float* next = row + w;
  auto nan = hn::IsNaN(hn::Zero(d));
  const auto one = hn::Set(di, 1), width = hn::Set(di, static_cast<int32_t>(w));
  HWY_ALIGN int32_t offset[kL];
  int64_t j = 0;
  for (; j + kL <= n; j += kL) {
    hn::Vec<decltype(d)> a, b, c, e;  // window (a b / c e)
    hn::LoadInterleaved2(d, row + 2 * j, a, b);
    hn::LoadInterleaved2(d, next + 2 * j, c, e);
    nan =
        hn::Or(nan, hn::Or(hn::Or(hn::IsNaN(a), hn::IsNaN(b)), hn::Or(hn::IsNaN(c), hn::IsNaN(e))));
    const auto top = hn::Max(a, b), bottom = hn::Max(c, e);
    hn::StoreU(hn::Max(top, bottom), d, y + j);
    if (!idx) continue;
    // Offsets as the scalar rule picks them: b over a only when greater, the bottom row
    // only when its maximum is greater.
    const auto right_top = hn::IfThenElseZero(hn::RebindMask(di, hn::Gt(b, a)), one);
    const auto right_bottom = hn::IfThenElseZero(hn::RebindMask(di, hn::Gt(e, c)), one);
    const auto pick = hn::IfThenElse(hn::RebindMask(di, hn::Gt(bottom, top)),
                                     hn::Add(width, right_bottom), right_top);
    hn::Store(pick, di, offset);
    for (int64_t k = 0; k < kL; ++k) idx[j + k] = base + 2 * (j + k) + offset[k];
  }
  if (!hn::AllFalse(d, nan)) return false;
  for (; j < n; ++j) {
    const float a = row[2 * j], b = row[2 * j + 1], c = next[2 * j], e = next[2 * j + 1];
    if (std::isnan(a) || std::isnan(b) || std::isnan(c) || std::isnan(e)) return false;
    const float top = b > a ? b : a, bottom = e > c ? e : c;
    y[j] = bottom > top ? bottom : top;
    if (idx) idx[j] = base + 2 * j + (bottom > top ? w + (e > c) : (b > a));
  }
  return true;
}

}  // namespace tamp::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tamp::kernels {

HWY_EXPORT(max_pool_2x2_row_f32);

bool max_pool_2x2_row(const float* row, int64_t w, int64_t n, int64_t base, float* y,
                      int64_t* idx) {
  return TAMP_DISPATCH(max_pool_2x2_row_f32)(row, w, n, base, y, idx);
}

}  // namespace tamp::kernels
#endif  // HWY_ONCE
