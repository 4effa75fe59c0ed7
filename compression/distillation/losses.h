// Distillation losses on Variables. The teacher side is always a constant (pass it detached
// or computed under NoGradGuard); the student side carries the gradient.
//
//   Variable l = distillation::logit_loss(student, teacher, LogitLoss::kKL, /*T=*/4);
//   Variable f = distillation::feature_loss(student_map, teacher_map, FeatureLoss::kCosine);
#pragma once

#include <tamp/autograd/variable.h>

#include <string>

namespace tamp::compression::distillation {

enum class LogitLoss {
  kKL,                // T^2 KL(softmax(t/T) || softmax(s/T)), batch mean (Hinton et al.)
  kSoftCrossEntropy,  // T^2 * -sum softmax(t/T) log softmax(s/T), batch mean: the KL plus the
                      // teacher's entropy (same gradient, different value)
  kMSE,               // mean (s - t)^2 over all logits (Ba & Caruana); T unused
};

enum class FeatureLoss {
  kMSE,     // mean (s - t)^2
  kCosine,  // 1 - mean over examples of cos(s_i, t_i), each example flattened
  kKL,      // T^2 KL(softmax(t_i/T) || softmax(s_i/T)) over each example's flattened features
};

// "kl", "soft_ce" (or "soft-ce", "ce"), "mse".
LogitLoss parse_logit_loss(const std::string& text);
// "mse", "cosine" (or "cos"), "kl".
FeatureLoss parse_feature_loss(const std::string& text);
std::string logit_loss_name(LogitLoss l);
std::string feature_loss_name(FeatureLoss l);

// requires: same shapes, classes on the last axis (N, C).
Variable logit_loss(const Variable& student, const Tensor& teacher, LogitLoss loss,
                    double temperature);
// requires: same shapes, dim 0 the batch.
Variable feature_loss(const Variable& student, const Tensor& teacher, FeatureLoss loss,
                      double temperature = 1);

}  // namespace tamp::compression::distillation
