// parse_recipe: the top-level sections, optimizers, schedules and quantization specs (the
// stage sections are in recipe_stage.cpp, the reader in detail/recipe_fields.h).
#include <tamp/autograd/fnv1a.h>
#include <tamp/compression/quantization/lowering/lower.h>
#include <tamp/io/idx.h>
#include <tamp/io/onnx_import.h>
#include <tamp/scheduler/detail/recipe_fields.h>
#include <tamp/scheduler/tuning/recipe_tuning.h>

#include <fstream>
#include <sstream>

namespace tamp {

namespace recipe_detail {

OptimizerSpec read_optimizer(Fields& f) {
  const std::string kind = f.choice("kind", "sgd", {"sgd", "adam", "adamw"});
  if (kind == "sgd") {
    SGD o;
    o.lr = f.num("lr", 0.01, 0, 10);
    o.momentum = f.num("momentum", 0.9, 0, 1);
    o.dampening = f.num("dampening", 0, 0, 1);
    o.weight_decay = f.num("weight_decay", 0, 0, 1);
    o.nesterov = f.flag("nesterov", false);
    f.finish();
    return o;
  }
  nn::AdamOptions o;
  o.lr = f.num("lr", 1e-3, 0, 10);
  o.beta1 = f.num("beta1", 0.9, 0, 1);
  o.beta2 = f.num("beta2", 0.999, 0, 1);
  o.eps = f.num("eps", 1e-8, 0, 1);
  o.weight_decay = f.num("weight_decay", kind == "adamw" ? 0.01 : 0, 0, 1);
  o.amsgrad = f.flag("amsgrad", false);
  f.finish();
  if (kind == "adam") return o;
  AdamW w;
  static_cast<nn::AdamOptions&>(w) = o;
  return w;
}

LrScheduleSpec read_lr_schedule(Fields& f) {
  LrScheduleSpec s;
  s.kind = f.choice("kind", "constant", {"constant", "cosine", "step", "multistep"});
  s.eta_min = f.num("eta_min", 0, 0, 10);
  s.step_size = f.integer("step_size", 1, 1);
  s.gamma = f.num("gamma", 0.1, 0, 1);
  if (f.has("milestones")) {
    YAML::Node n = f.node("milestones");
    if (!n.IsSequence())
      fail(f.at("milestones"), fmt::format("expected a list of integers, got {}", kind_of(n)));
    for (size_t i = 0; i < n.size(); ++i) {
      int64_t v = 0;
      if (!n[i].IsScalar() || !YAML::convert<int64_t>::decode(n[i], v) || v < 0) {
        fail(fmt::format("{}[{}]", f.at("milestones"), i),
             fmt::format("expected a step (integer >= 0), got {}", kind_of(n[i])));
      }
      s.milestones.push_back(v);
    }
  }
  s.warmup_steps = f.integer("warmup_steps", 0, 0);
  s.warmup_start_factor = f.num("warmup_start_factor", 0, 0, 1);
  f.finish();
  return s;
}

namespace {
compression::QuantSpec read_qspec(Fields& f, compression::QuantSpec spec) {
  spec.bits = static_cast<int>(f.integer("bits", spec.bits, 2, 8));
  spec.is_signed = f.flag("signed", spec.is_signed);
  spec.symmetric = f.flag("symmetric", spec.symmetric);
  spec.per_channel = f.flag("per_channel", spec.per_channel);
  spec.narrow_range = f.flag("narrow_range", spec.narrow_range);
  spec.power_of_two = f.flag("power_of_two", spec.power_of_two);
  if (f.has("observer")) {
    const std::string name =
        f.choice("observer", std::string(compression::observer_name(spec.observer.kind)),
                 {"minmax", "moving_average", "moving-average", "percentile", "entropy", "mse"});
    spec.observer.kind =
        compression::observer_from_name(name == "moving_average" ? "moving-average" : name);
  }
  spec.observer.averaging_constant =
      f.num("averaging_constant", spec.observer.averaging_constant, 0, 1);
  spec.observer.percentile = f.num("percentile", spec.observer.percentile, 50, 100);
  spec.observer.bins = static_cast<int>(f.integer("bins", spec.observer.bins, 16, 1 << 20));
  spec.observer.freeze_epoch =
      static_cast<int>(f.integer("freeze_epoch", spec.observer.freeze_epoch, -1, 1 << 20));
  f.finish();
  try {
    spec.validate();
  } catch (const Error& e) {
    fail(f.path(), e.message());
  }
  return spec;
}

}  // namespace

compression::QuantizerOptions read_quantizer(Fields& f) {
  compression::QuantizerOptions o;
  // Refused here, not after training: ranges the export cannot write (lower.h).
  auto writable = [&](const compression::QuantSpec& spec, const char* key, bool is_weight) {
    const std::string why =
        compression::unwritable_reason(spec.quant_min(), spec.quant_max(), is_weight);
    if (!why.empty()) fail(f.at(key), why);
  };
  if (f.has("weights")) {
    Fields w(f.node("weights"), f.at("weights"));
    o.weights = read_qspec(w, compression::qint8_per_channel);
  }
  writable(o.weights, "weights", true);
  if (f.has("activations")) {
    Fields a(f.node("activations"), f.at("activations"));
    o.activations = read_qspec(a, compression::quint8);
  }
  writable(o.activations, "activations", false);
  o.exclude = f.strings("exclude");
  o.fold_batch_norm = f.flag("fold_batch_norm", true);
  o.learnable_scales = f.flag("learnable_scales", false);
  if (f.has("freeze_bn_epoch")) {
    // An epoch, or "last" (the default: the stage's last epoch) or "never".
    const YAML::Node n = f.node("freeze_bn_epoch");
    if (n.IsScalar() && n.Scalar() == "last")
      o.freeze_bn_epoch = compression::kFreezeBnLastEpoch;
    else if (n.IsScalar() && n.Scalar() == "never")
      o.freeze_bn_epoch = -1;
    else
      o.freeze_bn_epoch = static_cast<int>(f.integer("freeze_bn_epoch", 0, 0, 1 << 20));
  }
  o.freeze_bn_step = f.integer("freeze_bn_step", -1, -1);
  return o;
}

namespace {

RecipeData read_data(Fields& d, const std::string& base_dir) {
  RecipeData data;
  const std::string ds = d.str("dataset", data.dataset);
  if (ds != "fashion-mnist" && ds.rfind("hdf5:", 0) != 0) {
    fail(d.at("dataset"), fmt::format("'{}' is neither fashion-mnist nor hdf5:FILE", ds));
  }
  data.dataset = ds.rfind("hdf5:", 0) == 0 ? "hdf5:" + resolve(base_dir, ds.substr(5)) : ds;
  const std::string eds = d.str("eval_dataset");
  if (!eds.empty() && eds.rfind("hdf5:", 0) != 0)
    fail(d.at("eval_dataset"), fmt::format("'{}' is not hdf5:FILE", eds));
  data.eval_dataset = eds.empty() ? "" : "hdf5:" + resolve(base_dir, eds.substr(5));
  data.dir = d.str("dir", data.dir);
  data.limit = d.integer("limit", -1, -1);
  data.eval_limit = d.integer("eval_limit", -1, -1);
  data.normalize = d.str("normalize");
  d.finish();
  return data;
}

RecipeTraining read_training(Fields& t) {
  RecipeTraining o;
  o.epochs = static_cast<int>(t.integer("epochs", 1, 0, 100000));
  o.steps_per_epoch = t.integer("steps_per_epoch", -1, -1);
  if (o.steps_per_epoch == 0)
    fail(t.at("steps_per_epoch"), "must be positive (or -1: whole epochs)");
  o.batch_size = t.integer("batch_size", 64, 1, 1 << 20);
  if (t.has("optimizer")) {
    Fields of(t.node("optimizer"), t.at("optimizer"));
    o.optimizer = read_optimizer(of);
  }
  if (t.has("lr_schedule")) {
    Fields lf(t.node("lr_schedule"), t.at("lr_schedule"));
    o.lr_schedule = read_lr_schedule(lf);
  }
  o.label_smoothing = t.num("label_smoothing", 0, 0, 1);
  o.max_nonfinite_steps = static_cast<int>(t.integer("max_nonfinite_steps", 5, 1, 1 << 20));
  o.calibration_batches = t.integer("calibration_batches", 32, 1);
  o.log_every = t.integer("log_every", 50, 1);
  o.checkpoint_every = t.integer("checkpoint_every", 200, 0);
  o.threads = static_cast<int>(t.integer("threads", 0, 0, 1024));
  o.sync_batch_norm = t.flag("sync_batch_norm", false);
  t.finish();
  return o;
}

RecipeEvaluation read_evaluation(Fields& e) {
  RecipeEvaluation evaluation;
  evaluation.after_each_stage = e.flag("after_each_stage", true);
  evaluation.max_batches = e.integer("max_batches", -1, -1);
  if (evaluation.max_batches == 0)
    fail(e.at("max_batches"), "must be positive (or -1: the whole set)");
  e.finish();
  return evaluation;
}

// `format`: the default, which follows the stages.
RecipeExport read_export(Fields& x, const std::string& format) {
  RecipeExport out;
  out.format = x.choice("format", format, {"qdq", "qoperator", "float"});
  out.path = x.str("path", "model.onnx");
  out.target = compression::export_target_from_name(
      x.choice("target", "portable", {"portable", "vnni", "arm"}));
  if (out.path.empty() || std::filesystem::path(out.path).is_absolute() ||
      out.path.find("..") != std::string::npos) {
    fail(x.at("path"), fmt::format("'{}' must be a file name inside the output folder", out.path));
  }
  x.finish();
  return out;
}

// AdaRound learns the rounding of weights an earlier stage fake-quantized.
void check_stage_order(const std::vector<RecipeStage>& stages) {
  bool fake_quantized = false;
  for (size_t i = 0; i < stages.size(); ++i) {
    if (stages[i].adaround && !fake_quantized) {
      fail(fmt::format("stages[{}].adaround", i),
           "learns the rounding of quantized weights: put a ptq (or qat) stage before it");
    }
    fake_quantized = fake_quantized || stages[i].qat || stages[i].ptq;
  }
}

}  // namespace

}  // namespace recipe_detail

using namespace recipe_detail;

Recipe parse_recipe(const std::string& text, const std::string& base_dir,
                    const std::string& label) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(fmt::format("{}: not valid YAML: {} (line {}, column {})", label, e.msg,
                            e.mark.line + 1, e.mark.column + 1),
                ErrorKind::kInvalidInput);
  }
  if (!root.IsMap())
    fail("", fmt::format("{}: a recipe is a mapping, got {}", label, kind_of(root)));
  Recipe r;
  r.base_dir = base_dir;
  Fields top(root, "");
  top.allow({"definitions"});
  r.model = resolve(base_dir, top.required_str("model"));
  r.input = top.str("input");
  r.output = top.str("output");
  r.seed = static_cast<uint64_t>(top.integer("seed", 0, 0));
  if (top.has("data")) {
    Fields d(top.node("data"), "data");
    r.data = read_data(d, base_dir);
  }
  if (top.has("training")) {
    Fields t(top.node("training"), "training");
    r.training = read_training(t);
  }
  if (top.has("evaluation")) {
    Fields e(top.node("evaluation"), "evaluation");
    r.evaluation = read_evaluation(e);
  }
  if (top.has("tuning")) {
    Fields t(top.node("tuning"), "tuning");
    r.tuning = tuning::read_recipe_tuning(t);
    r.tuning->seed = r.seed;
    if (top.has("stages"))
      fail("stages", "a tuning recipe has no stages (tuning searches post-training quantization)");
  } else {
    if (!top.has("stages")) fail("stages", "missing (required): a list of stages");
    YAML::Node stages = top.node("stages");
    if (!stages.IsSequence() || stages.size() == 0)
      fail("stages", fmt::format("expected a non-empty list, got {}", kind_of(stages)));
    for (size_t i = 0; i < stages.size(); ++i) {
      r.stages.push_back(read_stage(stages[i], fmt::format("stages[{}]", i), base_dir));
    }
  }
  check_stage_order(r.stages);
  bool quantized = r.tuning.has_value();
  for (const auto& s : r.stages) quantized = quantized || s.qat || s.ptq;
  // Unwritten, the format follows the stages: a quantized model in QDQ, else float.
  r.export_.format = quantized ? "qdq" : "float";
  if (top.has("export")) {
    Fields x(top.node("export"), "export");
    r.export_ = read_export(x, r.export_.format);
  }
  top.finish();
  for (auto& s : r.stages) {
    for (auto* q : {&s.qat, &s.ptq}) {
      if (*q) (*q)->target = r.export_.target;
    }
  }
  if (quantized && r.export_.format == "float") {
    fail("export.format", "'float' cannot hold a quantized model: use qdq or qoperator");
  }
  if (!quantized && r.export_.format != "float") {
    fail("export.format", fmt::format("'{}' needs a quantization stage (qat or ptq); use 'float'",
                                      r.export_.format));
  }
  r.hash = Fnv1a().add(text).hex();
  return r;
}

