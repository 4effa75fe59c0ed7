#include <tamp/io/detail/files.h>
#include <tamp/io/detail/onnx_tensor.h>
#include <tamp/io/onnx_export.h>
#include <tamp/version.h>

#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <map>
#include <set>

namespace tamp::io {

namespace {

using onnx::AttributeProto;

std::string node_label(const nn::Node& n, size_t index) {
  return n.name.empty() ? fmt::format("node #{} ({})", index, n.op_type)
                        : fmt::format("node '{}' ({})", n.name, n.op_type);
}

void check_domain(const nn::Node& n, size_t index) {
  static const std::set<std::string> kStandard = {"", "ai.onnx", "ai.onnx.ml",
                                                  "ai.onnx.preview.training", "com.microsoft"};
  if (n.domain == kTampDomain) {
    throw Error(fmt::format("{} is in domain 'tamp', which only tamp runs", node_label(n, index)),
                ErrorKind::kUnsupported,
                "lower tamp's training ops to standard ONNX before export");
  }
  if (!kStandard.count(n.domain)) {
    throw Error(fmt::format("{} is in domain '{}', which ONNX runtimes do not know",
                            node_label(n, index), n.domain),
                ErrorKind::kUnsupported);
  }
}

void attribute_to_proto(const std::string& name, const AttributeValue& value, AttributeProto& a,
                        const ExportOptions& options) {
  a.set_name(name);
  std::visit(
      [&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, int64_t>) {
          a.set_type(AttributeProto::INT);
          a.set_i(v);
        } else if constexpr (std::is_same_v<V, float>) {
          a.set_type(AttributeProto::FLOAT);
          a.set_f(v);
        } else if constexpr (std::is_same_v<V, std::string>) {
          a.set_type(AttributeProto::STRING);
          a.set_s(v);
        } else if constexpr (std::is_same_v<V, std::vector<int64_t>>) {
          a.set_type(AttributeProto::INTS);
          for (int64_t x : v) a.add_ints(x);
        } else if constexpr (std::is_same_v<V, std::vector<float>>) {
          a.set_type(AttributeProto::FLOATS);
          for (float x : v) a.add_floats(x);
        } else if constexpr (std::is_same_v<V, std::vector<std::string>>) {
          a.set_type(AttributeProto::STRINGS);
          for (const auto& x : v) a.add_strings(x);
        } else {
          a.set_type(AttributeProto::TENSOR);
          detail::tensor_to_proto(v, *a.mutable_t(), options.raw_data_threshold);
        }
      },
      value);
}

void value_info_to_proto(const nn::ValueInfo& info, onnx::ValueInfoProto& v) {
  v.set_name(info.name);
  auto* tt = v.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(detail::onnx_from_dtype(info.dtype));
  if (!info.has_shape) return;
  auto* shape = tt->mutable_shape();
  for (const nn::Dim& d : info.shape) {
    auto* dim = shape->add_dim();
    if (d.known())
      dim->set_dim_value(d.value);
    else if (!d.symbol.empty())
      dim->set_dim_param(d.symbol);
  }
}

onnx::ModelProto model_from_graph(const nn::Graph& g, const ExportOptions& options) {
  onnx::ModelProto m;
  m.set_ir_version(g.ir_version);
  m.set_producer_name(options.keep_producer ? g.producer_name : "tamp");
  m.set_producer_version(options.keep_producer ? g.producer_version : kVersion);
  m.set_doc_string(g.doc_string);
  for (const auto& [k, v] : g.metadata) {
    auto* p = m.add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  }
  for (const auto& [domain, version] : g.opsets) {
    if (domain == kTampDomain && !options.keep_training_ops)
      continue;  // no tamp node survives check_domain
    auto* op = m.add_opset_import();
    op->set_domain(domain);
    op->set_version(version);
  }
  onnx::GraphProto* graph = m.mutable_graph();
  graph->set_name(g.name.empty() ? "tamp" : g.name);
  for (const auto& info : g.inputs) value_info_to_proto(info, *graph->add_input());
  if (g.ir_version < 4) {  // before IR 4 every initializer must also be a graph input
    for (const auto& [name, t] : g.initializers) {
      nn::ValueInfo info{name, t.dtype(), {}, true};
      for (int64_t d : t.shape()) info.shape.push_back(nn::Dim::of(d));
      value_info_to_proto(info, *graph->add_input());
    }
  }
  for (const auto& info : g.outputs) value_info_to_proto(info, *graph->add_output());
  for (const auto& info : g.value_info) value_info_to_proto(info, *graph->add_value_info());
  for (const auto& [name, t] : g.initializers) {
    onnx::TensorProto* p = graph->add_initializer();
    p->set_name(name);
    TAMP_WITH_CONTEXT(fmt::format("initializer '{}'", name),
                      detail::tensor_to_proto(t, *p, options.raw_data_threshold));
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const nn::Node& n = g.nodes[i];
    if (!options.keep_training_ops || n.domain != kTampDomain) check_domain(n, i);
    onnx::NodeProto* p = graph->add_node();
    p->set_name(n.name);
    p->set_op_type(n.op_type);
    p->set_domain(n.domain);
    for (const auto& in : n.inputs) p->add_input(in);
    for (const auto& out : n.outputs) p->add_output(out);
    for (const auto& [name, value] : n.attrs->values()) {
      TAMP_WITH_CONTEXT(node_label(n, i),
                        attribute_to_proto(name, value, *p->add_attribute(), options));
    }
  }
  return m;
}

// onnx 1.12's checker requires a shape on every graph input and output, while tamp's graphs
// may leave an output's shape undeclared: ask onnx's shape inference for it.
void fill_missing_io_shapes(onnx::ModelProto& m) {
  auto has_shape = [](const onnx::ValueInfoProto& v) { return v.type().tensor_type().has_shape(); };
  for (const auto& v : m.graph().input()) {
    TAMP_CHECK(has_shape(v), "graph input '{}' has no declared shape, which ONNX requires",
               v.name());
  }
  const auto& outputs = m.graph().output();
  if (std::all_of(outputs.begin(), outputs.end(), has_shape)) return;
  onnx::ModelProto inferred = m;
  try {
    onnx::shape_inference::InferShapes(inferred);
  } catch (const std::exception& e) {
    throw Error(fmt::format(
        "a graph output has no declared shape and onnx's shape inference failed: {}", e.what()));
  }
  std::map<std::string, const onnx::TypeProto*> types;
  for (const auto& v : inferred.graph().value_info()) types[v.name()] = &v.type();
  for (const auto& v : inferred.graph().output())
    if (has_shape(v)) types[v.name()] = &v.type();
  for (auto& v : *m.mutable_graph()->mutable_output()) {
    if (has_shape(v)) continue;
    auto it = types.find(v.name());
    TAMP_CHECK(it != types.end() && it->second->tensor_type().has_shape(),
               "graph output '{}' has no declared shape and onnx's shape inference finds none; "
               "ONNX requires one",
               v.name());
    *v.mutable_type()->mutable_tensor_type()->mutable_shape() = it->second->tensor_type().shape();
  }
}

// onnx 1.12's checker knows default-domain opsets up to 17 and IR versions up to 8, and
// rejects newer files for being newer (an opset-18 ReduceMean with its axes input is "bad"
// to it). Those are written unchecked: tamp's importer and ONNX Runtime judge them.
bool checker_knows(const onnx::ModelProto& m) {
  if (m.ir_version() > onnx::IR_VERSION) return false;
  const auto& known = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  for (const auto& o : m.opset_import()) {
    auto it = known.find(o.domain() == "ai.onnx" ? "" : o.domain());
    if (it != known.end() && o.version() > it->second.second) return false;
  }
  return true;
}

}  // namespace

std::string serialize_onnx_graph(const nn::Graph& graph, const ExportOptions& options) {
  onnx::ModelProto model = model_from_graph(graph, options);
  fill_missing_io_shapes(model);
  try {
    if (!options.keep_training_ops && checker_knows(model)) onnx::checker::check_model(model);
  } catch (const std::exception& e) {  // ValidationError, or the schema lookups' own errors
    throw Error(fmt::format("the model fails onnx's checker: {}", e.what()));
  }
  TAMP_CHECK(model.ByteSizeLong() < (size_t{1} << 31),
             "the model has {} bytes, over protobuf's 2 GiB limit", model.ByteSizeLong());
  std::string bytes;
  TAMP_CHECK(model.SerializeToString(&bytes), "cannot serialize the model");
  return bytes;
}

void save_onnx_graph(const nn::Graph& graph, const std::string& path,
                     const ExportOptions& options) {
  TAMP_WITH_CONTEXT(fmt::format("saving '{}'", path),
                    detail::write_file_atomically(path, serialize_onnx_graph(graph, options)));
}

void save_onnx(const nn::GraphModule& module, const std::string& path,
               const ExportOptions& options) {
  save_onnx_graph(module.export_graph(), path, options);
}

}  // namespace tamp::io
