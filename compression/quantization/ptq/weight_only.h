// Weight-only post-training quantization: MatMul / Gemm weights become 4- or 8-bit integers in
// blocks along K (RTN or GPTQ), activations stay float; exported as ONNX Runtime's MatMulNBits.
// The rewrite, and why a function and not a Component:
// docs/quantization.md#weight-only-blocks-gptq-matmulnbits
//
//   WeightOnlyResult r = quantize_weight_only(graph, calib,
//       {.weights = {.bits = 4, .group_size = 128}, .algorithm = WeightOnlyAlgorithm::kGptq});
//   io::save_onnx_graph(r.graph, "mlp_int4.onnx");     // opset imports gain com.microsoft 1
#pragma once

#include <tamp/compression/quantization/ptq/gptq.h>
#include <tamp/compression/quantization/ptq/linear_layers.h>
#include <tamp/nn/graph.h>

#include <map>
#include <string>
#include <vector>

namespace tamp::compression {

// One calibration batch: graph input name -> tensor.
using CalibrationBatch = std::map<std::string, Tensor>;

enum class WeightOnlyAlgorithm { kRtn, kGptq };
// "rtn", "gptq"; the inverse throws naming the accepted names.
std::string_view weight_only_algorithm_name(WeightOnlyAlgorithm a);
WeightOnlyAlgorithm weight_only_algorithm_from_name(std::string_view name);

struct WeightOnlyOptions {
  // bits 4 or 8; group_size a power of two >= 16 (0: one group per output channel);
  // symmetric (implicit zero point 2^(bits-1)) or asymmetric (zero_points written).
  QuantSpec weights{.bits = 4, .group_size = 32};
  WeightOnlyAlgorithm algorithm = WeightOnlyAlgorithm::kRtn;
  GptqOptions gptq = {};
  // GPTQ: each layer's Hessian from the outputs of the already-quantized layers before it.
  bool sequential = true;
  // Node names, op types or weight names left in float.
  std::vector<std::string> exclude;
  // MatMulNBits' accuracy_level attribute (0 = not written). ORT 1.30 on x86 honours 4 only:
  // it then quantizes A to int8 per block on the fly and runs an integer kernel — at batch 1,
  // 1.7x (int4) to 20x (int8) faster than the default float path — at the cost of A's
  // rounding; tamp's own evaluation always computes in float32 (level 0), so at level 4 tamp
  // and ORT agree only to about 1e-2 relative.
  int accuracy_level = 0;
};

struct WeightOnlyLayerReport {
  std::string node;
  int64_t k = 0, n = 0, block_size = 0;
  // ||W X - Ŵ X||² over the calibration inputs the layer saw, and that divided by ||W X||²;
  // NaN without calibration data.
  double error = 0, relative_error = 0;
};

struct WeightOnlyResult {
  nn::Graph graph;
  std::vector<WeightOnlyLayerReport> layers;
};

// requires: graph holds at least one quantizable MatMul/Gemm not excluded (else kInvalidInput
//           naming the graph's ops); GPTQ needs at least one calibration batch (kInvalidInput
//           for an empty set); batches feed every graph input.
// ensures: result.graph computes with MatMulNBits in place of every quantized layer, validates,
//          and imports com.microsoft opset 1. RTN ignores the calibration data except to
//          report errors.
WeightOnlyResult quantize_weight_only(const nn::Graph& graph,
                                      const std::vector<CalibrationBatch>& calibration,
                                      const WeightOnlyOptions& options = {});

// The float graph that simulates a weight-only export in tamp: every MatMulNBits becomes a
// MatMul by its dequantized weight [K, N] (dequantize, then a float32 MatMul). Throws
// (kUnsupported) for MatMulNBits nodes whose B, scales or zero points are not initializers or
// that use g_idx.
nn::Graph dequantize_matmul_nbits(const nn::Graph& graph);

// Replaces `layer` in `graph` by MatMulNBits (+ Add of the bias) holding `q` (q.n() == layer.n(),
// q.k() == layer.k()), and adds the com.microsoft opset import.
void rewrite_as_matmul_nbits(nn::Graph& graph, const LinearLayer& layer, const BlockQuantized& q,
                             int accuracy_level = 0);

}  // namespace tamp::compression
