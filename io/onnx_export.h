// Writing nn::Graph / nn::GraphModule as ONNX: the same graph (load_onnx_graph gives back an
// equal nn::Graph), checked by onnx's checker and written through a temporary file, so a
// failure never leaves a broken model. Nodes of domain "tamp" are refused: lower them first.
//
//   io::save_onnx(module, "tuned.onnx");           // the current weights
//   io::save_onnx_graph(graph, "graph.onnx");
// Details: docs/onnx.md (Exporter)
#pragma once

#include <tamp/nn/graph.h>
#include <tamp/nn/graph_module.h>

#include <string>

namespace tamp::io {

struct ExportOptions {
  // Initializers and tensor attributes with at least this many bytes go in raw_data.
  size_t raw_data_threshold = 1024;
  // producer_name / producer_version say who wrote the file: "tamp" and its version
  // (tamp/version.h). true writes the graph's own instead (what the model was imported with).
  bool keep_producer = false;
  // Keep nodes of domain "tamp" (FakeQuantize, ...) and skip onnx's checker: for tamp's own
  // checkpoints of a graph in training, which only tamp loads back.
  bool keep_training_ops = false;
};

void save_onnx_graph(const nn::Graph& graph, const std::string& path,
                     const ExportOptions& options = {});
void save_onnx(const nn::GraphModule& module, const std::string& path,
               const ExportOptions& options = {});
// The serialized ModelProto (checked like save_onnx_graph).
std::string serialize_onnx_graph(const nn::Graph& graph, const ExportOptions& options = {});

}  // namespace tamp::io
