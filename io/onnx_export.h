// Writing nn::Graph / nn::GraphModule as ONNX.
//
//   io::save_onnx(module, "tuned.onnx");           // the current weights
//   io::save_onnx_graph(graph, "graph.onnx");
//
// The written model is the same graph (nodes, attributes, values, initializers, opsets,
// metadata; the producer too with keep_producer, else "tamp" and its version): load_onnx_graph
// gives back an equal nn::Graph. It passes onnx's checker before anything is written (when
// Debian's onnx 1.12 knows its opsets and IR version: up to opset 17, IR 8),
// initializers of 1 KiB or more go in raw_data, and the file is written to a temporary name
// and renamed, so a failure or a kill never leaves a broken model.
// Nodes in domain "tamp" (training-only ops such as FakeQuantize) are refused with an error
// naming them: lower them to standard ONNX first. Other domains allowed: ai.onnx,
// ai.onnx.ml, ai.onnx.preview.training and com.microsoft (ONNX Runtime's contrib ops).
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

void save_onnx_graph(const nn::Graph& graph, const std::string& path, const ExportOptions& options = {});
void save_onnx(const nn::GraphModule& module, const std::string& path, const ExportOptions& options = {});
// The serialized ModelProto (checked like save_onnx_graph).
std::string serialize_onnx_graph(const nn::Graph& graph, const ExportOptions& options = {});

}  // namespace tamp::io
