// Gradient cases for pool.cpp and global_pool.cpp. MaxPool inputs are shuffled multiples of
// 0.05, so every window has one clear maximum and central differences never swap it.
#include "autograd/gradcheck.h"

#include <numeric>

namespace tamp::test {

namespace {

Tensor distinct(const Shape& shape, uint64_t seed) {
  Tensor t = Tensor::empty(shape, DType::kFloat64);
  std::vector<int64_t> order(static_cast<size_t>(t.numel()));
  std::iota(order.begin(), order.end(), 0);
  Generator g(seed);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[g.below(i)]);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<double>()[i] = 0.05 * static_cast<double>(order[i]) - 1;
  return t;
}

using Ints = std::vector<int64_t>;

}  // namespace

TAMP_GRAD_CASES(max_pool_cases) {
  return {
      {.op = "MaxPool",
       .inputs = {distinct({2, 3, 6, 6}, 1)},
       .attrs = {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}},
       .label = "2x2"},
      // Full 2x2 windows take a fast path, the windows ceil_mode cuts at the end do not.
      {.op = "MaxPool",
       .inputs = {distinct({2, 2, 7, 5}, 6)},
       .attrs = {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}, {"ceil_mode", int64_t{1}}},
       .label = "2x2_ceil_odd"},
      {.op = "MaxPool",
       .inputs = {distinct({1, 2, 7, 7}, 2)},
       .attrs = {{"kernel_shape", Ints{3, 3}},
                 {"strides", Ints{2, 2}},
                 {"pads", Ints{1, 1, 1, 1}},
                 {"ceil_mode", int64_t{1}}},
       .label = "pads_ceil"},
      {.op = "MaxPool",
       .inputs = {distinct({2, 2, 9}, 3)},
       .attrs = {{"kernel_shape", Ints{3}}, {"dilations", Ints{2}}, {"pads", Ints{2, 1}}},
       .label = "1d_dilated"},
      {.op = "MaxPool",
       .inputs = {distinct({1, 2, 3, 4, 4}, 4)},
       .attrs = {{"kernel_shape", Ints{2, 2, 2}}, {"strides", Ints{1, 2, 1}}},
       .label = "3d"},
      {.op = "MaxPool",
       .inputs = {distinct({1, 2, 5, 6}, 5)},
       .attrs = {{"kernel_shape", Ints{3, 2}},
                 {"strides", Ints{2, 2}},
                 {"auto_pad", std::string("SAME_UPPER")},
                 {"storage_order", int64_t{1}}},
       .label = "same_upper_column_major"},
  };
}

TAMP_GRAD_CASES(average_pool_cases) {
  return {
      {.op = "AveragePool",
       .inputs = {uniform({2, 2, 7, 5}, -1, 1, 5)},
       .attrs = {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}, {"ceil_mode", int64_t{1}}},
       .label = "2x2_ceil_odd"},
      {.op = "AveragePool",
       .inputs = {uniform({2, 2, 6, 6}, -1, 1, 6)},
       .attrs = {{"kernel_shape", Ints{3, 3}},
                 {"strides", Ints{2, 2}},
                 {"pads", Ints{1, 1, 1, 1}},
                 {"ceil_mode", int64_t{1}}},
       .label = "pads_ceil"},
      {.op = "AveragePool",
       .inputs = {uniform({2, 2, 6, 6}, -1, 1, 7)},
       .attrs = {{"kernel_shape", Ints{3, 3}},
                 {"strides", Ints{2, 2}},
                 {"pads", Ints{1, 1, 1, 1}},
                 {"ceil_mode", int64_t{1}},
                 {"count_include_pad", int64_t{1}}},
       .label = "pads_ceil_count_include_pad"},
      {.op = "AveragePool",
       .inputs = {uniform({2, 3, 8}, -1, 1, 8)},
       .attrs = {{"kernel_shape", Ints{3}}, {"strides", Ints{2}}},
       .label = "1d"},
      {.op = "AveragePool",
       .inputs = {uniform({1, 2, 4, 3, 5}, -1, 1, 9)},
       .attrs = {{"kernel_shape", Ints{2, 2, 3}}, {"pads", Ints{0, 1, 1, 1, 0, 1}}},
       .label = "3d_pads"},
      {.op = "AveragePool",
       .inputs = {uniform({1, 2, 5, 5}, -1, 1, 10)},
       .attrs = {{"kernel_shape", Ints{2, 2}}, {"auto_pad", std::string("SAME_LOWER")}},
       .label = "same_lower"},
  };
}

TAMP_GRAD_CASES(global_pool_cases) {
  return {
      {.op = "GlobalAveragePool", .inputs = {uniform({2, 3, 4, 5}, -1, 1, 11)}},
      {.op = "GlobalAveragePool", .inputs = {uniform({2, 3, 7}, -1, 1, 12)}, .label = "1d"},
      {.op = "GlobalMaxPool", .inputs = {distinct({2, 3, 4, 5}, 13)}},
  };
}

TAMP_GRAD_CASES(resize_cases) {
  const Tensor none;
  auto scales = [](std::vector<float> v) {
    return Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
  };
  return {
      {.op = "Resize",
       .inputs = {uniform({1, 2, 3, 4}, -1, 1, 1), none, scales({1, 1, 2, 1.5f})},
       .attrs = {{"mode", std::string("linear")}},
       .wrt = {0},
       .label = "linear_half_pixel"},
      {.op = "Resize",
       .inputs = {uniform({1, 1, 4, 3}, -1, 1, 2), none, none, constant_i64({4}, {1, 1, 3, 5})},
       .attrs = {{"mode", std::string("cubic")},
                 {"coordinate_transformation_mode", std::string("align_corners")}},
       .wrt = {0},
       .label = "cubic_sizes_align_corners"},
      {.op = "Resize",
       .inputs = {uniform({2, 3, 5}, -1, 1, 3), none, scales({2})},
       .attrs = {{"coordinate_transformation_mode", std::string("asymmetric")},
                 {"nearest_mode", std::string("floor")},
                 {"axes", std::vector<int64_t>{-1}}},
       .wrt = {0},
       .label = "nearest_axes",
       .opset = 18},
      {.op = "Resize",
       .inputs = {uniform({1, 1, 7, 6}, -1, 1, 4), none, scales({0.5f, 0.6f})},
       .attrs = {{"mode", std::string("linear")},
                 {"antialias", int64_t{1}},
                 {"axes", std::vector<int64_t>{2, 3}}},
       .wrt = {0},
       .label = "linear_antialias_down",
       .opset = 18},
  };
}

}  // namespace tamp::test
