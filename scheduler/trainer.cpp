#include <tamp/autograd/apply.h>
#include <tamp/nn/data_loader.h>
#include <tamp/nn/loss.h>
#include <tamp/scheduler/dist.h>
#include <tamp/scheduler/trainer.h>

#include <chrono>
#include <cmath>
#include <set>

namespace tamp {

std::unique_ptr<nn::Optimizer> make_optimizer(const OptimizerSpec& spec,
                                              nn::NamedParameters params) {
  return std::visit(
      [&](const auto& o) -> std::unique_ptr<nn::Optimizer> {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, SGD>)
          return std::make_unique<nn::Sgd>(std::move(params), o);
        else if constexpr (std::is_same_v<T, AdamW>)
          return std::make_unique<nn::AdamW>(std::move(params), o);
        else
          return std::make_unique<nn::Adam>(std::move(params), o);
      },
      spec);
}

double base_lr(const OptimizerSpec& spec) {
  return std::visit([](const auto& o) { return o.lr; }, spec);
}

Trainer::Trainer(nn::GraphModule& model,
                 std::vector<std::shared_ptr<compression::Component>> components,
                 TrainOptions options)
    : model_(model),
      components_(std::move(components)),
      options_(std::move(options)),
      collective_(options_.collective ? *options_.collective : nn::local_collective()) {
  TAMP_CHECK(options_.train, "training needs a training dataset");
  TAMP_CHECK(options_.epochs >= 0 && options_.batch_size > 0,
             "epochs {} and batch size {} must be positive", options_.epochs, options_.batch_size);
  input_ = input_info(model_.graph(), options_.input).name;
  output_ = output_name(model_.graph(), options_.output);
  size_t calibrating = 0;
  for (const auto& c : components_) calibrating += c->needs_training() ? 0 : 1;
  TAMP_CHECK(calibrating == 0 || calibrating == components_.size(),
             "a stage cannot both calibrate (post-training quantization) and train; put the "
             "calibration in a stage of its own");
}

std::vector<std::string> Trainer::wanted_outputs() const {
  std::set<std::string> names{output_};
  for (const auto& c : components_)
    for (const auto& n : c->extra_outputs()) names.insert(n);
  return {names.begin(), names.end()};
}

void Trainer::calibrate() {
  nn::DataLoader loader(options_.train, {.batch_size = options_.batch_size,
                                         .shuffle = true,
                                         .seed = options_.seed,
                                         .num_shards = collective_.size(),
                                         .shard = collective_.rank()});
  const bool was_training = model_.is_training();
  model_.eval();
  NoGradGuard no_grad;
  const nn::ValueInfo& info = input_info(model_.graph(), input_);
  const auto wanted = wanted_outputs();
  int64_t n = 0;
  for (const nn::Batch& b : loader) {
    if (n++ >= options_.calibration_batches) break;
    std::map<std::string, Variable> inputs{{input_, Variable(fit_input(info, b.x))}};
    Variable labels(b.y);
    auto values = model_.forward(inputs, wanted);
    for (auto& c : components_) c->on_calibration_batch({inputs, labels, values});
  }
  TAMP_CHECK(n > 0, "calibration needs data: the dataset is empty");
  model_.train(was_training);
}

bool Trainer::train_step(const nn::Batch& batch, const compression::StepInfo& at, double& loss_out,
                         std::vector<std::pair<std::string, double>>& terms_out) {
  for (auto& c : components_) c->on_step_begin(at);
  const nn::ValueInfo& info = input_info(model_.graph(), input_);
  std::map<std::string, Variable> inputs{{input_, Variable(fit_input(info, batch.x))}};
  Variable labels(batch.y);
  auto values = model_.forward(inputs, wanted_outputs());
  Variable loss =
      nn::cross_entropy(values.at(output_), labels, {.label_smoothing = options_.label_smoothing});
  double weight = 1;
  for (auto& c : components_) weight *= c->task_loss_weight();
  if (weight != 1) loss = apply1("Mul", {loss, Variable(Tensor::scalar(weight, loss.dtype()))});
  terms_out = {{"task", loss.value().item()}};
  for (auto& c : components_) {
    Variable extra = c->extra_loss({inputs, labels, values}, at);
    if (!extra.defined()) continue;
    loss = apply1("Add", {loss, extra});
    for (const auto& [term, value] : c->loss_terms())
      terms_out.emplace_back(c->name() + "." + term, value);
  }
  loss_out = loss.value().item();
  // Every rank takes the same decision, so no rank waits in a collective the others skip.
  Tensor finite = Tensor::scalar(std::isfinite(loss_out) ? 0.0 : 1.0, DType::kFloat64);
  collective_.allreduce(finite, nn::Reduce::kMax);
  if (finite.item() != 0) return false;
  if (reducer_) reducer_->arm();
  loss.backward();
  // Data-parallel: the mean gradient over ranks, in buckets started during backward.
  if (reducer_) reducer_->finish();
  for (auto& c : components_) c->on_after_backward(at);
  return true;
}

