// generate_recipe: the goal's stages, written with comments that say what the survey found
// and why each setting was chosen (docs/zero_code.md). The text is written by hand, not by a
// YAML emitter, because the comments are the point; parse_recipe reads it back in the tests.
#include <tamp/scheduler/recipe_generator.h>

#include <tamp/compression/quantization/quant_plan.h>
#include <tamp/scheduler/model_survey.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

namespace tamp {

namespace {

constexpr const char* kPattern = "2:4";
constexpr const char* kTuningPrefix = "smallest-within:";

// A YAML single-quoted scalar (backslashes stay as they are; a quote is doubled).
std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("''") : std::string(1, c);
  return q + "'";
}

// A regular expression matching exactly `name` (pruning's exclude uses regex_match).
std::string regex_of(const std::string& name) {
  std::string r;
  for (char c : name) {
    if (std::string_view(".^$|()[]{}*+?\\").find(c) != std::string_view::npos) r += '\\';
    r += c;
  }
  return r;
}

std::string thousands(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

// Comment lines of at most ~96 columns at `indent`.
void comment(std::ostringstream& out, int indent, const std::string& text) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  std::istringstream words(text);
  std::string word, line;
  while (words >> word) {
    if (!line.empty() && pad.size() + 2 + line.size() + 1 + word.size() > 96) {
      out << pad << "# " << line << "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) out << pad << "# " << line << "\n";
}

// smallest-within:X% -> X / 100 (a relative accuracy loss).
double tolerance_of(const std::string& goal) {
  const std::string x = goal.substr(std::string(kTuningPrefix).size());
  double v = -1;
  size_t used = 0;
  try {
    v = std::stod(x, &used);
  } catch (const std::exception&) {}
  if (x.empty() || x.back() != '%' || used != x.size() - 1 || !(v > 0 && v < 100)) {
    throw Error(
        fmt::format(
            "goal '{}': expected smallest-within:X% with 0 < X < 100, e.g. smallest-within:1%",
            goal),
        ErrorKind::kInvalidInput);
  }
  return v / 100;
}

std::string input_text(const nn::ValueInfo& v) {
  std::string dims;
  for (const auto& d : v.shape)
    dims += (dims.empty() ? "" : ", ") + (d.known()          ? std::to_string(d.value)
                                          : d.symbol.empty() ? "?"
                                                             : d.symbol);
  return fmt::format("'{}' {} [{}]", v.name, dtype_name(v.dtype), dims);
}

void describe_model(std::ostringstream& out, const ModelSurvey& s) {
  int64_t conv = 0, gemm = 0, matmul = 0;
  for (const auto& l : s.layers)
    (l.op_type == "Conv" ? conv : l.op_type == "Gemm" ? gemm : matmul) += 1;
  std::string kinds;
  for (const auto& [n, op] : {std::pair{conv, "Conv"}, {gemm, "Gemm"}, {matmul, "MatMul"}}) {
    if (n) kinds += fmt::format("{}{} {}", kinds.empty() ? "" : ", ", n, op);
  }
  comment(out, 0,
          fmt::format("The model: {} weight layers ({}{}{} weights), input {}, output '{}'.",
                      s.layers.size(), kinds, kinds.empty() ? "" : "; ",
                      thousands(s.weight_elements), input_text(s.inputs[0]), s.output));
  std::vector<std::string> also;
  if (s.batch_norms) also.push_back(fmt::format("{} BatchNormalization", s.batch_norms));
  if (s.layer_norms) also.push_back(fmt::format("{} LayerNormalization", s.layer_norms));
  if (s.softmaxes) also.push_back(fmt::format("{} Softmax", s.softmaxes));
  if (!s.attention_matmuls.empty())
    also.push_back(
        fmt::format("{} MatMuls of two activations (attention)", s.attention_matmuls.size()));
  const auto depthwise = std::count_if(s.layers.begin(), s.layers.end(),
                                       [](const SurveyLayer& l) { return l.depthwise; });
  if (depthwise) also.push_back(fmt::format("{} depthwise Conv", depthwise));
  std::string embeddings;
  for (const auto& e : s.embeddings) embeddings += (embeddings.empty() ? "" : ", ") + e;
  if (!embeddings.empty()) also.push_back("embedding and position tables " + embeddings);
  std::string list;
  for (const auto& a : also) list += (list.empty() ? "" : ", ") + a;
  if (!list.empty()) comment(out, 0, "It has " + list + ".");
}

// The layers 2:4 pruning leaves dense, with why; throws when none is left to prune.
struct Exclusion {
  const SurveyLayer* layer;
  std::string why;
};

std::vector<Exclusion> pruning_exclusions(const ModelSurvey& s) {
  std::vector<Exclusion> out;
  std::string all_reasons;
  for (const auto& l : s.layers) {
    std::vector<std::string> why;
    if (l.first)
      why.push_back(
          "the first layer, reading the model input: pruning there drops input information no "
          "later layer can recover");
    if (l.classifier)
      why.push_back("the classifier, giving the logits: its errors reach the prediction directly");
    if (l.depthwise)
      why.push_back("depthwise: one input channel per group, so no 2:4 group exists");
    else if (const std::string p = nm_problem(l, kPattern); !p.empty())
      why.push_back(p);
    std::string text;
    for (const auto& w : why) text += (text.empty() ? "" : "; ") + w;
    if (!why.empty()) out.push_back({&l, text});
    all_reasons += fmt::format("\n  {} {} ({}): {}", l.weight, to_string(l.layout.shape), l.op_type,
                               why.empty() ? "prunable" : text);
  }
  if (out.size() == s.layers.size()) {
    throw Error(
        fmt::format("goal {}: nothing in the model can be pruned 2:4{}", kPattern,
                    s.layers.empty() ? " (it has no Conv, Gemm or MatMul weight)" : all_reasons),
        ErrorKind::kInvalidInput, "pick --goal int8 or int8-qat");
  }
  return out;
}

// What stays float whatever the goal, and why.
std::string untouched_text(const ModelSurvey& s) {
  std::string t;
  if (!s.embeddings.empty()) {
    t += "The embedding and position tables are looked up (Gather) or added, not multiplied: they "
         "stay float "
         "and dense (pruning and int8 act on Conv / Gemm / MatMul weights).";
  }
  if (s.layer_norms || s.softmaxes) {
    t += std::string(t.empty() ? "" : " ") +
         "LayerNormalization and Softmax stay float: tamp's int8 plan covers Conv / Gemm / MatMul "
         "and residual Adds.";
  }
  return t;
}

// Whether Fashion-MNIST's examples (float32 1x28x28 images, 784 values) can feed `in`: its
// dims after the batch are unknown or multiply to 784.
bool takes_fashion_mnist(const nn::ValueInfo& in) {
  if (in.dtype != DType::kFloat32) return false;
  if (!in.has_shape || in.shape.size() < 2) return true;
  int64_t values = 1;
  for (size_t i = 1; i < in.shape.size(); ++i) {
    if (!in.shape[i].known()) return true;
    values *= in.shape[i].value;
  }
  return values == 784;
}

// One line, so that an edit (the UI's page, a sed) replaces the whole section.
void write_data(std::ostringstream& out, const ModelSurvey& s, const RecipeData& d) {
  if (d.dataset == "fashion-mnist" && !takes_fashion_mnist(s.inputs[0])) {
    comment(out, 0,
            fmt::format(
                "NOTE: the model's input {} does not take Fashion-MNIST's float32 1x28x28 "
                "images, so `tamp run` will stop at the first batch: point `dataset:` at an HDF5 "
                "file of inputs of that shape (`hdf5:FILE.h5`, docs/recipes.md).",
                input_text(s.inputs[0])));
  }
  if (!d.normalize.empty()) {
    comment(out, 0,
            "normalize: (x - mean) / std goes into the model, which then takes raw values.");
  } else if (s.normalizes_input) {
    comment(out, 0, "The model standardizes its input itself (Sub, Div): the data is fed raw.");
  } else if (s.inputs[0].dtype == DType::kFloat32) {
    comment(out, 0,
            "The data is fed as the dataset holds it (Fashion-MNIST: pixels in [0, 1]), as the "
            "model is "
            "assumed to have been trained; `normalize: train` would put the training split's (x - "
            "mean) / "
            "std into it.");
  }
  std::vector<std::string> f{"dataset: " + quoted(d.dataset)};
  if (!d.eval_dataset.empty()) f.push_back("eval_dataset: " + quoted(d.eval_dataset));
  if (d.dataset == "fashion-mnist") f.push_back("dir: " + quoted(d.dir));
  if (d.limit > 0) f.push_back(fmt::format("limit: {}", d.limit));
  if (d.eval_limit > 0) f.push_back(fmt::format("eval_limit: {}", d.eval_limit));
  if (!d.normalize.empty()) f.push_back("normalize: " + quoted(d.normalize));
  std::string line;
  for (const auto& x : f) line += (line.empty() ? "" : ", ") + x;
  out << "data: {" << line << "}\n";
}

void write_training(std::ostringstream& out, const ModelSurvey& s, const RecipeRequest& q,
                    int64_t steps) {
  out << "training:\n";
  out << "  epochs: " << q.epochs << "\n";
  if (q.steps_per_epoch > 0) out << "  steps_per_epoch: " << q.steps_per_epoch << "\n";
  out << "  batch_size: " << q.batch_size << "\n";
  if (s.layer_norms || s.softmaxes) {
    comment(out, 2,
            "AdamW at a small rate with a cosine decay: how transformers are fine-tuned (SGD at a "
            "rate that "
            "suits convolutions upsets LayerNormalization and attention).");
    out << "  optimizer: {kind: adamw, lr: 0.0001, weight_decay: 0.01}\n";
  } else {
    comment(out, 2,
            "SGD with momentum and a cosine decay: the usual fine-tuning of convolutional and "
            "dense networks.");
    out << "  optimizer: {kind: sgd, lr: 0.01, momentum: 0.9}\n";
  }
  out << "  lr_schedule: {kind: cosine}\n";
  out << "  log_every: " << (steps > 0 ? std::clamp<int64_t>(steps / 20, 1, 50) : 50) << "\n";
}

void write_pruning_stage(std::ostringstream& out, const ModelSurvey& s, const RecipeRequest& q,
                         int64_t steps) {
  const auto excluded = pruning_exclusions(s);
  int64_t dense = 0;
  for (const auto& e : excluded) dense += e.layer->elements();
  out << "  - name: prune-2:4\n";
  out << "    pruning:\n";
  out << "      pattern: '2:4'\n";
  comment(out, 6,
          "From dense to 2:4 over the first half of the training (cubic: fast at first, gently at "
          "the end), "
          "so that the second half fine-tunes with the final masks. Magnitude criterion: the two "
          "largest "
          "weights of every four consecutive input channels stay.");
  const int64_t frequency = std::clamp<int64_t>(steps > 0 ? steps / 10 : 50, 1, 50);
  out << fmt::format(
      "      schedule: {{curve: cubic, start_epoch: 0, end_epoch: {}, frequency: {}}}\n",
      0.5 * q.epochs, frequency);
  if (excluded.empty()) {
    comment(out, 6,
            "Every Conv / Gemm / MatMul weight tiles 2:4, and none reads the input or gives the "
            "logits.");
    out << "      exclude: []\n";
    return;
  }
  comment(out, 6,
          fmt::format("Left dense: {} of {} layers, {} of {} weights ({:.1f} %).", excluded.size(),
                      s.layers.size(), thousands(dense), thousands(s.weight_elements),
                      100.0 * static_cast<double>(dense) /
                          static_cast<double>(std::max<int64_t>(1, s.weight_elements))));
  out << "      exclude:\n";
  const std::string* previous = nullptr;
  for (const auto& e : excluded) {
    const std::string what =
        fmt::format("{} ({})", to_string(e.layer->layout.shape), e.layer->op_type);
    if (previous && *previous == e.why) {
      out << "        - " << quoted(regex_of(e.layer->weight)) << "   # " << what << ", as above\n";
      continue;
    }
    comment(out, 8, fmt::format("{} {}: {}", e.layer->weight, what, e.why));
    out << "        - " << quoted(regex_of(e.layer->weight)) << "\n";
    previous = &e.why;
  }
}

// The int8 settings shared by qat and ptq (ptq adds its calibration observer).
void write_quantizer(std::ostringstream& out, const std::string& key, const std::string& observer) {
  out << "    " << key << ":\n";
  out << "      weights: {bits: 8, per_channel: true}\n";
  out << "      activations: {bits: 8, signed: false, symmetric: false" << observer << "}\n";
}

void write_quantization_stage(std::ostringstream& out, const nn::Graph& g, const ModelSurvey& s,
                              bool qat, bool after_pruning) {
  compression::QuantPlan plan;
  TAMP_WITH_CONTEXT("goal int8", plan = compression::plan_quantization(g));
  out << "  - name: " << (qat ? "qat" : "int8") << "\n";
  comment(out, 4,
          fmt::format("{} quantized ops (Conv / Gemm / MatMul and residual Adds), the first layer "
                      "and the classifier among them: "
                      "with per-channel int8 weights they lose little (docs/tuning.md: the CNN "
                      "with every op int8 scores 0.8505 "
                      "against 0.8510 in float), and keeping them float would put a float island "
                      "at each end of the graph. "
                      "--goal smallest-within:1% measures which ops need float instead.",
                      plan.compute_nodes.size()));
  if (const std::string t = untouched_text(s); !t.empty()) comment(out, 4, t);
  if (s.batch_norms) {
    comment(out, 4,
            fmt::format(
                "The {} BatchNormalization nodes are folded into their convs{}.", s.batch_norms,
                qat ? "; they keep training until the stage's last epoch (freeze_bn_epoch: last)"
                    : " before calibration"));
  }
  if (after_pruning)
    comment(out, 4, "The pruning stage's zeros stay zero: 0 is a point of the int8 grid.");
  comment(
      out, 4,
      "Per-channel int8 weights and uint8 asymmetric activations, which ONNX Runtime fuses into "
      "QLinearConv, QGemm and QLinearMatMul.");
  if (qat) {
    comment(out, 4, "Activation ranges are a moving average of what training sees.");
    write_quantizer(out, "qat", ", observer: moving_average");
  } else {
    comment(out, 4,
            "Calibrated on 32 training batches; the 99.99th percentile clips the rare outliers "
            "that min-max "
            "would stretch the uint8 grid for.");
    out << "    calibration_batches: 32\n";
    write_quantizer(out, "ptq", ", observer: percentile, percentile: 99.99");
  }
}

void write_tuning(std::ostringstream& out, const nn::Graph& g, const ModelSurvey& s,
                  double tolerance) {
  TAMP_WITH_CONTEXT("goal smallest-within",
                    compression::plan_quantization(g));  // something to quantize
  comment(out, 0,
          fmt::format("Accuracy-aware tuning: static int8 quantization whose per-op fallbacks to "
                      "float, weight granularity, "
                      "activation scheme, calibration and per-layer sparsity are searched against "
                      "the criterion (top-1 within "
                      "{:g} % of the float model's, relative), for the smallest model. No layer is "
                      "excluded by rule: the first "
                      "layer, the classifier and every other op are measured.",
                      tolerance * 100));
  if (const std::string t = untouched_text(s); !t.empty()) comment(out, 0, t);
  out << "tuning:\n";
  out << fmt::format("  criterion: relative:{:g}\n", tolerance);
  comment(out, 2,
          "mse orders the fallbacks by each op's measured output error: no trials are spent "
          "measuring sensitivity.");
  out << "  strategy: mse\n";
  out << "  objective: size                # weight bytes: int8 and zeros make a model smaller\n";
  out << "  keep_improving: true           # after the first configuration that meets the "
         "criterion, smaller ones\n";
  out << "  max_trials: 40\n";
  out << "  calibration_batches: 8\n";
  comment(out, 2,
          "Per-layer sparsity levels: one-shot unstructured magnitude pruning (no fine-tuning), "
          "kept only "
          "where the criterion still holds.");
  out << "  sparsity: [0, 0.5, 0.75]\n";
}

}  // namespace

const std::vector<RecipeGoal>& recipe_goals() {
  static const std::vector<RecipeGoal> goals{
      {"int8", "static int8 quantization after training (calibration only)", false},
      {"int8-qat", "int8 quantization-aware training", true},
      {"2:4", "2:4 sparsity while fine-tuning, float export", true},
      {"2:4+int8", "2:4 sparsity while fine-tuning, then static int8", true},
      {"smallest-within:1%",
       "the smallest int8 / sparse model within 1 % (relative) of the float top-1: "
       "accuracy-aware tuning, no training",
       false},
  };
  return goals;
}

bool is_tuning_goal(const std::string& goal) { return goal.rfind(kTuningPrefix, 0) == 0; }

void check_recipe_goal(const std::string& goal) {
  if (is_tuning_goal(goal)) {
    tolerance_of(goal);
    return;
  }
  for (const auto& g : recipe_goals()) {
    if (g.name == goal) return;
  }
  std::string known;
  for (const auto& g : recipe_goals()) known += (known.empty() ? "" : ", ") + g.name;
  throw Error(fmt::format("unknown goal '{}'", goal), ErrorKind::kInvalidInput,
              "pick one of " + known + " (smallest-within takes any X%)");
}

std::string generate_recipe(const nn::Graph& graph, const RecipeRequest& q) {
  check_recipe_goal(q.goal);
  TAMP_CHECK(q.epochs >= 1 && q.epochs <= 1000, "epochs must be between 1 and 1000, not {}",
             q.epochs);
  TAMP_CHECK(q.steps_per_epoch == -1 || q.steps_per_epoch >= 1,
             "steps per epoch must be positive (or -1: all)");
  TAMP_CHECK(q.batch_size >= 1, "the batch size must be positive, not {}", q.batch_size);
  TAMP_CHECK(q.data.limit == -1 || q.data.limit >= 1,
             "the training example limit must be positive (or -1: all)");
  TAMP_CHECK(q.data.eval_limit == -1 || q.data.eval_limit >= 1,
             "the evaluation example limit must be positive (or -1: all)");
  const ModelSurvey s = survey_model(graph);
  if (s.inputs.size() != 1) {
    throw Error(
        fmt::format("the model has {} inputs; a recipe's dataset feeds one", s.inputs.size()),
        ErrorKind::kUnsupported);
  }
  const bool prune = q.goal == "2:4" || q.goal == "2:4+int8";
  const bool qat = q.goal == "int8-qat";
  const bool ptq = q.goal == "int8" || q.goal == "2:4+int8";
  // An epoch ends when the data does: `limit` examples make limit / batch steps at most.
  int64_t per_epoch = q.steps_per_epoch;
  if (q.data.limit > 0) {
    per_epoch = std::min(per_epoch > 0 ? per_epoch : q.data.limit,
                         std::max<int64_t>(1, q.data.limit / q.batch_size));
  }
  const int64_t steps = per_epoch > 0 ? per_epoch * q.epochs : -1;

  std::ostringstream out;
  comment(
      out, 0,
      fmt::format("{}: goal '{}' for {} (docs/zero_code.md). Check it with `tamp recipe validate "
                  "FILE`, run it with `tamp run FILE --out DIR`.",
                  q.origin, q.goal, std::filesystem::path(q.model).filename().string()));
  describe_model(out, s);
  out << "model: " << quoted(q.model) << "\n";
  out << "seed: 1\n";
  write_data(out, s, q.data);
  if (is_tuning_goal(q.goal)) {
    out << fmt::format("training: {{batch_size: {}}}   # calibration batches\n", q.batch_size);
    write_tuning(out, graph, s, tolerance_of(q.goal));
    out << "export: {format: qdq, target: portable, path: " << quoted(q.export_path) << "}\n";
    return out.str();
  }
  if (prune || qat) {
    write_training(out, s, q, steps);
  } else {
    out << fmt::format("training: {{batch_size: {}}}   # calibration only: no training step\n",
                       q.batch_size);
  }
  out << "stages:\n";
  if (prune) write_pruning_stage(out, s, q, steps);
  if (qat || ptq) write_quantization_stage(out, graph, s, qat, prune);
  if (qat || ptq) {
    comment(out, 0,
            "Target portable: the int8 weights are stored as uint8 (zero point 128), which ONNX "
            "Runtime "
            "computes exactly on every x86 and ARM64 CPU (docs/quantization_targets.md).");
    out << "export: {format: qdq, target: portable, path: " << quoted(q.export_path) << "}\n";
  } else {
    out << "export: {format: float, path: " << quoted(q.export_path) << "}\n";
  }
  return out.str();
}

}  // namespace tamp
