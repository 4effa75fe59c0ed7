// `tamp quantize` shared by its files: the parsed options (cli/quantize.cpp) and what a
// method produces; the static method and its extras live in cli/quantize_static.cpp.
//
//   Outcome r = run_static(args, graph);   // r.graph is written to --out
#pragma once

#include "common.h"
#include "export_target_options.h"

#include <tamp/compression/quantization/ptq/weight_only.h>
#include <tamp/nn/graph.h>
#include <tamp/nn/graph_module.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tamp::cli {

struct QuantizeArgs {
  ModelArg model;
  std::string out;
  std::string method;
  int bits = -1;  // -1: 8 for dynamic, 4 for weight-only
  int64_t group_size = 32;
  std::string algorithm = "rtn";
  bool symmetric = false, asymmetric = false, per_tensor = false;
  DatasetArgs calib;  // --calib-data, --data-dir
  int64_t calib_batches = 32;
  int64_t batch = 64;
  double damp = 0.01;
  bool act_order = false;
  int accuracy_level = 0;
  std::vector<std::string> exclude;
  std::string eval_data;    // --eval-data: accuracy of both models in tamp
  std::string calibration;  // static: observer ("" = minmax)
  std::string
      weight_calibration;     // static: weight range ("" = minmax), per channel unless --per-tensor
  double percentile = 99.99;  // static --calibration percentile
  std::string format;         // static: qdq | qoperator ("" = qdq)
  std::string accuracy_criterion;  // static: accuracy-aware tuning (cli/tune.h) when set
  std::string strategy;            // its strategy ("" = basic)
  bool power_of_two = false;       // static: scales rounded up to 2^k
  bool equalize = false;           // static: cross-layer equalization first
  bool equalize_relu6 = false;     // its ReLU6 between a pair becomes Relu
  bool bias_correction = false;    // static: empirical bias correction after calibration
  int64_t bias_correction_batches = 8;
  bool bn_reestimate = false;  // static: BatchNorm statistics recomputed first
  std::string input, output;
  bool json = false;
  int threads = 0;
  TargetArgs target;         // static, dynamic: --target, --parity-arithmetic
  std::string smooth_quant;  // static: "" off, an alpha, or "search"
  bool adaround = false;     // static: learned rounding after calibration
  int64_t adaround_steps = 500;
  std::string report;     // static: per-layer sensitivity report (JSON)
  int fallback_bf16 = 0;  // static: the K most sensitive layers as bf16 weights
};

struct Outcome {
  nn::Graph graph;
  nlohmann::ordered_json settings;                         // what was done, for --json
  std::vector<compression::WeightOnlyLayerReport> layers;  // weight-only: per-layer errors
  std::string summary;                                     // one line for the text output
  // What the export must compute (static: the FakeQuantize model; dynamic: the exported graph
  // with exact integer arithmetic); null for weight-only, which has no integer kernels.
  std::shared_ptr<nn::GraphModule> simulated;
  nlohmann::ordered_json sensitivity = nullptr;  // static --report / --fallback-bf16
};

// --method static: calibration with the chosen observer, the recovery steps and extras the
// options ask for, lowered to --format.
Outcome run_static(const QuantizeArgs& a, const nn::Graph& g);

// The command: quantize, write --out, measure and report; the exit code.
int run_quantize(const QuantizeArgs& a);

// Up to `a.calib_batches` batches of `data` with their labels, shaped for the model input
// (labels left empty when the data has none).
std::vector<std::map<std::string, Tensor>> labelled_batches(const QuantizeArgs& a,
                                                            const nn::Graph& g,
                                                            const LoadedDataset& data,
                                                            std::vector<Tensor>* labels);

// --eval-data's test split, read like the calibration data but without its normalization
// (the model normalizes already); nothing without --eval-data.
std::optional<LoadedDataset> load_eval_data(const QuantizeArgs& a);

}  // namespace tamp::cli
