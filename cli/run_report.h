// report.html of `tamp run`: one self-contained page with inline SVG plots — training loss over
// steps, accuracy after each stage, sparsity per layer, bits per tensor, size before / after.
#pragma once

#include <tamp/nn/graph.h>
#include <tamp/scheduler/recipe.h>

#include <nlohmann/json.hpp>

#include <string>

namespace tamp::cli {

struct ReportInput {
  const Recipe& recipe;
  const nlohmann::ordered_json& summary;
  std::string metrics_path;   // metrics.jsonl (read back: a resumed run's file is whole)
  const nn::Graph& original;  // the model as loaded
  const nn::Graph& trained;   // after the last stage, before lowering
};

void write_run_report(const std::string& path, const ReportInput& in);

}  // namespace tamp::cli
