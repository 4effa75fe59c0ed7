// The stage sections of a recipe and the one place where they become components
// (build_components); accuracy-aware tuning builds its trials through the same functions.
#include <tamp/compression/pruning/pattern.h>
#include <tamp/compression/quantization/ptq/batch_norm_reestimation.h>
#include <tamp/compression/quantization/ptq/static_quantization.h>
#include <tamp/compression/quantization/qat/qat.h>
#include <tamp/io/onnx_import.h>
#include <tamp/scheduler/detail/recipe_fields.h>
#include <tamp/scheduler/evaluate.h>

namespace tamp {
namespace recipe_detail {

namespace {

// Runs `f`, turning a tamp::Error into one at `path` (the library's own messages name the value).
template <class F> auto at_path(const std::string& path, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    fail(path, e.message());
  }
}

RecipeDistillation read_distillation(Fields& f, const std::string& base_dir) {
  RecipeDistillation d;
  d.teacher = resolve(base_dir, f.required_str("teacher"));
  auto& o = d.options;
  o.temperature = f.num("temperature", 1, 1e-3, 1e3);
  o.alpha = f.num("alpha", 0.5, 0, 1);
  const std::string loss = f.choice("loss", "kl", {"kl", "soft_ce", "mse"});
  o.loss = compression::distillation::parse_logit_loss(loss);
  o.logits = f.flag("logits", true);
  o.student_output = f.str("student_output");
  o.teacher_output = f.str("teacher_output");
  o.seed = static_cast<uint64_t>(f.integer("seed", 0, 0));
  if (f.has("layers")) {
    YAML::Node layers = f.node("layers");
    if (!layers.IsSequence())
      fail(f.at("layers"), fmt::format("expected a list, got {}", kind_of(layers)));
    for (size_t i = 0; i < layers.size(); ++i) {
      Fields l(layers[i], fmt::format("{}[{}]", f.at("layers"), i));
      compression::LayerPair p;
      p.student = l.required_str("student");
      p.teacher = l.required_str("teacher");
      p.loss = compression::distillation::parse_feature_loss(
          l.choice("loss", "mse", {"mse", "cosine", "kl"}));
      p.weight = l.num("weight", 1, 0, 1e6);
      p.temperature = l.num("temperature", 1, 1e-3, 1e3);
      p.project = l.flag("project", true);
      l.finish();
      o.layers.push_back(p);
    }
  }
  f.finish();
  return d;
}

compression::SelfDistillationOptions read_self_distillation(Fields& f) {
  compression::SelfDistillationOptions o;
  o.temperature = f.num("temperature", 3, 1e-3, 1e3);
  o.seed = static_cast<uint64_t>(f.integer("seed", 0, 0));
  o.head_grid = f.integer("head_grid", o.head_grid, 1, 64);
  o.head_hidden = f.integer("head_hidden", o.head_hidden, 0, 65536);
  if (!f.has("pairs")) fail(f.at("pairs"), "missing (required): a list of {shallow, deep} values");
  YAML::Node pairs = f.node("pairs");
  if (!pairs.IsSequence() || pairs.size() == 0)
    fail(f.at("pairs"), fmt::format("expected a non-empty list, got {}", kind_of(pairs)));
  for (size_t i = 0; i < pairs.size(); ++i) {
    Fields p(pairs[i], fmt::format("{}[{}]", f.at("pairs"), i));
    compression::SelfDistillationPair pair;
    pair.shallow = p.required_str("shallow");
    pair.deep = p.str("deep");
    pair.kd_weight = p.num("kd_weight", 1, 0, 1e6);
    pair.label_weight = p.num("label_weight", 0.3, 0, 1e6);
    pair.feature_weight = p.num("feature_weight", 0, 0, 1e6);
    if (pair.feature_weight > 0 && pair.deep.empty())
      fail(p.at("deep"), "missing: feature_weight needs a deep value");
    p.finish();
    o.pairs.push_back(pair);
  }
  f.finish();
  return o;
}

// A list of numbers in [lo, hi] (a YAML sequence).
std::vector<double> numbers(Fields& f, const std::string& key, std::vector<double> fallback,
                            double lo, double hi) {
  if (!f.has(key)) return fallback;
  YAML::Node n = f.node(key);
  if (!n.IsSequence() || n.size() == 0)
    fail(f.at(key), fmt::format("expected a non-empty list of numbers, got {}", kind_of(n)));
  std::vector<double> out;
  for (size_t i = 0; i < n.size(); ++i) {
    double v = 0;
    if (!n[i].IsScalar() || !YAML::convert<double>::decode(n[i], v) || !(v >= lo && v <= hi)) {
      fail(fmt::format("{}[{}]", f.at(key), i),
           fmt::format("expected a number in [{}, {}], got {}", lo, hi, kind_of(n[i])));
    }
    out.push_back(v);
  }
  return out;
}

search::SearchOptions read_search(Fields& f) {
  search::SearchOptions o;
  o.strategy = f.choice("strategy", o.strategy, {"dynas", "basic"});
  o.search = f.choice("search", o.search, {"evolution", "random"});
  if (f.has("objectives")) o.objectives = f.strings("objectives");
  o.pick = f.str("pick", o.pick);
  o.population = static_cast<int>(f.integer("population", o.population, 2, 100000));
  o.generations = static_cast<int>(f.integer("generations", o.generations, 0, 100000));
  o.space.width_ratios = numbers(f, "width_ratios", o.space.width_ratios, 1e-6, 1);
  o.space.channel_multiple = f.integer("channel_multiple", 1, 1, 4096);
  o.space.widths = f.flag("widths", true);
  o.space.heads = f.flag("heads", true);
  o.space.depth = f.flag("depth", true);
  if (f.has("exclude")) o.space.exclude = f.strings("exclude");
  o.seed_ratios = numbers(f, "seed_ratios", o.seed_ratios, 1e-6, 1);
  o.validation_batches = f.integer("validation_batches", -1, -1);
  o.recalibration_examples = f.integer("recalibration_examples", o.recalibration_examples, 1);
  o.candidate_steps = f.integer("candidate_steps", o.candidate_steps, 0);
  o.seed = static_cast<uint64_t>(f.integer("seed", 0, 0));
  f.finish();
  at_path(f.path(), [&] {
    search::check_search_options(o);
    return 0;
  });
  if (std::count(o.objectives.begin(), o.objectives.end(), "latency")) {
    fail(f.at("objectives"),
         "latency is measured by `tamp search --ort-runner`; a recipe searches macs or params");
  }
  return o;
}

compression::pruning::Schedule read_schedule(Fields& f) {
  compression::pruning::Schedule s;
  const std::string curve =
      f.choice("curve", "one_shot", {"one_shot", "linear", "cubic", "exponential", "cosine"});
  s.curve = compression::pruning::parse_curve(curve);
  s.start_step = f.integer("start_step", 0, 0);
  s.end_step = f.integer("end_step", s.start_step, 0);
  s.start_epoch = f.num("start_epoch", -1, -1, 1e6);
  s.end_epoch = f.num("end_epoch", -1, -1, 1e6);
  s.frequency = f.integer("frequency", 1, 1);
  f.finish();
  if (s.end_epoch >= 0 && s.start_epoch >= 0 && s.end_epoch < s.start_epoch)
    fail(f.at("end_epoch"), "is before start_epoch");
  if (s.end_step < s.start_step) fail(f.at("end_step"), "is before start_step");
  return s;
}

compression::PruningOptions read_pruning(Fields& f) {
  compression::PruningOptions o;
  o.pattern = f.required_str("pattern");
  at_path(f.at("pattern"), [&] { return compression::pruning::Pattern::parse(o.pattern); });
  if (f.has("sparsity")) o.target_sparsity = f.num("sparsity", 0, 0, 0.999);
  const std::string criterion = f.choice(
      "criterion", "magnitude", {"magnitude", "gradient", "snip", "snip_momentum", "movement"});
  o.criterion = compression::pruning::parse_criterion(criterion);
  if (f.has("schedule")) {
    Fields s(f.node("schedule"), f.at("schedule"));
    o.schedule = read_schedule(s);
  }
  o.global = f.flag("global", false);
  if (f.has("op_types")) o.op_types = f.strings("op_types");
  o.include = f.strings("include");
  o.exclude = f.strings("exclude");
  o.exclude_op_types = f.strings("exclude_op_types");
  if (f.has("overrides")) {
    YAML::Node list = f.node("overrides");
    if (!list.IsSequence())
      fail(f.at("overrides"), fmt::format("expected a list, got {}", kind_of(list)));
    for (size_t i = 0; i < list.size(); ++i) {
      Fields x(list[i], fmt::format("{}[{}]", f.at("overrides"), i));
      compression::PruningOverride ov;
      ov.match = x.required_str("match");
      if (x.has("pattern")) {
        ov.pattern = x.str("pattern");
        at_path(x.at("pattern"), [&] { return compression::pruning::Pattern::parse(*ov.pattern); });
      }
      if (x.has("sparsity")) ov.sparsity = x.num("sparsity", 0, 0, 0.999);
      ov.exclude = x.flag("exclude", false);
      x.finish();
      o.overrides.push_back(ov);
    }
  }
  f.finish();
  return o;
}

compression::EqualizationOptions read_equalization(Fields& f) {
  compression::EqualizationOptions o;
  o.relu6_to_relu = f.flag("relu6_to_relu", false);
  o.max_iterations = static_cast<int>(f.integer("max_iterations", o.max_iterations, 1, 1000));
  o.exclude = f.strings("exclude");
  f.finish();
  return o;
}

compression::BiasCorrectionOptions read_bias_correction(Fields& f) {
  compression::BiasCorrectionOptions o;
  o.batches = f.integer("batches", o.batches, 1);
  o.exclude = f.strings("exclude");
  f.finish();
  return o;
}

}  // namespace

compression::SmoothQuantOptions read_smooth_quant(Fields& q) {
  compression::SmoothQuantOptions o;
  o.alpha = q.num("alpha", o.alpha, 0, 1);
  o.search_alpha = q.flag("search_alpha", false);
  o.search_rows = q.integer("search_rows", o.search_rows, 1);
  o.exclude = q.strings("exclude");
  q.finish();
  return o;
}

compression::AdaRoundOptions read_adaround(Fields& q) {
  compression::AdaRoundOptions o;
  o.steps = q.integer("steps", o.steps, 0);
  o.batch = q.integer("batch", o.batch, 1);
  o.max_examples = q.integer("max_examples", o.max_examples, 1);
  o.lr = q.num("lr", o.lr, 1e-9, 10);
  o.reg_weight = q.num("reg_weight", o.reg_weight, 0, 1e6);
  o.beta_start = q.num("beta_start", o.beta_start, 1e-3, 1e3);
  o.beta_end = q.num("beta_end", o.beta_end, 1e-3, 1e3);
  o.warmup = q.num("warmup", o.warmup, 0, 1);
  o.seed = static_cast<uint64_t>(q.integer("seed", 0, 0));
  o.exclude = q.strings("exclude");
  q.finish();
  return o;
}

// The stage's mapping under `key`, read by `read`, when the stage has one.
template <class T, class Read>
void read_section(Fields& f, const char* key, std::optional<T>& into, Read&& read) {
  if (!f.has(key)) return;
  Fields sub(f.node(key), f.at(key));
  into = read(sub);
}

RecipeStage read_stage(const YAML::Node& node, const std::string& path,
                       const std::string& base_dir) {
  Fields f(node, path);
  RecipeStage s;
  s.name = f.str("name");
  if (f.has("epochs")) s.epochs = static_cast<int>(f.integer("epochs", 1, 0, 100000));
  if (f.has("steps_per_epoch")) s.steps_per_epoch = f.integer("steps_per_epoch", -1, 1);
  read_section(f, "optimizer", s.optimizer, read_optimizer);
  read_section(f, "lr_schedule", s.lr_schedule, read_lr_schedule);
  if (f.has("calibration_batches")) s.calibration_batches = f.integer("calibration_batches", 1, 1);
  s.evaluate = f.flag("evaluate", true);
  s.lock_masks = f.flag("lock_masks", true);
  read_section(f, "distillation", s.distillation,
               [&](Fields& d) { return read_distillation(d, base_dir); });
  read_section(f, "self_distillation", s.self_distillation, read_self_distillation);
  read_section(f, "pruning", s.pruning, read_pruning);
  s.pattern_lock = f.flag("pattern_lock", false);
  read_section(f, "search", s.search, read_search);
  read_section(f, "qat", s.qat, [](Fields& q) {
    auto o = read_quantizer(q);
    q.finish();
    return o;
  });
  read_section(f, "ptq", s.ptq, [](Fields& q) {
    for (const char* k : {"freeze_bn_epoch", "freeze_bn_step"}) {
      if (q.has(k))
        fail(q.at(k),
             "post-training quantization folds BatchNorm as it is; this key applies to qat");
    }
    auto o = read_quantizer(q);
    q.finish();
    return o;
  });
  read_section(f, "equalization", s.equalization, read_equalization);
  read_section(f, "bias_correction", s.bias_correction, read_bias_correction);
  s.batch_norm_reestimation = f.flag("batch_norm_reestimation", false);
  read_section(f, "smooth_quant", s.smooth_quant, read_smooth_quant);
  read_section(f, "adaround", s.adaround, read_adaround);
  f.finish();
  const bool trains = s.distillation || s.self_distillation || s.pruning || s.pattern_lock || s.qat;
  const bool recovers = s.equalization || s.bias_correction || s.batch_norm_reestimation;
  const int calibrating = !!s.ptq + !!s.smooth_quant + !!s.adaround;
  if ((s.smooth_quant || s.adaround) && (calibrating > 1 || trains || recovers || s.search)) {
    fail(f.at(s.smooth_quant ? "smooth_quant" : "adaround"),
         "only calibrates: put it in a stage of its own");
  }
  if (s.ptq && trains) {
    fail(f.at("ptq"), "post-training quantization only calibrates: put it in a stage of its own");
  }
  if (s.pruning && s.pattern_lock)
    fail(f.at("pattern_lock"), "pruning already keeps its masks; drop pattern_lock");
  if (s.qat && s.ptq) fail(f.at("ptq"), "a stage quantizes once (qat or ptq)");
  for (const auto& [key, present] :
       {std::pair<const char*, bool>{"equalization", s.equalization.has_value()},
        {"bias_correction", s.bias_correction.has_value()},
        {"batch_norm_reestimation", s.batch_norm_reestimation}}) {
    if (trains && present)
      fail(f.at(key), "calibrates only: put it in a stage of its own (or the ptq stage)");
  }
  if (s.bias_correction && !s.ptq)
    fail(f.at("bias_correction"), "corrects what ptq quantized: put it in the ptq stage");
  if (s.batch_norm_reestimation && (s.ptq || s.equalization)) {
    fail(f.at("batch_norm_reestimation"),
         "needs BatchNorm unfolded, and ptq and equalization fold it: put it in a "
         "stage of its own before");
  }
  if (s.search && (trains || s.ptq || recovers)) {
    fail(f.at("search"),
         "an architecture search replaces the model's graph: put it in a stage of its own");
  }
  return s;
}

}  // namespace recipe_detail

