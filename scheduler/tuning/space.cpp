#include <tamp/autograd/error.h>
#include <tamp/autograd/fnv1a.h>
#include <tamp/scheduler/tuning/space.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace tamp::tuning {

int TuningSpace::add(Dimension d) {
  TAMP_CHECK(!d.name.empty(), "a tuning dimension needs a name");
  if (d.values.empty()) {
    throw Error(fmt::format("searchable value '{}' has no candidates", d.name),
                ErrorKind::kInvalidInput);
  }
  std::set<std::string> seen;
  for (const auto& v : d.values) {
    if (!seen.insert(v).second) {
      throw Error(fmt::format("searchable value '{}' lists candidate '{}' twice", d.name, v),
                  ErrorKind::kInvalidInput);
    }
  }
  if (index_.count(d.name) || fixed_.count(d.name)) {
    throw Error(fmt::format("tuning dimension '{}' is defined twice", d.name),
                ErrorKind::kInvalidInput);
  }
  if (d.parent < -1 || d.parent >= static_cast<int>(dims_.size())) {
    throw Error(fmt::format("tuning dimension '{}' depends on dimension {}, which does not exist",
                            d.name, d.parent),
                ErrorKind::kInvalidInput);
  }
  if (d.values.size() == 1) {
    fixed_[d.name] = d.values[0];
    return -1;
  }
  index_[d.name] = static_cast<int>(dims_.size());
  dims_.push_back(std::move(d));
  return static_cast<int>(dims_.size()) - 1;
}

int TuningSpace::index_of(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? -1 : it->second;
}

std::vector<int> TuningSpace::dimensions_of_kind(DimensionKind kind) const {
  std::vector<int> out;
  for (size_t i = 0; i < dims_.size(); ++i)
    if (dims_[i].kind == kind) out.push_back(static_cast<int>(i));
  return out;
}

bool TuningSpace::quantizes_nothing(const Config& c) const {
  const std::vector<int> fallbacks = dimensions_of_kind(DimensionKind::kFallback);
  if (fallbacks.empty()) return false;
  for (int d : fallbacks) {
    if (c.at(static_cast<size_t>(d)) == 0) return false;
  }
  return true;
}

Config TuningSpace::canonical(Config c) const {
  TAMP_CHECK(c.size() == dims_.size(), "a configuration of {} values for a space of {} dimensions",
             c.size(), dims_.size());
  for (size_t i = 0; i < dims_.size(); ++i) {
    TAMP_CHECK(c[i] >= 0 && c[i] < static_cast<int>(dims_[i].values.size()),
               "index {} out of range for dimension '{}' ({} candidates)", c[i], dims_[i].name,
               dims_[i].values.size());
    const int p = dims_[i].parent;
    if (p >= 0 && c[static_cast<size_t>(p)] != 0)
      c[i] = 0;  // parents come first, already canonical
  }
  return c;
}

std::string TuningSpace::value(const Config& c, const std::string& name,
                               const std::string& otherwise) const {
  if (auto it = index_.find(name); it != index_.end()) {
    return dims_[static_cast<size_t>(it->second)].values.at(
        static_cast<size_t>(c.at(static_cast<size_t>(it->second))));
  }
  if (auto it = fixed_.find(name); it != fixed_.end()) return it->second;
  return otherwise;
}

std::map<std::string, std::string> TuningSpace::to_values(const Config& c) const {
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < dims_.size(); ++i)
    out[dims_[i].name] = dims_[i].values.at(static_cast<size_t>(c.at(i)));
  return out;
}

Config TuningSpace::from_values(const std::map<std::string, std::string>& values) const {
  Config c(dims_.size(), -1);
  for (const auto& [name, v] : values) {
    const int i = index_of(name);
    TAMP_CHECK(i >= 0, "'{}' is not a dimension of this tuning space", name);
    const auto& cand = dims_[static_cast<size_t>(i)].values;
    auto it = std::find(cand.begin(), cand.end(), v);
    TAMP_CHECK(it != cand.end(), "'{}' is not a candidate of dimension '{}'", v, name);
    c[static_cast<size_t>(i)] = static_cast<int>(it - cand.begin());
  }
  for (size_t i = 0; i < c.size(); ++i)
    TAMP_CHECK(c[i] >= 0, "dimension '{}' has no value", dims_[i].name);
  return canonical(c);
}

std::string TuningSpace::key(const Config& c) const {
  std::string k;
  for (size_t i = 0; i < c.size(); ++i) k += (i ? "." : "") + std::to_string(c[i]);
  return k;
}

std::string TuningSpace::signature() const {
  Fnv1a h;
  auto mix = [&](const std::string& s) { h.add(s).add("\xff"); };
  for (const auto& d : dims_) {
    mix(d.name);
    for (const auto& v : d.values) mix(v);
    mix(std::to_string(d.parent));
  }
  for (const auto& [k, v] : fixed_) mix(k + "=" + v);
  return h.hex();
}

double TuningSpace::log10_count() const {
  double s = 0;
  for (const auto& d : dims_) s += std::log10(static_cast<double>(d.values.size()));
  return s;
}

std::string TuningSpace::describe() const {
  const size_t fb = dimensions_of_kind(DimensionKind::kFallback).size();
  const size_t sp = dimensions_of_kind(DimensionKind::kSparsity).size();
  const size_t us = dimensions_of_kind(DimensionKind::kUser).size();
  return fmt::format(
      "{} dimensions ({} fallback, {} options, {} sparsity, {} user), ~10^{:.1f} configurations, "
      "{} fixed "
      "value{}",
      dims_.size(), fb, dims_.size() - fb - sp - us, sp, us, log10_count(), fixed_.size(),
      fixed_.size() == 1 ? "" : "s");
}

}  // namespace tamp::tuning
