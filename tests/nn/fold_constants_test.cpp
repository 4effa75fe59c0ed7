// Constant folding on graphs shaped like PyTorch's exports.
#include <tamp/autograd/variable.h>
#include <tamp/nn/fold_constants.h>
#include <tamp/nn/graph_module.h>

#include <gtest/gtest.h>

namespace tamp::nn {
namespace {

Node node(std::string name, std::string op, std::vector<std::string> in,
          std::vector<std::string> out, Attributes attrs = {}) {
  return {std::move(name), std::move(op),  "",
          std::move(in),   std::move(out), attrs_with(std::move(attrs))};
}

Node constant(std::string out, Tensor value) {
  return node(out + "_node", "Constant", {}, {out}, Attributes{{"value", std::move(value)}});
}

// torch.onnx (opset 13) for x.view(x.size(0), -1):
//   Shape(x) -> Gather(0) -> Unsqueeze(axes=[0]) -> Concat(., [-1]) -> Reshape(x, .)
Graph view_graph(Dim batch) {
  Graph g;
  g.inputs.push_back({"x", DType::kFloat32, {batch, Dim::of(3), Dim::of(4)}});
  g.nodes = {
      node("shape", "Shape", {"x"}, {"s"}),
      constant("zero", Tensor::scalar(0, DType::kInt64)),
      node("gather", "Gather", {"s", "zero"}, {"n"}, Attributes{{"axis", int64_t{0}}}),
      constant("axes", Tensor::from_vector<int64_t>({1}, {0})),
      node("unsqueeze", "Unsqueeze", {"n", "axes"}, {"n1"}),
      constant("minus_one", Tensor::from_vector<int64_t>({1}, {-1})),
      node("concat", "Concat", {"n1", "minus_one"}, {"target"}, Attributes{{"axis", int64_t{0}}}),
      node("reshape", "Reshape", {"x", "target"}, {"y"}),
  };
  g.outputs.push_back({"y", DType::kFloat32, {}, false});
  g.value_info.push_back({"target", DType::kInt64, {Dim::of(2)}});
  g.validate();
  return g;
}

Tensor iota(const Shape& shape) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i) * 0.5f;
  return t;
}

TEST(FoldConstants, ViewChainWithKnownDimsBecomesOneReshape) {
  Graph g = view_graph(Dim::of(2));
  const FoldStats s = fold_constants(g);
  EXPECT_EQ(s.folded_nodes, 7);
  EXPECT_EQ(s.added_initializers, 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op_type, "Reshape");
  ASSERT_TRUE(g.initializers.count("target"));
  EXPECT_EQ(g.initializers.at("target").to_vector<int64_t>(), (std::vector<int64_t>{2, -1}));
  EXPECT_EQ(g.value_info.size(), 1u);  // 'target' is still defined (as an initializer)

  GraphModule m(g);
  EXPECT_TRUE(m.named_parameters().empty());
  const Variable y = m.forward(Variable(iota({2, 3, 4})));
  EXPECT_EQ(y.shape(), (Shape{2, 12}));
  EXPECT_EQ(y.value().at(13), 6.5);
}

TEST(FoldConstants, SymbolicBatchKeepsTheShapeArithmetic) {
  Graph g = view_graph(Dim::symbolic("batch"));
  const FoldStats s = fold_constants(g);
  EXPECT_EQ(s.folded_nodes, 3);  // only the three Constant nodes
  std::vector<std::string> ops;
  for (const auto& n : g.nodes) ops.push_back(n.op_type);
  EXPECT_EQ(ops, (std::vector<std::string>{"Shape", "Gather", "Unsqueeze", "Concat", "Reshape"}));
  EXPECT_EQ(g.initializers.size(), 3u);
  GraphModule m(g);
  EXPECT_EQ(m.forward(Variable(iota({5, 3, 4}))).shape(), (Shape{5, 12}));
}

TEST(FoldConstants, FloatConstantReadByADifferentiableInputStaysANode) {
  // y = x * 0.125 (attention scaling): folding the Constant into an initializer would make
  // the scale a trainable parameter.
  Graph g;
  g.inputs.push_back({"x", DType::kFloat32, {Dim::of(2)}});
  g.nodes = {constant("scale", Tensor::scalar(0.125)), node("mul", "Mul", {"x", "scale"}, {"y"})};
  g.outputs.push_back({"y", DType::kFloat32, {Dim::of(2)}});
  g.validate();
  const FoldStats s = fold_constants(g);
  EXPECT_EQ(s.folded_nodes, 0);
  EXPECT_EQ(g.nodes.size(), 2u);
  EXPECT_TRUE(GraphModule(g).named_parameters().empty());
}

