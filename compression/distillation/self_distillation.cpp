#include <tamp/compression/distillation/loss_history.h>
#include <tamp/compression/distillation/losses.h>
#include <tamp/compression/distillation/probe.h>
#include <tamp/compression/distillation/self_distillation.h>

#include <tamp/autograd/apply.h>
#include <tamp/nn/functional.h>
#include <tamp/nn/loss.h>

#include <optional>

namespace tamp::compression {

using namespace distillation;

namespace {

// A classifier on one shallow value (see the header): grid pooling, optional hidden layer.
struct Head {
  int rank = 2;
  Attributes pool;                          // AveragePool attributes; empty: no pooling
  std::shared_ptr<nn::Linear> hidden, out;  // hidden may be null

  Head(const Shape& s, int64_t classes, int64_t grid, int64_t hidden_width, Generator& rng)
      : rank(static_cast<int>(s.size())) {
    int64_t features = width_of(s);
    if (rank == 4) {
      // Windows of ceil(H / grid) x ceil(W / grid), the padding split over both ends and left
      // out of the mean, so an H that grid does not divide still gives whole cells.
      std::vector<int64_t> kernel, begin, end;
      int64_t cells = 1;
      for (int axis = 2; axis < 4; ++axis) {
        TAMP_CHECK(s[axis] > 0, "self-distillation: a head needs a non-empty value, got {}",
                   to_string(s));
        const int64_t k = (s[axis] + grid - 1) / grid, n = (s[axis] + k - 1) / k,
                      pad = n * k - s[axis];
        kernel.push_back(k);
        begin.push_back(pad / 2);
        end.push_back(pad - pad / 2);
        cells *= n;
      }
      features *= cells;
      if (kernel[0] > 1 || kernel[1] > 1) {
        std::vector<int64_t> pads = begin;
        pads.insert(pads.end(), end.begin(), end.end());
        pool.set("kernel_shape", kernel);
        pool.set("strides", kernel);
        pool.set("pads", pads);
        pool.set("count_include_pad", int64_t{0});
      }
    }
    if (hidden_width > 0) hidden = std::make_shared<nn::Linear>(features, hidden_width, true, rng);
    out = std::make_shared<nn::Linear>(hidden ? hidden_width : features, classes, true, rng);
  }

  Variable forward(const Variable& shallow) const {
    Variable x = shallow;
    if (rank == 4) {
      if (!pool.empty()) x = apply1("AveragePool", {x}, pool);
      x = nn::flatten(x, 1);
    } else if (rank == 3) {
      x = apply1("ReduceMean", {x}, {{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{0}}});
    }
    if (hidden) x = nn::relu(hidden->forward(x));
    return out->forward(x);
  }

  std::vector<std::pair<std::string, Variable>> named_parameters(const std::string& prefix) const {
    std::vector<std::pair<std::string, Variable>> params;
    const std::string last =
        hidden ? prefix + ".out" : prefix;  // a linear head keeps the old names
    if (hidden) {
      for (auto& [n, v] : hidden->named_parameters())
        params.emplace_back(prefix + ".hidden." + n, v);
    }
    for (auto& [n, v] : out->named_parameters()) params.emplace_back(last + "." + n, v);
    return params;
  }
};

}  // namespace

struct SelfDistillation::Impl {
  SelfDistillationOptions options;
  nn::GraphModule* model = nullptr;
  std::string output;
  std::vector<Head> heads;
  std::vector<std::optional<Projection>> projections;
  LossHistory history;

