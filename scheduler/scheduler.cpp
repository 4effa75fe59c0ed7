#include <tamp/compression/pruning/checker.h>
#include <tamp/compression/pruning/pruning.h>
#include <tamp/io/onnx_import.h>
#include <tamp/scheduler/detail/run_state.h>
#include <tamp/scheduler/scheduler.h>
#include <tamp/scheduler/search/architecture_search.h>

#include <cmath>
#include <filesystem>
#include <set>

namespace tamp {

namespace {

bool prunes(const Stage& s) {
  for (const auto& c : s.components) {
    if (dynamic_cast<const compression::Pruning*>(c.get())) return true;
  }
  return false;
}

bool calibrates_only(const Stage& s) {
  return !s.components.empty() && !s.components.front()->needs_training();
}

}  // namespace

Stage Scheduler::combine(std::vector<std::shared_ptr<compression::Component>> components) {
  Stage s;
  s.components = std::move(components);
  return s;
}

Scheduler& Scheduler::append(Stage stage) {
  stages_.push_back(std::move(stage));
  return *this;
}

Scheduler& Scheduler::append(std::shared_ptr<compression::Component> component) {
  return append(combine({std::move(component)}));
}

ModelStats model_stats(const nn::Graph& graph) {
  ModelStats s;
  std::map<std::string, int64_t> bits;  // quantized weight -> bits
  for (const auto& n : graph.nodes) {
    if (n.op_type != "FakeQuantize" || n.inputs.empty() || !graph.initializers.count(n.inputs[0]))
      continue;
    const int64_t range = n.attrs->i("quant_max", 127) - n.attrs->i("quant_min", -128) + 1;
    bits[n.inputs[0]] = static_cast<int64_t>(
        std::ceil(std::log2(static_cast<double>(std::max<int64_t>(range, 2)))));
  }
  for (const auto& n : graph.nodes) {  // lowered graphs: int8 initializers behind DequantizeLinear
    if (n.op_type != "DequantizeLinear" || n.inputs.empty()) continue;
    auto it = graph.initializers.find(n.inputs[0]);
    if (it != graph.initializers.end())
      bits[n.inputs[0]] = static_cast<int64_t>(size_of(it->second.dtype()) * 8);
  }
  double bytes = 0;
  for (const auto& [name, t] : graph.initializers) {
    if (!is_floating(t.dtype()) && !bits.count(name)) {
      bytes += static_cast<double>(t.nbytes());
      continue;
    }
    s.float_bytes += t.numel() * 4;
    auto it = bits.find(name);
    bytes += it == bits.end() ? static_cast<double>(t.nbytes())
                              : static_cast<double>(t.numel()) * it->second / 8.0;
  }
  s.size_bytes = static_cast<int64_t>(std::ceil(bytes));
  if (!bits.empty()) {
    s.weight_bits = 0;
    for (const auto& [name, b] : bits) s.weight_bits = std::max(s.weight_bits, b);
  }
  double zeros = 0, total = 0;
  for (const auto& w : compression::pruning::sparsity_report(graph)) {
    const double n = static_cast<double>(checked_numel(w.shape));
    zeros += w.sparsity * n;
    total += n;
  }
  s.sparsity = total > 0 ? zeros / total : 0;
  return s;
}

namespace {

// Removes the temporary files of checkpoint writes a kill interrupted (io/checkpoint.h names
// them <path>.tmp-<pid>).
void remove_interrupted_writes(const std::string& checkpoint_path) {
  const std::filesystem::path p(checkpoint_path);
  const std::string prefix = p.filename().string() + ".tmp-";
  std::error_code ec;
  const auto dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().filename().string().rfind(prefix, 0) == 0) std::filesystem::remove(e.path(), ec);
  }
}

FitResult initial_result(const std::vector<Stage>& stages) {
  FitResult result;
  result.stages.resize(stages.size());
  for (size_t k = 0; k < stages.size(); ++k) {
    StageResult& r = result.stages[k];
    r.name = stages[k].name.empty() ? fmt::format("stage{}", k) : stages[k].name;
    for (const auto& c : stages[k].components) r.components.push_back(c->name());
    r.calibration_only = calibrates_only(stages[k]);
  }
  return result;
}

