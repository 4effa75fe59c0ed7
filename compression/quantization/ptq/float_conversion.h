// fp16 / bf16 conversion of a float32 graph: float initializers are stored in the low
// precision type, ops run in it where the target runtime has a kernel, and Cast nodes are
// inserted where precision changes — around ops on the block list (which stay float32) and,
// with keep_io_types, at the graph's inputs and outputs.
//
//   nn::Graph half = convert_float(graph, {.to = DType::kFloat16, .keep_io_types = true});
//   io::save_onnx_graph(half, "mlp_fp16.onnx");
//
// The default block list is what ONNX Runtime 1.30's CPU provider needs, measured by running
// single-op models (tests/compression/quantization/ptq/float_conversion_test.cpp re-checks it):
//  - float16: kernels only for LayerNormalization, Clip, Max, Min, Round and data movement;
//    for everything else (Add, MatMul, Gemm, Conv, Relu, Softmax, ...) ORT itself would insert
//    Casts to float32, so those ops are blocked and the Casts are explicit in the file.
//  - bfloat16: kernels only for LayerNormalization and data movement; ORT inserts no Casts
//    for bf16 and refuses the model, so the block list is what makes a bf16 model load.
// Data-movement ops (Reshape, Transpose, Flatten, Squeeze, Unsqueeze, Identity, Slice, Gather,
// Concat, Split, Dropout, and Expand for float16) never convert anything: they run in the
// precision their data input arrives in. Set default_block_list = false for runtimes with
// full low-precision kernels (GPUs): then only block_ops / block_nodes stay float32.
//
// Blocked ops still read float16 initializers (through a Cast ORT folds at load time), so the
// file is half the size either way; the error is the weights' rounding plus that of the
// values that cross into low precision.
#pragma once

#include <tamp/nn/graph.h>

#include <string>
#include <vector>

namespace tamp::compression {

struct FloatConversionOptions {
  DType to = DType::kFloat16;        // kFloat16 or kBFloat16
  bool keep_io_types = false;        // graph inputs and outputs stay float32
  bool default_block_list = true;    // block ops without an ORT CPU kernel for `to`
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
