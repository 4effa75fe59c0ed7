#include "export_target_options.h"

#include <tamp/io/onnx_import.h>

#include <fmt/format.h>

#include <cmath>
#include <filesystem>

namespace tamp::cli {

void add_target_options(CLI::App& sub, TargetArgs& args) {
  args.target_option =
      sub.add_option("--target", args.target,
                     "the CPUs the int8 model must compute exactly on in ONNX Runtime: portable "
                     "(every x86 and ARM "
                     "CPU: uint8 weights), vnni (x86 with VNNI: full int8 weights) or arm (int8 "
                     "weights in [-127, 127]); "
                     "training simulates what the target computes (docs/quantization_targets.md)")
          ->check(CLI::IsMember({"portable", "vnni", "arm"}))
          ->capture_default_str();
  sub.add_option(
         "--parity-arithmetic", args.parity_arithmetic,
         "integer arithmetic of the parity check after the export: exact, avx2 (x86 without VNNI) "
         "or host "
         "(this CPU); default: the target's strictest CPUs (portable: avx2, vnni and arm: exact)")
      ->check(CLI::IsMember({"exact", "avx2", "host"}));
}

compression::ExportTarget export_target_of(const TargetArgs& args) {
  return compression::export_target_from_name(args.target);
}

IntegerArithmetic arithmetic_from_option(const std::string& name) {
  return name == "host" ? host_integer_arithmetic() : integer_arithmetic_from_name(name);
}

IntegerArithmetic parity_arithmetic_of(const TargetArgs& args) {
  if (!args.parity_arithmetic.empty()) return arithmetic_from_option(args.parity_arithmetic);
  return compression::parity_arithmetic(export_target_of(args));
}

void add_arithmetic_option(CLI::App& sub, std::string& arithmetic) {
  sub.add_option("--arithmetic", arithmetic,
                 "run a quantized model as ONNX Runtime's integer kernels do: exact (VNNI, ARM, "
                 "uint8 weights), avx2 "
                 "(x86 without VNNI: uint8 x int8 pairs saturate to int16) or host (this CPU); a "
                 "QDQ model is fused "
                 "into integer ops as ONNX Runtime fuses it. Without it the model runs as written")
      ->check(CLI::IsMember({"exact", "avx2", "host"}));
}

nn::GraphModule load_model_for_arithmetic(const std::string& path, const std::string& arithmetic) {
  if (arithmetic.empty()) return load_model(path);
  if (!std::filesystem::exists(path))
    throw Error(fmt::format("'{}': no such file", path), ErrorKind::kIo);
  nn::GraphModule m(fused_like_onnx_runtime(io::load_onnx_graph(path)));
  m.set_integer_arithmetic(arithmetic_from_option(arithmetic));
  return m;
}

nlohmann::ordered_json parity_json(const ParityResult& r) {
  const auto number = [](double v) {
    return std::isnan(v) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(v);
  };
  return {{"passed", r.passed()},
          {"arithmetic", std::string(integer_arithmetic_name(r.arithmetic))},
          {"examples", r.examples},
          {"agreement", r.agreement},
          {"min_agreement", r.min_agreement},
          {"max_abs_diff", r.max_abs_diff},
          {"output_step", number(r.output_step)},
          {"max_step_diff", number(r.max_step_diff)},
          {"simulated_top1", r.simulated_top1},
          {"exported_top1", r.exported_top1},
          {"fused", r.fused}};
}

void print_parity(const ParityResult& r, std::FILE* out) {
  fmt::print(out, "parity: {}{}\n", parity_text(r), r.passed() ? "" : "  FAILED");
  if (r.passed()) return;
  fmt::print(stderr,
             "tamp: PARITY CHECK FAILED: with {} integer arithmetic the exported model picks the "
             "class the simulated "
             "model picked for only {:.2f} % of {} examples (at least {:.1f} % expected; top-1 "
             "{:.2f} % simulated, "
             "{:.2f} % exported). ONNX Runtime on those CPUs will not compute what tamp trained "
             "and reported.\n"
             "hint: export with --target portable (exact on every x86 CPU), or check the model on "
             "the CPUs it is "
             "meant for (docs/quantization_targets.md)\n",
             integer_arithmetic_name(r.arithmetic), 100 * r.agreement, r.examples,
             100 * r.min_agreement, 100 * r.simulated_top1, 100 * r.exported_top1);
}

int parity_exit_code(const ParityResult& r) { return r.passed() ? kExitOk : kExitParity; }

}  // namespace tamp::cli