  Variable head(size_t i, const Variable& shallow) const { return heads[i].forward(shallow); }
};

SelfDistillation::SelfDistillation(SelfDistillationOptions options)
    : impl_(std::make_unique<Impl>()) {
  TAMP_CHECK(options.temperature > 0, "self-distillation temperature must be positive, got {}",
             options.temperature);
  TAMP_CHECK(!options.pairs.empty(), "self-distillation needs at least one pair of values");
  TAMP_CHECK(options.head_grid >= 1 && options.head_grid <= 64,
             "self-distillation head_grid must be in [1, 64], got {}", options.head_grid);
  TAMP_CHECK(options.head_hidden >= 0 && options.head_hidden <= 65536,
             "self-distillation head_hidden must be in [0, 65536], got {}", options.head_hidden);
  for (size_t i = 0; i < options.pairs.size(); ++i) {
    const auto& p = options.pairs[i];
    TAMP_CHECK(!p.shallow.empty(), "self-distillation pair {} names no shallow value", i);
    TAMP_CHECK(p.kd_weight >= 0 && p.label_weight >= 0 && p.feature_weight >= 0,
               "self-distillation pair {} ('{}'): weights must be >= 0", i, p.shallow);
    TAMP_CHECK(p.feature_weight == 0 || !p.deep.empty(),
               "self-distillation pair {} ('{}'): feature_weight needs a deep value", i, p.shallow);
  }
  impl_->options = std::move(options);
}

SelfDistillation::~SelfDistillation() = default;

void SelfDistillation::attach(nn::GraphModule& model, nn::Collective&) {
  Impl& I = *impl_;
  TAMP_CHECK(!I.model, "a SelfDistillation component attaches to one model once");
  const nn::Graph& g = model.graph();
  const nn::ValueInfo& in = graph_input(g, I.options.input, "model");
  TAMP_CHECK(!g.outputs.empty(), "self-distillation needs a model with an output");
  I.output = I.options.output.empty() ? g.outputs[0].name : I.options.output;
  std::vector<std::string> names{I.output};
  for (const auto& p : I.options.pairs) {
    names.push_back(p.shallow);
    if (!p.deep.empty()) names.push_back(p.deep);
  }
  check_values_exist(g, names, "model");
  const Tensor x =
      I.options.example_input.defined() ? I.options.example_input : example_input(in, 2, "model");
  const auto shapes = probe_shapes(model, in.name, x, names);
  const Shape& logits = shapes.at(I.output);
  TAMP_CHECK(logits.size() == 2, "self-distillation needs (N, classes) logits, '{}' is {}",
             I.output, to_string(logits));
  Generator rng(I.options.seed);
  for (size_t i = 0; i < I.options.pairs.size(); ++i) {
    const auto& p = I.options.pairs[i];
    const Shape& s = shapes.at(p.shallow);
    TAMP_CHECK(s.size() >= 2 && s.size() <= 4,
               "self-distillation pair {}: '{}' is {}, need rank 2, 3 or 4", i, p.shallow,
               to_string(s));
    I.heads.emplace_back(s, logits[1], I.options.head_grid, I.options.head_hidden, rng);
    if (p.feature_weight > 0 && s != shapes.at(p.deep)) {
      I.projections.emplace_back(Projection(
          s, shapes.at(p.deep), rng,
          fmt::format("self-distillation pair {} ('{}' -> '{}')", i, p.shallow, p.deep)));
    } else {
      I.projections.emplace_back(std::nullopt);
    }
  }
  I.model = &model;
}

std::vector<std::string> SelfDistillation::extra_outputs() const {
  std::vector<std::string> out{impl_->output};
  for (const auto& p : impl_->options.pairs) {
    out.push_back(p.shallow);
    if (p.feature_weight > 0) out.push_back(p.deep);
  }
  return out;
}

std::vector<std::pair<std::string, Variable>> SelfDistillation::trainable_parameters() const {
  std::vector<std::pair<std::string, Variable>> out;
  for (size_t i = 0; i < impl_->heads.size(); ++i) {
    for (auto& p : impl_->heads[i].named_parameters(fmt::format("self_distillation.head{}", i)))
      out.push_back(std::move(p));
    if (impl_->projections[i]) {
      for (auto& p :
           impl_->projections[i]->named_parameters(fmt::format("self_distillation.proj{}", i))) {
        out.push_back(std::move(p));
      }
    }
  }
  return out;
}

Variable SelfDistillation::head_logits(size_t i,
                                       const std::map<std::string, Variable>& values) const {
  TAMP_CHECK(i < impl_->heads.size(), "self-distillation has {} heads, not {}", impl_->heads.size(),
             i + 1);
  return impl_->head(i, values.at(impl_->options.pairs[i].shallow));
}

Variable SelfDistillation::extra_loss(const Batch& batch, const StepInfo&) {
  Impl& I = *impl_;
  TAMP_CHECK(I.model, "SelfDistillation: attach before training");
  I.history.begin_step();
  auto value = [&](const std::string& name) {
    auto it = batch.values.find(name);
    TAMP_CHECK(it != batch.values.end(), "self-distillation: the forward pass did not return '{}'",
               name);
    return it->second;
  };
  const Tensor logits = value(I.output).value();
  Variable total;
  auto add = [&](const std::string& term, Variable v, double weight) {
    if (weight == 0) return;
    v = apply1("Mul", {v, Variable(Tensor::scalar(weight, v.dtype()))});
    I.history.add(term, v.value().item());
    total = total.defined() ? apply1("Add", {total, v}) : v;
  };
  for (size_t i = 0; i < I.options.pairs.size(); ++i) {
    const auto& p = I.options.pairs[i];
    const Variable shallow = value(p.shallow);
    const Variable h = I.head(i, shallow);
    add(fmt::format("head{}.kd", i), logit_loss(h, logits, LogitLoss::kKL, I.options.temperature),
        p.kd_weight);
    if (p.label_weight > 0 && batch.labels.defined()) {
      add(fmt::format("head{}.ce", i), nn::cross_entropy(h, batch.labels), p.label_weight);
    }
    if (p.feature_weight > 0) {
      const Variable s = I.projections[i] ? I.projections[i]->forward(shallow) : shallow;
      add(fmt::format("head{}.feature", i),
          feature_loss(s, value(p.deep).value(), FeatureLoss::kMSE), p.feature_weight);
    }
  }
  if (total.defined()) I.history.add_total(total.value().item());
  return total;
}

void SelfDistillation::on_epoch_end(const StepInfo&) { impl_->history.end_epoch(); }

const std::vector<std::map<std::string, double>>& SelfDistillation::history() const {
  return impl_->history.epochs();
}

std::vector<std::pair<std::string, double>> SelfDistillation::loss_terms() const {
  return impl_->history.step_terms();
}

std::map<std::string, Tensor> SelfDistillation::state() const {
  std::map<std::string, Tensor> s;
  for (const auto& [name, v] : trainable_parameters()) s[name] = v.value().clone();
  return s;
}

}  // namespace tamp::compression
