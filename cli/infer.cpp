// tamp infer MODEL.onnx --input [NAME=]FILE.pb ... --output-dir DIR: one forward pass (eval
// mode) on TensorProto files; one <output>.pb per graph output (or per --output value).
// --arithmetic avx2|exact|host computes a quantized model as ONNX Runtime's integer kernels
// would on such a CPU.
#include "common.h"
#include "export_target_options.h"

#include <tamp/autograd/variable.h>
#include <tamp/io/tensor_proto.h>

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <set>

namespace tamp::cli {

namespace {

struct InferArgs {
  ModelArg model;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::string output_dir;
  std::string arithmetic;  // --arithmetic ("" : the model as written)
  bool json = false;
  int threads = 0;
};

std::string names_text(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "'" : ", '") + n + "'";
  return s.empty() ? "none" : s;
}

// Graph input name -> file. NAME=FILE binds by name when NAME is a graph input; every other
// argument is a file bound, in order, to the graph inputs no NAME= took.
std::map<std::string, std::string> bind_inputs(const nn::Graph& graph,
                                               const std::vector<std::string>& args) {
  std::vector<std::string> all, required;
  for (const auto& in : graph.inputs) {
    all.push_back(in.name);
    if (!graph.initializers.count(in.name)) required.push_back(in.name);
  }
  const std::set<std::string> known(all.begin(), all.end());
  std::map<std::string, std::string> bound;
  std::vector<std::string> positional;
  for (const auto& a : args) {
    const auto eq = a.find('=');
    if (eq != std::string::npos && known.count(a.substr(0, eq))) {
      const std::string name = a.substr(0, eq);
      if (!bound.emplace(name, a.substr(eq + 1)).second) {
        throw UsageError(fmt::format("--input: input '{}' is given twice", name));
      }
    } else if (eq != std::string::npos && !std::filesystem::exists(a)) {
      throw UsageError(fmt::format("--input {}: the model has no input '{}' (its inputs: {})", a,
                                   a.substr(0, eq), names_text(all)));
    } else {
      positional.push_back(a);
    }
  }
  size_t next = 0;
  for (const auto& file : positional) {
    while (next < required.size() && bound.count(required[next])) ++next;
    if (next == required.size()) {
      throw UsageError(
          fmt::format("--input {}: every input of the model is already bound (its inputs: {})",
                      file, names_text(required)));
    }
    bound[required[next++]] = file;
  }
  std::vector<std::string> missing;
  for (const auto& name : required)
    if (!bound.count(name)) missing.push_back(name);
  if (!missing.empty()) {
    throw UsageError(fmt::format(
        "no --input for {} (give NAME=FILE.pb, or files in the order of the inputs: {})",
        names_text(missing), names_text(required)));
  }
  return bound;
}

int run_infer(const InferArgs& args) {
  apply_threads(args.threads);
  nn::GraphModule model = load_model_for_arithmetic(args.model.path, args.arithmetic);
  model.eval();
  const auto bound = bind_inputs(model.graph(), args.inputs);
  std::map<std::string, Variable> feeds;
  for (const auto& [name, file] : bound) feeds[name] = Variable(io::read_tensor_file(file));

  std::vector<std::string> wanted;
  for (const auto& o : args.outputs) {
    if (std::find(wanted.begin(), wanted.end(), o) == wanted.end()) wanted.push_back(o);
  }
  if (wanted.empty())
    for (const auto& o : model.graph().outputs) wanted.push_back(o.name);
  std::map<std::string, Variable> results;
  {
    NoGradGuard no_grad;
    results = model.forward(feeds, wanted);
  }

  std::error_code ec;
  std::filesystem::create_directories(args.output_dir, ec);
  if (ec)
    throw Error(fmt::format("cannot create '{}': {}", args.output_dir, ec.message()),
                ErrorKind::kIo);
  const auto files = unique_file_names(wanted, ".pb");
  nlohmann::ordered_json written = nlohmann::ordered_json::array();
  for (size_t i = 0; i < wanted.size(); ++i) {
    const Tensor& t = results.at(wanted[i]).value();
    const std::string path = (std::filesystem::path(args.output_dir) / files[i]).string();
    io::write_tensor_file(path, t, wanted[i]);
    if (args.json) {
      written.push_back({{"name", wanted[i]},
                         {"file", path},
                         {"dtype", dtype_name(t.dtype())},
                         {"shape", t.shape()}});
    } else {
      fmt::print("{} {} -> {}\n", wanted[i], describe(t), path);
    }
  }
  if (args.json) print_json({{"model", args.model.path}, {"outputs", written}});
  return kExitOk;
}

}  // namespace

Action setup_infer(CLI::App& sub) {
  auto args = std::make_shared<InferArgs>();
  add_model_arg(sub, args->model);
  sub.add_option(
         "-i,--input", args->inputs,
         "an input tensor (TensorProto file); NAME=FILE binds it to graph input NAME, a bare FILE "
         "to the next unbound input in graph order (repeatable)")
      ->type_name("[NAME=]FILE.pb");
  sub.add_option("--output-dir", args->output_dir,
                 "where the output .pb files go (created if missing)")
      ->required()
      ->type_name("DIR");
  sub.add_option("--output", args->outputs,
                 "a value to write instead of the graph outputs; any intermediate value may be "
                 "named (repeatable)")
      ->type_name("NAME");
  add_arithmetic_option(sub, args->arithmetic);
  add_json_flag(sub, args->json);
  add_threads_option(sub, args->threads);
  return [args] { return run_infer(*args); };
}

}  // namespace tamp::cli
