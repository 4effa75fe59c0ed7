// What opsets 18-21 added or changed, one node each, run by tamp and by ONNX Runtime (which
// implements them; onnx 1.12's node tests predate them): Gelu, Mish, GroupNormalization (per
// group at 18, per channel at 21), AveragePool's dilations, Reduce axes as an input, bool
// ReduceMax, Split's num_outputs, Pad's axes input and wrap mode, 16-bit and output_dtype
// QuantizeLinear, Cast's saturate attribute, Resize's axes, antialias, keep_aspect_ratio_policy
// and half_pixel_symmetric. Each graph goes through tamp's exporter and
// importer as a user's file would.
#include "support/ort_runner.h"
#include "support/temp_dir.h"

#include <tamp/autograd/random.h>
#include <tamp/autograd/variable.h>
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>

#include <gtest/gtest.h>

#include <cmath>

namespace tamp::test {
namespace {

using nn::Dim;

struct Case {
  std::string name;
  int opset;
  std::string op;
  Attributes attrs;
  std::vector<std::pair<std::string, Tensor>> inputs;          // graph inputs, in order
  std::vector<std::pair<std::string, Tensor>> constants = {};  // initializers after the inputs
  std::vector<std::pair<std::string, Shape>> outputs = {{"y", {}}};
  DType output_dtype = DType::kFloat32;
};

Tensor uniform(const Shape& shape, uint64_t seed, float lo = -2, float hi = 2) {
  Generator g(seed);
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = lo + (hi - lo) * g.uniform();
  return t;
}

Tensor f32(std::vector<float> v) {
  return Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
}
Tensor i64(std::vector<int64_t> v) {
  return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
}

std::vector<Dim> dims(const Shape& s) {
  std::vector<Dim> d;
  for (int64_t v : s) d.push_back(Dim::of(v));
  return d;
}

nn::Graph graph_of(const Case& c) {
  nn::Graph g;
  g.opsets = {{"", c.opset}};
  std::vector<std::string> names;
  for (const auto& [name, t] : c.inputs) {
    g.inputs.push_back({name, t.dtype(), dims(t.shape())});
    names.push_back(name);
  }
  for (const auto& [name, t] : c.constants) {
    names.push_back(t.defined() ? name : "");  // undefined: an optional input left out
    if (t.defined()) g.initializers[name] = t;
  }
  std::vector<std::string> outs;
  for (const auto& [name, shape] : c.outputs) {
    g.outputs.push_back({name, c.output_dtype, dims(shape)});
    outs.push_back(name);
  }
  g.nodes.push_back({"node", c.op, "", names, outs, nn::attrs_with(c.attrs)});
  return g;
}

class OpsetChanges : public ::testing::TestWithParam<Case> {};

TEST_P(OpsetChanges, TampMatchesOnnxRuntime) {
  const Case& c = GetParam();
  TempDir dir;
  const std::string path = dir.file(c.name + ".onnx");
  io::save_onnx_graph(graph_of(c), path);
  nn::GraphModule m = io::load_onnx(path);
  m.eval();
  std::map<std::string, Variable> feed;
  std::map<std::string, Tensor> ort_feed;
  for (const auto& [name, t] : c.inputs) {
    feed[name] = Variable(t);
    ort_feed[name] = t;
  }
  std::map<std::string, Variable> mine;
  {
    NoGradGuard no_grad;
    mine = m.forward(feed);
  }
  const auto ort = run_ort(path, ort_feed);
  for (const auto& [name, shape] : c.outputs) {
    SCOPED_TRACE("output " + name);
    const Tensor& got = mine.at(name).value();
    const Tensor& want = ort.at(name);
    ASSERT_EQ(got.shape(), want.shape());
    ASSERT_EQ(got.dtype(), want.dtype());
    for (int64_t i = 0; i < want.numel(); ++i) {
      ASSERT_NEAR(got.at(i), want.at(i), 1e-5 + 1e-5 * std::abs(want.at(i))) << "element " << i;
    }
  }
}

Attributes attrs(std::initializer_list<std::pair<const std::string, AttributeValue>> a) {
  return Attributes(a);
}

std::vector<Case> cases() {
  const Tensor x = uniform({2, 4, 3, 3}, 1);
  Tensor flags = Tensor::empty({2, 3}, DType::kBool);
  for (int64_t i = 0; i < 6; ++i) flags.data<bool>()[i] = i == 1 || i == 5;
  return {
      {"gelu", 20, "Gelu", {}, {{"x", uniform({3, 5}, 2, -4, 4)}}, {}, {{"y", {3, 5}}}},
      {"gelu_tanh",
       20,
       "Gelu",
       attrs({{"approximate", std::string("tanh")}}),
       {{"x", uniform({3, 5}, 3, -4, 4)}},
       {},
       {{"y", {3, 5}}}},
      {"mish", 18, "Mish", {}, {{"x", uniform({3, 5}, 4, -4, 4)}}, {}, {{"y", {3, 5}}}},
      {"group_norm_per_group",
       18,
       "GroupNormalization",
       attrs({{"num_groups", int64_t{2}}}),
       {{"x", x}, {"scale", uniform({2}, 5, 0.5, 1.5)}, {"bias", uniform({2}, 6)}},
       {},
       {{"y", {2, 4, 3, 3}}}},
      {"group_norm_per_channel",
       21,
       "GroupNormalization",
       attrs({{"num_groups", int64_t{2}}, {"epsilon", 1e-3f}}),
       {{"x", x}, {"scale", uniform({4}, 7, 0.5, 1.5)}, {"bias", uniform({4}, 8)}},
       {},
       {{"y", {2, 4, 3, 3}}}},
      {"average_pool_dilations",
       19,
       "AveragePool",
       attrs({{"kernel_shape", std::vector<int64_t>{2, 2}},
              {"dilations", std::vector<int64_t>{2, 2}},
              {"pads", std::vector<int64_t>{1, 1, 1, 1}}}),
       {{"x", uniform({1, 2, 7, 7}, 9)}},
       {},
       {{"y", {1, 2, 7, 7}}}},
      {"average_pool_dilations_count_pad",
       19,
       "AveragePool",
       attrs({{"kernel_shape", std::vector<int64_t>{3, 2}},
              {"dilations", std::vector<int64_t>{2, 3}},
              {"strides", std::vector<int64_t>{2, 1}},
              {"pads", std::vector<int64_t>{2, 1, 2, 1}},
              {"count_include_pad", int64_t{1}}}),
       {{"x", uniform({1, 2, 7, 6}, 10)}},
       {},
       {{"y", {1, 2, 4, 5}}}},
      {"reduce_mean_axes_input",
       18,
       "ReduceMean",
       attrs({{"keepdims", int64_t{0}}}),
       {{"x", x}},
       {{"axes", i64({1, -1})}},
       {{"y", {2, 3}}}},
      {"reduce_l2_no_axes_noop",
       18,
       "ReduceL2",
       attrs({{"noop_with_empty_axes", int64_t{1}}}),
       {{"x", uniform({2, 3}, 11)}},
       {},
       {{"y", {2, 3}}}},
      {"reduce_max_bool",
       20,
       "ReduceMax",
       attrs({{"keepdims", int64_t{0}}}),
       {{"x", flags}},
       {{"axes", i64({1})}},
       {{"y", {2}}},
       DType::kBool},
      {"split_num_outputs",
       18,
       "Split",
       attrs({{"axis", int64_t{1}}, {"num_outputs", int64_t{3}}}),
       {{"x", uniform({2, 7}, 12)}},
       {},
       {{"a", {2, 3}}, {"b", {2, 3}}, {"c", {2, 1}}}},
      {"pad_axes_input",
       18,
       "Pad",
       attrs({{"mode", std::string("reflect")}}),
       {{"x", uniform({2, 3, 4}, 13)}},
       {{"pads", i64({1, 1, 0, 1})}, {"value", Tensor()}, {"axes", i64({2, 0})}},
       {{"y", {4, 3, 5}}}},
      {"pad_wrap",
       19,
       "Pad",
       attrs({{"mode", std::string("wrap")}}),
       {{"x", uniform({2, 3}, 14)}},
       {{"pads", i64({0, 2, 1, 3})}},
       {{"y", {3, 8}}}},
      {"quantize_int16",
       21,
       "QuantizeLinear",
       {},
       {{"x", uniform({2, 5}, 15, -300, 300)}},
       {{"scale", Tensor::scalar(0.01)}, {"zero_point", Tensor::full({}, -7, DType::kInt16)}},
       {{"y", {2, 5}}},
       DType::kInt16},
      {"dequantize_uint16",
       21,
       "DequantizeLinear",
       attrs({{"axis", int64_t{1}}}),
       {{"x", Tensor::from_vector<uint16_t>({2, 3}, {0, 1, 40000, 65535, 7, 300})}},
       {{"scale", f32({0.5f, 0.25f, 2})},
        {"zero_point", Tensor::from_vector<uint16_t>({3}, {3, 40000, 0})}},
       {{"y", {2, 3}}}},
      {"quantize_output_dtype",
       21,
       "QuantizeLinear",
       attrs({{"output_dtype", int64_t{3}}}),
       {{"x", uniform({2, 5}, 16)}},
       {{"scale", Tensor::scalar(0.02)}},
       {{"y", {2, 5}}},
       DType::kInt8},
      {"resize_linear_antialias_axes",
       18,
       "Resize",
       attrs({{"mode", std::string("linear")},
              {"antialias", int64_t{1}},
              {"axes", std::vector<int64_t>{3, 2}}}),
       {{"x", uniform({1, 2, 9, 8}, 18)}},
       {{"roi", Tensor()}, {"scales", f32({0.5f, 0.6f})}},
       {{"y", {1, 2, 5, 4}}}},
      {"resize_cubic_antialias_sizes_not_larger",
       18,
       "Resize",
       attrs({{"mode", std::string("cubic")},
              {"antialias", int64_t{1}},
              {"keep_aspect_ratio_policy", std::string("not_larger")},
              {"axes", std::vector<int64_t>{2, 3}}}),
       {{"x", uniform({1, 1, 9, 7}, 19)}},
       {{"roi", Tensor()}, {"scales", Tensor()}, {"sizes", i64({4, 6})}},
       {{"y", {1, 1, 4, 3}}}},
      {"resize_half_pixel_symmetric",
       19,
       "Resize",
       attrs({{"mode", std::string("linear")},
              {"coordinate_transformation_mode", std::string("half_pixel_symmetric")}}),
       {{"x", uniform({1, 1, 4, 5}, 20)}},
       {{"roi", Tensor()}, {"scales", f32({1, 1, 1.7f, 2.3f})}},
       {{"y", {1, 1, 6, 11}}}},
      {"resize_nearest_not_smaller_axes",
       18,
       "Resize",
       attrs({{"keep_aspect_ratio_policy", std::string("not_smaller")},
              {"axes", std::vector<int64_t>{1, 2}}}),
       {{"x", uniform({2, 3, 4}, 21)}},
       {{"roi", Tensor()}, {"scales", Tensor()}, {"sizes", i64({5, 2})}},
       {{"y", {2, 5, 7}}}},
      {"cast_saturate",
       19,
       "Cast",
       attrs({{"to", int64_t{6}}, {"saturate", int64_t{1}}}),
       {{"x", uniform({2, 5}, 17, -100, 100)}},
       {},
       {{"y", {2, 5}}},
       DType::kInt32},
  };
}

INSTANTIATE_TEST_SUITE_P(Ops, OpsetChanges, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace tamp::test