// One call of Scheduler::fit: the stages in order from where the run starts (or resumes),
// checkpoints written through detail/run_state.h.
class FitRun {
 public:
  FitRun(const std::vector<Stage>& stages, nn::GraphModule& model, const FitOptions& options)
      : stages_(stages),
        model_(model),
        options_(options),
        collective_(options.collective ? *options.collective : nn::local_collective()),
        writer_(options.is_writer ? options.is_writer() : collective_.rank() == 0),
        checkpoints_(!options.checkpoint_path.empty()),
        result_(initial_result(stages)) {}

  FitResult run() {
    if (options_.generator) model_.set_generator(options_.generator);
    if (checkpoints_ && writer_) remove_interrupted_writes(options_.checkpoint_path);
    if (options_.resume) resume();
    const size_t first = saved_ ? saved_->at.stage : 0;
    for (size_t k = 0; k < first; ++k) pruned_before_ = pruned_before_ || prunes(stages_[k]);
    for (size_t k = first; k < stages_.size(); ++k) run_stage(k);
    return result_;
  }

 private:
  void resume() {
    TAMP_CHECK(checkpoints_, "resuming needs a checkpoint path");
    saved_ = detail::read_saved_run(options_.checkpoint_path, options_.recipe_hash, stages_.size());
    TAMP_WITH_CONTEXT(fmt::format("resuming from '{}'", options_.checkpoint_path), {
      const ResumeBatch b =
          detail::resume_batch(saved_->checkpoint, options_.batch_size, collective_.size());
      TAMP_CHECK(b.batch_size == options_.batch_size,
                 "the checkpoint's global batch {} is not this run's {} (resume_batch gives the "
                 "batch to pass)",
                 b.global_batch, options_.batch_size * collective_.size());
      detail::restore_run(*saved_, result_.stages, options_.generator);
      model_.set_graph(io::parse_onnx_graph(saved_->start.graph, {.fold_constants = false}, {},
                                            "the checkpoint's graph"));
      for (auto& [name, p] : model_.named_parameters()) {
        auto it = saved_->start.trainable.find(name);
        if (it != saved_->start.trainable.end()) p.set_requires_grad(it->second.item() != 0);
      }
      if (options_.load_extra_state) options_.load_extra_state(saved_->checkpoint.group("extra/"));
    });
    result_.resumed = true;
    result_.resumed_stage = saved_->at.stage;
    result_.resumed_step = saved_->step;
  }

  bool resuming_inside(size_t k) const {
    return saved_ && saved_->at.stage == k && saved_->at.in_stage;
  }

  void run_stage(size_t k) {
    const Stage& stage = stages_[k];
    start_ = resuming_inside(k) ? saved_->start : detail::capture_stage_start(model_);
    if (options_.on_stage_begin) options_.on_stage_begin(k, stage);
    const auto components = stage_components(stage);
    TrainOptions t = train_options(k, stage);
    if (checkpoints_ && options_.checkpoint_every > 0)
      t.on_step_end = checkpoint_hook(k, components);
    if (resuming_inside(k)) {
      t.resume = detail::read_loop_progress(saved_->checkpoint);
      t.after_attach = [this, components](const nn::NamedParameters& trained) {
        TAMP_WITH_CONTEXT(fmt::format("resuming from '{}'", options_.checkpoint_path), {
          detail::restore_loop_state(saved_->checkpoint, trained, model_, components);
        });
      };
    }
    result_.stages[k].record = Trainer(model_, components, t).run();
    finish_stage(k);
  }

  // The stage's components, after a PatternLock when an earlier stage pruned (masks stay;
  // first, before quantization rewrites weights).
  std::vector<std::shared_ptr<compression::Component>> stage_components(const Stage& stage) const {
    std::vector<std::shared_ptr<compression::Component>> components;
    if (pruned_before_ && stage.lock_masks && !calibrates_only(stage)) {
      components.push_back(std::make_shared<compression::PatternLock>());
    }
    components.insert(components.end(), stage.components.begin(), stage.components.end());
    // An architecture search given no data of its own evaluates its candidates on the run's.
    for (const auto& c : components) {
      auto s = std::dynamic_pointer_cast<search::ArchitectureSearch>(c);
      if (s && !s->has_data() && options_.eval) s->set_data(options_.train, options_.eval);
    }
    return components;
  }

