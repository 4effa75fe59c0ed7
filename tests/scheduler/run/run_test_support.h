// Shared by the `tamp run` tests: tiny versions of the example recipes, metrics comparison.
#pragma once

#include "cli/tamp_runner.h"
#include "support/ort_runner.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace tamp::test {

inline std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

// examples/recipes/<name>.yaml with absolute model paths (the teacher: the trained
// cnn_fmnist.onnx), 512 training and 300 evaluation examples, `steps` steps per epoch, one
// epoch per stage.
inline std::string tiny_recipe(const std::string& name, const TempDir& dir, int64_t steps = 6,
                               int64_t checkpoint_every = 0) {
  const std::string root = source_dir();
  std::string text = slurp(root + "/examples/recipes/" + name + ".yaml");
  text = replace_all(text, "../../tests/data/models/", root + "/tests/data/models/");
  YAML::Node r = YAML::Load(text);
  r["data"]["limit"] = 512;
  r["data"]["eval_limit"] = 300;
  r["data"]["normalize"] = "0.2860,0.3530";
  r["training"]["epochs"] = 1;
  r["training"]["steps_per_epoch"] = steps;
  r["training"]["log_every"] = 2;
  r["training"]["checkpoint_every"] = checkpoint_every;
  r["training"]["calibration_batches"] = 4;
  for (auto s : r["stages"]) {
    s.remove("epochs");
    s.remove("calibration_batches");
    if (s["pruning"] && s["pruning"]["schedule"]) {
      YAML::Node sched;
      sched["curve"] = "cubic";
      sched["start_step"] = 0;
      sched["end_step"] = steps / 2;
      sched["frequency"] = 1;
      s["pruning"]["schedule"] = sched;
    }
    if (s["qat"] && s["qat"]["activations"]) s["qat"]["activations"].remove("freeze_epoch");
  }
  const std::string path = dir.file(name + ".yaml");
  std::ofstream(path) << YAML::Dump(r) << "\n";
  return path;
}

// metrics.jsonl without the timing fields, which no two runs share.
inline std::vector<nlohmann::json> metrics_without_timing(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    j.erase("samples_per_s");
    j.erase("seconds");
    out.push_back(j);
  }
  return out;
}

}  // namespace tamp::test
