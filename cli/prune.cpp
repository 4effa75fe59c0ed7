// tamp prune MODEL.onnx --pattern P [--sparsity S] [--criterion C] [--schedule CURVE]
//            [--finetune-epochs E --dataset fashion-mnist ...] [--bn-reestimate N] --out OUT.onnx
// Prunes a model's Conv / Gemm / MatMul weights (compression/pruning/pruning.h): at once by
// magnitude, or while fine-tuning (the Trainer with a Pruning component), then exports it.
// Pruned weights are exact zeros in the file; with the channel and head patterns the pruned
// channels and heads are removed from the graph (unless --no-shrink). --bn-reestimate
// recomputes the BatchNorm running statistics of the pruned model on N batches of --dataset.
#include "common.h"

#include <tamp/compression/pruning/checker.h>
#include <tamp/compression/pruning/pruning.h>
#include <tamp/compression/pruning/shrink.h>
#include <tamp/compression/quantization/ptq/batch_norm_reestimation.h>
#include <tamp/io/onnx_export.h>
#include <tamp/nn/graph_cost.h>
#include <tamp/scheduler/trainer.h>

#include <fmt/format.h>

#include <algorithm>

namespace tamp::cli {

namespace {

using namespace compression;

struct PruneArgs {
  ModelArg model;
  DatasetArgs data;
  std::string out;
  std::string pattern;
  double sparsity = -1;  // < 0: the pattern's own (N:M)
  std::string criterion = "magnitude";
  std::string schedule = "";  // "": cubic when fine-tuning over 2+ epochs, else one_shot
  double start_epoch = 0;
  double end_epoch = -1;  // < 0: max(1, epochs - 1)
  int64_t frequency = 50;
  bool global = false;
  std::vector<std::string> exclude, exclude_op_types, include;
  bool no_shrink = false;
  int epochs = 0;          // --finetune-epochs
  int64_t bn_batches = 0;  // --bn-reestimate (0: off)
  int64_t steps = -1;
  int64_t batch = 64;
  double lr = 0.01;
  uint64_t seed = 0;
  std::string input, output;
  bool json = false;
  int threads = 0;
};

PruningOptions pruning_options(const PruneArgs& a) {
  PruningOptions o;
  o.pattern = a.pattern;
  if (a.sparsity >= 0) o.target_sparsity = a.sparsity;
  o.criterion = pruning::parse_criterion(a.criterion);
  o.global = a.global;
  o.include = a.include;
  o.exclude = a.exclude;
  o.exclude_op_types = a.exclude_op_types;
  const std::string curve = !a.schedule.empty() ? a.schedule : a.epochs >= 2 ? "cubic" : "one_shot";
  const pruning::Curve c = pruning::parse_curve(curve);
  if (c == pruning::Curve::kOneShot) {
    o.schedule = pruning::Schedule::one_shot(0);
    o.schedule.start_epoch = a.start_epoch;
  } else {
    const double end = a.end_epoch >= 0 ? a.end_epoch : std::max(1.0, a.epochs - 1.0);
    o.schedule = pruning::Schedule::gradual_epochs(c, a.start_epoch, end, a.frequency);
  }
  return o;
}

// The flags as pruning options, refused before any work when they do not fit together.
PruningOptions checked_pruning_options(const PruneArgs& args) {
  PruningOptions options;
  try {
    options = pruning_options(args);
    Pruning check(options);  // validates the pattern, sparsity and flags
  } catch (const Error& e) {
    throw UsageError(e.message());
  }
  const pruning::Pattern pattern = pruning::Pattern::parse(args.pattern);
  if (args.sparsity < 0 && pattern.kind != pruning::PatternKind::kNofM) {
    throw UsageError(fmt::format("--sparsity is required for the {} pattern", pattern.str()));
  }
  if (args.epochs == 0 && pruning::needs_gradients(options.criterion)) {
    throw UsageError(fmt::format(
        "the {} criterion scores with gradients: give --finetune-epochs (or use magnitude)",
        args.criterion));
  }
  if (args.epochs == 0 && !args.schedule.empty() && args.schedule != "one_shot") {
    throw UsageError("a gradual --schedule needs --finetune-epochs");
  }
  return options;
}

// What every Trainer of this command shares: data, batch, seed, input and output.
TrainOptions base_train_options(const PruneArgs& args, const LoadedDataset& data) {
  TrainOptions t;
  t.train = data.selected;
  t.batch_size = args.batch;
  t.seed = args.seed;
  t.input = args.input;
  t.output = args.output;
  return t;
}

// Prunes while fine-tuning (--finetune-epochs) or at once, then re-estimates BatchNorm
// statistics (--bn-reestimate); the record holds the test accuracy when there is test data.
// `rng` (Dropout masks while fine-tuning) outlives both Trainers: the re-estimation runs the
// model in training mode too.
StageRecord prune_model(const PruneArgs& args, const PruningOptions& options,
                        nn::GraphModule& model, Generator& rng,
                        const std::optional<LoadedDataset>& data, FILE* progress,
                        const std::shared_ptr<Pruning>& component) {
  StageRecord record;
  if (args.epochs > 0) {
    model.set_generator(&rng);
    TrainOptions t = base_train_options(args, *data);
    t.eval = data->test;
    t.epochs = args.epochs;
    t.max_steps_per_epoch = args.steps;
    t.optimizer = SGD{.lr = args.lr, .momentum = 0.9};
    t.lr_schedule = {.kind = "cosine"};
    t.on_log = print_step_progress(progress, args.epochs);
    const pruning::Schedule& schedule = options.schedule;
    fmt::print(progress,
               "pruning {} to {} ({} criterion, {}) while fine-tuning {} epoch(s) on {}\n",
               args.model.path, args.pattern, args.criterion,
               schedule.curve == pruning::Curve::kOneShot
                   ? std::string("one shot")
                   : pruning::curve_name(schedule.curve) + " schedule",
               args.epochs, data->name);
    record = Trainer(model, {component}, t).run();
  } else {
    component->attach(model, nn::local_collective());
    component->prune_now();
    component->finalize(model);
  }
  if (args.bn_batches > 0) {
    fmt::print(progress, "re-estimating BatchNorm statistics on {} batch(es) of {}\n",
               args.bn_batches, data->name);
    TrainOptions t = base_train_options(args, *data);
    t.calibration_batches = args.bn_batches;
    Trainer(model, {std::make_shared<BatchNormReestimation>()}, t).run();
  }
  if ((args.epochs == 0 || args.bn_batches > 0) && data && data->test) {
    record.eval = evaluate(model, *data->test, {.input = args.input, .output = args.output});
    record.evaluated = true;
  }
  return record;
}

// What the command reports: the layers, the channels or heads removed, the parameter counts.
struct PruneOutcome {
  std::vector<Pruning::LayerReport> layers;
  pruning::ShrinkReport shrink;
  int64_t params_before = 0, params_after = 0;
  StageRecord record;
};

void print_prune_json(const PruneArgs& args, const PruneOutcome& r) {
  nlohmann::json j{{"model", args.model.path},          {"out", args.out},
                   {"pattern", args.pattern},           {"criterion", args.criterion},
                   {"finetune_epochs", args.epochs},    {"parameters_before", r.params_before},
                   {"parameters_after", r.params_after}};
  j["layers"] = nlohmann::json::array();
  for (const auto& l : r.layers) {
    j["layers"].push_back(
        {{"weight", l.weight},
         {"op_type", l.op_type},
         {"pattern", l.pattern},
         {"target", l.target},
         {"sparsity", l.sparsity},
         {"skipped", l.skipped.empty() ? nlohmann::json(nullptr) : nlohmann::json(l.skipped)}});
  }
  j["removed"] = nlohmann::json::array();
  for (const auto& l : r.shrink.layers)
    j["removed"].push_back({{"node", l.node}, {"before", l.before}, {"after", l.after}});
  j["bn_reestimation_batches"] = args.bn_batches;
  j["test"] = r.record.evaluated
                  ? nlohmann::json{{"examples", r.record.eval.count}, {"top1", r.record.eval.top1}}
                  : nlohmann::json(nullptr);
  print_json(j);
}

void print_prune_table(const PruneArgs& args, const PruneOutcome& r,
                       const pruning::Pattern& pattern) {
  size_t w = 6;
  for (const auto& l : r.layers) w = std::max(w, l.weight.size());
  fmt::print("\n{:<{}}  {:<9}  {:<12}  {:>7}  {:>8}  {}\n", "weight", w, "op", "pattern", "target",
             "sparsity", "");
  for (const auto& l : r.layers) {
    if (!l.skipped.empty()) {
      fmt::print("{:<{}}  {:<9}  {:<12}  {:>7}  {:>8}  left dense: {}\n", l.weight, w, l.op_type,
                 l.pattern, "-", "-", l.skipped);
    } else {
      fmt::print("{:<{}}  {:<9}  {:<12}  {:>6.1f}%  {:>7.2f}%\n", l.weight, w, l.op_type, l.pattern,
                 100 * l.target, 100 * l.sparsity);
    }
  }
  for (const auto& l : r.shrink.layers) {
    fmt::print("removed {} of {} {} from '{}'\n", l.before - l.after, l.before,
               pattern.kind == pruning::PatternKind::kHead ? "heads" : "channels", l.node);
  }
  for (const auto& n : r.shrink.notes) fmt::print("note: {}\n", n);
  fmt::print("parameters {} -> {}\n", count_text(r.params_before), count_text(r.params_after));
  if (r.record.evaluated) {
    fmt::print("test: {} examples, top-1 {:.2f} %\n", r.record.eval.count,
               100 * r.record.eval.top1);
  }
  fmt::print("wrote {}\n", args.out);
}

int run_prune(const PruneArgs& args) {
  apply_threads(args.threads);
  const PruningOptions options = checked_pruning_options(args);
  const pruning::Pattern pattern = pruning::Pattern::parse(args.pattern);
  check_output_folder(args.out, "--out");
  nn::GraphModule model = load_model_to_train(args.model.path);
  check_data_input_output(model.graph(), args.input, args.output);
  PruneOutcome r;
  r.params_before = nn::float_parameter_count(model.graph());
  std::optional<LoadedDataset> data;
  if (args.epochs > 0 || !args.data.spec.empty()) {
    data = load_dataset(args.data, "train");
    normalize_model_input(model, *data, args.input);
  }
  auto component = std::make_shared<Pruning>(options);
  Generator rng(args.seed);
  r.record = prune_model(args, options, model, rng, data, args.json ? stderr : stdout, component);

  nn::Graph out = model.export_graph();
  const bool structured =
      pattern.kind == pruning::PatternKind::kChannel || pattern.kind == pruning::PatternKind::kHead;
  if (structured && !args.no_shrink) out = pruning::shrink_pruned(out, &r.shrink);
  io::save_onnx_graph(out, args.out);
  r.params_after = nn::float_parameter_count(out);
  r.layers = component->report();
  if (args.json)
    print_prune_json(args, r);
  else
    print_prune_table(args, r, pattern);
  return kExitOk;
}

}  // namespace

Action setup_prune(CLI::App& sub) {
  auto a = std::make_shared<PruneArgs>();
  add_model_arg(sub, a->model);
  sub.add_option("--out", a->out, "where the pruned model is written (ONNX)")
      ->required()
      ->type_name("OUT.onnx");
  sub.add_option("--pattern", a->pattern,
                 "unstructured, RxC blocks (4x1, 1x4, 2x2), N:M (2:4, 1:2, 4:8), channel or head")
      ->required()
      ->type_name("PATTERN");
  sub.add_option("--sparsity", a->sparsity, "target in [0, 1) (default for N:M: 1 - N/M)");
  sub.add_option("--criterion", a->criterion,
                 "magnitude, gradient, snip, snip_momentum or movement")
      ->capture_default_str();
  sub.add_option(
      "--schedule", a->schedule,
      "one_shot, linear, cubic, exponential or cosine (default: cubic when fine-tuning 2+ epochs)");
  sub.add_option("--start-epoch", a->start_epoch, "first pruning epoch")
      ->check(CLI::NonNegativeNumber);
  sub.add_option("--end-epoch", a->end_epoch,
                 "the final sparsity is reached when this epoch begins "
                 "(default: the last epoch)")
      ->check(CLI::NonNegativeNumber);
  sub.add_option("--frequency", a->frequency, "steps between mask updates")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub.add_flag("--global", a->global,
               "one threshold over all pruned weights instead of per weight");
  sub.add_option("--include", a->include, "prune only the weights matching these regexes")
      ->type_name("REGEX");
  sub.add_option("--exclude", a->exclude, "leave the weights matching these regexes dense")
      ->type_name("REGEX");
  sub.add_option("--exclude-op-types", a->exclude_op_types,
                 "leave the weights of these ops dense (Conv, Gemm, MatMul)");
  sub.add_flag("--no-shrink", a->no_shrink,
               "channel/head patterns: keep the zero channels instead of removing them");
  sub.add_option("--finetune-epochs", a->epochs,
                 "fine-tune while pruning (0: prune at once, by magnitude)")
      ->check(CLI::NonNegativeNumber);
  sub.add_option("--bn-reestimate", a->bn_batches,
                 "after pruning, recompute BatchNorm running statistics on N "
                 "batches of --dataset (train-mode statistics)")
      ->check(CLI::NonNegativeNumber)
      ->type_name("N");
  add_dataset_options(sub, a->data, "");
  sub.get_option("--dataset")->required(false);
  sub.add_option("--steps", a->steps, "stop each epoch after N steps (quick runs)")
      ->check(CLI::PositiveNumber);
  sub.add_option("--batch", a->batch, "examples per step")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub.add_option("--lr", a->lr, "SGD learning rate (momentum 0.9, cosine decay)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub.add_option("--seed", a->seed, "data order")->capture_default_str();
  add_data_input_output_options(sub, a->input, a->output);
  add_json_flag(sub, a->json);
  add_threads_option(sub, a->threads);
  return [a] {
    if (a->epochs > 0 && a->data.spec.empty())
      throw UsageError("--finetune-epochs needs --dataset");
    if (a->bn_batches > 0 && a->data.spec.empty())
      throw UsageError("--bn-reestimate needs --dataset");
    return run_prune(*a);
  };
}

}  // namespace tamp::cli
