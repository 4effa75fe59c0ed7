#include "compression_experiments.h"

#include <tamp/compression/distillation/distillation.h>
#include <tamp/compression/distillation/self_distillation.h>
#include <tamp/compression/pruning/checker.h>
#include <tamp/compression/pruning/pruning.h>
#include <tamp/compression/pruning/shrink.h>
#include <tamp/io/onnx_import.h>
#include <tamp/scheduler/trainer.h>

#include <fmt/format.h>

namespace tamp::examples {

using namespace compression;

namespace {

struct Run {
  double top1 = 0;
  double seconds = 0;
};

Run train(nn::GraphModule& model, const nn::TrainTest& data,
          std::vector<std::shared_ptr<Component>> components, int epochs,
          const ExperimentOptions& o) {
  TrainOptions t;
  t.train = data.train;
  t.eval = data.test;
  t.epochs = epochs;
  t.max_steps_per_epoch = o.max_steps_per_epoch;
  t.batch_size = o.batch_size;
  t.optimizer = SGD{.lr = o.lr, .momentum = 0.9};
  t.lr_schedule = {.kind = "cosine", .eta_min = o.lr * 0.05};
  t.seed = o.seed;
  t.log_every = 1 << 30;
  const StageRecord r = Trainer(model, std::move(components), t).run();
  return {r.eval.top1, r.seconds};
}

// A GraphModule trains its initializers in place, and a Graph copy shares their storage:
// every run starts from its own copy, so runs neither see nor change each other's weights.
nn::Graph own_copy(const nn::Graph& g) {
  nn::Graph c = g;
  for (auto& [name, t] : c.initializers) t = t.clone();
  return c;
}

void say(const ExperimentOptions& o, const std::string& line) {
  if (o.log) o.log(line);
}

}  // namespace

std::string model_file(const std::string& source_dir, const std::string& name) {
  return source_dir + "/tests/data/models/" + name + ".onnx";
}

Baseline train_baseline(const std::string& model_path, const nn::TrainTest& data,
                        const ExperimentOptions& o) {
  Baseline b;
  nn::GraphModule m(io::load_onnx_graph(model_path));
  const Run base = train(m, data, {}, o.base_epochs, o);
  b.trained = m.export_graph();
  b.top1 = base.top1;
  say(o, fmt::format("baseline: {} epochs, top-1 {:.2f} % ({:.0f} s)", o.base_epochs, 100 * b.top1,
                     base.seconds));
  nn::GraphModule dense(own_copy(b.trained));
  const Run ft = train(dense, data, {}, o.finetune_epochs, o);
  b.finetuned_top1 = ft.top1;
  b.seconds = base.seconds + ft.seconds;
  say(o, fmt::format("dense fine-tuning: {} more epochs, top-1 {:.2f} %", o.finetune_epochs,
                     100 * ft.top1));
  return b;
}

PruningRow run_pruning(const Baseline& base, const nn::TrainTest& data,
                       const std::string& pattern_text, pruning::Criterion criterion,
                       const ExperimentOptions& o, double sparsity) {
  const pruning::Pattern pattern = pruning::Pattern::parse(pattern_text);
  PruningOptions p;
  p.pattern = pattern_text;
  p.criterion = criterion;
  PruningRow row;
  row.pattern = pattern_text;
  row.criterion = pruning::criterion_name(criterion);
  const double epochs = o.finetune_epochs;
  if (pattern.kind == pruning::PatternKind::kUnstructured) {
    const UnstructuredRecipe& u = o.unstructured;
    TAMP_CHECK(u.end > 0 && u.end <= 1,
               "the pruning end must be a fraction of the run in (0, 1], got {}", u.end);
    p.target_sparsity = sparsity;
    p.global = u.global;
    p.schedule = pruning::Schedule::gradual_epochs(u.curve, 0, u.end * epochs, u.frequency);
    row.schedule =
        fmt::format("{}{}, epochs 0-{:.3g} of {}, every {} steps", u.global ? "global, " : "",
                    pruning::curve_name(u.curve), u.end * epochs, epochs, u.frequency);
  } else {
    if (sparsity >= 0) p.target_sparsity = sparsity;
    p.schedule = pruning::Schedule::gradual_epochs(pruning::Curve::kCubic, 0, 1, 50);
    row.schedule = "cubic over epoch 0, every 50 steps";
  }
  nn::GraphModule m(own_copy(base.trained));
  auto component = std::make_shared<Pruning>(p);
  const Run r = train(m, data, {component}, o.finetune_epochs, o);
  row.top1 = r.top1;
  row.seconds = r.seconds;
  row.model = m.export_graph();
  int64_t zeros = 0, total = 0, pruned_zeros = 0, pruned_total = 0;
  row.pattern_valid = true;
  for (const auto& l : component->report()) {
    if (!l.skipped.empty()) continue;
    row.target = l.target;
    const Tensor w = m.parameter(l.weight).value();
    const auto layout = pruning::WeightLayout::of(l.op_type, w.shape());
    const auto check = pruning::check_pattern(w, layout, pruning::Pattern::parse(l.pattern));
    row.pattern_valid = row.pattern_valid && check.valid;
    row.layers.emplace_back(l.weight, check.sparsity);
    pruned_zeros += std::llround(check.sparsity * static_cast<double>(w.numel()));
    pruned_total += w.numel();
  }
  for (const auto& s : pruning::sparsity_report(row.model)) {
    const Tensor w = m.parameter(s.weight).value();
    zeros += std::llround(s.sparsity * static_cast<double>(w.numel()));
    total += w.numel();
  }
  if (pattern.kind == pruning::PatternKind::kChannel) {
    pruning::ShrinkReport r;
    pruning::shrink_pruned(row.model, &r);
    row.shrink.parameters_before = r.parameters_before;
    row.shrink.parameters_after = r.parameters_after;
    for (const auto& l : r.layers)
      row.shrink.layers.push_back(fmt::format("{} {} -> {}", l.node, l.before, l.after));
  }
  row.sparsity =
      pruned_total ? static_cast<double>(pruned_zeros) / static_cast<double>(pruned_total) : 0;
  row.model_sparsity = total ? static_cast<double>(zeros) / static_cast<double>(total) : 0;
  say(o, fmt::format("{} {} ({}): top-1 {:.2f} % (dense {:.2f} %), sparsity {:.1f} % of pruned "
                     "weights, {:.1f} % "
                     "of all, pattern {} ({:.0f} s)",
                     row.pattern, row.criterion, row.schedule, 100 * row.top1,
                     100 * base.finetuned_top1, 100 * row.sparsity, 100 * row.model_sparsity,
                     row.pattern_valid ? "valid" : "INVALID", r.seconds));
  return row;
}

std::vector<DistillationRow> run_distillation(const std::string& source_dir,
                                              const nn::TrainTest& data, const ExperimentOptions& o,
                                              double* teacher_top1) {
  auto teacher =
      std::make_shared<nn::GraphModule>(io::load_onnx_graph(model_file(source_dir, "cnn_wide")));
  const Run t = train(*teacher, data, {}, o.teacher_epochs, o);
  if (teacher_top1) *teacher_top1 = t.top1;
  say(o, fmt::format("teacher cnn_wide: {} epochs, top-1 {:.2f} % ({:.0f} s)", o.teacher_epochs,
                     100 * t.top1, t.seconds));
  const nn::Graph student_graph = io::load_onnx_graph(model_file(source_dir, "cnn_half"));
  std::vector<DistillationRow> rows;
  auto record = [&](const std::string& setting, const Run& r,
                    const std::vector<std::map<std::string, double>>& h) {
    DistillationRow row{setting, r.top1, r.seconds, {}, h};
    for (const auto& epoch : h)
      row.epoch_losses.push_back(epoch.count("total") ? epoch.at("total") : 0.0);
    std::string losses;
    for (const auto& epoch : h) {
      losses += " [";
      for (const auto& [term, v] : epoch) losses += fmt::format(" {} {:.4f}", term, v);
      losses += " ]";
    }
    say(o, fmt::format("student {}: top-1 {:.2f} % ({:.0f} s){}", setting, 100 * r.top1, r.seconds,
                       losses.empty() ? "" : ", extra loss terms per epoch" + losses));
    rows.push_back(std::move(row));
  };
  {
    nn::GraphModule s(own_copy(student_graph));
    record("alone", train(s, data, {}, o.distill_epochs, o), {});
  }
  {
    nn::GraphModule s(own_copy(student_graph));
    auto kd = std::make_shared<Distillation>(teacher,
                                             DistillationOptions{.temperature = 4, .alpha = 0.7});
    record("logit KD (KL, T 4, alpha 0.7)", train(s, data, {kd}, o.distill_epochs, o),
           kd->history());
  }
  {
    nn::GraphModule s(own_copy(student_graph));
    auto kd = std::make_shared<Distillation>(
        teacher,
        DistillationOptions{
            .temperature = 4,
            .alpha = 0.7,
            .layers = {
                {.student = "/MaxPool_1_output_0", .teacher = "/MaxPool_1_output_0", .weight = 0.1},
                {.student = "/Relu_2_output_0", .teacher = "/Relu_2_output_0", .weight = 0.1}}});
    record("logit KD + 2 layers (MSE, projected)", train(s, data, {kd}, o.distill_epochs, o),
           kd->history());
  }
  {
    nn::GraphModule s(own_copy(student_graph));
    auto sd = std::make_shared<SelfDistillation>(SelfDistillationOptions{
        .temperature = 3,
        .pairs = {{.shallow = "/MaxPool_output_0"}, {.shallow = "/MaxPool_1_output_0"}},
        .head_grid = o.sd_head_grid,
        .head_hidden = o.sd_head_hidden});
    record("self-distillation (2 heads)", train(s, data, {sd}, o.distill_epochs, o), sd->history());
  }
  return rows;
}

}  // namespace tamp::examples
