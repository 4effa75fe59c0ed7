// The JSON endpoints of `tamp ui`, free of HTTP: the server (server.h) maps routes to these
// methods and exceptions to status codes (OutsideFolder 403, NotFound 404, other tamp::Error
// and UsageError 400). Tests call them directly.
//
//   UiApi api({.models = PathJail(m, "--models"), .data = ..., .runs = ...}, "/usr/bin/tamp", "");
//   api.catalog();                                   // {"models": [...], "datasets": [...],
//   "goals": [...]} std::string id = api.start_run({{"name", "cnn-int8"}, {"recipe", yaml},
//   {"goal", "int8"}})["id"];
#pragma once

#include "ui/path_jail.h"
#include "ui/run_store.h"

#include <tamp/scheduler/recipe.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace tamp::cli::ui {

struct UiFolders {
  PathJail models;  // ONNX files to compress (and teachers)
  PathJail data;    // Fashion-MNIST folders and .h5 files
  PathJail runs;    // one folder per run
};

class UiApi {
 public:
  // `tamp_binary` is started as `tamp run` for each run; `latency_command` (may be empty)
  // measures a model (model_measures.h).
  UiApi(UiFolders folders, std::string tamp_binary, std::string latency_command);

  // GET /api/catalog: models, datasets, goals, whether latency can be measured.
  nlohmann::json catalog() const;
  // POST /api/recipe {model, dataset, eval_dataset?, goal, epochs?, steps_per_epoch?, limit?,
  // eval_limit?} -> {recipe}: a recipe's text for the page to show and edit.
  nlohmann::json new_recipe(const nlohmann::json& request) const;
  // POST /api/runs {recipe, name?, goal?} -> {id}: checks the recipe (strictly, and every
  // file it names inside the folders) and starts `tamp run`.
  nlohmann::json start_run(const nlohmann::json& request);
  // GET /api/runs: every run, newest first, as RunStore::describe.
  nlohmann::json runs() const;
  // GET /api/runs/ID: one run with its recipe and the end of its log.
  nlohmann::json run(const std::string& id) const;
  // GET /api/runs/ID/metrics?from=N: new lines of metrics.jsonl.
  nlohmann::json metrics(const std::string& id, uint64_t from) const;
  // GET /api/runs/ID/layers: the per-layer tables of the original and the exported model.
  nlohmann::json layers(const std::string& id) const;
  // POST /api/runs/ID/stop, /resume.
  nlohmann::json stop(const std::string& id);
  nlohmann::json resume(const std::string& id);
  // POST /api/runs/ID/latency: starts measuring the original and the exported model on a
  // worker thread; latency.json says "measuring", then the milliseconds or the error.
  nlohmann::json measure_latency(const std::string& id);
  // GET /runs/ID/model: the exported model's file; /runs/ID/report: report.html.
  std::filesystem::path exported_model(const std::string& id) const;
  std::filesystem::path report(const std::string& id) const;

  // Throws OutsideFolder unless every file `r` reads is inside --models, --runs (a model or
  // teacher: an earlier run's export is fine) or --data, and its export stays in `run_dir`.
  // Tuning recipes are refused (the UI runs `tamp run`).
  void check_recipe_files(const Recipe& r, const std::filesystem::path& run_dir) const;

  const RunStore& store() const { return store_; }

 private:
  UiFolders folders_;
  RunStore store_;
  std::string latency_command_;
};

}  // namespace tamp::cli::ui