  TrainOptions train_options(size_t k, const Stage& stage) const {
    TrainOptions t;
    t.train = options_.train;
    t.epochs = stage.epochs.value_or(options_.epochs);
    t.max_steps_per_epoch = stage.max_steps_per_epoch.value_or(options_.max_steps_per_epoch);
    t.batch_size = options_.batch_size;
    t.optimizer = stage.optimizer.value_or(options_.optimizer);
    t.lr_schedule = stage.lr_schedule.value_or(options_.lr_schedule);
    t.label_smoothing = options_.label_smoothing;
    t.seed = options_.seed + k;  // each stage its own data order, fixed by the recipe
    t.max_nonfinite_steps = options_.max_nonfinite_steps;
    t.calibration_batches = stage.calibration_batches.value_or(options_.calibration_batches);
    t.log_every = options_.log_every;
    if (options_.on_log) t.on_log = [this, k](const StepLog& l) { options_.on_log(k, l); };
    t.input = options_.input;
    t.output = options_.output;
    t.collective = options_.collective;
    t.sync_batch_norm = options_.sync_batch_norm;
    return t;
  }

  std::function<void(const TrainCheckpointView&)> checkpoint_hook(
      size_t k, std::vector<std::shared_ptr<compression::Component>> components) {
    return [this, k, components](const TrainCheckpointView& v) {
      // A step whose loss was not finite is no place to resume from: the last good one stays.
      if (!writer_ || v.progress.step % options_.checkpoint_every != 0 ||
          v.progress.bad_in_a_row > 0)
        return;
      io::Checkpoint c = detail::run_checkpoint(header({k, true}));
      detail::add_loop_state(c, v, model_, components);
      io::save_checkpoint(c, options_.checkpoint_path);
    };
  }

  detail::RunHeader header(detail::RunPosition at) const {
    return {
        .recipe_hash = options_.recipe_hash,
        .at = at,
        .start = &start_,
        .results = &result_.stages,
        .generator = options_.generator,
        .ranks = collective_.size(),
        .batch_size = options_.batch_size,
        .extra = options_.extra_state ? options_.extra_state() : std::map<std::string, Tensor>{}};
  }

  // Evaluation and measures of the finished stage, then the checkpoint the next one starts from.
  void finish_stage(size_t k) {
    const Stage& stage = stages_[k];
    StageResult& r = result_.stages[k];
    if (stage.evaluate && options_.eval) {
      r.record.eval = evaluate(model_, *options_.eval,
                               {.max_batches = options_.eval_batches,
                                .input = options_.input,
                                .output = options_.output,
                                .collective = options_.collective});
      r.record.evaluated = true;
    }
    const ModelStats stats = model_stats(model_.export_graph());
    r.sparsity = stats.sparsity;
    r.weight_bits = stats.weight_bits;
    r.size_bytes = stats.size_bytes;
    pruned_before_ = pruned_before_ || prunes(stage);
    if (options_.on_stage_end) options_.on_stage_end(k, r);
    if (checkpoints_ && writer_) {
      start_ = detail::capture_stage_start(model_);
      io::save_checkpoint(detail::run_checkpoint(header({k + 1, false})), options_.checkpoint_path);
    }
  }

  const std::vector<Stage>& stages_;
  nn::GraphModule& model_;
  const FitOptions& options_;
  nn::Collective& collective_;
  const bool writer_, checkpoints_;
  FitResult result_;
  std::optional<detail::SavedRun> saved_;
  detail::StageStart start_;  // the running stage's starting point, for its checkpoints
  bool pruned_before_ = false;
};

}  // namespace

FitResult Scheduler::fit(nn::GraphModule& model, const FitOptions& options) {
  TAMP_CHECK(!stages_.empty(), "the scheduler has no stage");
  TAMP_CHECK(options.train, "fit needs a training dataset");
  return FitRun(stages_, model, options).run();
}

ResumeBatch resume_batch(const std::string& checkpoint_path, int64_t batch_size, int ranks) {
  ResumeBatch batch;
  TAMP_WITH_CONTEXT(fmt::format("resuming from '{}'", checkpoint_path), {
    batch = detail::resume_batch(io::load_checkpoint(checkpoint_path), batch_size, ranks);
  });
  return batch;
}

}  // namespace tamp
