// Accuracy and loss of a classifier over a dataset, and the input adaptation every entry
// point shares (Fashion-MNIST images are (N, 1, 28, 28); an MLP exported with a flat
// (N, 784) input gets them flattened).
//
//   EvalResult r = evaluate(model, *data.test, {.batch_size = 256});
//   fmt::print("top-1 {:.2f} %\n", 100 * r.top1);
#pragma once

#include <tamp/nn/collective.h>
#include <tamp/nn/data_loader.h>
#include <tamp/nn/dataset.h>
#include <tamp/nn/graph_module.h>

#include <memory>
#include <string>

namespace tamp {

struct EvalOptions {
  int64_t batch_size = 256;
  int64_t max_batches = -1;              // -1: the whole dataset
  std::string input;                     // graph input to feed; empty: the only one
  std::string output;                    // logits; empty: the first graph output
  nn::Collective* collective = nullptr;  // shards the data and sums the counts over ranks
};

struct EvalResult {
  double top1 = 0;  // in [0, 1]
  double top5 = 0;
  double loss = 0;    // mean cross-entropy
  int64_t count = 0;  // examples seen (over all ranks)
};

// Runs the model in eval mode without recording a tape; restores the previous mode. A
// FakeQuantize model runs as its export does in ONNX Runtime (onnx_runtime_simulation).
EvalResult evaluate(nn::GraphModule& model, const nn::Dataset& data,
                    const EvalOptions& options = {});

// What evaluation runs of a FakeQuantize model (QAT, static PTQ): a module over
// compression::simulate_fused_like_onnx_runtime of its current graph and parameters, the
// groups ONNX Runtime fuses computed by ORT's integer kernels, with `model`'s integer
// arithmetic; nullptr when there is no such group (run `model` itself). Training keeps the
// float FakeQuantize graph.
std::unique_ptr<nn::GraphModule> onnx_runtime_simulation(const nn::GraphModule& model);

// This rank's shard of `data` in order, for evaluation. `data` is not owned and must outlive
// the loader; `real_examples` counts the shard's own examples (sharding pads with wrapped ones).
struct EvaluationShard {
  std::unique_ptr<nn::DataLoader> loader;
  int64_t real_examples = 0;
};
EvaluationShard evaluation_shard(const nn::Dataset& data, int64_t batch_size,
                                 const nn::Collective& coll);

// `x` as graph input `info` declares it: reshaped when only the per-example layout differs
// (same element count per example), and integers converted when the input is a float one
// (images stored as uint8) or int64 (narrower token ids); any other mismatch is left for the
// GraphModule to report.
Tensor fit_input(const nn::ValueInfo& info, const Tensor& x);

// The name of the single graph input, or `requested` after checking it exists.
const nn::ValueInfo& input_info(const nn::Graph& graph, const std::string& requested);
std::string output_name(const nn::Graph& graph, const std::string& requested);

}  // namespace tamp
