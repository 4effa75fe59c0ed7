// GraphModule: runs an nn::Graph through the op table with autograd. Float initializers that
// feed a differentiable input are trainable parameters named after the initializer (unless
// listed under kConstantsKey, graph.h); BatchNormalization running statistics are buffers.
//
//   nn::GraphModule m(io::load_onnx_graph("cnn.onnx"));
//   auto mid = m.forward({{"input", x}}, {"logits", "/fc1/Gemm_output_0"});  // any value
//   m.freeze("conv1.*");  nn::Graph trained = m.export_graph();   // regex; current weights
#pragma once

#include <tamp/autograd/op.h>
#include <tamp/nn/graph.h>
#include <tamp/nn/module.h>

#include <map>
#include <string>
#include <vector>

namespace tamp::nn {

class GraphModule : public Module {
 public:
  // Validates the graph and resolves every node's op; throws one error listing every
  // unsupported op (node name, op, domain, opset) before anything runs.
  // Parameters share storage with the graph's initializer tensors (no copy of a large model):
  // training this module changes every other nn::Graph that copied the same initializers
  // (Tensor copies share their buffer). Give each module its own with Tensor::clone() when
  // two modules must train one starting point independently.
  explicit GraphModule(Graph graph, const OpRegistry& registry = OpRegistry::builtin());

  // Runs the graph. `outputs` names the values to return (graph outputs when empty); any
  // value of the graph may be asked for. Inputs are checked against the declared dtypes and
  // shapes (symbolic dims match anything).
  std::map<std::string, Variable> forward(const std::map<std::string, Variable>& inputs,
                                          const std::vector<std::string>& outputs = {});
  // Single-input, single-output convenience.
  Variable forward(const Variable& input);

  const Graph& graph() const { return graph_; }
  // Replaces the graph (a compression pass rewrote it). Parameters and buffers whose name and
  // shape persist keep their Variables, so optimizer state and hooks stay attached.
  void set_graph(Graph graph);
  // The graph with initializers holding the current parameter and buffer values.
  Graph export_graph() const;

  // Parameter names matching a regular expression (ECMAScript, whole name).
  std::vector<std::string> parameter_names_matching(const std::string& pattern) const;
  // Parameter names consumed by nodes of an op type ("Conv", "Gemm", ...).
  std::vector<std::string> parameter_names_of_op(const std::string& op_type) const;
  Variable parameter(const std::string& name) const;
  // Stops (or resumes) training the parameters whose names match `pattern`; returns how many.
  int freeze(const std::string& pattern, bool frozen = true);

  // When on, every node's outputs are checked for NaN/Inf and the first node producing one
  // is named in a kNumerical error.
  void set_check_finite(bool on) { check_finite_ = on; }
  void set_generator(Generator* rng) { rng_ = rng; }
  // How the integer ops add their products (autograd/integer_arithmetic.h); exact by default.
  void set_integer_arithmetic(IntegerArithmetic a) { integer_arithmetic_ = a; }
  IntegerArithmetic integer_arithmetic() const { return integer_arithmetic_; }

 private:
  enum class Role { kParameter, kBuffer, kConstant };
  void build(const OpRegistry& registry, const std::map<std::string, Variable>& previous);
  Role role_of(const std::string& initializer) const;

  Graph graph_;
  const OpRegistry* registry_;
  std::vector<const OpDef*> ops_;            // per node
  std::map<std::string, Variable> initial_;  // every initializer as a Variable
  std::map<std::string, int> last_use_;      // value -> index of the last node reading it
  bool check_finite_ = false;
  Generator* rng_ = nullptr;
  IntegerArithmetic integer_arithmetic_ = IntegerArithmetic::kExact;
};

}  // namespace tamp::nn
