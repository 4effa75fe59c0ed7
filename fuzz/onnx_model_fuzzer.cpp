// libFuzzer target: ONNX ModelProto bytes through the importer (protobuf parse, validation,
// constant folding), the GraphModule build and, when the graph is small, one forward pass on
// small inputs plus a backward pass from every float output. Anything but a tamp::Error
// (a sanitizer report, another exception, an abort) is a finding.
#include <tamp/io/onnx_import.h>

#include <cstdint>
#include <string>

namespace {

using namespace tamp;

constexpr size_t kMaxNodesToRun = 64;
constexpr int64_t kMaxInputElements = 1 << 14;

// Small deterministic values, in range for indices along small axes.
Tensor make_input(const nn::ValueInfo& info) {
  Shape shape;
  for (const nn::Dim& d : info.shape) shape.push_back(d.known() ? d.value : 1);
  Tensor t(shape, info.dtype);  // zeros; the arithmetic types get values below
  dispatch(info.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_arithmetic_v<T>) {
      T* p = t.data<T>();
      for (int64_t i = 0; i < t.numel(); ++i) {
        if constexpr (std::is_floating_point_v<T>)
          p[i] = static_cast<T>((i * 7 % 11) - 5) * T(0.25);
        else if constexpr (std::is_same_v<T, bool>)
          p[i] = (i % 3) == 0;
        else
          p[i] = static_cast<T>(i % 3);
      }
    }
  });
  return t;
}

bool small_enough(const nn::Graph& g) {
  if (g.nodes.size() > kMaxNodesToRun) return false;
  int64_t total = 0;
  for (const nn::ValueInfo& in : g.inputs) {
    if (!in.has_shape) return false;
    int64_t n = 1;
    for (const nn::Dim& d : in.shape) {
      if (d.known() && d.value > kMaxInputElements) return false;
      n *= d.known() ? d.value : 1;
      if (n > kMaxInputElements) return false;
    }
    total += n;
    if (total > kMaxInputElements) return false;
  }
  return true;
}

void run(const nn::Graph& graph, nn::GraphModule& module) {
  std::map<std::string, Variable> inputs;
  for (const nn::ValueInfo& in : graph.inputs) {
    const Tensor t = make_input(in);
    inputs.emplace(in.name, Variable(t, is_floating(t.dtype())));
  }
  for (const auto& [name, out] : module.forward(inputs)) {
    if (!out.requires_grad()) continue;
    out.backward(Tensor::ones(out.shape(), out.dtype()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    nn::Graph graph = io::parse_onnx_graph(std::string(reinterpret_cast<const char*>(data), size));
    const bool run_it = small_enough(graph);
    nn::GraphModule module(graph);
    if (run_it) {
      // Odd first byte: training mode (Dropout, BatchNormalization statistics).
      module.train(size > 0 && (data[0] & 1));
      run(graph, module);
    }
  } catch (const Error&) {
    // The documented outcome for bad input.
  }
  return 0;
}
