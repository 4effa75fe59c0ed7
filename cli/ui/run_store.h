// The runs folder of `tamp ui` (--runs): one folder per run, holding what the UI wrote
// (recipe.yaml, ui_run.json, log.txt, exit.json, latency.json) beside what `tamp run` writes.
// A run's state is read from its folder, so runs started by an earlier server show up too.
//
//   RunStore store(PathJail(dir, "--runs"), "/usr/bin/tamp");
//   std::string id = store.start("cnn-int8", yaml, {{"goal", "int8"}});
//   store.describe(id)["status"];              // "running", later "finished"
//   store.metrics(id, 0);                      // {"lines": [...], "next": 1234}
#pragma once

#include "ui/path_jail.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tamp::cli::ui {

// A run or file the page asked for that does not exist (HTTP 404).
class NotFound : public Error {
 public:
  explicit NotFound(const std::string& what) : Error(what, ErrorKind::kIo) {}
};

class RunStore {
 public:
  RunStore(PathJail runs, std::string tamp_binary);
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  const PathJail& jail() const { return runs_; }

  // A new folder named after `name` (characters other than [A-Za-z0-9._-] become '_'; "-2",
  // "-3", ... when taken) with recipe.yaml and ui_run.json (`meta` plus id, start time and
  // pid), then `tamp run` in it. Returns the run's id (its folder name). `check` sees the
  // new folder before the run starts and returns more fields for ui_run.json; when it
  // throws, the folder is removed again.
  using Check = std::function<nlohmann::json(const std::filesystem::path&)>;
  std::string start(const std::string& name, const std::string& recipe_text, nlohmann::json meta,
                    const Check& check = {});
  // `tamp run --resume` in a run that is not running and has a checkpoint.
  void resume(const std::string& id);
  // SIGTERM to a running run (its checkpoint stays; resume continues it).
  void stop(const std::string& id);

  // The folders holding a ui_run.json, newest first.
  std::vector<std::string> ids() const;
  // The folder of a run; throws OutsideFolder for a malformed id, NotFound for an unknown one.
  std::filesystem::path folder(const std::string& id) const;
  // "running", "finished", "failed", "stopped" or "interrupted" (no process, no summary).
  std::string status(const std::string& id) const;
  // Status, meta, summary.json, latency.json and which files exist; `detail` adds the
  // recipe's text and the end of log.txt.
  nlohmann::json describe(const std::string& id, bool detail = false) const;
  // The complete lines of metrics.jsonl from byte `from` on, parsed, and the offset after
  // them (at most kMetricsChunk bytes a call).
  nlohmann::json metrics(const std::string& id, uint64_t from) const;
  // The exported model (summary.json's export path), checked to lie inside the run's folder.
  std::filesystem::path exported_model(const std::string& id) const;

  static constexpr uint64_t kMetricsChunk = 1 << 20;
  static constexpr uint64_t kLogTail = 8 << 10;

 private:
  void launch(const std::string& id, const std::filesystem::path& folder, bool resume);

  PathJail runs_;
  std::string tamp_binary_;
  // The runs this server started that have not ended; shared with the reaper threads, which
  // may outlive the store.
  struct Children {
    std::mutex mutex;
    std::map<std::string, pid_t> pids;
  };
  std::shared_ptr<Children> children_ = std::make_shared<Children>();
};

// A JSON file, or null when it is missing or not valid JSON (a file being written).
nlohmann::json read_json_file(const std::filesystem::path& path);
// Writes `j` to a temporary file and renames it over `path`.
void write_json_file(const std::filesystem::path& path, const nlohmann::json& j);

}  // namespace tamp::cli::ui
