#include "ui/run_store.h"
#include "common.h"
#include "ui/run_process.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace tamp::cli::ui {

namespace fs = std::filesystem;

nlohmann::json read_json_file(const fs::path& path) {
  std::ifstream f(path);
  if (!f) return nullptr;
  nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

void write_json_file(const fs::path& path, const nlohmann::json& j) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream f(tmp);
    TAMP_CHECK(f, "cannot write '{}'", tmp.string());
    f << j.dump(2) << "\n";
  }
  fs::rename(tmp, path);
}

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string read_text(const fs::path& path, uint64_t tail = 0) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  f.seekg(0, std::ios::end);
  const auto size = static_cast<uint64_t>(f.tellg());
  const uint64_t from = tail > 0 && size > tail ? size - tail : 0;
  f.seekg(static_cast<std::streamoff>(from));
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

RunStore::RunStore(PathJail runs, std::string tamp_binary)
    : runs_(std::move(runs)), tamp_binary_(std::move(tamp_binary)) {}

std::string RunStore::start(const std::string& name, const std::string& recipe_text,
                            nlohmann::json meta, const Check& check) {
  const std::string stem = safe_file_stem(name.empty() ? "run" : name);
  std::string id = stem;
  for (int k = 2; !fs::create_directory(runs_.root() / id);
       ++k) {  // create_directory: taken is false
    TAMP_CHECK(k < 10000, "no free run name for '{}' in {}", stem, runs_.root().string());
    id = fmt::format("{}-{}", stem, k);
  }
  const fs::path dir = runs_.resolve(id);
  if (check) {
    try {
      meta.update(check(dir));
    } catch (...) {
      fs::remove_all(dir);
      throw;
    }
  }
  {
    std::ofstream f(dir / "recipe.yaml");
    TAMP_CHECK(f << recipe_text, "cannot write '{}'", (dir / "recipe.yaml").string());
  }
  meta["id"] = id;
  meta["started"] = now_seconds();
  write_json_file(dir / "ui_run.json", meta);
  launch(id, dir, false);
  return id;
}

void RunStore::launch(const std::string& id, const fs::path& dir, bool resume) {
  std::lock_guard lock(children_->mutex);
  fs::remove(dir / "exit.json");
  const pid_t pid = spawn_tamp_run(tamp_binary_, dir, resume);
  children_->pids[id] = pid;
  nlohmann::json meta = read_json_file(dir / "ui_run.json");
  meta["pid"] = pid;
  if (resume) meta["resumed"] = now_seconds();
  write_json_file(dir / "ui_run.json", meta);
  // The reaper records how the run ended, whether or not a page is watching.
  std::thread([children = children_, id, dir, pid] {
    const ExitStatus e = wait_for(pid);
    std::lock_guard reaper_lock(children->mutex);
    write_json_file(dir / "exit.json",
                    {{"code", e.code}, {"signal", e.signal}, {"ended", now_seconds()}});
    children->pids.erase(id);
  }).detach();
}

void RunStore::resume(const std::string& id) {
  const fs::path dir = folder(id);
  const std::string s = status(id);
  if (s == "running" || s == "finished") {
    throw Error(fmt::format("run '{}' is {}: nothing to resume", id, s), ErrorKind::kInvalidInput);
  }
  if (!fs::exists(dir / "checkpoint.h5")) {
    throw Error(fmt::format("run '{}' has no checkpoint to resume from", id),
                ErrorKind::kInvalidInput, "start it again instead");
  }
  launch(id, dir, true);
}

void RunStore::stop(const std::string& id) {
  const fs::path dir = folder(id);
  if (status(id) != "running")
    throw Error(fmt::format("run '{}' is not running", id), ErrorKind::kInvalidInput);
  stop_run(read_json_file(dir / "ui_run.json").value("pid", 0));
}

