#include "common.h"

#include <tamp/autograd/threads.h>
#include <tamp/io/hdf5_dataset.h>
#include <tamp/io/idx.h>
#include <tamp/io/onnx_import.h>
#include <tamp/nn/graph_edit.h>
#include <tamp/scheduler/evaluate.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>

namespace tamp::cli {

void add_model_arg(CLI::App& sub, ModelArg& arg) {
  sub.add_option("model", arg.path, "the ONNX model file")->required()->type_name("MODEL.onnx");
}

nn::GraphModule load_model(const std::string& path) { return io::load_onnx(path); }

std::function<void(const StepLog&)> print_step_progress(std::FILE* out, int epochs) {
  return [out, epochs](const StepLog& log) {
    fmt::print(out, "epoch {}/{}  step {}/{}  loss {:.4f}  lr {:.3g}  {:.0f} samples/s\n",
               log.epoch + 1, epochs, log.step, log.total_steps, log.loss, log.lr,
               log.samples_per_s);
    std::fflush(out);
  };
}

nn::GraphModule load_model_to_train(const std::string& path) {
  nn::Graph g = io::load_onnx_graph(path);
  nn::release_training_modes(g);
  return nn::GraphModule(std::move(g));
}

void add_threads_option(CLI::App& sub, int& threads) {
  sub.add_option("--threads", threads, "OpenMP threads (0: OpenMP's default, OMP_NUM_THREADS)")
      ->check(CLI::NonNegativeNumber)
      ->type_name("N");
}

void apply_threads(int threads) {
  if (threads > 0) set_num_threads(threads);
}

// ---- datasets ----

namespace {

std::shared_ptr<nn::TensorDataset> first_n(const std::shared_ptr<nn::TensorDataset>& data,
                                           int64_t limit) {
  if (!data || limit < 0 || limit >= data->size()) return data;
  return data->slice(0, limit);
}

// Mean and standard deviation of every input value, summed in double in storage order.
std::pair<double, double> input_statistics(const nn::TensorDataset& data) {
  const Tensor x = data.x().dtype() == DType::kFloat32 ? data.x() : data.x().to(DType::kFloat32);
  const float* p = x.data<float>();
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    sum += p[i];
    sq += static_cast<double>(p[i]) * p[i];
  }
  const double mean = sum / static_cast<double>(x.numel());
  return {mean, std::sqrt(sq / static_cast<double>(x.numel()) - mean * mean)};
}

// "MEAN,STD" or "train".
std::optional<nn::InputNormalization> parse_normalize(const std::string& spec,
                                                      const nn::TensorDataset* train) {
  if (spec.empty()) return std::nullopt;
  if (spec == "train") {
    if (!train) throw UsageError("--normalize train: this dataset has no training split");
    const auto [mean, stddev] = input_statistics(*train);
    return nn::InputNormalization{mean, stddev};
  }
  const auto comma = spec.find(',');
  try {
    size_t used_mean = 0, used_std = 0;
    if (comma == std::string::npos) throw std::invalid_argument("no comma");
    const double mean = std::stod(spec.substr(0, comma), &used_mean);
    const double stddev = std::stod(spec.substr(comma + 1), &used_std);
    if (used_mean != comma || used_std != spec.size() - comma - 1 || !(stddev > 0) ||
        !std::isfinite(mean)) {
      throw std::invalid_argument("bad numbers");
    }
    return nn::InputNormalization{mean, stddev};
  } catch (const std::logic_error&) {
    throw UsageError(fmt::format("--normalize {}: want MEAN,STD (STD > 0) or 'train'", spec));
  }
}

std::string default_data_dir() {
  const char* env = std::getenv("TAMP_FASHION_MNIST_DIR");
  return env && *env ? env : kFashionMnistDir;
}

}  // namespace

