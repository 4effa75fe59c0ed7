// What the subcommands of `tamp` share: the command table's types, the exit-code policy, and
// the options several commands take (model loading, dataset selection, threads, JSON output).
// Adding a subcommand (cli/<name>.cpp and one line in cli/commands.def):
// docs/cli.md#adding-a-subcommand
#pragma once

#include <tamp/nn/dataset.h>
#include <tamp/nn/graph_module.h>
#include <tamp/nn/input_normalization.h>
#include <tamp/scheduler/trainer.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tamp::cli {

// Exit codes (README: "Exit codes"). kInvalidInput, kUnsupported and kIo errors are a bad
// input file; any other failure (a bug, a training run that diverged) is 1.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitBadInput = 3;

// What a subcommand does once its arguments are parsed; returns the exit code. Errors are
// thrown (UsageError, tamp::Error) and mapped to exit codes by main.
using Action = std::function<int()>;

// A mistake in the arguments that the parser cannot see (a malformed NAME=FILE, an option
// that does not apply): exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ---- the model argument ----

struct ModelArg {
  std::string path;
};
// The positional MODEL.onnx argument (required).
void add_model_arg(CLI::App& sub, ModelArg& arg);
// io::load_onnx, after checking the file exists (a missing file is a kIo error naming it).
nn::GraphModule load_model(const std::string& path);
// load_model for the commands that train and write a model (train, prune, run, search): a
// training-mode export (torch.onnx with training=TRAINING: BatchNormalization training_mode = 1,
// Dropout with a constant training_mode input) becomes an inference model whose BatchNorm and
// Dropout follow training and evaluation, so the written file runs as deployed.
nn::GraphModule load_model_to_train(const std::string& path);

// The progress line of `tamp train` and `tamp prune` for each logged step, flushed to `out`:
// "epoch E/EPOCHS  step S/TOTAL  loss L  lr R  N samples/s".
std::function<void(const StepLog&)> print_step_progress(std::FILE* out, int epochs);

// ---- threads ----

// --threads N (OpenMP threads; 0 = OpenMP's default). Call apply_threads in the action.
void add_threads_option(CLI::App& sub, int& threads);
void apply_threads(int threads);

// ---- datasets ----

constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

struct DatasetArgs {
  std::string spec;      // "fashion-mnist[:train|:test]" or "hdf5:FILE.h5"
  std::string data_dir;  // folder of the Fashion-MNIST files (--data-dir)
  int64_t limit = -1;    // keep only the first N examples of each split (--limit)
  std::string
      normalize;  // "MEAN,STD", "train" (the training split's statistics) or "" (--normalize)
};
// --normalize is part of the model, not of the data: the commands prepend (x - mean) / std to
// the model's data input (normalize_model_input), so what they train, evaluate and write takes
// raw values, as a deployer feeds them.

// --dataset, --data-dir, --limit and --normalize. `default_spec` is used when --dataset is absent
// (empty: the option is required).
void add_dataset_options(CLI::App& sub, DatasetArgs& args, const std::string& default_spec = {});
// --data-dir, --limit and --normalize alone (commands whose data options have other names).
void add_data_source_options(CLI::App& sub, DatasetArgs& args);

struct LoadedDataset {
  std::string name;                          // canonical, e.g. "fashion-mnist:test"
  std::shared_ptr<const nn::Dataset> train;  // may be null (a set with no training split)
  std::shared_ptr<const nn::Dataset> test;   // may be null
  // The split the spec names (":test" / ":train"); the default split for specs without one.
  std::shared_ptr<const nn::Dataset> selected;
  // --normalize: the statistics the model normalizes its input with (the data stays raw).
  std::optional<nn::InputNormalization> normalization;
};

// ", normalized in the model with mean M, std S" or ""; the same as JSON ({"mean", "std"} or null).
std::string normalization_text(const LoadedDataset& data);
nlohmann::ordered_json normalization_json(const LoadedDataset& data);
// nn::normalize_input on the data input (`input`, or the only one) when `data` has a
// normalization; a model that already normalizes with the same statistics is unchanged.
void normalize_model_input(nn::Graph& graph, const LoadedDataset& data, const std::string& input);
void normalize_model_input(nn::GraphModule& model, const LoadedDataset& data,
                           const std::string& input);

// Throws UsageError for an unknown dataset name or split, tamp::Error (kIo, kInvalidInput)
// for missing or corrupt files. `default_split` is "test" or "train".
LoadedDataset load_dataset(const DatasetArgs& args, const std::string& default_split);

// --input NAME and --output NAME of the commands that feed a dataset to a classifier.
void add_data_input_output_options(CLI::App& sub, std::string& input, std::string& output);
// Throws UsageError when `input` / `output` (empty: the defaults) do not name a graph input
// / a value of the graph, or when the model has several inputs and `input` is empty.
void check_data_input_output(const nn::Graph& graph, const std::string& input,
                             const std::string& output);

// ---- output ----

// Before any work: the folder `file` goes into exists (the current one when it names none),
// else a kIo error naming `option`, the file and the missing folder.
void check_output_folder(const std::string& file, const std::string& option);

// --json: the machine-readable result on stdout instead of the text.
void add_json_flag(CLI::App& sub, bool& json);
// Two-space indented, newline-terminated, on stdout.
void print_json(const nlohmann::ordered_json& j);

// "[batch, 1, 28, 28]" ("?" for an unknown dim); "(no shape)" when undeclared.
std::string shape_text(const nn::ValueInfo& info);
// A declared shape as JSON: ints for known dims, the symbol (a string) for symbolic ones,
// null for unknown ones; null when the shape is not declared.
nlohmann::ordered_json shape_json(const nn::ValueInfo& info);
// A file name for a value name: bytes other than [A-Za-z0-9._-] become '_', a name that is
// empty or starts with '.' gets a leading '_', and names are cut to 200 bytes. Two values
// may map to the same name; callers that write several files resolve that (unique_file_names).
std::string safe_file_stem(const std::string& value_name);
// safe_file_stem of each name plus `extension`, with "_2", "_3", ... appended to the stem of
// a later name whose file name (compared case-insensitively) is already taken.
std::vector<std::string> unique_file_names(const std::vector<std::string>& value_names,
                                           const std::string& extension);
// "1.61 MiB"
std::string bytes_text(uint64_t bytes);
// "421,642"
std::string count_text(int64_t n);

}  // namespace tamp::cli
