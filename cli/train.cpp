// tamp train MODEL.onnx --dataset fashion-mnist --epochs E --lr LR --out OUT.onnx: plain
// fine-tuning of an imported model (scheduler/trainer.h with no compression component), then
// the test accuracy and the export of the trained weights as ONNX.
// With --qat the training runs through the QuantizationAwareTraining component (BatchNorm
// folded, trained live until --freeze-bn; FakeQuantize on weights and activations, the weights
// in the range --target computes exactly) and --out is the int8 model lowered to --format
// qdq|qoperator; the reported test accuracy is that of tamp's simulated model, and the written
// file is checked against it on the test data (export parity: exit 4 below 99.9 %).
#include "common.h"
#include "export_target_options.h"

#include <tamp/autograd/simd_target.h>
#include <tamp/compression/quantization/lowering/lower.h>
#include <tamp/compression/quantization/qat/qat.h>
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>
#include <tamp/scheduler/trainer.h>

#include <fmt/format.h>

#include <algorithm>
#include <optional>

namespace tamp::cli {

namespace {

struct TrainArgs {
  ModelArg model;
  DatasetArgs data;
  std::string out;
  int epochs = 1;
  int64_t steps = -1;  // per epoch; -1: whole epochs
  int64_t batch = 64;
  std::string optimizer = "sgd";
  double lr = -1;            // < 0: the optimizer's default
  double momentum = -1;      // < 0: 0.9 (SGD only)
  double weight_decay = -1;  // < 0: 0 (SGD, Adam), 0.01 (AdamW)
  std::string lr_schedule = "constant";
  double label_smoothing = 0;
  uint64_t seed = 0;
  int64_t log_every = 50;
  std::string input, output;
  bool json = false;
  int threads = 0;
  // Compression flags (--qat, ...) go here; run_train turns them into components.
  bool qat = false;
  std::string format;           // --qat export: qdq | qoperator ("" = qdq)
  std::string qat_observer;     // activation observer ("" = moving-average)
  std::string weight_observer;  // weight range ("" = minmax)
  int freeze_observers = -1;    // epoch from which observers stop (-1: never)
  std::string freeze_bn;        // --freeze-bn: an epoch, "last" or "never" ("" = last)
  bool learnable_scales = false;
  bool power_of_two = false;
  bool per_tensor = false;
  std::vector<std::string> exclude;
  TargetArgs target;  // --target, --parity-arithmetic
};

OptimizerSpec optimizer_spec(const TrainArgs& a) {
  if (a.optimizer == "sgd") {
    return SGD{.lr = a.lr < 0 ? 0.01 : a.lr,
               .momentum = a.momentum < 0 ? 0.9 : a.momentum,
               .weight_decay = a.weight_decay < 0 ? 0 : a.weight_decay};
  }
  if (a.momentum >= 0)
    throw UsageError(fmt::format("--momentum applies to sgd, not {}", a.optimizer));
  if (a.optimizer == "adam") {
    return Adam{.lr = a.lr < 0 ? 1e-3 : a.lr,
                .weight_decay = a.weight_decay < 0 ? 0 : a.weight_decay};
  }
  AdamW w;
  w.lr = a.lr < 0 ? 1e-3 : a.lr;
  w.weight_decay = a.weight_decay < 0 ? 0.01 : a.weight_decay;
  return w;
}

nlohmann::ordered_json eval_json(const StageRecord& r) {
  if (!r.evaluated) return nullptr;
  return {{"examples", r.eval.count},
          {"top1", r.eval.top1},
          {"top5", r.eval.top5},
          {"loss", r.eval.loss}};
}

// --qat and its flags as the QuantizationAwareTraining component (null without --qat, when
// its flags are refused).
std::shared_ptr<compression::QuantizationAwareTraining> qat_component(const TrainArgs& args) {
  if (!args.qat) {
    if (!args.format.empty() || !args.qat_observer.empty() || args.freeze_observers >= 0 ||
        args.learnable_scales || args.power_of_two || args.per_tensor || !args.exclude.empty() ||
        !args.freeze_bn.empty() || !args.weight_observer.empty() || args.target.given()) {
      throw UsageError(
          "--format, --qat-observer, --weight-observer, --freeze-observers, --freeze-bn, "
          "--learnable-scales, --power-of-two, --per-tensor, --exclude, --target and "
          "--parity-arithmetic apply to --qat");
    }
    return nullptr;
  }
  compression::QuantizerOptions o;
  o.weights.per_channel = !args.per_tensor;
  o.weights.power_of_two = o.activations.power_of_two = args.power_of_two;
  if (!args.qat_observer.empty())
    o.activations.observer.kind = compression::observer_from_name(args.qat_observer);
  if (!args.weight_observer.empty())
    o.weights.observer.kind = compression::observer_from_name(args.weight_observer);
  o.activations.observer.freeze_epoch = args.freeze_observers;
  o.learnable_scales = args.learnable_scales;
  if (args.freeze_bn == "never")
    o.freeze_bn_epoch = -1;
  else if (!args.freeze_bn.empty() && args.freeze_bn != "last")
    o.freeze_bn_epoch = std::stoi(args.freeze_bn);
  o.exclude = args.exclude;
  o.target = export_target_of(args.target);
  return std::make_shared<compression::QuantizationAwareTraining>(o);
}

TrainOptions train_options(const TrainArgs& args, const LoadedDataset& data, FILE* progress) {
  TrainOptions options;
  options.train = data.selected;
  options.eval = data.test;
  options.epochs = args.epochs;
  options.max_steps_per_epoch = args.steps;
  options.batch_size = args.batch;
  options.optimizer = optimizer_spec(args);
  options.seed = args.seed;
  options.label_smoothing = args.label_smoothing;
  options.lr_schedule.kind =
      args.lr_schedule;  // cosine: over every step of the run (T_max = total steps)
  options.log_every = args.log_every;
  options.input = args.input;
  options.output = args.output;
  options.on_log = print_step_progress(progress, args.epochs);
  return options;
}

// The quantized export (--qat): the file, checked against the trained model on the test data.
struct QuantizedExport {
  nlohmann::ordered_json json;
  std::optional<ParityResult> parity;
};

QuantizedExport export_quantized(const TrainArgs& args, nn::GraphModule& model,
                                 const LoadedDataset& data,
                                 const compression::QuantizationAwareTraining& qat) {
  const compression::QuantFormat format =
      compression::quant_format_from_name(args.format.empty() ? "qdq" : args.format);
  io::save_onnx_graph(compression::lower_quantized(model.export_graph(), format), args.out);
  QuantizedExport x;
  if (data.test) {
    x.parity = check_export_parity(model, io::load_onnx_graph(args.out), *data.test,
                                   {.arithmetic = parity_arithmetic_of(args.target),
                                    .input = args.input,
                                    .output = args.output});
  }
  int weights = 0, activations = 0;
  for (const auto& s : qat.sites()) (s.is_weight ? weights : activations) += 1;
  x.json = {{"format", format == compression::QuantFormat::kQdq ? "qdq" : "qoperator"},
            {"target", args.target.target},
            {"weights", qat.options().weights.describe()},
            {"activations", qat.options().activations.describe()},
            {"quantized_weights", weights},
            {"quantized_activations", activations},
            {"folded_batch_norms", qat.folded_batch_norms()},
            {"freeze_bn", args.freeze_bn.empty() ? "last" : args.freeze_bn},
            {"learnable_scales", args.learnable_scales},
            {"parity", x.parity ? parity_json(*x.parity) : nlohmann::ordered_json(nullptr)}};
  return x;
}

void print_trained(const TrainArgs& args, const StageRecord& r, const QuantizedExport& x) {
  fmt::print("trained {} steps in {:.1f} s, mean train loss {:.4f}{}\n", r.steps, r.seconds,
             r.train_loss,
             r.skipped_steps ? fmt::format(" ({} non-finite steps skipped)", r.skipped_steps) : "");
  if (r.evaluated) {
    fmt::print("test{}: {} examples, top-1 {:.2f} %, top-5 {:.2f} %, mean loss {:.4f}\n",
               args.qat ? " (simulated int8)" : "", r.eval.count, 100 * r.eval.top1,
               100 * r.eval.top5, r.eval.loss);
  }
  if (args.qat) {
    const nlohmann::ordered_json& q = x.json;
    const int folded = q["folded_batch_norms"].get<int>();
    fmt::print("quantized: {} weight(s) {}, {} activation(s) {}{}; exported as {} for target {}\n",
               q["quantized_weights"].get<int>(), q["weights"].get<std::string>(),
               q["quantized_activations"].get<int>(), q["activations"].get<std::string>(),
               folded ? fmt::format(", {} BatchNorm(s) folded", folded) : "",
               q["format"] == "qdq" ? "QDQ" : "QOperator", args.target.target);
    if (x.parity) print_parity(*x.parity, stdout);
  }
  fmt::print("wrote {}\n", args.out);
}

int run_train(const TrainArgs& args) {
  check_output_folder(args.out, "--out");
  apply_threads(args.threads);
  nn::GraphModule model = load_model_to_train(args.model.path);
  check_data_input_output(model.graph(), args.input, args.output);
  const LoadedDataset data = load_dataset(args.data, "train");
  normalize_model_input(model, data, args.input);
  Generator rng(args.seed);  // Dropout masks
  model.set_generator(&rng);
  const auto qat = qat_component(args);
  std::vector<std::shared_ptr<compression::Component>> components;
  if (qat) components.push_back(qat);

  // Progress goes to stdout, or to stderr when stdout carries the JSON result.
  FILE* progress = args.json ? stderr : stdout;
  const TrainOptions options = train_options(args, data, progress);
  fmt::print(progress,
             "training {} on {} ({} examples{}), {} epoch(s), batch {}, {} lr {:g} ({}){}\n",
             args.model.path, data.name, data.selected->size(), normalization_text(data),
             args.epochs, args.batch, args.optimizer, base_lr(options.optimizer), args.lr_schedule,
             args.qat ? ", quantization-aware" : "");
  const StageRecord r = Trainer(model, components, options).run();
  QuantizedExport x{nullptr, std::nullopt};
  if (qat)
    x = export_quantized(args, model, data, *qat);
  else
    io::save_onnx(model, args.out);

  if (args.json) {
    print_json({{"model", args.model.path},
                {"out", args.out},
                {"dataset", data.name},
                {"normalize", normalization_json(data)},
                {"epochs", args.epochs},
                {"steps", r.steps},
                {"skipped_steps", r.skipped_steps},
                {"train_loss", r.train_loss},
                {"test", eval_json(r)},
                {"quantization", x.json},
                {"seconds", r.seconds},
                {"simd", simd_target()}});
    if (x.parity && !x.parity->passed()) print_parity(*x.parity, stderr);
  } else {
    print_trained(args, r, x);
  }
  return x.parity ? parity_exit_code(*x.parity) : kExitOk;
}

}  // namespace

Action setup_train(CLI::App& sub) {
  auto args = std::make_shared<TrainArgs>();
  add_model_arg(sub, args->model);
  add_dataset_options(sub, args->data);
  sub.add_option("--out", args->out, "where the trained model is written (ONNX)")
      ->required()
      ->type_name("OUT.onnx");
  sub.add_option("--epochs", args->epochs, "passes over the training set")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub.add_option("--steps", args->steps, "stop each epoch after N steps (quick runs)")
      ->check(CLI::PositiveNumber)
      ->type_name("N");
  sub.add_option("--batch", args->batch, "examples per step")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub.add_option("--optimizer", args->optimizer, "sgd, adam or adamw")
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}))
      ->capture_default_str();
  sub.add_option("--lr", args->lr,
                 "learning rate (default: 0.01 for sgd, 0.001 for adam and adamw)")
      ->check(CLI::PositiveNumber);
  sub.add_option("--momentum", args->momentum, "SGD momentum (default 0.9)")
      ->check(CLI::Range(0.0, 1.0));
  sub.add_option("--weight-decay", args->weight_decay, "weight decay (default: 0; 0.01 for adamw)")
      ->check(CLI::NonNegativeNumber);
  sub.add_option("--lr-schedule", args->lr_schedule,
                 "constant, or cosine (decay to 0 over every step of the run, per step)")
      ->check(CLI::IsMember({"constant", "cosine"}))
      ->capture_default_str();
  sub.add_option("--label-smoothing", args->label_smoothing, "cross-entropy label smoothing")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub.add_option("--seed", args->seed, "data order and Dropout masks")->capture_default_str();
  sub.add_option("--log-every", args->log_every, "steps between progress lines")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  add_data_input_output_options(sub, args->input, args->output);
  add_json_flag(sub, args->json);
  add_threads_option(sub, args->threads);
  sub.add_flag("--qat", args->qat,
               "quantization-aware training: BatchNorm folded, int8 FakeQuantize on the weights "
               "and uint8 on the activations; --out is the int8 model (--format)");
  sub.add_option("--format", args->format, "--qat export: qdq (the default) or qoperator")
      ->check(CLI::IsMember({"qdq", "qoperator"}));
  sub.add_option("--qat-observer", args->qat_observer,
                 "--qat activation ranges: moving-average (the default), minmax, "
                 "percentile, entropy or mse")
      ->check(CLI::IsMember({"minmax", "moving-average", "percentile", "entropy", "mse"}));
  sub.add_option("--weight-observer", args->weight_observer,
                 "--qat weight ranges, per output channel, from the "
                 "current weights at every step: minmax (the default), "
                 "percentile, entropy or mse")
      ->check(CLI::IsMember({"minmax", "percentile", "entropy", "mse"}));
  sub.add_option("--freeze-observers", args->freeze_observers,
                 "--qat: activation ranges stop moving from this epoch "
                 "(0-based)")
      ->check(CLI::NonNegativeNumber)
      ->type_name("EPOCH");
  sub.add_option("--freeze-bn", args->freeze_bn,
                 "--qat: BatchNorm trains (batch statistics) until this epoch "
                 "(0-based), then uses its running statistics; 0 folds it into the "
                 "Conv from the start; last (the default): the last epoch; never")
      ->check(CLI::NonNegativeNumber | CLI::IsMember({"last", "never"}))
      ->type_name("EPOCH");
  sub.add_flag("--learnable-scales", args->learnable_scales,
               "--qat: scales trained by the optimizer (LSQ)");
  sub.add_flag("--power-of-two", args->power_of_two, "--qat: scales rounded up to powers of two");
  sub.add_flag("--per-tensor", args->per_tensor,
               "--qat: one weight scale per layer instead of per output channel");
  sub.add_option("--exclude", args->exclude, "--qat: node names or op types kept in float")
      ->type_name("NAME|OP");
  add_target_options(sub, args->target);
  return [args] { return run_train(*args); };
}

}  // namespace tamp::cli