void add_dataset_options(CLI::App& sub, DatasetArgs& args, const std::string& default_spec) {
  args.spec = default_spec;
  auto* opt =
      sub.add_option("--dataset", args.spec,
                     "fashion-mnist[:test|:train] (the Fashion-MNIST IDX files), or hdf5:FILE.h5 "
                     "(datasets x and y)")
          ->type_name("NAME[:SPLIT]");
  if (default_spec.empty())
    opt->required();
  else
    opt->capture_default_str();
  add_data_source_options(sub, args);
}

void add_data_source_options(CLI::App& sub, DatasetArgs& args) {
  args.data_dir = default_data_dir();
  sub.add_option("--data-dir", args.data_dir,
                 "folder of the Fashion-MNIST files (default: $TAMP_FASHION_MNIST_DIR or " +
                     std::string(kFashionMnistDir) + ")")
      ->type_name("DIR");
  sub.add_option("--limit", args.limit, "use only the first N examples of each split (quick runs)")
      ->check(CLI::PositiveNumber)
      ->type_name("N");
  sub.add_option("--normalize", args.normalize,
                 "the model normalizes its input: (x - MEAN) / STD becomes its first nodes, so it "
                 "and the file written take raw values; 'train' takes the mean and deviation of "
                 "every value of the whole training split (default: none, Fashion-MNIST values in "
                 "[0, 1])")
      ->type_name("MEAN,STD|train");
}

LoadedDataset load_dataset(const DatasetArgs& args, const std::string& default_split) {
  const auto colon = args.spec.find(':');
  const std::string name = args.spec.substr(0, colon);
  const bool has_rest = colon != std::string::npos;
  const std::string rest = has_rest ? args.spec.substr(colon + 1) : std::string();
  LoadedDataset out;
  if (name == "fashion-mnist") {
    const std::string split = has_rest ? rest : default_split;
    if (split != "test" && split != "train") {
      throw UsageError(fmt::format("--dataset {}: the split must be 'test' or 'train', not '{}'",
                                   args.spec, split));
    }
    nn::TrainTest data = io::fashion_mnist(args.data_dir);
    out.name = "fashion-mnist:" + split;
    out.normalization = parse_normalize(args.normalize, data.train.get());
    for (auto* set : {&data.train, &data.test}) *set = first_n(*set, args.limit);
    out.train = data.train;
    out.test = data.test;
    out.selected = split == "test" ? out.test : out.train;
  } else if (name == "hdf5") {
    // One file is one split: it is what --dataset selects, and the training set of `train`.
    if (rest.empty()) {
      throw UsageError("--dataset hdf5:FILE.h5 needs the file name after 'hdf5:'");
    }
    out.name = args.spec;
    auto train = io::hdf5_dataset(rest);
    out.normalization = parse_normalize(args.normalize, train.get());
    out.train = first_n(train, args.limit);
    out.selected = out.train;
  } else {
    throw UsageError(fmt::format(
        "--dataset {}: unknown dataset '{}' (known: fashion-mnist, hdf5:FILE)", args.spec, name));
  }
  return out;
}

void add_data_input_output_options(CLI::App& sub, std::string& input, std::string& output) {
  sub.add_option("--input", input,
                 "the graph input fed with the examples (default: the model's only input)")
      ->type_name("NAME");
  sub.add_option("--output", output,
                 "the value read as logits (N, classes) (default: the first graph output)")
      ->type_name("NAME");
}

void check_data_input_output(const nn::Graph& graph, const std::string& input,
                             const std::string& output) {
  std::vector<std::string> inputs;
  for (const auto& in : graph.inputs) {
    if (!graph.initializers.count(in.name)) inputs.push_back(in.name);
  }
  std::string list;
  for (const auto& n : inputs) list += (list.empty() ? "'" : ", '") + n + "'";
  if (input.empty() && inputs.size() != 1) {
    throw UsageError(
        fmt::format("the model has {} inputs ({}); say which one takes the data with --input",
                    inputs.size(), list));
  }
  if (!input.empty() && std::find(inputs.begin(), inputs.end(), input) == inputs.end()) {
    throw UsageError(
        fmt::format("--input {}: the model has no such input (its inputs: {})", input, list));
  }
  if (output.empty()) {
    if (graph.outputs.empty())
      throw UsageError("the model has no outputs; name the logits with --output");
    return;
  }
  const auto defined = graph.defined_values();
  if (std::find(defined.begin(), defined.end(), output) == defined.end()) {
    throw UsageError(fmt::format("--output {}: the model has no value of that name", output));
  }
}

