// tamp ui [--models DIR] [--data DIR] [--runs DIR] [--port N]: a local web page to pick a
// model, a dataset and a goal, edit the recipe, start runs (`tamp run` in child processes)
// and watch them, compare finished runs and download their models (docs/ui.md). Serves on
// 127.0.0.1 only; the page names files inside the three folders only.
#include "common.h"
#include "ui/api.h"
#include "ui/server.h"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>

namespace tamp::cli {

namespace {

namespace fs = std::filesystem;

struct UiArgs {
  std::string models = ".";
  std::string data = "/usr/share/datasets";
  std::string runs = "runs";
  std::string bind = "127.0.0.1";
  int port = 8765;
  std::string latency_command;
};

int serve(const UiArgs& a) {
  ui::require_loopback(a.bind);
  fs::create_directories(a.runs);
  // Runs are this very binary as `tamp run`, so the page and the runs are the same version.
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  ui::UiApi api({ui::PathJail(a.models, "--models"), ui::PathJail(a.data, "--data"),
                 ui::PathJail(a.runs, "--runs")},
                self, a.latency_command);
  ui::UiServer server(api);
  const int port = server.bind(a.bind, a.port);
  const nlohmann::json folders = api.catalog()["folders"];
  fmt::print(
      "tamp ui: serving http://127.0.0.1:{}/\n  models {}\n  data   {}\n  runs   {}\n"
      "Runs go on when the server stops; Ctrl-C stops the server.\n",
      port, folders["models"].get<std::string>(), folders["data"].get<std::string>(),
      folders["runs"].get<std::string>());
  std::fflush(stdout);
  server.serve();
  return kExitOk;
}

}  // namespace

Action setup_ui(CLI::App& sub) {
  auto a = std::make_shared<UiArgs>();
  sub.add_option("--models", a->models,
                 "folder of the ONNX models the page may pick (and teachers)")
      ->capture_default_str()
      ->type_name("DIR");
  sub.add_option("--data", a->data,
                 "folder of the datasets: Fashion-MNIST folders (IDX files) and .h5 files")
      ->capture_default_str()
      ->type_name("DIR");
  sub.add_option("--runs", a->runs, "folder of the runs, one folder each (created if missing)")
      ->capture_default_str()
      ->type_name("DIR");
  sub.add_option("--port", a->port, "TCP port on 127.0.0.1 (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  sub.add_option("--bind", a->bind, "address to listen on: 127.0.0.1 (or localhost) only")
      ->capture_default_str();
  sub.add_option("--latency-command", a->latency_command,
                 "measures a model's latency for the runs page: {model} and {input} (a zero batch "
                 "of one as a "
                 "TensorProto file) are replaced, the last number printed is milliseconds")
      ->type_name("CMD");
  return [a] { return serve(*a); };
}

}  // namespace tamp::cli
