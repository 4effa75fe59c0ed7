// Dynamic post-training quantization: int8 weights, activations quantized at run time; every
// MatMul / Gemm with a constant weight becomes the pattern ONNX Runtime fuses into
// DynamicQuantizeMatMul. No calibration. Pattern: docs/quantization.md#dynamic-ptq
//
//   nn::Graph q = quantize_dynamic(io::load_onnx_graph("transformer.onnx"));
//   io::save_onnx_graph(q, "transformer_dynamic.onnx");
#pragma once

#include <tamp/compression/quantization/export_target.h>
#include <tamp/compression/quantization/qspec.h>
#include <tamp/nn/graph.h>

#include <string>
#include <vector>

namespace tamp::compression {

struct DynamicQuantOptions {
  // 8 bits. Symmetric: int8 with zero point 0 (no b_zero_point written); asymmetric: int8 or
  // uint8 (is_signed) with per-column zero points. per_channel: one scale per output column
  // (axis 1 of the weight as MatMulInteger reads it, [K, N]).
  QuantSpec weights{
      .bits = 8, .is_signed = true, .symmetric = true, .per_channel = true, .axis = 1};
  // Node names, op types or weight names left in float.
  std::vector<std::string> exclude;
  // The CPUs the model must compute exactly on (export_target.h): the weights are stored in
  // the range weights_for_target gives (portable: uint8), and the graph's metadata says so.
  ExportTarget target = ExportTarget::kPortable;
};

// requires: at least one quantizable MatMul/Gemm that is not excluded (kInvalidInput naming
//           the graph's ops otherwise); weights.bits == 8.
// ensures: a validated graph whose metadata names the export target.
nn::Graph quantize_dynamic(const nn::Graph& graph, const DynamicQuantOptions& options = {});

}  // namespace tamp::compression