void Trainer::explain_nonfinite(const nn::Batch& batch) {
  model_.set_check_finite(true);
  const nn::ValueInfo& info = input_info(model_.graph(), input_);
  try {
    NoGradGuard no_grad;
    model_.forward({{input_, Variable(fit_input(info, batch.x))}}, wanted_outputs());
  } catch (Error& e) {
    model_.set_check_finite(false);
    e.add_context(fmt::format("{} training steps in a row had a non-finite loss",
                              options_.max_nonfinite_steps));
    throw;
  }
  model_.set_check_finite(false);
  throw Error(fmt::format("{} training steps in a row had a non-finite loss although every node's "
                          "output is finite: the loss itself overflows",
                          options_.max_nonfinite_steps),
              ErrorKind::kNumerical, "lower the learning rate");
}

Trainer::~Trainer() = default;

// What the training loop carries from step to step.
struct Trainer::Loop {
  std::unique_ptr<nn::Optimizer> optimizer;
  std::shared_ptr<const nn::LrSchedule> lr_schedule;
  TrainProgress progress;
  std::chrono::steady_clock::time_point window_start = std::chrono::steady_clock::now();
  std::vector<std::pair<std::string, double>> step_terms;  // of the last step
};

void Trainer::prepare_training() {
  // Marked after the components attached (their rewrites keep the marks), removed before
  // they finalize (folding, export) and before evaluation.
  if (options_.sync_batch_norm && collective_.size() > 1) {
    sync_bn_ = std::make_unique<dist::SyncBatchNorm>(model_, collective_);
  }
  trained_ = model_.named_parameters();
  for (const auto& c : components_) {
    for (auto& p : c->trainable_parameters()) trained_.push_back(std::move(p));
  }
  if (collective_.size() > 1) {
    // Every rank starts from rank 0's values (initialisations may differ per process).
    dist::broadcast_parameters(model_, collective_);
    std::vector<Tensor> own;
    for (const auto& c : components_) {
      for (auto& [name, p] : c->trainable_parameters()) own.push_back(p.value());
    }
    collective_.broadcast_many(own, 0);
    reducer_ = std::make_unique<dist::GradientReducer>(
        collective_, trained_, dist::ReducerOptions{.overlap = options_.overlap_allreduce});
  }
}

void Trainer::log_window(Loop& loop, const compression::StepInfo& at) {
  TrainProgress& progress = loop.progress;
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - loop.window_start).count();
  // In the order the step added them (every step adds the same terms).
  std::vector<std::pair<std::string, double>> terms;
  for (const auto& [term, value] : loop.step_terms) {
    terms.emplace_back(term, progress.window_terms[term] / static_cast<double>(progress.window));
  }
  options_.on_log({at.epoch, at.step, at.total_steps, progress.window_sum / progress.window,
                   loop.optimizer->lr(),
                   secs > 0 ? progress.window * options_.batch_size * collective_.size() / secs : 0,
                   std::move(terms)});
  progress.window_sum = 0;
  progress.window_terms.clear();
  progress.window = 0;
  loop.window_start = std::chrono::steady_clock::now();
}

void Trainer::take_step(Loop& loop, const nn::Batch& batch, compression::StepInfo& at,
                        bool epoch_end) {
  TrainProgress& progress = loop.progress;
  loop.lr_schedule->apply(*loop.optimizer, at.step);
  double loss = 0;
  const bool took = train_step(batch, at, loss, loop.step_terms);
  if (!took) {
    loop.optimizer->zero_grad();
    ++progress.skipped;
    if (++progress.bad_in_a_row >= options_.max_nonfinite_steps) explain_nonfinite(batch);
  } else {
    progress.bad_in_a_row = 0;
    loop.optimizer->step();
    loop.optimizer->zero_grad();
    for (auto& c : components_) c->on_after_step(at);
    progress.loss_sum += loss;
    progress.window_sum += loss;
    for (const auto& [term, value] : loop.step_terms) progress.window_terms[term] += value;
    ++progress.window;
    ++progress.steps;
  }
  ++at.step;
  progress.step = at.step;
  if (options_.on_log && took && (at.step % options_.log_every == 0 || at.step == at.total_steps))
    log_window(loop, at);
  if (options_.on_step_end) options_.on_step_end({progress, *loop.optimizer, trained_, epoch_end});
}

