#include "ui/api.h"
#include "ui/catalog.h"
#include "ui/model_measures.h"
#include "ui/recipe_source.h"

#include <fmt/format.h>

#include <algorithm>
#include <thread>

namespace tamp::cli::ui {

namespace fs = std::filesystem;

namespace {

std::string required_string(const nlohmann::json& request, const char* key) {
  if (!request.is_object() || !request.contains(key) || !request[key].is_string() ||
      request[key].get<std::string>().empty()) {
    throw Error(fmt::format("the request needs '{}' (a non-empty string)", key),
                ErrorKind::kInvalidInput);
  }
  return request[key].get<std::string>();
}

// An optional integer field: absent or null is `fallback`.
int64_t optional_int(const nlohmann::json& request, const char* key, int64_t fallback) {
  if (!request.contains(key) || request[key].is_null()) return fallback;
  if (!request[key].is_number_integer()) {
    throw Error(fmt::format("'{}' must be an integer", key), ErrorKind::kInvalidInput);
  }
  return request[key].get<int64_t>();
}

bool is_plain_relative(const fs::path& p) {
  return !p.empty() && p.is_relative() &&
         std::none_of(p.begin(), p.end(), [](const fs::path& c) { return c == ".." || c == "."; });
}

}  // namespace

UiApi::UiApi(UiFolders folders, std::string tamp_binary, std::string latency_command)
    : folders_(std::move(folders)),
      store_(folders_.runs, std::move(tamp_binary)),
      latency_command_(std::move(latency_command)) {}

nlohmann::json UiApi::catalog() const {
  nlohmann::json j = catalog_json(list_catalog(folders_.models, folders_.data));
  nlohmann::json goals = nlohmann::json::array();
  for (const RecipeGoal& g : recipe_goals())
    goals.push_back({{"name", g.name}, {"description", g.description}});
  j["goals"] = goals;
  j["latency"] = !latency_command_.empty();
  j["folders"] = {{"models", folders_.models.root().string()},
                  {"data", folders_.data.root().string()},
                  {"runs", folders_.runs.root().string()}};
  return j;
}

nlohmann::json UiApi::new_recipe(const nlohmann::json& request) const {
  RecipeRequest q;
  q.model = folders_.models.resolve(required_string(request, "model")).string();
  if (!fs::is_regular_file(q.model))
    throw NotFound(fmt::format("no model '{}'", request["model"].get<std::string>()));
  const std::string eval_id =
      request.is_object() && request.contains("eval_dataset") && request["eval_dataset"].is_string()
          ? request["eval_dataset"].get<std::string>()
          : "";
  q.data = choose_data(folders_.data, required_string(request, "dataset"), eval_id);
  q.goal = required_string(request, "goal");
  q.epochs = static_cast<int>(std::clamp<int64_t>(optional_int(request, "epochs", 1), 0, 1 << 20));
  q.steps_per_epoch = optional_int(request, "steps_per_epoch", -1);
  q.limit = optional_int(request, "limit", -1);
  q.eval_limit = optional_int(request, "eval_limit", -1);
  return {{"recipe", generate_recipe(q)}};
}

void UiApi::check_recipe_files(const Recipe& r, const fs::path& run_dir) const {
  if (r.tuning) {
    throw Error("a tuning recipe (tuning:) runs with `tamp tune`; the UI runs recipes with stages",
                ErrorKind::kInvalidInput);
  }
  auto model_like = [&](const fs::path& p, const std::string& what) {
    if (!folders_.runs.contains(p)) folders_.models.require(p, what);
  };
  model_like(r.model, "the recipe's model");
  for (size_t i = 0; i < r.stages.size(); ++i) {
    if (r.stages[i].distillation)
      model_like(r.stages[i].distillation->teacher, fmt::format("stages[{}]'s teacher", i));
  }
  auto hdf5 = [&](const std::string& spec, const std::string& what) {
    if (spec.rfind("hdf5:", 0) == 0) folders_.data.require(spec.substr(5), what);
  };
  hdf5(r.data.dataset, "the recipe's dataset");
  hdf5(r.data.eval_dataset, "the recipe's eval_dataset");
  // `tamp run` reads Fashion-MNIST from data.dir, relative to its working folder (the run's).
  if (r.data.dataset == "fashion-mnist")
    folders_.data.require(run_dir / r.data.dir, "the recipe's data.dir");
  const fs::path e(r.export_.path);
  if (!is_plain_relative(e) || e.extension() != ".onnx") {
    throw OutsideFolder(
        fmt::format("export.path '{}' must be a file name ending in .onnx inside the run's folder",
                    r.export_.path));
  }
}

nlohmann::json UiApi::start_run(const nlohmann::json& request) {
  const std::string text = required_string(request, "recipe");
  const std::string name = request.value("name", std::string("run"));
  nlohmann::json meta{{"name", name}, {"goal", request.value("goal", std::string("custom"))}};
  const std::string id = store_.start(name, text, meta, [&](const fs::path& dir) {
    const Recipe r = parse_recipe(text, dir.string(), "the recipe");
    check_recipe_files(r, dir);
    // Names for the runs table, relative to the folders.
    const fs::path model = fs::weakly_canonical(r.model);
    const std::string data =
        r.data.dataset == "fashion-mnist"
            ? "fashion-mnist (" + folders_.data.relative(fs::weakly_canonical(dir / r.data.dir)) +
                  ")"
            : folders_.data.relative(fs::weakly_canonical(r.data.dataset.substr(5)));
    return nlohmann::json{
        {"model",
         folders_.models.contains(model) ? folders_.models.relative(model) : model.string()},
        {"dataset", data},
        {"stages", r.stages.size()}};
  });
  return {{"id", id}};
}

nlohmann::json UiApi::runs() const {
  nlohmann::json out = nlohmann::json::array();
  for (const std::string& id : store_.ids()) out.push_back(store_.describe(id));
  return out;
}

nlohmann::json UiApi::run(const std::string& id) const { return store_.describe(id, true); }

nlohmann::json UiApi::metrics(const std::string& id, uint64_t from) const {
  return store_.metrics(id, from);
}

nlohmann::json UiApi::layers(const std::string& id) const {
  const fs::path exported = store_.exported_model(id);
  const nlohmann::json summary = read_json_file(store_.folder(id) / "summary.json");
  const fs::path original = summary.value("model", "");
  nlohmann::json j{{"exported", layer_table(exported)}, {"original", nullptr}};
  if (folders_.models.contains(original) || folders_.runs.contains(original)) {
    if (fs::is_regular_file(original)) j["original"] = layer_table(original);
  }
  return j;
}

nlohmann::json UiApi::stop(const std::string& id) {
  store_.stop(id);
  return {{"id", id}, {"status", "stopping"}};
}

nlohmann::json UiApi::resume(const std::string& id) {
  store_.resume(id);
  return {{"id", id}, {"status", "running"}};
}

nlohmann::json UiApi::measure_latency(const std::string& id) {
  if (latency_command_.empty()) {
    throw Error("no latency command", ErrorKind::kInvalidInput,
                "start tamp ui with --latency-command 'CMD {model} {input}' (docs/ui.md)");
  }
  const fs::path dir = store_.folder(id);
  const fs::path exported = store_.exported_model(id);
  const nlohmann::json summary = read_json_file(dir / "summary.json");
  const fs::path original = summary.value("model", "");
  const nlohmann::json before = read_json_file(dir / "latency.json");  // null when never measured
  if (before.is_object() && before.value("status", "") == "measuring")
    return {{"status", "measuring"}};
  write_json_file(dir / "latency.json", {{"status", "measuring"}, {"command", latency_command_}});
  const bool original_ok = folders_.models.contains(original) || folders_.runs.contains(original);
  std::thread([command = latency_command_, dir, exported, original, original_ok] {
    nlohmann::json result{{"command", command}};
    try {
      result["exported_ms"] = command_latency(command, exported, dir);
      if (original_ok) result["original_ms"] = command_latency(command, original, dir);
      result["status"] = "done";
    } catch (const std::exception& e) {
      result["status"] = "failed";
      result["error"] = e.what();
    }
    write_json_file(dir / "latency.json", result);
  }).detach();
  return {{"status", "measuring"}};
}

fs::path UiApi::exported_model(const std::string& id) const { return store_.exported_model(id); }

fs::path UiApi::report(const std::string& id) const {
  const fs::path p = store_.folder(id) / "report.html";
  if (!fs::is_regular_file(p)) throw NotFound(fmt::format("run '{}' has no report (yet)", id));
  return p;
}

}  // namespace tamp::cli::ui
