// nn/graph_edit.h: fresh names, dead-code removal, use replacement and the training-mode
// release, on small hand-built graphs.
#include <tamp/nn/graph_edit.h>

#include <gtest/gtest.h>

namespace tamp::nn {
namespace {

Node node(std::string name, std::string op, std::vector<std::string> in,
          std::vector<std::string> out) {
  Node n;
  n.name = std::move(name);
  n.op_type = std::move(op);
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  return n;
}

ValueInfo value(std::string name) {
  ValueInfo v;
  v.name = std::move(name);
  return v;
}

// x -> Relu(a) -> y (the output); w feeds a dead MatMul(b) whose result nothing reads.
Graph small_graph() {
  Graph g;
  g.inputs = {value("x")};
  g.outputs = {value("y")};
  g.initializers["w"] = Tensor::zeros({2, 2});
  g.nodes = {node("a", "Relu", {"x"}, {"y"}), node("b", "MatMul", {"x", "w"}, {"dead"})};
  g.value_info = {value("dead"), value("y")};
  return g;
}

TEST(GraphEdit, NameScopeHandsOutNamesNoValueOrNodeUses) {
  const Graph g = small_graph();
  NameScope names(g);
  EXPECT_EQ(names.fresh("z"), "z");
  EXPECT_EQ(names.fresh("z"), "z_1");  // reserved by the call before
  EXPECT_EQ(names.fresh("w"), "w_1");  // an initializer
  EXPECT_EQ(names.fresh("a"), "a_1");  // a node name
}

TEST(GraphEdit, RemoveUnusedDropsDeadNodesTheirInitializersAndValueInfo) {
  Graph g = small_graph();
  remove_unused(g);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].name, "a");
  EXPECT_EQ(g.initializers.count("w"), 0u);
  ASSERT_EQ(g.value_info.size(), 1u);
  EXPECT_EQ(g.value_info[0].name, "y");
}

TEST(GraphEdit, ReplaceUsesSkipsTheNamedNodeAndKeepsGraphOutputs) {
  Graph g = small_graph();
  replace_uses(g, "x", "x2", "b");
  EXPECT_EQ(g.nodes[0].inputs[0], "x2");
  EXPECT_EQ(g.nodes[1].inputs[0], "x");
  EXPECT_TRUE(is_graph_output(g, "y"));
  EXPECT_FALSE(is_graph_output(g, "x2"));
}

TEST(GraphEdit, ReleaseTrainingModesTurnsTrainingNodesIntoInferenceOnes) {
  Graph g;
  g.inputs = {value("x")};
  g.outputs = {value("z")};
  g.initializers["ratio"] = Tensor::zeros({});
  g.initializers["train"] = Tensor::ones({});
  for (const char* p : {"scale", "bias", "mean", "var"}) g.initializers[p] = Tensor::ones({1});
  g.nodes = {node("drop", "Dropout", {"x", "ratio", "train"}, {"d"}),
             node("bn", "BatchNormalization", {"d", "scale", "bias", "mean", "var"},
                  {"z", "run_mean", "run_var"})};
  g.nodes[1].attrs = attrs_with({{"training_mode", int64_t{1}}});
  release_training_modes(g);
  EXPECT_EQ(g.nodes[0].inputs, (std::vector<std::string>{"x", "ratio"}));
  EXPECT_EQ(g.nodes[1].outputs, (std::vector<std::string>{"z"}));
  EXPECT_FALSE(g.nodes[1].attrs->has("training_mode"));
  EXPECT_EQ(g.initializers.count("train"), 0u);  // read by nothing once released
}

}  // namespace
}  // namespace tamp::nn
