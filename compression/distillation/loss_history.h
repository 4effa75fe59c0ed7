// Per-epoch means of named loss terms, so a run can show its distillation losses falling, and
// the terms of the current step, for the training loop's log (Component::loss_terms).
//
//   LossHistory h;
//   h.begin_step();  h.add("logits", 0.8);  h.add_total(0.8);   // h.step_terms() == {{"logits",
//   0.8}} h.begin_step();  h.add("logits", 0.6);  h.add_total(0.6); h.end_epoch();          //
//   h.epochs() == {{"logits", 0.7}, {"total", 0.7}}
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tamp::compression::distillation {

class LossHistory {
 public:
  void begin_step() { step_.clear(); }
  void add(const std::string& term, double value) {
    sum(term, value);
    step_.emplace_back(term, value);
  }
  // The sum of the step's terms: in the epoch means, not a step term of its own.
  void add_total(double value) { sum("total", value); }
  const std::vector<std::pair<std::string, double>>& step_terms() const { return step_; }
  void end_epoch() {
    if (sums_.empty()) return;
    std::map<std::string, double> means;
    for (const auto& [term, s] : sums_)
      means[term] = s.second ? s.first / static_cast<double>(s.second) : 0.0;
    epochs_.push_back(std::move(means));
    sums_.clear();
  }
  const std::vector<std::map<std::string, double>>& epochs() const { return epochs_; }

 private:
  void sum(const std::string& term, double value) {
    auto& [total, count] = sums_[term];
    total += value;
    ++count;
  }

  std::vector<std::pair<std::string, double>> step_;
  std::map<std::string, std::pair<double, long long>> sums_;
  std::vector<std::map<std::string, double>> epochs_;
};

}  // namespace tamp::compression::distillation
