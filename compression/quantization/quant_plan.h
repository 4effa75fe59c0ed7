// Where fake quantization goes in a float graph, following the placement ONNX Runtime's QDQ
// fusion needs. Placement rules: docs/quantization.md#where-the-fakequantize-nodes-go
//
//   QuantPlan p = plan_quantization(graph, {.exclude = {"/fc2/Gemm", "MatMul"}});
//   for (const auto& w : p.weights) ...          // initializer, node, output-channel axis
//   for (const auto& v : p.activations) ...      // value names
#pragma once

#include <tamp/nn/graph.h>

#include <string>
#include <vector>

namespace tamp::compression {

struct WeightSite {
  std::string weight;              // the initializer
  std::vector<std::string> nodes;  // the nodes reading it (tied weights: more than one)
  int axis = 0;                    // output-channel axis of the weight; -1: per tensor only
  // Transpose nodes the compute nodes read it through (MatMul(x, Transpose(W)), torch's
  // nn.Linear on a 3-D input); its fake-quantized copy goes before them.
  std::vector<std::string> transposes;
};

struct QuantPlan {
  std::vector<WeightSite> weights;
  std::vector<std::string> activations;    // values to fake-quantize, in graph order
  std::vector<std::string> compute_nodes;  // the quantized Conv/Gemm/MatMul/Add nodes
};

struct PlanOptions {
  std::vector<std::string> exclude;  // node names or op types kept in float
  // Put a compute op's output point after its Relu (valid when the activation zero point of
  // a non-negative range is quant_min, i.e. asymmetric activations).
  bool fuse_relu = true;
};

// Throws (kInvalidInput) when an exclusion names neither a node nor an op type of the graph
// (a typo would silently quantize everything), and when the graph has no quantizable op
// that is not excluded.
QuantPlan plan_quantization(const nn::Graph& graph, const PlanOptions& options = {});

bool is_quantizable_compute(const std::string& op_type);  // Conv, ConvTranspose, Gemm, MatMul
// Ops that keep their data input's quantization grid (input 0 -> output 0).
bool is_pass_through(const std::string& op_type);

// The value whose quantization `value` shares: walks up through pass-through producers
// (data input 0) until a value in `points` or a producer that is not pass-through.
std::string quantization_source(const nn::Graph& graph, const std::string& value,
                                const std::vector<std::string>& points = {});

}  // namespace tamp::compression
