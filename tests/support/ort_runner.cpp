#include "support/ort_runner.h"

#include "support/temp_dir.h"

#include <tamp/io/tensor_proto.h>

#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace tamp::test {

std::string source_dir() {
  const char* dir = std::getenv("TAMP_SOURCE_DIR");
  if (!dir)
    throw Error(
        "TAMP_SOURCE_DIR is not set (ctest sets it; export it to run a test binary by hand)");
  return dir;
}

namespace {

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string file_name_for(const std::string& output) {  // a safe file name
  std::string n = output;
  for (char& c : n) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '_';
  }
  return n + ".pb";
}

}  // namespace

std::map<std::string, Tensor> run_ort(const std::string& model,
                                      const std::map<std::string, Tensor>& inputs,
                                      const OrtOptions& options) {
  TempDir dir;
  std::string cmd = "node " + quote(source_dir() + "/tests/ort/run_ort.js") + " " + quote(model);
  for (const auto& [name, t] : inputs) {
    const std::string file = dir.file("in_" + file_name_for(name));
    io::write_tensor_file(file, t, name);
    cmd += " --input " + quote(name + "=" + file);
  }
  const std::string out_dir = dir.file("out");
  cmd += " --output-dir " + quote(out_dir) + " --threads " + std::to_string(options.threads);
  if (!options.optimized_model.empty())
    cmd += " --optimized-model " + quote(options.optimized_model);
  cmd += " 2>" + quote(dir.file("stderr.txt"));
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw Error("cannot start node for ONNX Runtime");
  std::string stdout_text;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) stdout_text.append(buf.data(), n);
  const int status = pclose(pipe);
  if (status != 0) {
    std::ifstream err(dir.file("stderr.txt"));
    std::stringstream ss;
    ss << err.rdbuf();
    throw Error("ONNX Runtime failed on " + model + ": " + ss.str(), ErrorKind::kIo,
                "tests/ort/setup.sh installs onnxruntime-node");
  }
  // stdout is one JSON line: {"outputs": {name: {"file": ...}, ...}, ...}.
  const auto report = nlohmann::json::parse(stdout_text);
  std::map<std::string, Tensor> outputs;
  for (const auto& [name, info] : report.at("outputs").items()) {
    std::string file = info.at("file").get<std::string>();
    if (!std::filesystem::path(file).is_absolute()) file = out_dir + "/" + file;
    outputs[name] = io::read_tensor_file(file);
  }
  return outputs;
}

}  // namespace tamp::test
