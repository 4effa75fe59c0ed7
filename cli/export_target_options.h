// What the commands exporting int8 models share (quantize, train --qat, run): --target,
// --parity-arithmetic and the export-parity report (scheduler/export_parity.h) they print and
// exit with; and eval's and infer's --arithmetic (ONNX Runtime's integer kernels on a CPU).
//
//   TargetArgs t;  add_target_options(sub, t);
//   print_parity(p, stdout);  return parity_exit_code(p);   // kExitParity below 99.9 % agreement
#pragma once

#include "common.h"

#include <tamp/compression/quantization/export_target.h>
#include <tamp/scheduler/export_parity.h>

#include <cstdio>
#include <string>

namespace tamp::cli {

// Exit code of an export whose parity check failed (the file is written; it does not compute
// what tamp simulated on the target's CPUs).
constexpr int kExitParity = 4;

struct TargetArgs {
  std::string target = "portable";  // --target
  std::string parity_arithmetic;    // --parity-arithmetic ("" : the target's)
  CLI::Option* target_option = nullptr;
  // Whether --target or --parity-arithmetic was on the command line (after parsing).
  bool given() const {
    return (target_option && target_option->count() > 0) || !parity_arithmetic.empty();
  }
};

// --target portable|vnni|arm and --parity-arithmetic exact|avx2|host.
void add_target_options(CLI::App& sub, TargetArgs& args);
compression::ExportTarget export_target_of(const TargetArgs& args);
// --parity-arithmetic, or the arithmetic of the target's strictest CPUs (parity_arithmetic).
IntegerArithmetic parity_arithmetic_of(const TargetArgs& args);

// "exact", "avx2", or "host" (what ONNX Runtime computes on this CPU).
IntegerArithmetic arithmetic_from_option(const std::string& name);

// --arithmetic exact|avx2|host of eval and infer ("" when absent).
void add_arithmetic_option(CLI::App& sub, std::string& arithmetic);
// The model as eval and infer run it: as written without --arithmetic; with it, fused as ONNX
// Runtime fuses a QDQ file and run with that integer arithmetic.
nn::GraphModule load_model_for_arithmetic(const std::string& path, const std::string& arithmetic);

nlohmann::ordered_json parity_json(const ParityResult& r);
// One line on `out`; a failed check also gets a loud explanation on stderr.
void print_parity(const ParityResult& r, std::FILE* out);
int parity_exit_code(const ParityResult& r);

}  // namespace tamp::cli
