// Loading ONNX models into nn::Graph / nn::GraphModule. Every problem of the file is a
// tamp::Error naming the file and the node, value or initializer: kInvalidInput for malformed
// or hostile input (never allocating more than the file holds), kUnsupported for what tamp
// cannot do.
//
//   nn::GraphModule m = io::load_onnx("cnn.onnx");        // params named after initializers
//   nn::Graph g = io::load_onnx_graph("cnn.onnx", {.fold_constants = false});
// What is read, hostile files, opsets: docs/onnx.md
#pragma once

#include <tamp/nn/graph.h>
#include <tamp/nn/graph_module.h>

#include <string>

namespace tamp::io {

struct ImportOptions {
  // Evaluate the constant parts of the graph (PyTorch's Shape -> Gather -> Concat -> Reshape
  // chains, Constant nodes) once at load time; see nn/fold_constants.h.
  bool fold_constants = true;
};

nn::Graph load_onnx_graph(const std::string& path, const ImportOptions& options = {});
// From serialized ModelProto bytes. `model_dir` is where external data is looked up (empty:
// external data is refused); `label` names the model in error messages.
nn::Graph parse_onnx_graph(const std::string& bytes, const ImportOptions& options = {},
                           const std::string& model_dir = {},
                           const std::string& label = "<memory>");

// load_onnx_graph, then a GraphModule over it (returned by value: guaranteed elision, no
// copy). Throws kUnsupported listing every node whose op tamp lacks.
nn::GraphModule load_onnx(const std::string& path, const ImportOptions& options = {});

}  // namespace tamp::io
