// Configurations as points in [0, 1]^n for the model-based strategies (Bayesian, TPE's
// neighbourhoods): a dimension whose candidates are all numbers (sparsity levels, bits, a
// percentile) is ordinal (index / (k - 1)); any other dimension with more than two
// candidates is one-hot, scaled so two different categories are at distance 1.
#pragma once

#include <tamp/scheduler/tuning/space.h>

#include <vector>

namespace tamp::tuning {

class ConfigEncoding {
 public:
  explicit ConfigEncoding(const TuningSpace& space);
  size_t width() const { return width_; }
  std::vector<double> encode(const Config& c) const;

 private:
  struct Slot {
    size_t offset;
    int count;
    bool one_hot;
  };
  std::vector<Slot> slots_;
  size_t width_ = 0;
};

// Every configuration one dimension away from c (canonical, distinct from c).
std::vector<Config> neighbours(const TuningSpace& space, const Config& c);

}  // namespace tamp::tuning
