#include <tamp/autograd/error.h>
#include <tamp/scheduler/tuning/history.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <tuple>
#include <vector>

namespace tamp::tuning {

using nlohmann::json;

TuningHistory::TuningHistory(std::string path, const TuningSpace& space,
                             const ProblemFingerprint& fingerprint)
    : path_(std::move(path)), space_(space) {
  if (path_.empty()) return;
  std::vector<std::string> lines;
  if (std::filesystem::exists(path_)) {
    std::ifstream in(path_);
    if (!in) throw Error(fmt::format("cannot read the tuning history '{}'", path_), ErrorKind::kIo);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) lines.push_back(line);
  }
  if (!lines.empty()) {  // a torn last line stays alone on its line; later appends start afresh
    std::ifstream tail(path_, std::ios::binary | std::ios::ate);
    if (tail.tellg() > 0) {
      tail.seekg(-1, std::ios::end);
      if (tail.get() != '\n') write_line("");
    }
  }
  if (lines.empty()) {
    write_line(json{{"tamp_tuning", 1},
                    {"space", space.signature()},
                    {"model", fingerprint.model},
                    {"data", fingerprint.data},
                    {"dimensions", space.size()}}
                   .dump());
    return;
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    try {
      const json j = json::parse(lines[i]);
      if (i == 0) {
        TAMP_CHECK(j.contains("tamp_tuning") && j.contains("space"),
                   "the first line is not a tamp tuning header");
        if (j.at("space").get<std::string>() != space.signature()) {
          throw Error(
              fmt::format(
                  "the tuning history '{}' was written for another tuning space (model, options or "
                  "searchable values differ)",
                  path_),
              ErrorKind::kInvalidInput, "delete it to start afresh, or give another history file");
        }
        // Files without these keys predate them: their trials may belong to any model.
        for (const auto& [key, want, what] :
             {std::tuple{"model", fingerprint.model, "another model (its weights or graph differ)"},
              std::tuple{"data", fingerprint.data, "other data (examples or settings differ)"}}) {
          if (j.value(key, std::string()) != want) {
            throw Error(fmt::format("the tuning history '{}' was written for {}", path_, what),
                        ErrorKind::kInvalidInput,
                        "delete it to start afresh, or give another history file");
          }
        }
      } else if (j.contains("baseline")) {
        baseline_ = Outcome{j.at("baseline").at("accuracy").get<double>(),
                            j.at("baseline").at("objective").get<double>()};
      } else {
        TrialRecord r;
        r.trial = j.at("trial").get<int>();
        r.config = space.from_values(j.at("config").get<std::map<std::string, std::string>>());
        r.outcome = {j.at("accuracy").get<double>(), j.at("objective").get<double>()};
        r.seconds = j.value("seconds", 0.0);
        r.resumed = true;
        if (trials_.emplace(space.key(r.config), r).second) ++loaded_;
      }
    } catch (const json::parse_error& e) {
      if (i > 0) continue;  // a torn line: the run was killed while writing it
      throw Error(fmt::format("tuning history '{}', line {}: {}", path_, i + 1, e.what()),
                  ErrorKind::kInvalidInput);
    } catch (const json::exception& e) {
      throw Error(fmt::format("tuning history '{}', line {}: {}", path_, i + 1, e.what()),
                  ErrorKind::kInvalidInput);
    } catch (Error& e) {
      if (i == 0) throw;
      e.add_context(fmt::format("tuning history '{}', line {}", path_, i + 1));
      throw;
    }
  }
}

void TuningHistory::set_baseline(const Outcome& b) {
  baseline_ = b;
  if (!path_.empty())
    write_line(json{{"baseline", {{"accuracy", b.accuracy}, {"objective", b.objective}}}}.dump());
}

const TrialRecord* TuningHistory::find(const Config& c) const {
  auto it = trials_.find(space_.key(c));
  return it == trials_.end() ? nullptr : &it->second;
}

void TuningHistory::append(const TrialRecord& r) {
  trials_.emplace(space_.key(r.config), r);
  if (path_.empty()) return;
  json j{{"trial", r.trial},
         {"config", space_.to_values(r.config)},
         {"accuracy", r.outcome.accuracy},
         {"objective", r.outcome.objective},
         {"score", r.score},
         {"meets", r.meets},
         {"seconds", r.seconds}};
  write_line(j.dump());
}

void TuningHistory::write_line(const std::string& line) {
  std::ofstream out(path_, std::ios::app);
  out << line << '\n';
  out.flush();
  if (!out) throw Error(fmt::format("cannot write the tuning history '{}'", path_), ErrorKind::kIo);
}

}  // namespace tamp::tuning
