// What `tamp inspect` reports about a model, computed from its nn::Graph alone (no
// GraphModule, so a model with ops tamp lacks can still be inspected).
//
//   nn::Graph g = io::load_onnx_graph("cnn.onnx", {.fold_constants = false});
//   ModelReport r = analyse_model(g);
//   r.ops;          // {"Conv": 2, "Gemm": 2, ...}
//   r.weights[0];   // {"conv1.weight", float32 [32, 1, 3, 3], 0 zeros, ...}
#pragma once

#include <tamp/autograd/op.h>
#include <tamp/nn/graph.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tamp::cli {

struct InitializerTotals {
  int64_t tensors = 0;
  int64_t elements = 0;
  uint64_t bytes = 0;
};

// A weight: an initializer of rank >= 2 (biases, scales and shape constants are not).
struct WeightInfo {
  std::string name;
  DType dtype = DType::kFloat32;
  Shape shape;
  int64_t elements = 0;
  int64_t zeros = 0;    // values equal to 0 (integers read by DequantizeLinear: dequantized)
  bool packed = false;  // several values per element (MatMulNBits' B): no sparsity
  std::vector<std::string> consumers;  // "node (Op)" of every node reading it
  // Conv / Gemm / MatMul weights: the structure their zeros follow (compression/pruning/
  // checker.h): "dense", "2:4", "channel", "4x1", "unstructured", ...; empty for others.
  std::string structure;
  std::string structure_summary;  // e.g. "50.0 % 2:4 valid"
  // Set by check_weight_patterns (`tamp inspect --pattern P`): whether the weight satisfies P.
  std::optional<bool> pattern_valid;
  std::string pattern_detail;  // "2:4 valid", "3 of 512 groups have more than 2 non-zeros"
  // Room for more per-weight columns (e.g. whether the weight satisfies an N:M pattern):
  // add a field here, fill it in analyse_model, print it in inspect.cpp.
};

// One scale (with its zero point) of a quantization node.
struct QuantScale {
  std::string role;             // "y" (QuantizeLinear), "x" (DequantizeLinear), "w", "a", "b", ...
  std::string scale;            // value name ("" when the op has none, e.g. MatMulInteger)
  std::string zero_point;       // value name or ""
  std::string granularity;      // per-tensor | per-channel | per-block | dynamic | none
  std::optional<int64_t> axis;  // per-channel: the channel axis
  std::optional<int64_t> channels;    // per-channel: the number of scales
  std::optional<int64_t> block_size;  // per-block
  std::optional<int> bits;            // from the quantized dtype, the zero point or attributes
  std::optional<bool> is_signed;
};

struct QuantNode {
  std::string name, op_type, domain;
  std::vector<QuantScale> scales;
};

struct UnsupportedOp {
  std::string domain, op_type;
  int64_t opset = 0;
  std::vector<std::string> nodes;
};

struct ModelReport {
  std::string producer, producer_version, graph_name;
  int64_t ir_version = 0;
  std::map<std::string, int64_t> opsets;
  std::vector<nn::ValueInfo> inputs, outputs;  // inputs exclude initializers
  int64_t nodes = 0;
  std::map<std::string, int64_t> ops;  // "Conv" or "domain::Op" -> count
  InitializerTotals initializers;      // every initializer
  InitializerTotals parameters;        // initializers that are not int64 (shape, axes) constants
  std::map<std::string, InitializerTotals> parameters_by_dtype;
  std::optional<int64_t> trainable;  // GraphModule's trainable elements; unset when it cannot load
  std::vector<WeightInfo> weights;
  std::vector<QuantNode> quantization;
  // The export target recorded in the model's metadata (compression/quantization/export_target.h);
  // empty when the model has none.
  std::string quantization_target;
  std::vector<UnsupportedOp> unsupported;
};

ModelReport analyse_model(const nn::Graph& graph,
                          const OpRegistry& registry = OpRegistry::builtin());
// Checks every Conv / Gemm / MatMul weight of `report` against a pruning pattern ("2:4",
// "4x1", "channel", ...); throws for a malformed pattern.
void check_weight_patterns(const nn::Graph& graph, const std::string& pattern, ModelReport& report);

}  // namespace tamp::cli
