// Per-epoch means of named loss terms, so a run can show its distillation losses falling.
//
//   LossHistory h;
//   h.add("logits", 0.8);  h.add("logits", 0.6);
//   h.end_epoch();          // h.epochs() == {{"logits", 0.7}}
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tamp::compression::distillation {

class LossHistory {
 public:
  void add(const std::string& term, double value) {
    auto& [sum, count] = sums_[term];
    sum += value;
    ++count;
  }
  void end_epoch() {
    if (sums_.empty()) return;
    std::map<std::string, double> means;
    for (const auto& [term, s] : sums_) means[term] = s.second ? s.first / static_cast<double>(s.second) : 0.0;
    epochs_.push_back(std::move(means));
    sums_.clear();
  }
  const std::vector<std::map<std::string, double>>& epochs() const { return epochs_; }

 private:
  std::map<std::string, std::pair<double, long long>> sums_;
  std::vector<std::map<std::string, double>> epochs_;
};

}  // namespace tamp::compression::distillation