TEST(FoldConstants, NothingDerivedFromATrainableParameterFolds) {
  Graph g;
  g.inputs.push_back({"x", DType::kFloat32, {Dim::of(1), Dim::of(3)}});
  g.initializers["W"] = iota({2, 3});
  g.nodes = {
      node("t", "Transpose", {"W"}, {"Wt"}, Attributes{{"perm", std::vector<int64_t>{1, 0}}}),
      node("mm", "MatMul", {"x", "Wt"}, {"y"})};
  g.outputs.push_back({"y", DType::kFloat32, {}, false});
  g.validate();
  EXPECT_EQ(fold_constants(g).folded_nodes, 0);
  GraphModule m(g);
  ASSERT_EQ(m.named_parameters().size(), 1u);
  EXPECT_EQ(m.named_parameters()[0].first, "W");
}

TEST(FoldConstants, IntegerInitializersFoldAndUnusedOnesGo) {
  Graph g;
  g.inputs.push_back({"x", DType::kFloat32, {Dim::symbolic("n"), Dim::of(6)}});
  g.initializers["a"] = Tensor::from_vector<int64_t>({2}, {3, 1});
  g.initializers["b"] = Tensor::from_vector<int64_t>({2}, {1, 1});
  g.nodes = {node("add", "Add", {"a", "b"}, {"shape"}),  // [4, 2]
             node("neg", "Neg", {"shape"}, {"unused"}),
             node("reshape", "Reshape", {"x", "shape"}, {"y"})};
  g.outputs.push_back({"y", DType::kFloat32, {}, false});
  g.validate();
  const FoldStats s = fold_constants(g);
  EXPECT_EQ(s.folded_nodes, 2);
  EXPECT_EQ(s.added_initializers, 1);
  EXPECT_EQ(s.removed_initializers, 2);
  EXPECT_FALSE(g.initializers.count("a"));
  EXPECT_EQ(g.initializers.at("shape").to_vector<int64_t>(), (std::vector<int64_t>{4, 2}));
  EXPECT_NO_THROW(g.validate());
}

TEST(FoldConstants, ShapeWithStartAndEnd) {
  Graph g;
  g.opsets[""] = 15;
  g.inputs.push_back({"x", DType::kFloat32, {Dim::of(2), Dim::of(3), Dim::of(5), Dim::of(7)}});
  g.nodes = {
      node("s", "Shape", {"x"}, {"tail"}, Attributes{{"start", int64_t{-2}}}),
      node("s2", "Shape", {"x"}, {"mid"}, Attributes{{"start", int64_t{1}}, {"end", int64_t{-1}}})};
  g.outputs = {{"tail", DType::kInt64, {}, false}, {"mid", DType::kInt64, {}, false}};
  g.validate();
  EXPECT_EQ(fold_constants(g).folded_nodes, 2);
  EXPECT_EQ(g.initializers.at("tail").to_vector<int64_t>(), (std::vector<int64_t>{5, 7}));
  EXPECT_EQ(g.initializers.at("mid").to_vector<int64_t>(), (std::vector<int64_t>{3, 5}));
}

TEST(FoldConstants, HugeResultsStayNodesAndAllocateNothing) {
  // ConstantOfShape([2^40, 2^40]) and Expand to 2^17 elements: folding must not try them.
  Graph g;
  g.initializers["huge"] = Tensor::from_vector<int64_t>({2}, {int64_t{1} << 40, int64_t{1} << 40});
  g.initializers["big"] = Tensor::from_vector<int64_t>({2}, {512, 256});
  g.initializers["one"] = Tensor::scalar(1, DType::kInt64);
  g.nodes = {node("cos", "ConstantOfShape", {"huge"}, {"h"}),
             node("expand", "Expand", {"one", "big"}, {"e"})};
  g.outputs = {{"h", DType::kFloat32, {}, false}, {"e", DType::kInt64, {}, false}};
  g.validate();
  EXPECT_EQ(fold_constants(g).folded_nodes, 0);
  EXPECT_EQ(g.nodes.size(), 2u);
}

TEST(FoldConstants, BadConstantArithmeticIsLeftToTheExecutor) {
  // Reshape of 6 values to [4]: folding leaves it; running names the node.
  Graph g;
  g.initializers["data"] = Tensor::from_vector<int64_t>({6}, {1, 2, 3, 4, 5, 6});
  g.initializers["shape"] = Tensor::from_vector<int64_t>({1}, {4});
  g.nodes = {node("bad_reshape", "Reshape", {"data", "shape"}, {"y"})};
  g.outputs = {{"y", DType::kInt64, {}, false}};
  g.validate();
  EXPECT_EQ(fold_constants(g).folded_nodes, 0);
  GraphModule m(g);
  try {
    m.forward(std::map<std::string, Variable>{});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad_reshape"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tamp::nn
