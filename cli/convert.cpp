// tamp convert MODEL.onnx --to fp16|bf16 [--keep-io-types] [--block-op OP ...]
//              [--block-node NAME ...] [--no-default-block-list] --out OUT.onnx
// Stores a float32 model in float16 or bfloat16 (compression/quantization/ptq/float_conversion.h):
// initializers converted, ops without an ONNX Runtime CPU kernel for the type kept in float32
// behind Cast nodes (unless --no-default-block-list), --block-op / --block-node keep more in
// float32, --keep-io-types leaves the graph's inputs and outputs float32.
#include "common.h"

#include <tamp/compression/quantization/ptq/float_conversion.h>
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>

#include <fmt/format.h>

#include <filesystem>
#include <map>

namespace tamp::cli {

namespace {

struct ConvertArgs {
  ModelArg model;
  std::string out;
  std::string to;
  bool keep_io_types = false;
  bool no_default_block_list = false;
  std::vector<std::string> block_ops, block_nodes;
  bool json = false;
};

int run_convert(const ConvertArgs& a) {
  check_output_folder(a.out, "--out");
  if (!std::filesystem::exists(a.model.path))
    throw Error(fmt::format("'{}': no such file", a.model.path), ErrorKind::kIo);
  const nn::Graph g = io::load_onnx_graph(a.model.path);
  compression::FloatConversionOptions o;
  o.to = a.to == "fp16" ? DType::kFloat16 : DType::kBFloat16;
  o.keep_io_types = a.keep_io_types;
  o.default_block_list = !a.no_default_block_list;
  o.block_ops = a.block_ops;
  o.block_nodes = a.block_nodes;
  for (const auto& name : a.block_nodes) {
    if (!g.find_node(name))
      throw UsageError(fmt::format("--block-node {}: the model has no node of that name", name));
  }
  const nn::Graph out = compression::convert_float(g, o);
  io::save_onnx_graph(out, a.out);

  std::vector<std::string> blocked =
      o.default_block_list ? compression::default_blocked_ops(g, o.to) : std::vector<std::string>{};
  for (const auto& op : a.block_ops) {
    if (std::find(blocked.begin(), blocked.end(), op) == blocked.end()) blocked.push_back(op);
  }
  const auto casts = [](const nn::Graph& graph) {
    int c = 0;
    for (const auto& n : graph.nodes) c += n.op_type == "Cast";
    return c;
  };
  const int added = casts(out) - casts(g);
  std::error_code ec;
  const auto before = std::filesystem::file_size(a.model.path, ec),
             after = std::filesystem::file_size(a.out, ec);
  if (a.json) {
    print_json({{"model", a.model.path},
                {"out", a.out},
                {"to", a.to},
                {"keep_io_types", a.keep_io_types},
                {"blocked_ops", blocked},
                {"blocked_nodes", a.block_nodes},
                {"casts_added", added},
                {"bytes_before", before},
                {"bytes_after", after}});
    return kExitOk;
  }
  std::string list;
  for (const auto& op : blocked) list += (list.empty() ? "" : ", ") + op;
  fmt::print(
      "converted to {}{}; kept in float32: {}{}\n", a.to,
      a.keep_io_types ? " (inputs and outputs float32)" : "", list.empty() ? "no op" : list,
      a.block_nodes.empty() ? "" : fmt::format(" and {} named node(s)", a.block_nodes.size()));
  fmt::print("{} Cast node(s) added\n", added);
  fmt::print("size {} -> {}\n", bytes_text(before), bytes_text(after));
  fmt::print("wrote {}\n", a.out);
  return kExitOk;
}

}  // namespace

Action setup_convert(CLI::App& sub) {
  auto a = std::make_shared<ConvertArgs>();
  add_model_arg(sub, a->model);
  sub.add_option("--out", a->out, "where the converted model is written (ONNX)")
      ->required()
      ->type_name("OUT.onnx");
  sub.add_option("--to", a->to, "fp16 or bf16")->required()->check(CLI::IsMember({"fp16", "bf16"}));
  sub.add_flag("--keep-io-types", a->keep_io_types,
               "leave the graph's inputs and outputs float32 (Casts at the boundary)");
  sub.add_option("--block-op", a->block_ops,
                 "op types kept in float32, besides the default block list")
      ->type_name("OP");
  sub.add_option("--block-node", a->block_nodes, "node names kept in float32")->type_name("NAME");
  sub.add_flag(
      "--no-default-block-list", a->no_default_block_list,
      "convert every op, also those ONNX Runtime's CPU provider has no kernel for in the type "
      "(for runtimes that have them, e.g. GPUs)");
  add_json_flag(sub, a->json);
  return [a] { return run_convert(*a); };
}

}  // namespace tamp::cli
