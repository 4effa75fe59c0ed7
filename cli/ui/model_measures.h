// What the runs page compares beyond summary.json: the per-layer table of an exported model
// (every weight: shape, sparsity, bits, the structure of its zeros) and its latency, measured
// by a command the server was started with (--latency-command, e.g. ONNX Runtime).
//
//   nlohmann::json t = layer_table("/runs/cnn-1/model.onnx");   // [{"name": ..., "sparsity": 0.5,
//   ...}] double ms = command_latency("bench.sh {model} {input}", "/runs/cnn-1/model.onnx",
//   "/runs/cnn-1");
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace tamp::cli::ui {

// One row per weight (an initializer of rank >= 2): name, shape, elements, sparsity (stored
// zeros / elements), bits (of the stored values), structure (of a float Conv/Gemm/MatMul
// weight's zeros, "2:4", "unstructured", ...; empty for weights behind DequantizeLinear).
nlohmann::json layer_table(const std::filesystem::path& model);

// Writes an all-zero batch of one for the model's first input to WORK/latency_input.pb, runs
// `command` with {model} and {input} replaced by the files (shell-quoted) and returns the
// last number it printed (milliseconds, by convention). Throws kInvalidInput naming the
// command when it fails or prints no number.
double command_latency(const std::string& command, const std::filesystem::path& model,
                       const std::filesystem::path& work);

}  // namespace tamp::cli::ui
