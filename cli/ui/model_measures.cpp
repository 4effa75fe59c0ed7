#include "ui/model_measures.h"
#include "model_report.h"

#include <tamp/io/onnx_import.h>
#include <tamp/io/tensor_proto.h>
#include <tamp/scheduler/tuning/latency_command.h>

#include <fmt/format.h>

namespace tamp::cli::ui {

namespace fs = std::filesystem;

namespace {

int bits_of(const WeightInfo& w) {
  if (w.packed) return 4;  // MatMulNBits: two 4-bit values per byte
  return static_cast<int>(size_of(w.dtype) * 8);
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

void replace_all(std::string& text, const std::string& key, const std::string& value) {
  for (size_t at = 0; (at = text.find(key, at)) != std::string::npos; at += value.size()) {
    text.replace(at, key.size(), value);
  }
}

}  // namespace

nlohmann::json layer_table(const fs::path& model) {
  const ModelReport report =
      analyse_model(io::load_onnx_graph(model.string(), {.fold_constants = false}));
  nlohmann::json rows = nlohmann::json::array();
  for (const WeightInfo& w : report.weights) {
    rows.push_back({{"name", w.name},
                    {"shape", w.shape},
                    {"elements", w.elements},
                    {"sparsity", w.packed || w.elements == 0 ? 0.0
                                                             : static_cast<double>(w.zeros) /
                                                                   static_cast<double>(w.elements)},
                    {"bits", bits_of(w)},
                    {"structure", w.structure}});
  }
  return rows;
}

double command_latency(const std::string& command, const fs::path& model, const fs::path& work) {
  const nn::Graph graph = io::load_onnx_graph(model.string(), {.fold_constants = false});
  std::vector<nn::ValueInfo> inputs;
  for (const auto& in : graph.inputs) {
    if (!graph.initializers.count(in.name)) inputs.push_back(in);
  }
  TAMP_CHECK(!inputs.empty(), "'{}' has no input", model.string());
  Shape shape;
  for (const nn::Dim& d : inputs[0].shape)
    shape.push_back(d.known() ? d.value : 1);  // symbolic: a batch of one
  const fs::path input = work / "latency_input.pb";
  io::write_tensor_file(input.string(), Tensor::zeros(shape, inputs[0].dtype), inputs[0].name);

  std::string cmd = command;
  replace_all(cmd, "{model}", shell_quote(model.string()));
  replace_all(cmd, "{input}", shell_quote(input.string()));
  return tuning::run_latency_command(cmd + " 2>&1");
}

}  // namespace tamp::cli::ui
