// Gradient cases for the shape, indexing and selection ops: reshape.cpp, transpose.cpp,
// concat_split.cpp, slice.cpp, gather.cpp, expand.cpp, pad.cpp, where.cpp, clip.cpp, cast.cpp.
#include "autograd/gradcheck.h"

#include <limits>

namespace tamp::test {

namespace {
Tensor bools(const Shape& shape, std::vector<bool> values) {
  return Tensor::from_vector<bool>(shape, values);
}
Tensor scalar(double v) { return Tensor::scalar(v, DType::kFloat64); }
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
}  // namespace

TAMP_GRAD_CASES(reshape_cases) {
  const Tensor x = uniform({2, 3, 4}, -1, 1, 1);
  return {
      {.op = "Reshape", .inputs = {x, constant_i64({2}, {4, -1})}, .label = "infer"},
      {.op = "Reshape", .inputs = {x, constant_i64({3}, {0, 4, 3})}, .label = "copy_dim"},
      {.op = "Flatten", .inputs = {x}, .attrs = {{"axis", int64_t{2}}}},
      {.op = "Flatten", .inputs = {x}, .attrs = {{"axis", int64_t{-3}}}, .label = "axis_0"},
      {.op = "Squeeze", .inputs = {uniform({3, 1, 4, 1}, -1, 1, 2), constant_i64({2}, {1, -1})}},
      {.op = "Squeeze",
       .inputs = {uniform({3, 1, 4, 1}, -1, 1, 3)},
       .attrs = {{"axes", std::vector<int64_t>{3}}},
       .label = "opset11_attribute",
       .opset = 11},
      {.op = "Squeeze", .inputs = {uniform({1, 4, 1}, -1, 1, 4)}, .label = "all_unit_axes"},
      {.op = "Unsqueeze", .inputs = {uniform({3, 4}, -1, 1, 5), constant_i64({2}, {3, 0})}},
      {.op = "Unsqueeze",
       .inputs = {uniform({3, 4}, -1, 1, 6)},
       .attrs = {{"axes", std::vector<int64_t>{-1}}},
       .label = "opset11_attribute",
       .opset = 11},
      {.op = "Identity", .inputs = {uniform({2, 3}, -1, 1, 7)}},
  };
}

TAMP_GRAD_CASES(transpose_cases) {
  return {
      {.op = "Transpose",
       .inputs = {uniform({2, 3, 4}, -1, 1, 1)},
       .attrs = {{"perm", std::vector<int64_t>{1, 2, 0}}}},
      {.op = "Transpose", .inputs = {uniform({2, 3, 4, 5}, -1, 1, 2)}, .label = "default_reverse"},
      {.op = "Transpose",
       .inputs = {uniform({2, 3, 4, 5}, -1, 1, 3)},
       .attrs = {{"perm", std::vector<int64_t>{0, 2, 1, 3}}},
       .label = "heads"},
  };
}

TAMP_GRAD_CASES(concat_split_cases) {
  return {
      {.op = "Concat",
       .inputs = {uniform({2, 1, 3}, -1, 1, 1), uniform({2, 4, 3}, -1, 1, 2),
                  uniform({2, 2, 3}, -1, 1, 3)},
       .attrs = {{"axis", int64_t{1}}},
       .label = "inner_axis"},
      {.op = "Concat",
       .inputs = {uniform({2, 3}, -1, 1, 4), uniform({2, 2}, -1, 1, 5)},
       .attrs = {{"axis", int64_t{-1}}},
       .label = "last_axis"},
      {.op = "Split",
       .inputs = {uniform({4, 6}, -1, 1, 6), constant_i64({3}, {1, 2, 3})},
       .attrs = {{"axis", int64_t{1}}},
       .label = "sizes_input"},
      {.op = "Split",
       .inputs = {uniform({2, 6, 2}, -1, 1, 7)},
       .attrs = {{"axis", int64_t{1}}, {"num_outputs", int64_t{3}}},
       .label = "equal"},
      {.op = "Split",
       .inputs = {uniform({5, 2}, -1, 1, 8)},
       .attrs = {{"num_outputs", int64_t{2}}},
       .label = "uneven"},
      {.op = "Split",
       .inputs = {uniform({3, 5}, -1, 1, 9)},
       .attrs = {{"axis", int64_t{-1}}, {"split", std::vector<int64_t>{4, 1}}},
       .label = "opset11_attribute",
       .opset = 11},
  };
}

TAMP_GRAD_CASES(slice_cases) {
  const Tensor x = uniform({4, 5, 6}, -1, 1, 1);
  return {
      {.op = "Slice",
       .inputs = {x, constant_i64({2}, {1, -1}), constant_i64({2}, {3, -100}),
                  constant_i64({2}, {0, 2}), constant_i64({2}, {1, -2})},
       .label = "negative_step"},
      {.op = "Slice",
       .inputs = {x, constant_i64({1}, {1}), constant_i64({1}, {100})},
       .label = "default_axes"},
      {.op = "Slice",
       .inputs = {x, constant_i64({1}, {-1}), constant_i64({1}, {kMin}), constant_i64({1}, {1}),
                  constant_i64({1}, {-1})},
       .label = "reverse"},
      {.op = "Slice",
       .inputs = {x, constant_i64({2}, {0, 1}), constant_i64({2}, {kMax, 5}),
                  constant_i64({2}, {-1, -3}), constant_i64({2}, {4, 3})},
       .label = "large_steps"},
  };
}

TAMP_GRAD_CASES(gather_cases) {
  return {
      {.op = "Gather",
       .inputs = {uniform({5, 3}, -1, 1, 1), constant_i64({2, 2}, {0, 4, 4, -1})},
       .label = "repeated_indices"},
      {.op = "Gather",
       .inputs = {uniform({2, 4, 3}, -1, 1, 2), Tensor::from_vector<int32_t>({}, {2})},
       .attrs = {{"axis", int64_t{1}}},
       .label = "scalar_index_axis1"},
      {.op = "Gather",
       .inputs = {uniform({3, 4}, -1, 1, 3), constant_i64({3}, {-1, 0, -1})},
       .attrs = {{"axis", int64_t{-1}}},
       .label = "last_axis"},
      {.op = "GatherElements",
       .inputs = {uniform({3, 4}, -1, 1, 4), constant_i64({2, 3}, {0, 3, 3, -1, 1, 1})},
       .attrs = {{"axis", int64_t{1}}},
       .label = "repeated_indices"},
      {.op = "GatherElements",
       .inputs = {uniform({3, 2, 2}, -1, 1, 5), constant_i64({4, 1, 2}, {2, 0, 1, 1, -3, 2, 0, 0})},
       .label = "axis0_more_rows"},
      // Replacing scatters write each element once; adding ones may repeat an index.
      {.op = "ScatterElements",
       .inputs = {uniform({3, 4}, -1, 1, 6), constant_i64({2, 2}, {1, -1, 0, 2}),
                  uniform({2, 2}, -1, 1, 7)},
       .attrs = {{"axis", int64_t{1}}},
       .label = "replace"},
      {.op = "ScatterElements",
       .inputs = {uniform({3, 2}, -1, 1, 8), constant_i64({2, 2}, {2, 0, 2, 0}),
                  uniform({2, 2}, -1, 1, 9)},
       .attrs = {{"reduction", std::string("add")}},
       .label = "add_repeated"},
      {.op = "ScatterND",
       .inputs = {uniform({4, 3}, -1, 1, 10), constant_i64({2, 1}, {3, -4}),
                  uniform({2, 3}, -1, 1, 11)},
       .label = "replace_rows"},
      {.op = "ScatterND",
       .inputs = {uniform({2, 3, 2}, -1, 1, 12), constant_i64({3, 2}, {1, 2, 0, 0, 1, 2}),
                  uniform({3, 2}, -1, 1, 13)},
       .attrs = {{"reduction", std::string("add")}},
       .label = "add_repeated"},
  };
}

TAMP_GRAD_CASES(expand_cases) {
  return {
      {.op = "Expand", .inputs = {uniform({3, 1}, -1, 1, 1), constant_i64({3}, {2, 3, 4})}},
      {.op = "Expand",
       .inputs = {uniform({4}, -1, 1, 2), constant_i64({2}, {3, 1})},
       .label = "bidirectional"},
      {.op = "Tile", .inputs = {uniform({2, 3}, -1, 1, 3), constant_i64({2}, {2, 3})}},
      {.op = "Tile",
       .inputs = {uniform({2, 1, 3}, -1, 1, 4), constant_i64({3}, {1, 4, 2})},
       .label = "unit_dim"},
  };
}

TAMP_GRAD_CASES(pad_cases) {
  const Tensor x = uniform({3, 4}, -1, 1, 1);
  return {
      {.op = "Pad",
       .inputs = {x, constant_i64({4}, {1, 0, 2, 1}), scalar(0.5)},
       .wrt = {0},
       .label = "constant"},
      {.op = "Pad", .inputs = {x, constant_i64({4}, {1, -1, 0, 2})}, .label = "negative_pads"},
      {.op = "Pad",
       .inputs = {x, constant_i64({4}, {2, 3, 2, 3})},
       .attrs = {{"mode", std::string("reflect")}},
       .label = "reflect"},
      {.op = "Pad",
       .inputs = {x, constant_i64({4}, {1, 2, 3, 1})},
       .attrs = {{"mode", std::string("edge")}},
       .label = "edge"},
      {.op = "Pad",
       .inputs = {uniform({2, 2, 3}, -1, 1, 2)},
       .attrs = {{"pads", std::vector<int64_t>{0, 0, 1, 0, 1, 2}}, {"value", 1.5f}},
       .label = "opset2_attributes",
       .opset = 10},
  };
}

TAMP_GRAD_CASES(where_clip_cast_cases) {
  const std::vector<double> kinks{-0.5, 0.5};
  return {
      {.op = "Where",
       .inputs = {bools({3, 1}, {true, false, true}), uniform({1, 4}, -1, 1, 1),
                  uniform({3, 4}, -1, 1, 2)}},
      {.op = "Where",
       .inputs = {bools({2, 3}, {true, false, false, true, true, false}), uniform({2, 3}, -1, 1, 3),
                  scalar(0.25)},
       .label = "scalar_y"},
      {.op = "Clip",
       .inputs = {uniform({3, 4}, -1, 1, 4, 0.05, kinks), scalar(-0.5), scalar(0.5)},
       .wrt = {0}},
      {.op = "Clip",
       .inputs = {uniform({3, 4}, -1, 1, 5, 0.05, kinks), scalar(-0.5)},
       .wrt = {0},
       .label = "min_only"},
      {.op = "Clip",
       .inputs = {uniform({3, 4}, -1, 1, 6, 0.05, kinks)},
       .attrs = {{"min", -0.5f}, {"max", 0.5f}},
       .label = "opset6_attributes",
       .opset = 6},
      {.op = "Cast", .inputs = {uniform({2, 3}, -1, 1, 7)}, .attrs = {{"to", int64_t{11}}}},
      {.op = "CastLike", .inputs = {uniform({2, 3}, -1, 1, 8), scalar(0)}, .wrt = {0}},
  };
}

}  // namespace tamp::test