void check_recipe_files(const Recipe& r) {
  auto onnx = [](const std::string& key, const std::string& path) {
    if (!std::filesystem::exists(path)) {
      throw Error(fmt::format("{}: '{}' does not exist", key, path), ErrorKind::kIo,
                  "relative paths start at the recipe's folder");
    }
    TAMP_WITH_CONTEXT(key, io::load_onnx_graph(path));
  };
  auto dataset = [&](const std::string& key, const std::string& spec) {
    if (spec.rfind("hdf5:", 0) == 0) {
      if (!std::filesystem::exists(spec.substr(5))) {
        throw Error(fmt::format("{}: '{}' does not exist", key, spec.substr(5)), ErrorKind::kIo,
                    "relative paths start at the recipe's folder");
      }
    } else {
      TAMP_WITH_CONTEXT(key, io::fashion_mnist_files(r.data.dir));
    }
  };
  onnx("model", r.model);
  for (size_t i = 0; i < r.stages.size(); ++i) {
    if (r.stages[i].distillation)
      onnx(fmt::format("stages[{}].distillation.teacher", i), r.stages[i].distillation->teacher);
  }
  dataset("data.dataset", r.data.dataset);
  if (!r.data.eval_dataset.empty()) dataset("data.eval_dataset", r.data.eval_dataset);
}

Recipe load_recipe(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot read recipe '{}'", path), ErrorKind::kIo);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  TAMP_CHECK(text.size() < (size_t{1} << 24), "recipe '{}' is larger than 16 MiB", path);
  const auto dir = std::filesystem::path(path).parent_path();
  Recipe r;
  TAMP_WITH_CONTEXT(fmt::format("recipe '{}'", path),
                    r = parse_recipe(text, dir.empty() ? "." : dir.string(), path));
  r.file = path;
  return r;
}

}  // namespace tamp
