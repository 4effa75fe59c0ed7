// The check at the end of every quantized export: the exported model, run with the integer
// arithmetic of the CPUs its target promises (QDQ first fused as ONNX Runtime fuses it), against
// the model tamp simulated, on the evaluation data (docs/quantization_targets.md).
//
//   ParityResult p = check_export_parity(simulated, io::load_onnx_graph("int8.onnx"), *data.test,
//       {.arithmetic = parity_arithmetic(ExportTarget::kPortable)});
//   if (!p.passed()) ...   // agreement below 99.9 %: the export does not compute what was trained
#pragma once

#include <tamp/autograd/integer_arithmetic.h>
#include <tamp/nn/collective.h>
#include <tamp/nn/dataset.h>
#include <tamp/nn/graph_module.h>

#include <limits>
#include <string>

namespace tamp {

struct ParityOptions {
  IntegerArithmetic arithmetic = IntegerArithmetic::kExact;
  std::string input;   // graph input; empty: the only one
  std::string output;  // logits; empty: the first graph output
  int64_t batch_size = 256;
  int64_t max_batches = -1;              // -1: the whole dataset
  double min_agreement = 0.999;          // passed() below this fraction of equal argmaxes
  nn::Collective* collective = nullptr;  // shards the data and reduces over ranks
};

struct ParityResult {
  IntegerArithmetic arithmetic = IntegerArithmetic::kExact;
  int64_t examples = 0;
  // Fraction of examples whose exported argmax is the simulated one, or a class the simulated
  // model scored within one output step of its best (a tie on the quantized output grid).
  double agreement = 0;
  double max_abs_diff = 0;  // over every output value
  // The exported output's quantization step (its DequantizeLinear scale) and max_abs_diff in
  // those steps; NaN when the output is not quantized (dynamic quantization).
  double output_step = std::numeric_limits<double>::quiet_NaN();
  double max_step_diff = std::numeric_limits<double>::quiet_NaN();
  double simulated_top1 = 0, exported_top1 = 0;
  bool fused = false;  // the QDQ file was fused into integer ops
  double min_agreement = 0.999;
  bool passed() const { return agreement >= min_agreement; }
};

// requires: `simulated` and `exported` read the same input and write logits (N, classes).
// ensures: both models back in the training mode they had; `simulated`'s integer arithmetic
//          untouched.
ParityResult check_export_parity(nn::GraphModule& simulated, const nn::Graph& exported,
                                 const nn::Dataset& data, const ParityOptions& options = {});

// What ONNX Runtime runs of a QDQ (or QOperator) graph: each DequantizeLinear ->
// Conv/MatMul/Gemm -> QuantizeLinear group as one integer op (compression::qdq_to_qoperator),
// each DequantizeLinear x2 -> Add -> QuantizeLinear as com.microsoft QLinearAdd
// (compression::fuse_qdq_adds_like_onnx_runtime). A graph without such groups, or with
// compute groups tamp cannot fuse (ONNX Runtime then runs them in float too), keeps them;
// `fused` (if given) says whether anything was fused. When something was, the float Softmax
// nodes run as ORT's (compression::softmax_like_onnx_runtime), as the simulation does.
nn::Graph fused_like_onnx_runtime(const nn::Graph& graph, bool* fused = nullptr);

// "argmax agreement 100.00 % (10000 examples), max |diff| 0 output steps, integer arithmetic avx2"
std::string parity_text(const ParityResult& r);

}  // namespace tamp
