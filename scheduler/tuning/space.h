// TuningSpace: the configurations accuracy-aware tuning searches, a list of dimensions with
// candidate values; a Config picks one index per dimension, candidate 0 the default. A
// dependent dimension (`parent`) is reset by canonical() when its parent falls back; a value
// with one candidate is fixed, not a dimension (docs/tuning.md).
//
//   int q = s.add({.name = "/fc1/Gemm:quantize", .target = "/fc1/Gemm", .knob = "quantize",
//                  .kind = DimensionKind::kFallback, .values = {"int8", "fp32"}});
//   s.value(s.canonical({1, 1}), "/fc1/Gemm:quantize");     // "fp32"
#pragma once

#include <map>
#include <string>
#include <vector>

namespace tamp::tuning {

enum class DimensionKind {
  kFallback,  // {"int8", "fp32"} or {"int8", "bf16", "fp32"}: quantize the op or not, cheapest
              // first
  kOption,    // a per-op quantization setting (granularity, scheme, calibration, bits)
  kSparsity,  // a per-layer sparsity level ("0", "0.5", ...)
  kUser,      // a value the user marked searchable
};

struct Dimension {
  std::string name;    // unique: "<target>:<knob>"
  std::string target;  // node, weight or user key
  std::string knob;    // "quantize", "granularity", "scheme", "calibration", "sparsity", ...
  DimensionKind kind = DimensionKind::kOption;
  std::vector<std::string> values;  // candidates; values[0] is the default
  int parent = -1;                  // matters only while dimension `parent` is at index 0
};

using Config = std::vector<int>;  // one candidate index per dimension

class TuningSpace {
 public:
  // Adds a dimension and returns its index, or -1 when it has one candidate (then recorded
  // as fixed). Throws (kInvalidInput) for no candidates, repeated candidates, a repeated
  // name or a parent that is not an earlier dimension.
  int add(Dimension d);

  const std::vector<Dimension>& dimensions() const { return dims_; }
  const std::map<std::string, std::string>& fixed() const { return fixed_; }
  size_t size() const { return dims_.size(); }
  bool empty() const { return dims_.empty(); }
  int index_of(const std::string& name) const;  // -1 when absent
  std::vector<int> dimensions_of_kind(DimensionKind kind) const;

  Config default_config() const { return Config(dims_.size(), 0); }
  // The index of dimension d's last candidate (a fallback dimension's widest precision).
  int last_index(int d) const {
    return static_cast<int>(dims_.at(static_cast<size_t>(d)).values.size()) - 1;
  }
  // Every fallback dimension (there is at least one) keeps its op in float: the
  // configuration quantizes nothing.
  bool quantizes_nothing(const Config& c) const;
  // Dependent dimensions at 0 where their parent is not. Throws for a wrong length or an
  // index out of range.
  Config canonical(Config c) const;
  bool is_canonical(const Config& c) const { return canonical(c) == c; }
  // The value of dimension `name` in c; a fixed value; else `otherwise`.
  std::string value(const Config& c, const std::string& name,
                    const std::string& otherwise = "") const;

  // Config <-> {dimension name: value}, the history file's form. from_values throws naming
  // the dimension when a name or value is unknown or a dimension is missing.
  std::map<std::string, std::string> to_values(const Config& c) const;
  Config from_values(const std::map<std::string, std::string>& values) const;
  std::string key(const Config& c) const;  // "0.1.0", for maps
  // A fingerprint of names and candidates: a history written for another space is refused.
  std::string signature() const;
  // log10 of the number of configurations before canonicalisation (spaces can be huge).
  double log10_count() const;
  // "12 dimensions (4 fallback, 8 options), ~10^5.4 configurations, 2 fixed values".
  std::string describe() const;

 private:
  std::vector<Dimension> dims_;
  std::map<std::string, int> index_;
  std::map<std::string, std::string> fixed_;
};

}  // namespace tamp::tuning
