// Gradient cases for conv.cpp and conv_transpose.cpp: every attribute path of the kernels
// (im2col with strides, pads, dilations, groups; the 1x1 path without im2col; 1-D and 3-D;
// the direct kernel, taken when C/group * kernel <= 32 and the stride along W is 1; the
// implicit GEMM for unit strides; the gradient test runs with two threads, so batch >= 2).
#include "autograd/gradcheck.h"

namespace tamp::test {

namespace {
using Ints = std::vector<int64_t>;
}

TAMP_GRAD_CASES(conv_cases) {
  return {
      {.op = "Conv",
       .inputs = {uniform({2, 3, 5, 5}, -1, 1, 1), uniform({4, 3, 3, 3}, -1, 1, 2), uniform({4}, -1, 1, 3)},
       .attrs = {{"pads", Ints{1, 1, 1, 1}}},
       .label = "pads_bias"},
      {.op = "Conv",
       .inputs = {uniform({1, 2, 7, 6}, -1, 1, 4), uniform({3, 2, 3, 2}, -1, 1, 5)},
       .attrs = {{"strides", Ints{2, 2}}, {"pads", Ints{1, 0, 0, 1}}},
       .label = "strides_asymmetric_pads_no_bias"},
      {.op = "Conv",
       .inputs = {uniform({1, 2, 7, 7}, -1, 1, 6), uniform({2, 2, 3, 3}, -1, 1, 7), uniform({2}, -1, 1, 8)},
       .attrs = {{"dilations", Ints{2, 1}}, {"pads", Ints{2, 1, 1, 0}}, {"strides", Ints{1, 2}}},
       .label = "dilations"},
      {.op = "Conv",
       .inputs = {uniform({2, 4, 5, 5}, -1, 1, 9), uniform({6, 2, 3, 3}, -1, 1, 10), uniform({6}, -1, 1, 11)},
       .attrs = {{"group", int64_t{2}}, {"pads", Ints{1, 1, 1, 1}}},
       .label = "groups"},
      {.op = "Conv",
       .inputs = {uniform({2, 3, 5, 5}, -1, 1, 12), uniform({6, 1, 3, 3}, -1, 1, 13), uniform({6}, -1, 1, 14)},
       .attrs = {{"group", int64_t{3}}, {"strides", Ints{2, 1}}},
       .label = "depthwise"},
      {.op = "Conv",
       .inputs = {uniform({2, 3, 9}, -1, 1, 15), uniform({4, 3, 3}, -1, 1, 16), uniform({4}, -1, 1, 17)},
       .attrs = {{"strides", Ints{2}}, {"pads", Ints{1, 2}}},
       .label = "1d"},
      {.op = "Conv",
       .inputs = {uniform({2, 2, 4, 5, 4}, -1, 1, 18), uniform({3, 2, 2, 3, 2}, -1, 1, 19),
                  uniform({3}, -1, 1, 20)},
       .attrs = {{"pads", Ints{1, 0, 1, 0, 1, 0}}, {"strides", Ints{1, 2, 1}}, {"dilations", Ints{1, 1, 2}}},
       .label = "3d"},
      {.op = "Conv",
       .inputs = {uniform({1, 2, 6, 5}, -1, 1, 21), uniform({3, 2, 3, 3}, -1, 1, 22), uniform({3}, -1, 1, 23)},
       .attrs = {{"auto_pad", std::string("SAME_UPPER")}, {"strides", Ints{2, 2}}},
       .label = "same_upper"},
      {.op = "Conv",
       .inputs = {uniform({1, 2, 6, 5}, -1, 1, 24), uniform({3, 2, 2, 2}, -1, 1, 25)},
       .attrs = {{"auto_pad", std::string("SAME_LOWER")}},
       .label = "same_lower"},
      {.op = "Conv",
       .inputs = {uniform({2, 4, 3, 3}, -1, 1, 26), uniform({6, 2, 1, 1}, -1, 1, 27), uniform({6}, -1, 1, 28)},
       .attrs = {{"group", int64_t{2}}},
       .label = "pointwise_groups"},
      {.op = "Conv",
       .inputs = {uniform({2, 1, 6, 6}, -1, 1, 29), uniform({4, 1, 3, 3}, -1, 1, 30), uniform({4}, -1, 1, 31)},
       .wrt = {1, 2},
       .label = "first_layer_no_input_grad"},
      // The direct kernel (reduction <= 32, unit stride along W) with a row stride, dilations
      // and asymmetric pads; then im2col with groups (reduction 36) and 1x1 without im2col.
      {.op = "Conv",
       .inputs = {uniform({2, 2, 7, 8}, -1, 1, 32), uniform({3, 2, 3, 3}, -1, 1, 33), uniform({3}, -1, 1, 34)},
       .attrs = {{"dilations", Ints{2, 2}}, {"pads", Ints{2, 1, 0, 3}}, {"strides", Ints{2, 1}}},
       .label = "direct_dilated_row_stride"},
      {.op = "Conv",
       .inputs = {uniform({2, 8, 5, 5}, -1, 1, 35), uniform({4, 4, 3, 3}, -1, 1, 36), uniform({4}, -1, 1, 37)},
       .attrs = {{"group", int64_t{2}}, {"pads", Ints{1, 1, 1, 1}}},
       .label = "im2col_groups"},
      {.op = "Conv",
       .inputs = {uniform({2, 40, 3, 2}, -1, 1, 38), uniform({5, 40, 1, 1}, -1, 1, 39), uniform({5}, -1, 1, 40)},
       .label = "pointwise_gemm"},
      // Unit strides, reduction > 32: the implicit GEMM, with dilations and asymmetric pads.
      {.op = "Conv",
       .inputs = {uniform({2, 4, 7, 8}, -1, 1, 62), uniform({3, 4, 3, 3}, -1, 1, 63), uniform({3}, -1, 1, 64)},
       .attrs = {{"dilations", Ints{2, 1}}, {"pads", Ints{1, 2, 0, 1}}},
       .label = "implicit_dilated"},
  };
}

TAMP_GRAD_CASES(conv_transpose_cases) {
  return {
      {.op = "ConvTranspose",
       .inputs = {uniform({2, 2, 3, 3}, -1, 1, 41), uniform({2, 3, 3, 3}, -1, 1, 42), uniform({3}, -1, 1, 43)},
       .label = "basic"},
      {.op = "ConvTranspose",
       .inputs = {uniform({1, 2, 3, 4}, -1, 1, 44), uniform({2, 2, 3, 3}, -1, 1, 45), uniform({2}, -1, 1, 46)},
       .attrs = {{"strides", Ints{2, 3}}, {"output_padding", Ints{1, 2}}, {"pads", Ints{1, 0, 0, 1}}},
       .label = "strides_output_padding"},
      {.op = "ConvTranspose",
       .inputs = {uniform({2, 4, 3, 3}, -1, 1, 47), uniform({4, 3, 2, 2}, -1, 1, 48), uniform({6}, -1, 1, 49)},
       .attrs = {{"group", int64_t{2}}, {"strides", Ints{2, 2}}},
       .label = "groups"},
      {.op = "ConvTranspose",
       .inputs = {uniform({1, 1, 3, 3}, -1, 1, 50), uniform({1, 2, 3, 3}, -1, 1, 51)},
       .attrs = {{"strides", Ints{3, 2}}, {"output_shape", Ints{10, 8}}},
       .label = "output_shape"},
      {.op = "ConvTranspose",
       .inputs = {uniform({1, 2, 3, 3}, -1, 1, 52), uniform({2, 2, 3, 3}, -1, 1, 53)},
       .attrs = {{"strides", Ints{2, 2}}, {"auto_pad", std::string("SAME_UPPER")}},
       .label = "same_upper"},
      {.op = "ConvTranspose",
       .inputs = {uniform({2, 2, 4}, -1, 1, 54), uniform({2, 3, 2}, -1, 1, 55), uniform({3}, -1, 1, 56)},
       .attrs = {{"dilations", Ints{2}}, {"pads", Ints{1, 0}}},
       .label = "1d_dilations"},
      {.op = "ConvTranspose",
       .inputs = {uniform({2, 3, 4, 4}, -1, 1, 59), uniform({3, 4, 3, 3}, -1, 1, 60), uniform({4}, -1, 1, 61)},
       .attrs = {{"pads", Ints{1, 0, 0, 1}}},
       .label = "implicit"},
      {.op = "ConvTranspose",
       .inputs = {uniform({1, 2, 2, 3, 2}, -1, 1, 57), uniform({2, 2, 2, 2, 2}, -1, 1, 58)},
       .attrs = {{"strides", Ints{1, 2, 1}}},
       .label = "3d"},
  };
}

}  // namespace tamp::test