std::vector<std::string> RunStore::ids() const {
  std::vector<std::pair<double, std::string>> found;
  std::error_code ec;
  for (fs::directory_iterator it(runs_.root(), ec), end; !ec && it != end; it.increment(ec)) {
    const nlohmann::json meta = read_json_file(it->path() / "ui_run.json");
    if (meta.is_object() && runs_.contains(it->path())) {
      found.emplace_back(meta.value("started", 0.0), it->path().filename().string());
    }
  }
  std::sort(found.begin(), found.end(), std::greater<>());
  std::vector<std::string> out;
  for (auto& [t, id] : found) out.push_back(id);
  return out;
}

fs::path RunStore::folder(const std::string& id) const {
  if (id.find('/') != std::string::npos || id != safe_file_stem(id)) {
    throw OutsideFolder(fmt::format("'{}' is not a run name", id));
  }
  const fs::path dir = runs_.resolve(id);
  if (!fs::exists(dir / "ui_run.json"))
    throw NotFound(fmt::format("no run '{}' in {}", id, runs_.root().string()));
  return dir;
}

std::string RunStore::status(const std::string& id) const {
  const fs::path dir = folder(id);
  {
    std::lock_guard lock(children_->mutex);
    if (children_->pids.count(id)) return "running";
  }
  const nlohmann::json exit = read_json_file(dir / "exit.json");
  if (exit.is_object()) {
    if (exit.value("code", -1) == 0) return "finished";
    return exit.value("signal", 0) != 0 ? "stopped" : "failed";
  }
  if (is_run_alive(read_json_file(dir / "ui_run.json").value("pid", 0), dir)) return "running";
  return fs::exists(dir / "summary.json") ? "finished" : "interrupted";
}

nlohmann::json RunStore::describe(const std::string& id, bool detail) const {
  const fs::path dir = folder(id);
  nlohmann::json j{{"id", id},
                   {"status", status(id)},
                   {"meta", read_json_file(dir / "ui_run.json")},
                   {"exit", read_json_file(dir / "exit.json")},
                   {"summary", read_json_file(dir / "summary.json")},
                   {"latency", read_json_file(dir / "latency.json")},
                   {"has_checkpoint", fs::exists(dir / "checkpoint.h5")},
                   {"has_report", fs::exists(dir / "report.html")}};
  if (detail) {
    j["recipe"] = read_text(dir / "recipe.yaml");
    j["log"] = read_text(dir / "log.txt", kLogTail);
  }
  return j;
}

nlohmann::json RunStore::metrics(const std::string& id, uint64_t from) const {
  const fs::path path = folder(id) / "metrics.jsonl";
  nlohmann::json lines = nlohmann::json::array();
  std::ifstream f(path, std::ios::binary);
  if (!f) return {{"lines", lines}, {"next", 0}};
  f.seekg(0, std::ios::end);
  const auto size = static_cast<uint64_t>(f.tellg());
  // A resumed run cuts metrics.jsonl back to its checkpoint: a reader past the end starts over.
  if (from > size) from = 0;
  std::string chunk(std::min(size - from, kMetricsChunk), '\0');
  f.seekg(static_cast<std::streamoff>(from));
  f.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  const size_t end = chunk.rfind('\n');
  if (end == std::string::npos) return {{"lines", lines}, {"next", from}};
  std::istringstream in(chunk.substr(0, end + 1));
  for (std::string line; std::getline(in, line);) {
    nlohmann::json l = nlohmann::json::parse(line, nullptr, false);
    if (!l.is_discarded()) lines.push_back(std::move(l));
  }
  return {{"lines", lines}, {"next", from + end + 1}};
}

fs::path RunStore::exported_model(const std::string& id) const {
  const fs::path dir = folder(id);
  const nlohmann::json summary = read_json_file(dir / "summary.json");
  if (!summary.is_object() || !summary.contains("export")) {
    throw NotFound(fmt::format("run '{}' has exported no model (yet)", id));
  }
  const fs::path written = summary["export"].value("path", "");
  const fs::path model = written.is_absolute() ? written : dir / written;
  PathJail(dir.string(), "the run's folder").require(model, "the exported model");
  if (!fs::is_regular_file(model)) throw NotFound(fmt::format("'{}' is gone", model.string()));
  return fs::canonical(model);
}

}  // namespace tamp::cli::ui