std::vector<std::string> component_keys(const RecipeStage& stage) {
  std::vector<std::string> out;
  if (stage.pattern_lock) out.push_back("pattern_lock");
  if (stage.distillation) out.push_back("distillation");
  if (stage.self_distillation) out.push_back("self_distillation");
  if (stage.pruning) out.push_back("pruning");
  if (stage.qat) out.push_back("qat");
  if (stage.batch_norm_reestimation) out.push_back("batch_norm_reestimation");
  if (stage.equalization) out.push_back("equalization");
  if (stage.ptq) out.push_back("ptq");
  if (stage.bias_correction) out.push_back("bias_correction");
  if (stage.smooth_quant) out.push_back("smooth_quant");
  if (stage.adaround) out.push_back("adaround");
  return out;
}

std::vector<std::shared_ptr<compression::Component>> build_components(
    const RecipeStage& stage, const Recipe& recipe,
    const std::optional<nn::InputNormalization>& normalization) {
  std::vector<std::shared_ptr<compression::Component>> out;
  if (stage.pattern_lock) out.push_back(std::make_shared<compression::PatternLock>());
  if (stage.distillation) {
    std::shared_ptr<nn::GraphModule> teacher;
    TAMP_WITH_CONTEXT("loading the teacher", {
      nn::Graph g = io::load_onnx_graph(stage.distillation->teacher);
      // A teacher that normalizes its input already (tamp wrote it) takes raw values as it is.
      const std::string input = input_info(g, stage.distillation->options.teacher_input).name;
      if (normalization && !nn::input_normalization(g, input))
        nn::normalize_input(g, input, *normalization);
      teacher = std::make_shared<nn::GraphModule>(std::move(g));
    });
    auto o = stage.distillation->options;
    o.student_input = recipe.input;
    if (o.student_output.empty()) o.student_output = recipe.output;
    out.push_back(std::make_shared<compression::Distillation>(teacher, o));
  }
  if (stage.self_distillation) {
    auto o = *stage.self_distillation;
    o.input = recipe.input;
    o.output = recipe.output;
    out.push_back(std::make_shared<compression::SelfDistillation>(o));
  }
  if (stage.pruning) out.push_back(std::make_shared<compression::Pruning>(*stage.pruning));
  if (stage.qat)
    out.push_back(std::make_shared<compression::QuantizationAwareTraining>(*stage.qat));
  if (stage.batch_norm_reestimation)
    out.push_back(std::make_shared<compression::BatchNormReestimation>());
  if (stage.equalization)
    out.push_back(std::make_shared<compression::CrossLayerEqualization>(*stage.equalization));
  if (stage.ptq) out.push_back(std::make_shared<compression::StaticQuantization>(*stage.ptq));
  if (stage.bias_correction)
    out.push_back(std::make_shared<compression::BiasCorrection>(*stage.bias_correction));
  if (stage.smooth_quant)
    out.push_back(std::make_shared<compression::SmoothQuant>(*stage.smooth_quant));
  if (stage.adaround) out.push_back(std::make_shared<compression::AdaRound>(*stage.adaround));
  if (stage.search) {
    auto o = *stage.search;
    o.batch_size = recipe.training.batch_size;
    o.input = recipe.input;
    o.output = recipe.output;
    out.push_back(std::make_shared<search::ArchitectureSearch>(o));
  }
  return out;
}

