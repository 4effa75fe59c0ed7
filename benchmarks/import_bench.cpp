// Import cost of one ONNX model: time to parse it into an nn::Graph (io::load_onnx_graph,
// constant folding included), time to build the GraphModule over it, and the process's peak
// RSS above what it held before. One import per process, so the peak is this import's;
// benchmarks/import_bench.py runs it in fresh processes next to onnx.load and prints medians.
//
//   import_bench MODEL.onnx
//
// Prints one JSON line: {"file_bytes", "parse_s", "module_s", "total_s", "baseline_rss",
// "peak_rss", "parameters"} (sizes in bytes).
#include <tamp/io/onnx_import.h>

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

using namespace tamp;

namespace {

// A field of /proc/self/status ("VmRSS", "VmHWM") in bytes.
int64_t status_bytes(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::string key = std::string(field) + ":";
  while (std::getline(status, line)) {
    if (line.rfind(key, 0) == 0)
      return static_cast<int64_t>(std::strtod(line.c_str() + key.size(), nullptr) * 1024);
  }
  return -1;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fmt::print(stderr, "usage: import_bench MODEL.onnx\n");
    return 2;
  }
  const std::string path = argv[1];
  try {
    const int64_t baseline = status_bytes("VmRSS");
    const auto start = std::chrono::steady_clock::now();
    nn::Graph graph = io::load_onnx_graph(path);
    const double parse_s = seconds_since(start);
    const auto module_start = std::chrono::steady_clock::now();
    nn::GraphModule module(std::move(graph));
    const double module_s = seconds_since(module_start);
    const double total_s = seconds_since(start);
    int64_t parameters = 0;
    for (const auto& [name, p] : module.named_parameters()) parameters += p.value().numel();
    fmt::print(
        "{{\"file_bytes\": {}, \"parse_s\": {:.6f}, \"module_s\": {:.6f}, \"total_s\": {:.6f}, "
        "\"baseline_rss\": {}, \"peak_rss\": {}, \"parameters\": {}}}\n",
        std::filesystem::file_size(path), parse_s, module_s, total_s, baseline,
        status_bytes("VmHWM"), parameters);
  } catch (const Error& e) {
    fmt::print(stderr, "import_bench: {}\n", e.what());
    return 1;
  }
  return 0;
}
