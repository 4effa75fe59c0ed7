#include <tamp/io/detail/files.h>
#include <tamp/io/detail/onnx_tensor.h>
#include <tamp/io/onnx_import.h>
#include <tamp/nn/fold_constants.h>

#include <filesystem>
#include <set>

namespace tamp::io {

namespace {

using onnx::AttributeProto;

constexpr uint64_t kMaxModelBytes = (uint64_t{1} << 31) - 1;  // protobuf's message limit

std::string canonical(const std::string& domain) { return domain == "ai.onnx" ? "" : domain; }

std::string node_label(const onnx::NodeProto& n, int index) {
  return n.name().empty() ? fmt::format("node #{} ({})", index, n.op_type())
                          : fmt::format("node '{}' ({})", n.name(), n.op_type());
}

AttributeValue attribute_from_proto(const AttributeProto& a, const std::string& model_dir) {
  TAMP_CHECK(a.ref_attr_name().empty(), "attribute '{}' refers to a function attribute", a.name());
  switch (a.type()) {
    case AttributeProto::INT:
      return a.i();
    case AttributeProto::FLOAT:
      return a.f();
    case AttributeProto::STRING:
      return a.s();
    case AttributeProto::INTS:
      return std::vector<int64_t>(a.ints().begin(), a.ints().end());
    case AttributeProto::FLOATS:
      return std::vector<float>(a.floats().begin(), a.floats().end());
    case AttributeProto::STRINGS:
      return std::vector<std::string>(a.strings().begin(), a.strings().end());
    case AttributeProto::TENSOR: {
      Tensor t;
      TAMP_WITH_CONTEXT(fmt::format("attribute '{}'", a.name()),
                        t = detail::tensor_from_proto(a.t(), model_dir));
      return t;
    }
    case AttributeProto::GRAPH:
    case AttributeProto::GRAPHS:
      throw Error(
          fmt::format(
              "attribute '{}' holds a subgraph; control flow (If, Loop, Scan) is not supported",
              a.name()),
          ErrorKind::kUnsupported);
    case AttributeProto::TENSORS:
    case AttributeProto::SPARSE_TENSOR:
    case AttributeProto::SPARSE_TENSORS:
    case AttributeProto::TYPE_PROTO:
    case AttributeProto::TYPE_PROTOS:
      throw Error(fmt::format("attribute '{}' has type {}, which tamp does not support", a.name(),
                              AttributeProto::AttributeType_Name(a.type())),
                  ErrorKind::kUnsupported);
    default:
      throw Error(fmt::format("attribute '{}' has no valid type ({})", a.name(),
                              static_cast<int>(a.type())));
  }
}

// `what` is "graph input", "graph output" or "value_info" for messages.
nn::ValueInfo value_info_from_proto(const onnx::ValueInfoProto& v, const char* what) {
  TAMP_CHECK(!v.name().empty(), "a {} has an empty name", what);
  nn::ValueInfo info;
  info.name = v.name();
  TAMP_WITH_CONTEXT(fmt::format("{} '{}'", what, v.name()), {
    const onnx::TypeProto& type = v.type();
    if (type.value_case() == onnx::TypeProto::VALUE_NOT_SET) throw Error("has no type");
    if (type.value_case() != onnx::TypeProto::kTensorType) {
      throw Error("is not a tensor (sequence, map, optional and sparse values are not supported)",
                  ErrorKind::kUnsupported);
    }
    const auto& tt = type.tensor_type();
    info.dtype = detail::dtype_from_onnx(tt.elem_type());
    info.has_shape = tt.has_shape();
    const auto& dims = tt.shape().dim();
    TAMP_CHECK(dims.size() <= detail::kMaxRank, "{} dims, more than the {} tamp accepts",
               dims.size(), detail::kMaxRank);
    for (const auto& d : dims) {
      if (d.has_dim_value()) {
        TAMP_CHECK(d.dim_value() >= 0, "negative dim {}", d.dim_value());
        info.shape.push_back(nn::Dim::of(d.dim_value()));
      } else {
        info.shape.push_back(nn::Dim::symbolic(d.dim_param()));  // empty symbol: unknown
      }
    }
  });
  return info;
}

std::map<std::string, int64_t> read_opsets(const onnx::ModelProto& m) {
  std::map<std::string, int64_t> opsets;
  TAMP_CHECK(m.opset_import_size() > 0, "the model has no opset import");
  for (const auto& op : m.opset_import()) {
    const std::string domain = canonical(op.domain());
    TAMP_CHECK(opsets.emplace(domain, op.version()).second,
               "the opset of domain '{}' is imported twice", domain.empty() ? "ai.onnx" : domain);
    // The executor passes opsets as int: a huge one must not wrap around into a known one.
    TAMP_CHECK(op.version() >= 1 && op.version() <= (int64_t{1} << 30),
               "domain '{}' is imported with opset {}", domain, op.version());
  }
  auto tamp_it = opsets.find(std::string(kTampDomain));
  if (tamp_it != opsets.end() && tamp_it->second != 1) {
    throw Error(fmt::format("opset {} of domain 'tamp' is unknown; tamp defines version 1",
                            tamp_it->second),
                ErrorKind::kUnsupported);
  }
  return opsets;
}

nn::Node node_from_proto(const onnx::NodeProto& n, int index,
                         const std::map<std::string, int64_t>& opsets,
                         const std::string& model_dir) {
  nn::Node node;
  TAMP_WITH_CONTEXT(node_label(n, index), {
    TAMP_CHECK(!n.op_type().empty(), "has no op_type");
    node.name = n.name();
    node.op_type = n.op_type();
    node.domain = canonical(n.domain());
    TAMP_CHECK(opsets.count(node.domain), "the model imports no opset for domain '{}'",
               node.domain.empty() ? "ai.onnx" : node.domain);
    node.inputs.assign(n.input().begin(), n.input().end());
    node.outputs.assign(n.output().begin(), n.output().end());
    Attributes attrs;
    for (const auto& a : n.attribute()) {
      TAMP_CHECK(!a.name().empty(), "an attribute has no name");
      TAMP_CHECK(!attrs.has(a.name()), "attribute '{}' is given twice", a.name());
      attrs.set(a.name(), attribute_from_proto(a, model_dir));
    }
    node.attrs = nn::attrs_with(std::move(attrs));
  });
  return node;
}

// Takes `m` mutable only to free each initializer's data once it is a Tensor, so the message
// and the tensors never both hold all the weights.
nn::Graph graph_from_model(onnx::ModelProto& m, const ImportOptions& options,
                           const std::string& model_dir) {
  TAMP_CHECK(m.has_graph(), "the model has no graph");
  TAMP_CHECK(m.ir_version() >= 3, "IR version {} is too old (opset imports start at IR version 3)",
             m.ir_version());
  if (m.functions_size() > 0) {
    throw Error(
        fmt::format(
            "the model defines {} local function(s) (first '{}'), which tamp does not support",
            m.functions_size(), m.functions(0).name()),
        ErrorKind::kUnsupported, "re-export without export_modules_as_functions");
  }
  const onnx::GraphProto& g = m.graph();
  if (g.sparse_initializer_size() > 0) {
    throw Error("sparse initializers are not supported", ErrorKind::kUnsupported);
  }
  nn::Graph graph;
  graph.name = g.name();
  graph.ir_version = m.ir_version();
  graph.producer_name = m.producer_name();
  graph.producer_version = m.producer_version();
  graph.doc_string = m.doc_string();
  for (const auto& kv : m.metadata_props()) graph.metadata[kv.key()] = kv.value();
  graph.opsets = read_opsets(m);

  for (int i = 0; i < g.initializer_size(); ++i) {
    onnx::TensorProto& init = *m.mutable_graph()->mutable_initializer(i);
    TAMP_CHECK(!init.name().empty(), "an initializer has an empty name");
    TAMP_CHECK(!graph.initializers.count(init.name()), "initializer '{}' is defined twice",
               init.name());
    TAMP_WITH_CONTEXT(fmt::format("initializer '{}'", init.name()),
                      graph.initializers[init.name()] = detail::tensor_from_proto(init, model_dir));
    std::string().swap(*init.mutable_raw_data());
  }
  for (const auto& v : g.input()) {
    if (graph.initializers.count(v.name())) continue;  // IR < 4 lists initializers as inputs
    graph.inputs.push_back(value_info_from_proto(v, "graph input"));
  }
  for (const auto& v : g.output())
    graph.outputs.push_back(value_info_from_proto(v, "graph output"));
  for (const auto& v : g.value_info()) {
    // value_info only declares shapes: entries tamp cannot represent (other value kinds, no
    // element type, unsupported element types) are dropped.
    if (v.type().value_case() != onnx::TypeProto::kTensorType) continue;
    if (v.type().tensor_type().elem_type() == onnx::TensorProto::UNDEFINED) continue;
    try {
      graph.value_info.push_back(value_info_from_proto(v, "value_info"));
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kUnsupported) throw;
    }
  }
  graph.nodes.reserve(static_cast<size_t>(g.node_size()));
  for (int i = 0; i < g.node_size(); ++i) {
    graph.nodes.push_back(node_from_proto(g.node(i), i, graph.opsets, model_dir));
  }
  graph.validate();
  if (options.fold_constants) nn::fold_constants(graph);
  return graph;
}

// `owned`, when given, is `bytes` itself, freed as soon as it is parsed.
nn::Graph parse_bytes(const std::string& bytes, std::string* owned, const ImportOptions& options,
                      const std::string& model_dir, const std::string& label) {
  nn::Graph graph;
  TAMP_WITH_CONTEXT(fmt::format("loading '{}'", label), {
    TAMP_CHECK(bytes.size() <= kMaxModelBytes,
               "{} bytes is over protobuf's 2 GiB limit; store the weights "
               "as external data",
               bytes.size());
    onnx::ModelProto model;
    TAMP_CHECK(model.ParseFromString(bytes),
               "not a valid ONNX model (truncated or corrupt protobuf)");
    if (owned) std::string().swap(*owned);
    graph = graph_from_model(model, options, model_dir);
  });
  return graph;
}

}  // namespace

nn::Graph parse_onnx_graph(const std::string& bytes, const ImportOptions& options,
                           const std::string& model_dir, const std::string& label) {
  return parse_bytes(bytes, nullptr, options, model_dir, label);
}

nn::Graph load_onnx_graph(const std::string& path, const ImportOptions& options) {
  std::string bytes;
  TAMP_WITH_CONTEXT(fmt::format("loading '{}'", path),
                    bytes = detail::read_file(path, kMaxModelBytes));
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  return parse_bytes(bytes, &bytes, options, dir, path);
}

nn::GraphModule load_onnx(const std::string& path, const ImportOptions& options) {
  nn::Graph graph = load_onnx_graph(path, options);
  try {
    return nn::GraphModule(std::move(graph));
  } catch (Error& e) {
    e.add_context(fmt::format("loading '{}'", path));
    throw;
  }
}

}  // namespace tamp::io
