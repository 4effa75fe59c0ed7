#include <tamp/compression/quantization/ptq/batch_norm_reestimation.h>

#include <map>
#include <set>

namespace tamp::compression {

void BatchNormReestimation::attach(nn::GraphModule& model, nn::Collective& collective) {
  model_ = &model;
  collective_ = &collective;
  std::set<std::string> buffers;
  for (const auto& [name, v] : model.named_buffers()) buffers.insert(name);
  for (const auto& n : model.graph().nodes) {
    if (n.op_type != "BatchNormalization" || !n.domain.empty() || n.inputs.size() < 5) continue;
    TAMP_CHECK(buffers.count(n.inputs[3]) && buffers.count(n.inputs[4]),
               "BatchNormalization '{}': its running statistics '{}' and '{}' are not initializers",
               n.name, n.inputs[3], n.inputs[4]);
    stats_.push_back({n.inputs[0], n.inputs[3], n.inputs[4], {}, {}});
  }
  if (stats_.empty()) {
    throw Error(
        "batch_norm_reestimation: the model has no BatchNormalization (exported with BatchNorm "
        "folded, or "
        "folded by quantization already)",
        ErrorKind::kInvalidInput,
        "re-estimate a model that still holds BatchNormalization nodes, before quantizing it");
  }
}

void BatchNormReestimation::on_calibration_batch(const Batch& batch) {
  std::vector<std::string> inputs;
  for (const auto& s : stats_) inputs.push_back(s.input);
  const bool was_training = model_->is_training();
  model_->train();
  NoGradGuard no_grad;
  auto values = model_->forward(batch.inputs, inputs);
  model_->train(was_training);
  for (auto& s : stats_) {
    const Tensor& x = values.at(s.input).value();  // (N, C, ...)
    TAMP_CHECK(x.rank() >= 2 && x.dtype() == DType::kFloat32, "BatchNormalization input '{}' is {}",
               s.input, describe(x));
    const int64_t n = x.dim(0), c = x.dim(1), inner = x.numel() / (n * c), count = n * inner;
    TAMP_CHECK(count > 1,
               "BatchNormalization input '{}' has one value per channel in a batch: no variance",
               s.input);
    if (s.mean_sum.empty())
      s.mean_sum.assign(static_cast<size_t>(c), 0.0), s.var_sum.assign(static_cast<size_t>(c), 0.0);
    const float* p = x.data<float>();
    for (int64_t ch = 0; ch < c; ++ch) {
      double sum = 0, sq = 0;
      for (int64_t b = 0; b < n; ++b)
        for (int64_t k = 0; k < inner; ++k) sum += p[(b * c + ch) * inner + k];
      const double mean = sum / static_cast<double>(count);
      for (int64_t b = 0; b < n; ++b) {
        for (int64_t k = 0; k < inner; ++k) {
          const double d = p[(b * c + ch) * inner + k] - mean;
          sq += d * d;
        }
      }
      s.mean_sum[static_cast<size_t>(ch)] += mean;
      s.var_sum[static_cast<size_t>(ch)] += sq / static_cast<double>(count - 1);
    }
  }
  ++batches_;
}

void BatchNormReestimation::finalize(nn::GraphModule& model) {
  TAMP_CHECK(&model == model_, "{}: finalize() got another model than attach()", name());
  Tensor total = Tensor::scalar(static_cast<double>(batches_), DType::kFloat64);
  collective_->allreduce(total, nn::Reduce::kSum);
  TAMP_CHECK(total.item() > 0, "batch_norm_reestimation saw no calibration batch");
  std::map<std::string, Tensor> buffers;
  for (const auto& [name, v] : model.named_buffers()) buffers[name] = v.value();
  for (auto& s : stats_) {
    Tensor& mean = buffers.at(s.mean);
    Tensor& var = buffers.at(s.var);
    const int64_t c = mean.numel();
    if (s.mean_sum.empty()) {  // a rank without batches adds nothing
      s.mean_sum.assign(static_cast<size_t>(c), 0.0);
      s.var_sum.assign(static_cast<size_t>(c), 0.0);
    }
    TAMP_CHECK(static_cast<int64_t>(s.mean_sum.size()) == c,
               "BatchNormalization input '{}' has {} channels, its "
               "statistics {}",
               s.input, s.mean_sum.size(), c);
    Tensor sums = Tensor::zeros({2 * c}, DType::kFloat64);
    for (int64_t i = 0; i < c; ++i) {
      sums.data<double>()[i] = s.mean_sum[static_cast<size_t>(i)];
      sums.data<double>()[c + i] = s.var_sum[static_cast<size_t>(i)];
    }
    collective_->allreduce(sums, nn::Reduce::kSum);
    TAMP_CHECK(
        mean.dtype() == DType::kFloat32 && var.dtype() == DType::kFloat32 && var.numel() == c,
        "BatchNormalization statistics '{}' and '{}' must be float32 of {} channels", s.mean, s.var,
        c);
    for (int64_t i = 0; i < c; ++i) {
      mean.data<float>()[i] = static_cast<float>(sums.data<double>()[i] / total.item());
      var.data<float>()[i] = static_cast<float>(sums.data<double>()[c + i] / total.item());
    }
  }
}

}  // namespace tamp::compression
