// An architecture search's result as JSON (summary.json of `tamp search` and of a `tamp run`
// with a search stage) and as a section of an HTML report: the table of the Pareto front and
// an inline SVG plot of validation accuracy against the first cost objective, every candidate
// grey, the front joined, the chosen one and any baselines marked.
#pragma once

#include <tamp/scheduler/search/architecture_search.h>

#include <nlohmann/json.hpp>

#include <string>

namespace tamp::cli {

nlohmann::ordered_json search_json(const search::SearchResult& result);

// `search` as search_json wrote it; `baselines` (may be null): a list of {"label", "macs",
// "params", "accuracy"} points drawn beside the candidates (uniform channel pruning).
std::string search_report_section(const nlohmann::ordered_json& search,
                                  const nlohmann::ordered_json& baselines);

// `<`, `>`, `&` and `"` as HTML entities.
std::string html_escape(const std::string& s);

}  // namespace tamp::cli