std::string normalization_text(const LoadedDataset& data) {
  if (!data.normalization) return "";
  return fmt::format(", normalized in the model with mean {:.9g}, std {:.9g}",
                     data.normalization->mean, data.normalization->std);
}

nlohmann::ordered_json normalization_json(const LoadedDataset& data) {
  if (!data.normalization) return nullptr;
  return {{"mean", data.normalization->mean}, {"std", data.normalization->std}};
}

void normalize_model_input(nn::Graph& graph, const LoadedDataset& data, const std::string& input) {
  if (data.normalization)
    nn::normalize_input(graph, input_info(graph, input).name, *data.normalization);
}

void normalize_model_input(nn::GraphModule& model, const LoadedDataset& data,
                           const std::string& input) {
  if (!data.normalization) return;
  nn::Graph g = model.export_graph();
  normalize_model_input(g, data, input);
  model.set_graph(std::move(g));
}

// ---- output ----

void check_output_folder(const std::string& file, const std::string& option) {
  const std::filesystem::path folder = std::filesystem::path(file).parent_path();
  if (folder.empty() || std::filesystem::is_directory(folder)) return;
  throw Error(fmt::format("{} {}: the folder '{}' does not exist", option, file, folder.string()),
              ErrorKind::kIo, fmt::format("create it first (mkdir -p {})", folder.string()));
}

void add_json_flag(CLI::App& sub, bool& json) {
  sub.add_flag("--json", json, "print the result as JSON on stdout (schema in the README)");
}

void print_json(const nlohmann::ordered_json& j) { std::cout << j.dump(2) << '\n'; }

std::string shape_text(const nn::ValueInfo& info) {
  if (!info.has_shape) return "(no shape)";
  std::string s = "[";
  for (size_t i = 0; i < info.shape.size(); ++i) {
    const nn::Dim& d = info.shape[i];
    if (i) s += ", ";
    s += d.known() ? std::to_string(d.value) : (d.symbol.empty() ? "?" : d.symbol);
  }
  return s + "]";
}

nlohmann::ordered_json shape_json(const nn::ValueInfo& info) {
  if (!info.has_shape) return nullptr;
  nlohmann::ordered_json dims = nlohmann::ordered_json::array();
  for (const nn::Dim& d : info.shape) {
    if (d.known())
      dims.push_back(d.value);
    else if (!d.symbol.empty())
      dims.push_back(d.symbol);
    else
      dims.push_back(nullptr);
  }
  return dims;
}

std::string safe_file_stem(const std::string& value_name) {
  std::string s = value_name.substr(0, 200);
  for (char& c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  if (s.empty() || s[0] == '.') s = "_" + s;
  return s;
}

std::vector<std::string> unique_file_names(const std::vector<std::string>& value_names,
                                           const std::string& extension) {
  std::vector<std::string> out;
  std::set<std::string> taken;  // lower-cased: case-insensitive file systems
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  for (const auto& name : value_names) {
    const std::string stem = safe_file_stem(name);
    std::string file = stem + extension;
    for (int k = 2; taken.count(lower(file)); ++k)
      file = fmt::format("{}_{}{}", stem, k, extension);
    taken.insert(lower(file));
    out.push_back(file);
  }
  return out;
}

std::string bytes_text(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  if (bytes < (uint64_t{1} << 20)) return fmt::format("{:.1f} KiB", bytes / 1024.0);
  if (bytes < (uint64_t{1} << 30)) return fmt::format("{:.2f} MiB", bytes / 1048576.0);
  return fmt::format("{:.2f} GiB", bytes / 1073741824.0);
}

std::string count_text(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

}  // namespace tamp::cli
