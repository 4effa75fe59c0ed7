// Loading ONNX models into nn::Graph / nn::GraphModule.
//
//   nn::GraphModule m = io::load_onnx("cnn.onnx");        // params named after initializers
//   nn::Graph g = io::load_onnx_graph("cnn.onnx", {.fold_constants = false});
//
// Guarantees: every problem of the file is a tamp::Error whose message starts with
// "loading 'cnn.onnx': " and names the node, value or initializer concerned; malformed or
// hostile input (truncated protobuf, negative or overflowing dims, data shorter or longer
// than its shape, external data outside the model's folder, cycles, undefined or duplicate
// names, missing opset imports) is kInvalidInput and never allocates more than the data the
// file holds. What tamp cannot do (opsets outside 11-17, string tensors, sequence/optional
// types, subgraph attributes such as If/Loop bodies) is kUnsupported.
#pragma once

#include <tamp/nn/graph.h>
#include <tamp/nn/graph_module.h>

#include <string>

namespace tamp::io {

// Oldest and newest default-domain opsets the importer accepts.
constexpr int kMinImportOpset = 11;
constexpr int kMaxImportOpset = 17;

struct ImportOptions {
  // Evaluate the constant parts of the graph (PyTorch's Shape -> Gather -> Concat -> Reshape
  // chains, Constant nodes) once at load time; see nn/fold_constants.h.
  bool fold_constants = true;
  // Accept default-domain opsets below kMinImportOpset (ONNX's node tests use them; an op
  // that changed since then may not be found in the op table).
  bool allow_old_opsets = false;
  // Read any opset, unchecked (`tamp inspect`, which reports check_opsets' verdict instead).
  bool allow_any_opset = false;
};

// The opset imports tamp loads (what load_onnx_graph checks, and `tamp inspect` reports):
// throws (kUnsupported) for a default-domain opset outside [kMinImportOpset, kMaxImportOpset]
// (below it only without allow_old_opsets) or a tamp domain of another version.
void check_opsets(const std::map<std::string, int64_t>& opsets, bool allow_old_opsets = false);

nn::Graph load_onnx_graph(const std::string& path, const ImportOptions& options = {});
// From serialized ModelProto bytes. `model_dir` is where external data is looked up (empty:
// external data is refused); `label` names the model in error messages.
nn::Graph parse_onnx_graph(const std::string& bytes, const ImportOptions& options = {},
                           const std::string& model_dir = {}, const std::string& label = "<memory>");

// load_onnx_graph, then a GraphModule over it (returned by value: guaranteed elision, no
// copy). Throws kUnsupported listing every node whose op tamp lacks.
nn::GraphModule load_onnx(const std::string& path, const ImportOptions& options = {});

}  // namespace tamp::io
