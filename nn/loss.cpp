#include <tamp/nn/loss.h>

#include <tamp/autograd/apply.h>

namespace tamp::nn {

namespace {

const char* reduction_name(Reduction r) {
  switch (r) {
    case Reduction::kSum:
      return "sum";
    case Reduction::kNone:
      return "none";
    default:
      return "mean";
  }
}

Attributes class_loss_attrs(const CrossEntropyOptions& o) {
  Attributes a;
  a.set("reduction", std::string(reduction_name(o.reduction)));
  if (o.ignore_index) a.set("ignore_index", *o.ignore_index);
  return a;
}

Variable call(std::string_view domain, std::string_view type, const std::vector<Variable>& inputs,
              Attributes attrs) {
  static const OpRegistry& registry = OpRegistry::builtin();
  return apply(registry.get(domain, type, kMaxOpset), inputs,
               std::make_shared<const Attributes>(std::move(attrs)))[0];
}

std::vector<Variable> class_inputs(const Variable& scores, const Variable& targets,
                                   const CrossEntropyOptions& o) {
  std::vector<Variable> in{scores, targets};
  if (o.weight.defined()) in.emplace_back(o.weight, false);
  return in;
}

}  // namespace

Variable cross_entropy(const Variable& logits, const Variable& targets,
                       const CrossEntropyOptions& options) {
  Attributes a = class_loss_attrs(options);
  if (options.label_smoothing == 0) {
    return call("", "SoftmaxCrossEntropyLoss", class_inputs(logits, targets, options),
                std::move(a));
  }
  a.set("label_smoothing", static_cast<float>(options.label_smoothing));
  return call(kTampDomain, "SoftmaxCrossEntropyLoss", class_inputs(logits, targets, options),
              std::move(a));
}

Variable nll_loss(const Variable& log_probs, const Variable& targets,
                  const CrossEntropyOptions& options) {
  TAMP_CHECK(options.label_smoothing == 0,
             "nll_loss: label smoothing needs logits; use cross_entropy");
  return call("", "NegativeLogLikelihoodLoss", class_inputs(log_probs, targets, options),
              class_loss_attrs(options));
}

Variable kl_div_distill(const Variable& student_logits, const Variable& teacher_logits,
                        double temperature, int64_t axis) {
  return call(kTampDomain, "SoftmaxKLDivLoss", {student_logits, teacher_logits},
              {{"temperature", static_cast<float>(temperature)},
               {"axis", axis},
               {"reduction", std::string("batchmean")}});
}

Variable mse_loss(const Variable& input, const Variable& target, Reduction reduction) {
  return call(kTampDomain, "MSELoss", {input, target},
              {{"reduction", std::string(reduction_name(reduction))}});
}

}  // namespace tamp::nn