void Trainer::train_epoch(Loop& loop, nn::DataLoader& loader, compression::StepInfo& at,
                          int64_t per_epoch) {
  at.step = static_cast<int64_t>(at.epoch) * per_epoch;
  const int64_t skip = std::max<int64_t>(0, loop.progress.step - at.step);
  loader.set_epoch(at.epoch);
  for (auto& c : components_) c->on_epoch_begin(at);
  int64_t i = 0;
  if (skip < per_epoch) {
    for (const nn::Batch& b : loader) {
      if (i >= per_epoch) break;
      if (i++ < skip) {
        ++at.step;
        continue;
      }
      take_step(loop, b, at, i == per_epoch);
    }
  }
  at.step = static_cast<int64_t>(at.epoch + 1) * per_epoch;
  for (auto& c : components_) c->on_epoch_end(at);
  if (options_.average_batch_norm_statistics)
    dist::average_batch_norm_statistics(model_, collective_);
}

void Trainer::train(StageRecord& record, nn::DataLoader& loader, const TrainLength& length,
                    compression::StepInfo& at) {
  prepare_training();
  Loop loop;
  loop.optimizer = make_optimizer(options_.optimizer, trained_);
  loop.lr_schedule =
      make_lr_schedule(options_.lr_schedule, base_lr(options_.optimizer), length.total_steps);
  if (options_.resume) {
    loop.progress = *options_.resume;
    if (options_.after_attach) options_.after_attach(trained_);
    loop.optimizer->load_state(loop.progress.optimizer);
    loop.progress.optimizer.clear();
  }
  model_.train();
  const int64_t per_epoch = length.steps_per_epoch;
  const int64_t done = loop.progress.step;
  const int first_epoch =
      per_epoch > 0 ? static_cast<int>(std::min<int64_t>(done / per_epoch, options_.epochs)) : 0;
  // A checkpoint taken after an epoch's last step resumes inside that epoch (its end hooks
  // have not run yet), with every batch already done.
  const int resume_epoch =
      per_epoch > 0 && done > 0 && done % per_epoch == 0 ? first_epoch - 1 : first_epoch;
  for (int epoch = std::max(0, resume_epoch); epoch < options_.epochs; ++epoch) {
    at.epoch = epoch;
    train_epoch(loop, loader, at, per_epoch);
  }
  reducer_.reset();
  sync_bn_.reset();
  record.steps = loop.progress.steps;
  record.skipped_steps = loop.progress.skipped;
  record.train_loss = record.steps ? loop.progress.loss_sum / record.steps : 0;
}

StageRecord Trainer::run() {
  const auto start = std::chrono::steady_clock::now();
  StageRecord record;
  for (auto& c : components_) c->attach(model_, collective_);
  const bool calibration_only = !components_.empty() && !components_.front()->needs_training();

  nn::DataLoader loader(options_.train, {.batch_size = options_.batch_size,
                                         .shuffle = true,
                                         .seed = options_.seed,
                                         .drop_last = false,
                                         .num_shards = collective_.size(),
                                         .shard = collective_.rank()});
  const TrainLength length =
      train_length(static_cast<int64_t>(options_.train->size()), options_.batch_size,
                   options_.epochs, options_.max_steps_per_epoch, collective_.size());
  compression::StepInfo at{0, 0, length.steps_per_epoch, calibration_only ? 0 : length.total_steps};
  for (auto& c : components_) c->on_stage_begin(at);
  if (calibration_only) {
    calibrate();
  } else {
    train(record, loader, length, at);
  }
  for (auto& c : components_) c->finalize(model_);
  if (options_.eval) {
    record.eval = evaluate(model_, *options_.eval,
                           {.input = input_, .output = output_, .collective = &collective_});
    record.evaluated = true;
  }
  record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return record;
}

}  // namespace tamp
