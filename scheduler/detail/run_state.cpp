#include <tamp/scheduler/detail/run_state.h>

#include <tamp/io/onnx_export.h>

#include <fmt/format.h>

#include <set>

namespace tamp::detail {

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
      {s.train_loss, s.evaluated ? 1.0 : 0.0, s.eval.top1, s.eval.top5, s.eval.loss,
       static_cast<double>(s.eval.count), s.seconds, static_cast<double>(s.steps),
       static_cast<double>(s.skipped_steps), r.sparsity, static_cast<double>(r.weight_bits),
       static_cast<double>(r.size_bytes), r.calibration_only ? 1.0 : 0.0});
}

void record_from_tensor(const Tensor& t, StageResult& r) {
  TAMP_CHECK(t.numel() == kRecordFields && t.dtype() == DType::kFloat64,
             "a stage record has {}, expected {} float64", describe(t), kRecordFields);
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

Tensor generator_to_tensor(const Generator& g) {
  const auto st = g.state();
  return Tensor::from_vector<int64_t>(
      {4}, {static_cast<int64_t>(st[0]), static_cast<int64_t>(st[1]), static_cast<int64_t>(st[2]),
            static_cast<int64_t>(st[3])});
}

Generator::State generator_from_tensor(const Tensor& t) {
  TAMP_CHECK(t.numel() == 4 && t.dtype() == DType::kInt64, "the generator state is {}",
             describe(t));
  Generator::State st;
  for (size_t i = 0; i < 4; ++i) st[i] = static_cast<uint64_t>(t.data<int64_t>()[i]);
  return st;
}

// Every trained parameter takes its saved value; the two sets of names must agree.
void restore_parameters(const std::map<std::string, Tensor>& saved,
                        const nn::NamedParameters& trained) {
  std::set<std::string> seen;
  for (const auto& [name, var] : trained) {
    auto it = saved.find(name);
    TAMP_CHECK(it != saved.end(), "the checkpoint has no value for parameter '{}'", name);
    Tensor value = var.value();
    TAMP_CHECK(value.shape() == it->second.shape() && value.dtype() == it->second.dtype(),
               "parameter '{}' is {} in the checkpoint, {} in the model", name,
               describe(it->second), describe(value));
    value.copy_from(it->second);
    seen.insert(name);
  }
  TAMP_CHECK(seen.size() == saved.size(), "the checkpoint holds {} parameters, the model {}",
             saved.size(), seen.size());
}

void restore_buffers(const std::map<std::string, Tensor>& saved, nn::GraphModule& model) {
  for (const auto& [name, var] : model.named_buffers()) {
    auto it = saved.find(name);
    TAMP_CHECK(it != saved.end(), "the checkpoint has no value for buffer '{}'", name);
    Tensor value = var.value();
    TAMP_CHECK(value.shape() == it->second.shape(),
               "buffer '{}' is {} in the checkpoint, {} in the model", name, describe(it->second),
               describe(value));
    value.copy_from(it->second.to(value.dtype()));
  }
}

}  // namespace

StageStart capture_stage_start(const nn::GraphModule& model) {
  io::ExportOptions eo;
  eo.keep_training_ops = true;
  StageStart s;
  s.graph = io::serialize_onnx_graph(model.export_graph(), eo);
  for (const auto& [name, p] : model.named_parameters())
    s.trainable[name] = i64(p.requires_grad() ? 1 : 0);
  return s;
}

io::Checkpoint run_checkpoint(const RunHeader& h) {
  io::Checkpoint c;
  c.set_string("meta/recipe_hash", h.recipe_hash);
  c.set_string("graph", h.start->graph);
  c.set_group("trainable/", h.start->trainable);
  c.tensors["pos/stage"] = i64(static_cast<int64_t>(h.at.stage));
  c.tensors["pos/in_stage"] = i64(h.at.in_stage ? 1 : 0);
  for (size_t k = 0; k < h.at.stage; ++k)
    c.tensors[fmt::format("records/{}", k)] = record_to_tensor(h.results->at(k));
  if (h.generator) c.tensors["rng"] = generator_to_tensor(*h.generator);
  c.tensors["run/ranks"] = i64(h.ranks);
  c.tensors["run/batch"] = i64(h.batch_size);
  c.set_group("extra/", h.extra);
  return c;
}

void add_loop_state(io::Checkpoint& c, const TrainCheckpointView& v, const nn::GraphModule& model,
                    const std::vector<std::shared_ptr<compression::Component>>& components) {
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
  for (size_t i = 0; i < components.size(); ++i)
    c.set_group(fmt::format("comp/{}/", i), components[i]->state());
}

SavedRun read_saved_run(const std::string& path, const std::string& recipe_hash, size_t stages) {
  SavedRun s;
  s.checkpoint = io::load_checkpoint(path);
  const io::Checkpoint& c = s.checkpoint;
  TAMP_WITH_CONTEXT(fmt::format("resuming from '{}'", path), {
    const std::string hash = c.string("meta/recipe_hash");
    if (hash != recipe_hash) {
      throw Error(fmt::format("the checkpoint was written by another recipe (hash {}, this one {})",
                              hash, recipe_hash),
                  ErrorKind::kInvalidInput,
                  "run without --resume to start afresh, or pass the same recipe");
    }
    const int64_t stage = as_i64(c.at("pos/stage"));
    TAMP_CHECK(stage >= 0 && stage <= static_cast<int64_t>(stages),
               "stage {} is outside the recipe's {}", stage, stages);
    s.at.stage = static_cast<size_t>(stage);
    s.at.in_stage = as_i64(c.at("pos/in_stage")) != 0;
    s.start.graph = c.string("graph");
    s.start.trainable = c.group("trainable/");
    s.step = s.at.in_stage ? as_i64(c.at("pos/step")) : 0;
  });
  return s;
}

void restore_run(const SavedRun& saved, std::vector<StageResult>& results, Generator* generator) {
  const io::Checkpoint& c = saved.checkpoint;
  for (size_t k = 0; k < saved.at.stage; ++k)
    record_from_tensor(c.at(fmt::format("records/{}", k)), results[k]);
  if (generator && c.has("rng")) generator->set_state(generator_from_tensor(c.at("rng")));
}

ResumeBatch resume_batch(const io::Checkpoint& c, int64_t batch_size, int ranks) {
  if (!c.has("run/ranks")) return {batch_size, 0, batch_size * ranks};
  const int64_t saved_ranks = as_i64(c.at("run/ranks"));
  const int64_t global = saved_ranks * as_i64(c.at("run/batch"));
  if (global % ranks != 0) {
    throw Error(
        fmt::format(
            "the checkpoint was written by {} rank(s) with a global batch of {}, which {} ranks "
            "cannot share evenly",
            saved_ranks, global, ranks),
        ErrorKind::kInvalidInput,
        fmt::format("resume with mpirun -np {} (or another count that divides {})", saved_ranks,
                    global));
  }
  return {global / ranks, saved_ranks, global};
}

std::shared_ptr<TrainProgress> read_loop_progress(const io::Checkpoint& c) {
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
  return p;
}

void restore_loop_state(const io::Checkpoint& c, const nn::NamedParameters& trained,
                        nn::GraphModule& model,
                        const std::vector<std::shared_ptr<compression::Component>>& components) {
  restore_parameters(c.group("param/"), trained);
  restore_buffers(c.group("buffer/"), model);
  for (size_t i = 0; i < components.size(); ++i) {
    const auto st = c.group(fmt::format("comp/{}/", i));
    if (!st.empty()) components[i]->load_state(st);
  }
}

}  // namespace tamp::detail
