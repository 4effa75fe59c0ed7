#include <tamp/scheduler/tuning/encoding.h>

#include <cmath>
#include <cstdlib>

namespace tamp::tuning {

namespace {

bool all_numbers(const std::vector<std::string>& values) {
  for (const auto& v : values) {
    char* end = nullptr;
    std::strtod(v.c_str(), &end);
    if (v.empty() || end != v.c_str() + v.size()) return false;
  }
  return true;
}

}  // namespace

ConfigEncoding::ConfigEncoding(const TuningSpace& space) {
  for (const auto& d : space.dimensions()) {
    const int k = static_cast<int>(d.values.size());
    const bool one_hot = k > 2 && !all_numbers(d.values);
    slots_.push_back({width_, k, one_hot});
    width_ += one_hot ? static_cast<size_t>(k) : 1;
  }
}

std::vector<double> ConfigEncoding::encode(const Config& c) const {
  std::vector<double> x(width_, 0.0);
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.one_hot)
      x[s.offset + static_cast<size_t>(c[i])] = std::sqrt(0.5);
    else
      x[s.offset] = s.count > 1 ? static_cast<double>(c[i]) / (s.count - 1) : 0.0;
  }
  return x;
}

std::vector<Config> neighbours(const TuningSpace& space, const Config& c) {
  std::vector<Config> out;
  for (size_t i = 0; i < space.size(); ++i) {
    for (int v = 0; v < static_cast<int>(space.dimensions()[i].values.size()); ++v) {
      if (v == c[i]) continue;
      Config n = c;
      n[i] = v;
      n = space.canonical(n);
      if (n != c) out.push_back(n);
    }
  }
  return out;
}

}  // namespace tamp::tuning
