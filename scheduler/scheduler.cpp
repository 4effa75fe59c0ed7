#include <tamp/compression/pruning/checker.h>
#include <tamp/compression/pruning/pruning.h>
#include <tamp/scheduler/search/architecture_search.h>
#include <tamp/io/checkpoint.h>
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>
#include <tamp/scheduler/scheduler.h>

#include <cmath>
#include <filesystem>
#include <set>

namespace tamp {

namespace {

Tensor i64(int64_t v) { return Tensor::scalar(static_cast<double>(v), DType::kInt64); }
Tensor f64(double v) { return Tensor::scalar(v, DType::kFloat64); }
int64_t as_i64(const Tensor& t) { return static_cast<int64_t>(t.item()); }

// A StageResult as float64 numbers (names come from the stage list).
constexpr int kRecordFields = 13;
Tensor record_to_tensor(const StageResult& r) {
  const StageRecord& s = r.record;
  return Tensor::from_vector<double>(
      {kRecordFields},
      {s.train_loss, s.evaluated ? 1.0 : 0.0, s.eval.top1, s.eval.top5, s.eval.loss, static_cast<double>(s.eval.count),
       s.seconds, static_cast<double>(s.steps), static_cast<double>(s.skipped_steps), r.sparsity,
       static_cast<double>(r.weight_bits), static_cast<double>(r.size_bytes), r.calibration_only ? 1.0 : 0.0});
}
void record_from_tensor(const Tensor& t, StageResult& r) {
  TAMP_CHECK(t.numel() == kRecordFields && t.dtype() == DType::kFloat64, "a stage record has {}, expected {} float64",
             describe(t), kRecordFields);
  const double* v = t.data<double>();
  StageRecord& s = r.record;
  s.train_loss = v[0];
  s.evaluated = v[1] != 0;
  s.eval.top1 = v[2];
  s.eval.top5 = v[3];
  s.eval.loss = v[4];
  s.eval.count = static_cast<int64_t>(v[5]);
  s.seconds = v[6];
  s.steps = static_cast<int64_t>(v[7]);
  s.skipped_steps = static_cast<int64_t>(v[8]);
  r.sparsity = v[9];
  r.weight_bits = static_cast<int64_t>(v[10]);
  r.size_bytes = static_cast<int64_t>(v[11]);
  r.calibration_only = v[12] != 0;
}

bool prunes(const Stage& s) {
  for (const auto& c : s.components) {
    if (dynamic_cast<const compression::Pruning*>(c.get())) return true;
  }
  return false;
}

bool calibrates_only(const Stage& s) {
  return !s.components.empty() && !s.components.front()->needs_training();
}

// Where a resumed run continues.
struct ResumePoint {
  size_t stage = 0;
  bool in_stage = false;
  io::Checkpoint checkpoint;
};

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
  std::map<std::string, int64_t> bits;   // quantized weight -> bits
  for (const auto& n : graph.nodes) {
    if (n.op_type != "FakeQuantize" || n.inputs.empty() || !graph.initializers.count(n.inputs[0])) continue;
    const int64_t range = n.attrs->i("quant_max", 127) - n.attrs->i("quant_min", -128) + 1;
    bits[n.inputs[0]] = static_cast<int64_t>(std::ceil(std::log2(static_cast<double>(std::max<int64_t>(range, 2)))));
  }
  for (const auto& n : graph.nodes) {   // lowered graphs: int8 initializers behind DequantizeLinear
    if (n.op_type != "DequantizeLinear" || n.inputs.empty()) continue;
    auto it = graph.initializers.find(n.inputs[0]);
    if (it != graph.initializers.end()) bits[n.inputs[0]] = static_cast<int64_t>(size_of(it->second.dtype()) * 8);
  }
  double bytes = 0;
  for (const auto& [name, t] : graph.initializers) {
    if (!is_floating(t.dtype()) && !bits.count(name)) {
      bytes += static_cast<double>(t.nbytes());
      continue;
    }
    s.float_bytes += t.numel() * 4;
    auto it = bits.find(name);
    bytes += it == bits.end() ? static_cast<double>(t.nbytes()) : static_cast<double>(t.numel()) * it->second / 8.0;
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

FitResult Scheduler::fit(nn::GraphModule& model, const FitOptions& options) {
  TAMP_CHECK(!stages_.empty(), "the scheduler has no stage");
  TAMP_CHECK(options.train, "fit needs a training dataset");
  nn::Collective& collective = options.collective ? *options.collective : nn::local_collective();
  const bool writer = options.is_writer ? options.is_writer() : collective.rank() == 0;
  const bool checkpoints = !options.checkpoint_path.empty();
  FitResult result;
  result.stages.resize(stages_.size());
  for (size_t k = 0; k < stages_.size(); ++k) {
    StageResult& r = result.stages[k];
    r.name = stages_[k].name.empty() ? fmt::format("stage{}", k) : stages_[k].name;
    for (const auto& c : stages_[k].components) r.components.push_back(c->name());
    r.calibration_only = calibrates_only(stages_[k]);
  }
  if (options.generator) model.set_generator(options.generator);
  if (checkpoints && writer) {
    // Temporary files of writes a kill interrupted (io/checkpoint.h names them <path>.tmp-<pid>).
    const std::filesystem::path p(options.checkpoint_path);
    const std::string prefix = p.filename().string() + ".tmp-";
    std::error_code ec;
    const auto dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      if (e.path().filename().string().rfind(prefix, 0) == 0) std::filesystem::remove(e.path(), ec);
    }
  }

  // ---- resume ----
  ResumePoint resume;
  if (options.resume) {
    TAMP_CHECK(checkpoints, "resuming needs a checkpoint path");
    resume.checkpoint = io::load_checkpoint(options.checkpoint_path);
    const io::Checkpoint& c = resume.checkpoint;
    TAMP_WITH_CONTEXT(fmt::format("resuming from '{}'", options.checkpoint_path), {
      const std::string hash = c.string("meta/recipe_hash");
      if (hash != options.recipe_hash) {
        throw Error(fmt::format("the checkpoint was written by another recipe (hash {}, this one {})", hash,
                                options.recipe_hash),
                    ErrorKind::kInvalidInput, "run without --resume to start afresh, or pass the same recipe");
      }
      const int64_t stage = as_i64(c.at("pos/stage"));
      TAMP_CHECK(stage >= 0 && stage <= static_cast<int64_t>(stages_.size()), "stage {} is outside the recipe's {}",
                 stage, stages_.size());
      resume.stage = static_cast<size_t>(stage);
      resume.in_stage = as_i64(c.at("pos/in_stage")) != 0;
      for (size_t k = 0; k < resume.stage; ++k) record_from_tensor(c.at(fmt::format("records/{}", k)), result.stages[k]);
      const std::string bytes = c.string("graph");
      model.set_graph(io::parse_onnx_graph(bytes, {.fold_constants = false}, {}, "the checkpoint's graph"));
      for (auto& [name, p] : model.named_parameters()) {
        const std::string key = "trainable/" + name;
        if (c.has(key)) p.set_requires_grad(c.at(key).item() != 0);
      }
      if (options.generator && c.has("rng")) {
        const Tensor& t = c.at("rng");
        TAMP_CHECK(t.numel() == 4 && t.dtype() == DType::kInt64, "the generator state is {}", describe(t));
        Generator::State st;
        for (int i = 0; i < 4; ++i) st[static_cast<size_t>(i)] = static_cast<uint64_t>(t.data<int64_t>()[i]);
        options.generator->set_state(st);
      }
      if (options.load_extra_state) options.load_extra_state(c.group("extra/"));
    });
    result.resumed = true;
    result.resumed_stage = resume.stage;
    result.resumed_step = resume.in_stage ? as_i64(resume.checkpoint.at("pos/step")) : 0;
  }

  // What every checkpoint of a stage shares: the graph it started from and the position.
  std::string stage_graph;
  std::map<std::string, Tensor> stage_trainable;
  auto base_checkpoint = [&](size_t stage, bool in_stage) {
    io::Checkpoint c;
    c.set_string("meta/recipe_hash", options.recipe_hash);
    c.set_string("graph", stage_graph);
    c.set_group("trainable/", stage_trainable);
    c.tensors["pos/stage"] = i64(static_cast<int64_t>(stage));
    c.tensors["pos/in_stage"] = i64(in_stage ? 1 : 0);
    for (size_t k = 0; k < stage; ++k) c.tensors[fmt::format("records/{}", k)] = record_to_tensor(result.stages[k]);
    if (options.generator) {
      const auto st = options.generator->state();
      c.tensors["rng"] = Tensor::from_vector<int64_t>({4}, {static_cast<int64_t>(st[0]), static_cast<int64_t>(st[1]),
                                                            static_cast<int64_t>(st[2]), static_cast<int64_t>(st[3])});
    }
    if (options.extra_state) c.set_group("extra/", options.extra_state());
    return c;
  };
  auto capture_stage_start = [&] {
    io::ExportOptions eo;
    eo.keep_training_ops = true;
    stage_graph = io::serialize_onnx_graph(model.export_graph(), eo);
    stage_trainable.clear();
    for (const auto& [name, p] : model.named_parameters()) stage_trainable[name] = i64(p.requires_grad() ? 1 : 0);
  };

  bool pruned_before = false;
  for (size_t k = 0; k < resume.stage; ++k) pruned_before = pruned_before || prunes(stages_[k]);
  for (size_t k = resume.stage; k < stages_.size(); ++k) {
    const Stage& stage = stages_[k];
    const bool resuming_here = options.resume && k == resume.stage && resume.in_stage;
    if (!resuming_here) capture_stage_start();
    else {
      stage_graph = resume.checkpoint.string("graph");
      stage_trainable = resume.checkpoint.group("trainable/");
    }
    if (options.on_stage_begin) options.on_stage_begin(k, stage);
    std::vector<std::shared_ptr<compression::Component>> components;
    const bool calibration = calibrates_only(stage);
    // Masks of earlier stages stay: a PatternLock first, before quantization rewrites weights.
    if (pruned_before && stage.lock_masks && !calibration) components.push_back(std::make_shared<compression::PatternLock>());
    components.insert(components.end(), stage.components.begin(), stage.components.end());
    // An architecture search given no data of its own evaluates its candidates on the run's.
    for (const auto& c : components) {
      auto s = std::dynamic_pointer_cast<search::ArchitectureSearch>(c);
      if (s && !s->has_data() && options.eval) s->set_data(options.train, options.eval);
    }

    TrainOptions t;
    t.train = options.train;
    t.epochs = stage.epochs.value_or(options.epochs);
    t.max_steps_per_epoch = stage.max_steps_per_epoch.value_or(options.max_steps_per_epoch);
    t.batch_size = options.batch_size;
    t.optimizer = stage.optimizer.value_or(options.optimizer);
    t.lr_schedule = stage.lr_schedule.value_or(options.lr_schedule);
    t.label_smoothing = options.label_smoothing;
    t.seed = options.seed + k;   // each stage its own data order, fixed by the recipe
    t.max_nonfinite_steps = options.max_nonfinite_steps;
    t.calibration_batches = stage.calibration_batches.value_or(options.calibration_batches);
    t.log_every = options.log_every;
    if (options.on_log) t.on_log = [&, k](const StepLog& l) { options.on_log(k, l); };
    t.input = options.input;
    t.output = options.output;
    t.collective = options.collective;
    t.sync_batch_norm = options.sync_batch_norm;
    if (checkpoints && options.checkpoint_every > 0) {
      t.on_step_end = [&, k](const TrainCheckpointView& v) {
        // A step whose loss was not finite is no place to resume from: the last good one stays.
        if (v.progress.step % options.checkpoint_every != 0 || v.progress.bad_in_a_row > 0) return;
        if (!writer) return;
        io::Checkpoint c = base_checkpoint(k, true);
        const TrainProgress& p = v.progress;
        c.tensors["pos/step"] = i64(p.step);
        c.tensors["pos/loss_sum"] = f64(p.loss_sum);
        c.tensors["pos/window_sum"] = f64(p.window_sum);
        for (const auto& [term, sum] : p.window_terms) c.tensors["pos/window_terms/" + term] = f64(sum);
        c.tensors["pos/window"] = i64(p.window);
        c.tensors["pos/steps"] = i64(p.steps);
        c.tensors["pos/skipped"] = i64(p.skipped);
        c.tensors["pos/bad_in_a_row"] = i64(p.bad_in_a_row);
        for (const auto& [name, var] : v.trained) c.tensors["param/" + name] = var.value();
        for (const auto& [name, var] : model.named_buffers()) c.tensors["buffer/" + name] = var.value();
        c.set_group("optim/", v.optimizer.state());
        for (size_t i = 0; i < components.size(); ++i) c.set_group(fmt::format("comp/{}/", i), components[i]->state());
        io::save_checkpoint(c, options.checkpoint_path);
      };
    }
    if (resuming_here) {
      const io::Checkpoint& c = resume.checkpoint;
      auto p = std::make_shared<TrainProgress>();
      p->step = as_i64(c.at("pos/step"));
      p->loss_sum = c.at("pos/loss_sum").item();
      p->window_sum = c.at("pos/window_sum").item();
      for (const auto& [term, sum] : c.group("pos/window_terms/")) p->window_terms[term] = sum.item();
      p->window = as_i64(c.at("pos/window"));
      p->steps = as_i64(c.at("pos/steps"));
      p->skipped = as_i64(c.at("pos/skipped"));
      p->bad_in_a_row = as_i64(c.at("pos/bad_in_a_row"));
      p->optimizer = c.group("optim/");
      t.resume = p;
      t.after_attach = [&](const nn::NamedParameters& trained) {
        TAMP_WITH_CONTEXT(fmt::format("resuming from '{}'", options.checkpoint_path), {
          const auto params = c.group("param/");
          std::set<std::string> seen;
          for (const auto& [name, var] : trained) {
            auto it = params.find(name);
            TAMP_CHECK(it != params.end(), "the checkpoint has no value for parameter '{}'", name);
            Tensor value = var.value();
            TAMP_CHECK(value.shape() == it->second.shape() && value.dtype() == it->second.dtype(),
                       "parameter '{}' is {} in the checkpoint, {} in the model", name, describe(it->second),
                       describe(value));
            value.copy_from(it->second);
            seen.insert(name);
          }
          TAMP_CHECK(seen.size() == params.size(), "the checkpoint holds {} parameters, the model {}", params.size(),
                     seen.size());
          const auto buffers = c.group("buffer/");
          for (const auto& [name, var] : model.named_buffers()) {
            auto it = buffers.find(name);
            TAMP_CHECK(it != buffers.end(), "the checkpoint has no value for buffer '{}'", name);
            Tensor value = var.value();
            TAMP_CHECK(value.shape() == it->second.shape(), "buffer '{}' is {} in the checkpoint, {} in the model",
                       name, describe(it->second), describe(value));
            value.copy_from(it->second.to(value.dtype()));
          }
          for (size_t i = 0; i < components.size(); ++i) {
            const auto st = c.group(fmt::format("comp/{}/", i));
            if (!st.empty()) components[i]->load_state(st);
          }
        });
      };
    }

    const StageRecord record = Trainer(model, components, t).run();
    StageResult& r = result.stages[k];
    r.record = record;
    if (stage.evaluate && options.eval) {
      r.record.eval = evaluate(model, *options.eval, {.max_batches = options.eval_batches, .input = options.input,
                                                      .output = options.output, .collective = options.collective});
      r.record.evaluated = true;
    }
    const ModelStats stats = model_stats(model.export_graph());
    r.sparsity = stats.sparsity;
    r.weight_bits = stats.weight_bits;
    r.size_bytes = stats.size_bytes;
    pruned_before = pruned_before || prunes(stage);
    if (options.on_stage_end) options.on_stage_end(k, r);
    if (checkpoints && writer) {
      capture_stage_start();   // the next stage starts from here
      io::save_checkpoint(base_checkpoint(k + 1, false), options.checkpoint_path);
    }
  }
  return result;
}

}  // namespace tamp
