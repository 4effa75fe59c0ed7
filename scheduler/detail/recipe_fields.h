// Internal to scheduler/: the strict YAML reading of recipes. Every mapping is read through a
// Fields object that knows its path, resolves merge keys ("<<") and, once read, rejects the
// keys nobody asked for (finish()).
#pragma once

#include <tamp/scheduler/recipe.h>

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <string>

namespace tamp::recipe_detail {

[[noreturn]] inline void fail(const std::string& path, const std::string& message) {
  throw Error(fmt::format("{}: {}", path.empty() ? "(top level)" : path, message),
              ErrorKind::kInvalidInput);
}

inline std::string kind_of(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "nothing (null)";
    default:
      return fmt::format("'{}'", n.Scalar());
  }
}

class Fields {
 public:
  Fields(const YAML::Node& node, std::string path) : path_(std::move(path)) {
    if (!node.IsMap()) fail(path_, fmt::format("expected a mapping, got {}", kind_of(node)));
    add(node, true, 0);
  }
  Fields(const Fields&) = delete;

  const std::string& path() const { return path_; }
  std::string at(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  // Every key asked about is a known key of this mapping (listed when another is unknown).
  bool has(const std::string& key) const {
    asked_.insert(key);
    return entries_.count(key) != 0;
  }

  YAML::Node node(const std::string& key) {
    used_.insert(key);
    return entries_.at(key);
  }
  std::string str(const std::string& key, const std::string& fallback = {}) {
    if (!has(key)) return fallback;
    YAML::Node n = node(key);
    if (!n.IsScalar()) fail(at(key), fmt::format("expected a string, got {}", kind_of(n)));
    return n.Scalar();
  }
  std::string required_str(const std::string& key) {
    if (!has(key)) fail(at(key), "missing (required)");
    return str(key);
  }
  double num(const std::string& key, double fallback,
             double lo = -std::numeric_limits<double>::infinity(),
             double hi = std::numeric_limits<double>::infinity()) {
    if (!has(key)) return fallback;
    YAML::Node n = node(key);
    double v = 0;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || !std::isfinite(v)) {
      fail(at(key), fmt::format("expected a number, got {}", kind_of(n)));
    }
    if (v < lo || v > hi) fail(at(key), fmt::format("{} is outside [{}, {}]", v, lo, hi));
    return v;
  }
  std::optional<double> opt_num(const std::string& key, double lo, double hi) {
    if (!has(key)) return std::nullopt;
    return num(key, 0, lo, hi);
  }
  int64_t integer(const std::string& key, int64_t fallback,
                  int64_t lo = std::numeric_limits<int64_t>::min(),
                  int64_t hi = std::numeric_limits<int64_t>::max()) {
    if (!has(key)) return fallback;
    YAML::Node n = node(key);
    int64_t v = 0;
    if (!n.IsScalar() || !YAML::convert<int64_t>::decode(n, v)) {
      fail(at(key), fmt::format("expected an integer, got {}", kind_of(n)));
    }
    if (v < lo || v > hi) fail(at(key), fmt::format("{} is outside [{}, {}]", v, lo, hi));
    return v;
  }
  bool flag(const std::string& key, bool fallback) {
    if (!has(key)) return fallback;
    YAML::Node n = node(key);
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
      fail(at(key), fmt::format("expected true or false, got {}", kind_of(n)));
    }
    return v;
  }
  std::vector<std::string> strings(const std::string& key) {
    std::vector<std::string> out;
    if (!has(key)) return out;
    YAML::Node n = node(key);
    if (!n.IsSequence())
      fail(at(key), fmt::format("expected a list of strings, got {}", kind_of(n)));
    for (size_t i = 0; i < n.size(); ++i) {
      if (!n[i].IsScalar())
        fail(fmt::format("{}[{}]", at(key), i),
             fmt::format("expected a string, got {}", kind_of(n[i])));
      out.push_back(n[i].Scalar());
    }
    return out;
  }
  // One of `allowed` (the error lists them).
  std::string choice(const std::string& key, const std::string& fallback,
                     const std::vector<std::string>& allowed) {
    const std::string v = str(key, fallback);
    for (const auto& a : allowed)
      if (a == v) return v;
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    fail(at(key), fmt::format("'{}' is not one of: {}", v, list));
  }
  // Rejects keys nobody read.
  void finish() const {
    for (const auto& [k, n] : entries_) {
      if (used_.count(k)) continue;
      std::string list;
      for (const auto& k2 : asked_) list += (list.empty() ? "" : ", ") + k2;
      fail(at(k),
           "unknown key" + (list.empty() ? std::string() : fmt::format(" (known here: {})", list)));
    }
  }
  void allow(const std::vector<std::string>& keys) {
    for (const auto& k : keys) {
      if (has(k)) used_.insert(k);
    }
  }

 private:
  // Explicit keys first; keys merged in by "<<" only fill what is missing.
  void add(const YAML::Node& node, bool explicit_keys, int depth) {
    if (depth > 16) fail(path_, "merge keys nest too deeply");
    std::vector<YAML::Node> merges;
    for (auto it = node.begin(); it != node.end(); ++it) {
      // Copies: yaml-cpp's `it->` is a temporary proxy, so `it->second` dangles after its
      // expression (a range-for over it read a dead stack slot: recipe fuzzer, ASan).
      const YAML::Node key_node = it->first, value = it->second;
      if (!key_node.IsScalar()) fail(path_, "keys must be strings");
      const std::string key = key_node.Scalar();
      if (key == "<<") {
        if (value.IsMap())
          merges.push_back(value);
        else if (value.IsSequence())
          for (const auto& m : value) merges.push_back(m);
        else
          fail(at("<<"), fmt::format("a merge key needs a mapping or a list of mappings, got {}",
                                     kind_of(value)));
        continue;
      }
      if (explicit_keys && entries_.count(key)) fail(at(key), "duplicate key");
      entries_.emplace(key, value);
    }
    for (const auto& m : merges) {
      if (!m.IsMap())
        fail(at("<<"), fmt::format("a merge key needs a mapping, got {}", kind_of(m)));
      add(m, false, depth + 1);
    }
  }

  std::string path_;
  std::map<std::string, YAML::Node> entries_;
  std::set<std::string> used_;
  mutable std::set<std::string> asked_;
};

inline std::string resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty() || std::filesystem::path(p).is_absolute()) return p;
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

OptimizerSpec read_optimizer(Fields& f);
LrScheduleSpec read_lr_schedule(Fields& f);
// Reads weights / activations / exclude / fold_batch_norm / learnable_scales / freeze_bn_epoch
// (an epoch, "last" or "never") / freeze_bn_step (not finish()).
compression::QuantizerOptions read_quantizer(Fields& f);
RecipeStage read_stage(const YAML::Node& node, const std::string& path,
                       const std::string& base_dir);

}  // namespace tamp::recipe_detail
