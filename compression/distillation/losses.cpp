#include <tamp/compression/distillation/losses.h>

#include <tamp/autograd/apply.h>
#include <tamp/nn/functional.h>
#include <tamp/nn/loss.h>

namespace tamp::compression::distillation {

namespace {

Variable scalar_like(double v, const Variable& like) {
  return Variable(Tensor::scalar(v, like.dtype()));
}

Variable sum_all(const Variable& x) { return apply1("ReduceSum", {x}, {{"keepdims", int64_t{0}}}); }

Variable sum_rows(const Variable& x) {
  return apply1("ReduceSum", {x, Variable(Tensor::from_vector<int64_t>({1}, {1}))},
                {{"keepdims", int64_t{0}}});
}

void check_shapes(const Variable& s, const Tensor& t, const char* what) {
  TAMP_CHECK(t.defined() && s.defined(), "{} loss: missing student or teacher values", what);
  TAMP_CHECK(s.shape() == t.shape(), "{} loss: student {} and teacher {} differ in shape", what,
             describe(s.value()), describe(t));
  TAMP_CHECK(s.dtype() == t.dtype(), "{} loss: student {} and teacher {} differ in dtype", what,
             describe(s.value()), describe(t));
  TAMP_CHECK(s.value().rank() >= 1 && s.value().dim(0) > 0, "{} loss: needs a batch, got {}", what,
             describe(s.value()));
}

// -T^2 / N * sum softmax(t/T) * log_softmax(s/T) over the last axis.
Variable soft_cross_entropy(const Variable& s, const Tensor& t, double temperature) {
  Tensor p;
  {
    NoGradGuard no_grad;
    const Variable scaled_t =
        temperature == 1
            ? Variable(t)
            : apply1("Mul", {Variable(t), Variable(Tensor::scalar(1 / temperature, t.dtype()))});
    p = nn::softmax(scaled_t, -1).value();
  }
  Variable scaled = temperature == 1 ? s : apply1("Mul", {s, scalar_like(1 / temperature, s)});
  Variable ce = sum_all(apply1("Mul", {nn::log_softmax(scaled, -1), Variable(p)}));
  const double n = static_cast<double>(s.value().numel() / s.value().dim(-1));
  return apply1("Mul", {ce, scalar_like(-temperature * temperature / n, s)});
}

}  // namespace

LogitLoss parse_logit_loss(const std::string& text) {
  if (text == "kl") return LogitLoss::kKL;
  if (text == "soft_ce" || text == "soft-ce" || text == "ce") return LogitLoss::kSoftCrossEntropy;
  if (text == "mse") return LogitLoss::kMSE;
  throw Error(fmt::format("unknown distillation loss '{}'", text), ErrorKind::kInvalidInput,
              "logit losses are kl, soft_ce and mse");
}

FeatureLoss parse_feature_loss(const std::string& text) {
  if (text == "mse") return FeatureLoss::kMSE;
  if (text == "cosine" || text == "cos") return FeatureLoss::kCosine;
  if (text == "kl") return FeatureLoss::kKL;
  throw Error(fmt::format("unknown feature distillation loss '{}'", text), ErrorKind::kInvalidInput,
              "feature losses are mse, cosine and kl");
}

std::string logit_loss_name(LogitLoss l) {
  switch (l) {
    case LogitLoss::kKL:
      return "kl";
    case LogitLoss::kSoftCrossEntropy:
      return "soft_ce";
    case LogitLoss::kMSE:
      return "mse";
  }
  return "?";
}

std::string feature_loss_name(FeatureLoss l) {
  switch (l) {
    case FeatureLoss::kMSE:
      return "mse";
    case FeatureLoss::kCosine:
      return "cosine";
    case FeatureLoss::kKL:
      return "kl";
  }
  return "?";
}

Variable logit_loss(const Variable& student, const Tensor& teacher, LogitLoss loss,
                    double temperature) {
  check_shapes(student, teacher, "logit distillation");
  TAMP_CHECK(temperature > 0, "distillation temperature must be positive, got {}", temperature);
  switch (loss) {
    case LogitLoss::kKL:
      return nn::kl_div_distill(student, Variable(teacher), temperature, -1);
    case LogitLoss::kSoftCrossEntropy:
      return soft_cross_entropy(student, teacher, temperature);
    case LogitLoss::kMSE:
      return nn::mse_loss(student, Variable(teacher));
  }
  return {};
}

Variable feature_loss(const Variable& student, const Tensor& teacher, FeatureLoss loss,
                      double temperature) {
  check_shapes(student, teacher, "feature distillation");
  const int64_t n = student.value().dim(0);
  switch (loss) {
    case FeatureLoss::kMSE:
      return nn::mse_loss(student, Variable(teacher));
    case FeatureLoss::kKL: {
      const Variable s = nn::reshape(student, {n, -1});
      return nn::kl_div_distill(s, Variable(teacher.reshape({n, teacher.numel() / n})), temperature,
                                -1);
    }
    case FeatureLoss::kCosine: {
      const Variable s = nn::reshape(student, {n, -1});
      const Tensor t = teacher.reshape({n, teacher.numel() / n});
      Tensor t_norm;
      {
        NoGradGuard no_grad;
        t_norm = apply1("Sqrt", {sum_rows(apply1("Mul", {Variable(t), Variable(t)}))}).value();
      }
      const Variable dot = sum_rows(apply1("Mul", {s, Variable(t)}));
      const Variable s_norm =
          apply1("Sqrt", {apply1("Add", {sum_rows(apply1("Mul", {s, s})), scalar_like(1e-12, s)})});
      const Variable denom =
          apply1("Add", {apply1("Mul", {s_norm, Variable(t_norm)}), scalar_like(1e-8, s)});
      const Variable cos = apply1("Div", {dot, denom});
      const Variable mean =
          apply1("Mul", {sum_all(cos), scalar_like(1.0 / static_cast<double>(n), s)});
      return apply1("Sub", {scalar_like(1.0, s), mean});
    }
  }
  return {};
}

}  // namespace tamp::compression::distillation