Scheduler build_scheduler(const Recipe& recipe,
                          const std::optional<nn::InputNormalization>& normalization) {
  Scheduler s;
  for (size_t i = 0; i < recipe.stages.size(); ++i) {
    const RecipeStage& rs = recipe.stages[i];
    Stage st;
    st.name = rs.name;
    TAMP_WITH_CONTEXT(fmt::format("stages[{}]", i),
                      st.components = build_components(rs, recipe, normalization));
    st.epochs = rs.epochs;
    st.max_steps_per_epoch = rs.steps_per_epoch;
    st.optimizer = rs.optimizer;
    st.lr_schedule = rs.lr_schedule;
    st.calibration_batches = rs.calibration_batches;
    st.evaluate = rs.evaluate && recipe.evaluation.after_each_stage;
    st.lock_masks = rs.lock_masks;
    s.append(std::move(st));
  }
  return s;
}

FitOptions fit_options(const Recipe& recipe) {
  FitOptions o;
  const RecipeTraining& t = recipe.training;
  o.epochs = t.epochs;
  o.max_steps_per_epoch = t.steps_per_epoch;
  o.batch_size = t.batch_size;
  o.optimizer = t.optimizer;
  o.lr_schedule = t.lr_schedule;
  o.label_smoothing = t.label_smoothing;
  o.seed = recipe.seed;
  o.max_nonfinite_steps = t.max_nonfinite_steps;
  o.calibration_batches = t.calibration_batches;
  o.log_every = t.log_every;
  o.eval_batches = recipe.evaluation.max_batches;
  o.input = recipe.input;
  o.output = recipe.output;
  o.checkpoint_every = t.checkpoint_every;
  o.sync_batch_norm = t.sync_batch_norm;
  o.recipe_hash = recipe.hash;
  return o;
}

}  // namespace tamp
