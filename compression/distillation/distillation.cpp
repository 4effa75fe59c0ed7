#include <tamp/compression/distillation/distillation.h>
#include <tamp/compression/distillation/loss_history.h>
#include <tamp/compression/distillation/probe.h>

#include <tamp/autograd/apply.h>

#include <optional>
#include <set>

namespace tamp::compression {

using namespace distillation;

struct Distillation::Impl {
  std::shared_ptr<nn::GraphModule> teacher;
  DistillationOptions options;
  nn::GraphModule* student = nullptr;
  std::string student_input, teacher_input, student_output, teacher_output;
  nn::ValueInfo teacher_input_info;
  std::vector<std::optional<Projection>> projections;  // per layer pair
  std::vector<std::string> teacher_values;             // what the teacher's forward returns
  LossHistory history;
};

Distillation::Distillation(std::shared_ptr<nn::GraphModule> teacher, DistillationOptions options)
    : impl_(std::make_unique<Impl>()) {
  TAMP_CHECK(teacher, "distillation needs a teacher model");
  TAMP_CHECK(options.temperature > 0, "distillation temperature must be positive, got {}",
             options.temperature);
  TAMP_CHECK(options.alpha >= 0 && options.alpha <= 1,
             "distillation alpha must be in [0, 1], got {}", options.alpha);
  TAMP_CHECK(options.logits || !options.layers.empty(),
             "distillation with logits = false needs at least one layer pair");
  for (size_t i = 0; i < options.layers.size(); ++i) {
    const LayerPair& p = options.layers[i];
    TAMP_CHECK(!p.student.empty() && !p.teacher.empty(),
               "distillation layer pair {} names no value", i);
    TAMP_CHECK(p.weight >= 0, "distillation layer pair {} ('{}'): weight {} is negative", i,
               p.student, p.weight);
    TAMP_CHECK(p.temperature > 0, "distillation layer pair {} ('{}'): temperature must be positive",
               i, p.student);
  }
  teacher->eval();
  teacher->freeze(".*");
  impl_->teacher = std::move(teacher);
  impl_->options = std::move(options);
}

Distillation::~Distillation() = default;

void Distillation::attach(nn::GraphModule& model, nn::Collective&) {
  Impl& I = *impl_;
  TAMP_CHECK(!I.student, "a Distillation component attaches to one model once");
  TAMP_CHECK(&model != I.teacher.get(),
             "the teacher cannot be the student itself: use SelfDistillation");
  const DistillationOptions& o = I.options;
  const nn::Graph& sg = model.graph();
  const nn::Graph& tg = I.teacher->graph();
  const nn::ValueInfo& s_in = graph_input(sg, o.student_input, "student");
  I.teacher_input_info = graph_input(tg, o.teacher_input, "teacher");
  I.student_input = s_in.name;
  I.teacher_input = I.teacher_input_info.name;
  TAMP_CHECK(!sg.outputs.empty() && !tg.outputs.empty(), "distillation needs models with outputs");
  I.student_output = o.student_output.empty() ? sg.outputs[0].name : o.student_output;
  I.teacher_output = o.teacher_output.empty() ? tg.outputs[0].name : o.teacher_output;

  std::vector<std::string> s_names, t_names;
  if (o.logits) {
    s_names.push_back(I.student_output);
    t_names.push_back(I.teacher_output);
  }
  for (const auto& p : o.layers) {
    s_names.push_back(p.student);
    t_names.push_back(p.teacher);
  }
  check_values_exist(sg, s_names, "student");
  check_values_exist(tg, t_names, "teacher");

  const Tensor x = o.example_input.defined() ? o.example_input : example_input(s_in, 2, "student");
  const auto s_shapes = probe_shapes(model, I.student_input, x, s_names);
  const auto t_shapes = probe_shapes(*I.teacher, I.teacher_input,
                                     fit_to(I.teacher_input_info, Variable(x)).value(), t_names);
  if (o.logits && s_shapes.at(I.student_output) != t_shapes.at(I.teacher_output)) {
    throw Error(
        fmt::format("the teacher's output '{}' has shape {} but the student's output '{}' has {}",
                    I.teacher_output, to_string(t_shapes.at(I.teacher_output)), I.student_output,
                    to_string(s_shapes.at(I.student_output))),
        ErrorKind::kInvalidInput, "logit distillation needs a teacher with the student's classes");
  }
  Generator rng(o.seed);
  for (size_t i = 0; i < o.layers.size(); ++i) {
    const LayerPair& p = o.layers[i];
    const Shape& a = s_shapes.at(p.student);
    const Shape& b = t_shapes.at(p.teacher);
    const std::string label = fmt::format("distillation layer pair {} (student '{}', teacher '{}')",
                                          i, p.student, p.teacher);
    if (a == b) {
      I.projections.emplace_back(std::nullopt);
      continue;
    }
    TAMP_CHECK(p.project, "{}: shapes {} and {} differ and project is off", label, to_string(a),
               to_string(b));
    I.projections.emplace_back(Projection(a, b, rng, label));
  }
  std::set<std::string> unique(t_names.begin(), t_names.end());
  I.teacher_values.assign(unique.begin(), unique.end());
  I.student = &model;
}

std::vector<std::string> Distillation::extra_outputs() const {
  std::vector<std::string> out;
  if (impl_->options.logits) out.push_back(impl_->student_output);
  for (const auto& p : impl_->options.layers) out.push_back(p.student);
  return out;
}

double Distillation::task_loss_weight() const {
  return impl_->options.logits ? 1 - impl_->options.alpha : 1.0;
}

std::vector<std::pair<std::string, Variable>> Distillation::trainable_parameters() const {
  std::vector<std::pair<std::string, Variable>> out;
  for (size_t i = 0; i < impl_->projections.size(); ++i) {
    if (!impl_->projections[i]) continue;
    for (auto& p :
         impl_->projections[i]->named_parameters(fmt::format("distillation.layer{}", i))) {
      out.push_back(std::move(p));
    }
  }
  return out;
}

Variable Distillation::extra_loss(const Batch& batch, const StepInfo&) {
  Impl& I = *impl_;
  TAMP_CHECK(I.student, "Distillation: attach before training");
  I.history.begin_step();
  auto in = batch.inputs.find(I.student_input);
  TAMP_CHECK(in != batch.inputs.end(), "distillation: the batch has no student input '{}'",
             I.student_input);
  std::map<std::string, Variable> t_values;
  {
    NoGradGuard no_grad;
    t_values = I.teacher->forward({{I.teacher_input, fit_to(I.teacher_input_info, in->second)}},
                                  I.teacher_values);
  }
  auto student_value = [&](const std::string& name) {
    auto it = batch.values.find(name);
    TAMP_CHECK(it != batch.values.end(), "distillation: the forward pass did not return '{}'",
               name);
    return it->second;
  };
  Variable total;
  auto add = [&](const std::string& term, const Variable& v) {
    I.history.add(term, v.value().item());
    total = total.defined() ? apply1("Add", {total, v}) : v;
  };
  const DistillationOptions& o = I.options;
  if (o.logits) {
    const Variable s = student_value(I.student_output);
    const Tensor& t = t_values.at(I.teacher_output).value();
    if (s.shape() != t.shape()) {
      throw Error(
          fmt::format("the teacher's output '{}' has shape {} but the student's output '{}' has {}",
                      I.teacher_output, describe(t), I.student_output, describe(s.value())));
    }
    Variable l = logit_loss(s, t, o.loss, o.temperature);
    add("logits", apply1("Mul", {l, Variable(Tensor::scalar(o.alpha, l.dtype()))}));
  }
  for (size_t i = 0; i < o.layers.size(); ++i) {
    const LayerPair& p = o.layers[i];
    Variable s = student_value(p.student);
    if (I.projections[i]) s = I.projections[i]->forward(s);
    Variable l;
    TAMP_WITH_CONTEXT(fmt::format("distillation layer pair {} ('{}')", i, p.student),
                      l = feature_loss(s, t_values.at(p.teacher).value(), p.loss, p.temperature));
    add(fmt::format("layer{}", i),
        apply1("Mul", {l, Variable(Tensor::scalar(p.weight, l.dtype()))}));
  }
  if (total.defined()) I.history.add_total(total.value().item());
  return total;
}

void Distillation::on_epoch_end(const StepInfo&) { impl_->history.end_epoch(); }

const std::vector<std::map<std::string, double>>& Distillation::history() const {
  return impl_->history.epochs();
}

std::vector<std::pair<std::string, double>> Distillation::loss_terms() const {
  return impl_->history.step_terms();
}

std::map<std::string, Tensor> Distillation::state() const {
  std::map<std::string, Tensor> s;
  for (const auto& [name, v] : trainable_parameters()) s[name] = v.value().clone();
  return s;
}

void Distillation::load_state(const std::map<std::string, Tensor>& state) {
  auto params = trainable_parameters();
  for (const auto& [key, t] : state) {
    bool found = false;
    for (auto& [name, v] : params) {
      if (name != key) continue;
      TAMP_CHECK(t.shape() == v.shape(), "distillation state: '{}' is {}, the projection is {}",
                 key, describe(t), describe(v.value()));
      Tensor dst = v.value();
      dst.copy_from(t.to(v.dtype()));
      found = true;
    }
    TAMP_CHECK(found, "distillation state: unknown entry '{}'", key);
  }
}

}  // namespace tamp::compression
