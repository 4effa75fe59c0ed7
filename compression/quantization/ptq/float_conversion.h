// fp16 / bf16 conversion of a float32 graph: initializers stored in the low-precision type,
// ops run in it where the runtime has a kernel, Casts where precision changes (around blocked
// ops; with keep_io_types at the inputs and outputs). Default block list (ONNX Runtime 1.30's
// CPU kernels): docs/quantization.md#fp16-and-bf16
//
//   nn::Graph half = convert_float(graph, {.to = DType::kFloat16, .keep_io_types = true});
//   io::save_onnx_graph(half, "mlp_fp16.onnx");
#pragma once

#include <tamp/nn/graph.h>

#include <string>
#include <vector>

namespace tamp::compression {

struct FloatConversionOptions {
  DType to = DType::kFloat16;            // kFloat16 or kBFloat16
  bool keep_io_types = false;            // graph inputs and outputs stay float32
  bool default_block_list = true;        // block ops without an ORT CPU kernel for `to`
  std::vector<std::string> block_ops;    // more op types kept in float32
  std::vector<std::string> block_nodes;  // node names kept in float32
};

// requires: `to` is kFloat16 or kBFloat16; block_nodes name nodes of the graph (kInvalidInput
//           naming the unknown one otherwise).
// ensures: every float32 initializer and value the unblocked ops compute is of type `to`; the
//          graph validates. Integer and bool values, and float64 ones, are untouched.
nn::Graph convert_float(const nn::Graph& graph, const FloatConversionOptions& options = {});

// Whether ONNX Runtime 1.30's CPU provider has a kernel for `op_type` in `to` (measured; see
// above). Data-movement ops count as having one.
bool ort_cpu_has_kernel(const std::string& op_type, DType to);

// The ops of `graph` that the default block list keeps in float32 for `to`, sorted.
std::vector<std::string> default_blocked_ops(const nn::Graph& graph, DType to);

}  // namespace tamp::compression
