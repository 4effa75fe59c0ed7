#include <tamp/autograd/tensor.h>
#include <tamp/autograd/tensor_math.h>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace tamp {
namespace {

TEST(Tensor, CopiesShareStorageCloneDoesNot) {
  Tensor a = Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4});
  Tensor b = a;
  Tensor c = a.clone();
  Tensor r = a.reshape({4});
  b.data<float>()[0] = 9;
  EXPECT_EQ(a.data<float>()[0], 9);
  EXPECT_EQ(r.data<float>()[0], 9);
  EXPECT_EQ(c.data<float>()[0], 1);
  EXPECT_TRUE(a.shares_storage(r));
  EXPECT_FALSE(a.unique());
}

TEST(Tensor, StorageIsAligned) {
  for (int64_t n : {1, 3, 17, 1000}) {
    Tensor t({n});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u);
  }
}

TEST(Tensor, RejectsNegativeAndOverflowingShapes) {
  EXPECT_THROW(Tensor::empty({2, -1}), Error);
  EXPECT_THROW(Tensor::empty({int64_t{1} << 40, int64_t{1} << 40}), Error);
  EXPECT_THROW(Tensor::empty({int64_t{1} << 62}), Error);  // too large to allocate
  EXPECT_THROW(Tensor::from_vector<float>({3}, {1, 2}), Error);
  EXPECT_THROW(Tensor::zeros({2}).reshape({3}), Error);
}

TEST(Tensor, WrongDtypeAccessIsAnError) {
  Tensor t({2}, DType::kInt64);
  EXPECT_THROW(t.data<float>(), Error);
  EXPECT_THROW(Tensor().raw_data(), Error);
}

TEST(Tensor, ConversionsRoundAndSaturate) {
  Tensor f = Tensor::from_vector<float>({5}, {1.5f, -2.7f, 300.f, std::nanf(""), -1e10f});
  EXPECT_EQ(f.to(DType::kInt8).to_vector<int>(), (std::vector<int>{1, -2, 127, 0, -128}));
  EXPECT_EQ(f.to(DType::kUInt8).to_vector<int>(), (std::vector<int>{1, 0, 255, 0, 0}));
  EXPECT_EQ(f.to(DType::kBool).to_vector<int>(), (std::vector<int>{1, 1, 1, 1, 1}));
}

TEST(Tensor, HalfAndBFloat16RoundToNearestEven) {
  // 1 + 2^-11 is exactly halfway between two halves: ties to even (1.0).
  EXPECT_EQ(half_to_float(float_to_half(1.0f + 0x1.0p-11f)), 1.0f);
  EXPECT_EQ(half_to_float(float_to_half(1.0f + 3 * 0x1.0p-11f)), 1.0f + 0x1.0p-9f);
  EXPECT_EQ(half_to_float(float_to_half(65504.0f)), 65504.0f);
  EXPECT_TRUE(std::isinf(half_to_float(float_to_half(70000.0f))));
  EXPECT_EQ(half_to_float(float_to_half(0x1.0p-24f)), 0x1.0p-24f);  // smallest subnormal
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(std::nanf("")))));
  EXPECT_EQ(bfloat16_to_float(float_to_bfloat16(1.0f + 0x1.0p-8f)), 1.0f);
  EXPECT_EQ(bfloat16_to_float(float_to_bfloat16(1.0f + 3 * 0x1.0p-8f)), 1.0f + 0x1.0p-6f);
}

TEST(TensorMath, SumToReducesBroadcastDims) {
  Tensor t = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(sum_to(t, {3}).to_vector<float>(), (std::vector<float>{5, 7, 9}));
  EXPECT_EQ(sum_to(t, {2, 1}).to_vector<float>(), (std::vector<float>{6, 15}));
  EXPECT_EQ(sum_to(t, {}).to_vector<float>(), (std::vector<float>{21}));
  EXPECT_EQ(sum_to(t, {1, 1}).to_vector<float>(), (std::vector<float>{21}));
  EXPECT_THROW(sum_to(t, {2}), Error);
}

TEST(TensorMath, AllFinite) {
  EXPECT_TRUE(all_finite(Tensor::ones({3})));
  Tensor t = Tensor::ones({3});
  t.data<float>()[1] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(all_finite(t));
}

TEST(Shape, BroadcastAndAxes) {
  EXPECT_EQ(broadcast_shapes({64, 1, 5}, {7, 1}), Shape({64, 7, 5}));
  EXPECT_THROW(broadcast_shapes({2, 3}, {4}), Error);
  EXPECT_EQ(normalize_axis(-1, 4), 3);
  EXPECT_THROW(normalize_axis(4, 4), Error);
}

TEST(Shape, BroadcastOffsetWalksTheOperandAsNumpyBroadcastingDoes) {
  // Every element of out = [2, 3, 4] against a [3, 1] operand: reads own[j][0] at out[., j, .].
  const Shape out = {2, 3, 4}, own = {3, 1};
  for (int64_t i = 0; i < numel(out); ++i) {
    EXPECT_EQ(broadcast_offset(i, out, own), (i / 4) % 3) << i;
  }
  for (int64_t i = 0; i < 12; ++i) {
    EXPECT_EQ(broadcast_offset(i, {4, 3}, {3}), i % 3);
    EXPECT_EQ(broadcast_offset(i, {4, 3}, {4, 1}), i / 3);
    EXPECT_EQ(broadcast_offset(i, {4, 3}, {4, 3}), i);
    EXPECT_EQ(broadcast_offset(i, {4, 3}, {}), 0);
  }
}

}  // namespace
}  // namespace tamp

#include <tamp/autograd/allocator.h>

namespace tamp {
namespace {

TEST(BufferCache, LargeBuffersAreReusedAndTheLimitHolds) {
  if (!buffer_cache_enabled()) GTEST_SKIP() << "sanitized build: the cache is bypassed on purpose";
  release_cached_buffers();
  const auto before = buffer_cache_stats();
  { Tensor a({1 << 18}); }  // 1 MiB, back to the cache
  EXPECT_GE(buffer_cache_stats().cached_bytes, size_t{1} << 20);
  { Tensor b({1 << 18}); }  // served from it
  EXPECT_EQ(buffer_cache_stats().hits, before.hits + 1);
  set_buffer_cache_limit(size_t{1} << 19);  // below one buffer: trimmed, nothing kept
  EXPECT_EQ(buffer_cache_stats().cached_bytes, 0u);
  { Tensor c({1 << 18}); }
  EXPECT_EQ(buffer_cache_stats().cached_bytes, 0u);
  set_buffer_cache_limit(size_t{1} << 30);
}

TEST(BufferCache, ReusedBuffersStillZeroFill) {
  { Tensor a = Tensor::full({1 << 18}, 7.0); }
  Tensor b({1 << 18});
  for (int64_t i = 0; i < b.numel(); i += 4099) ASSERT_EQ(b.data<float>()[i], 0.0f);
}

}  // namespace
}  // namespace tamp
