// nn::Graph — an ONNX-shaped, protobuf-free IR: nodes with ONNX op types and attributes,
// named values, initializers. io::load_onnx builds one; io::save_onnx writes one.
//
//   Graph g;
//   g.inputs.push_back({"x", DType::kFloat32, {Dim::symbolic("batch"), Dim::of(784)}});
//   g.initializers["W"] = Tensor::zeros({10, 784});
//   g.nodes.push_back({"fc", "Gemm", "", {"x", "W"}, {"y"}, attrs_with({{"transB", 1}})});
//   g.outputs.push_back({"y", DType::kFloat32, {}});  g.validate();   // SSA, no cycles, ...
#pragma once

#include <tamp/autograd/attributes.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tamp::nn {

// One dimension of a declared shape: a size, a symbolic name ("batch"), or unknown.
struct Dim {
  int64_t value = -1;
  std::string symbol;
  static Dim of(int64_t v) { return {v, {}}; }
  static Dim symbolic(std::string s) { return {-1, std::move(s)}; }
  bool known() const { return value >= 0; }
  bool operator==(const Dim&) const = default;
};

struct ValueInfo {
  std::string name;
  DType dtype = DType::kFloat32;
  std::vector<Dim> shape;  // empty with has_shape = false: shape not declared
  bool has_shape = true;
  bool operator==(const ValueInfo&) const = default;
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;               // "" = ai.onnx
  std::vector<std::string> inputs;  // "" = omitted optional input
  std::vector<std::string> outputs;
  std::shared_ptr<const Attributes> attrs = std::make_shared<const Attributes>();
};

std::shared_ptr<const Attributes> attrs_with(Attributes a);

// Metadata key: comma-separated names of float initializers that GraphModule keeps constant
// where it would otherwise train them (input normalization's mean and std).
inline constexpr const char* kConstantsKey = "tamp.constants";

struct Graph {
  std::string name = "tamp";
  std::vector<Node> nodes;        // topological order (validate() checks)
  std::vector<ValueInfo> inputs;  // runtime inputs, initializers excluded
  std::vector<ValueInfo> outputs;
  std::vector<ValueInfo> value_info;  // declared shapes of intermediate values
  std::map<std::string, Tensor> initializers;
  std::map<std::string, int64_t> opsets{{"", 13}};  // domain -> version
  int64_t ir_version = 8;
  std::string producer_name, producer_version, doc_string;
  std::map<std::string, std::string> metadata;  // kConstantsKey among them

  int64_t opset(const std::string& domain = "") const;
  // Index of the node producing `value`, or -1 (graph input, initializer or undefined).
  int producer(const std::string& value) const;
  // Indices of the nodes reading `value`.
  std::vector<int> consumers(const std::string& value) const;
  const Node* find_node(const std::string& name) const;

  // Throws (kInvalidInput) naming the offending node/value when: a value is defined twice,
  // a node reads a value nothing defines, the nodes form a cycle, a node name repeats, or a
  // node's domain has no opset import. Reorders nodes topologically when they are not.
  void validate();
  // Every value name the graph defines (inputs, initializers, node outputs).
  std::vector<std::string> defined_values() const;
};

}  // namespace tamp::nn
