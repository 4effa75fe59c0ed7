// tamp eval MODEL.onnx --dataset fashion-mnist[:test|:train]: top-1 / top-5 accuracy and mean
// cross-entropy of a classifier (eval mode), through scheduler/evaluate.h. --arithmetic
// avx2|exact|host runs a quantized model as ONNX Runtime's integer kernels would on such a CPU.
#include "common.h"
#include "export_target_options.h"

#include <tamp/autograd/simd_target.h>
#include <tamp/scheduler/evaluate.h>

#include <fmt/format.h>

#include <chrono>

namespace tamp::cli {

namespace {

struct EvalArgs {
  ModelArg model;
  DatasetArgs data;
  int64_t batch = 256;
  std::string input, output;
  std::string arithmetic;  // --arithmetic ("" : the model as written)
  bool json = false;
  int threads = 0;
};

int run_eval(const EvalArgs& args) {
  apply_threads(args.threads);
  nn::GraphModule model = load_model_for_arithmetic(args.model.path, args.arithmetic);
  check_data_input_output(model.graph(), args.input, args.output);
  const LoadedDataset data = load_dataset(args.data, "test");
  normalize_model_input(model, data, args.input);
  const auto start = std::chrono::steady_clock::now();
  const EvalResult r =
      evaluate(model, *data.selected,
               {.batch_size = args.batch, .input = args.input, .output = args.output});
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (args.json) {
    print_json({{"model", args.model.path},
                {"dataset", data.name},
                {"normalize", normalization_json(data)},
                {"examples", r.count},
                {"top1", r.top1},
                {"top5", r.top5},
                {"loss", r.loss},
                {"arithmetic",
                 args.arithmetic.empty()
                     ? nlohmann::ordered_json(nullptr)
                     : nlohmann::ordered_json(integer_arithmetic_name(model.integer_arithmetic()))},
                {"seconds", secs},
                {"simd", simd_target()}});
  } else {
    fmt::print(
        "{}: {} examples{}, top-1 {:.2f} %, top-5 {:.2f} %, mean loss {:.4f} ({:.1f} s){}\n",
        data.name, r.count, normalization_text(data), 100 * r.top1, 100 * r.top5, r.loss, secs,
        args.arithmetic.empty() ? ""
                                : fmt::format(", {} integer arithmetic",
                                              integer_arithmetic_name(model.integer_arithmetic())));
  }
  return kExitOk;
}

}  // namespace

Action setup_eval(CLI::App& sub) {
  auto args = std::make_shared<EvalArgs>();
  add_model_arg(sub, args->model);
  add_dataset_options(sub, args->data);
  sub.add_option("--batch", args->batch, "examples per forward pass")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  add_data_input_output_options(sub, args->input, args->output);
  add_arithmetic_option(sub, args->arithmetic);
  add_json_flag(sub, args->json);
  add_threads_option(sub, args->threads);
  return [args] { return run_eval(*args); };
}

}  // namespace tamp::cli
