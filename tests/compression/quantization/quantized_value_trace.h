// Where tamp's evaluation of a FakeQuantize model (the simulation of ONNX Runtime's fused
// kernels) and ONNX Runtime's run of its QDQ export part: every quantized activation (each
// QuantizeLinear of the export) compared as integers, in graph order. The first value that
// differs names the op whose arithmetic tamp does not reproduce.
//
//   for (const auto& d : trace_quantized_values(m.export_graph(), rows_of(x, {17, 912})))
//     if (d.differing) fmt::print("{}: {} of {}\n", d.value, d.differing, d.total);
#pragma once

#include <tamp/compression/quantization/lowering/fused_simulation.h>

#include "quant_test_support.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace tamp::test {

struct QuantizedValueDiff {
  std::string value;  // the FakeQuantize output (the export's DequantizeLinear output)
  int64_t differing = 0, total = 0;
  double max_steps = 0;         // largest |tamp - ORT| in integer steps
  int64_t first = -1;           // flat index of the first differing element
  double tamp_float_input = 0;  // tamp's float input of that element (before rounding)
};

// The rows `rows` of a batch x (first axis).
inline Tensor rows_of(const Tensor& x, const std::vector<int64_t>& rows) {
  Shape shape = x.shape();
  shape[0] = static_cast<int64_t>(rows.size());
  Tensor out = Tensor::empty(shape, x.dtype());
  const int64_t per_row = x.numel() / x.dim(0);
  const size_t bytes = static_cast<size_t>(per_row) * size_of(x.dtype());
  for (size_t i = 0; i < rows.size(); ++i) {
    std::memcpy(static_cast<char*>(out.raw_data()) + i * bytes,
                static_cast<const char*>(x.raw_data()) + static_cast<size_t>(rows[i]) * bytes,
                bytes);
  }
  return out;
}

inline std::vector<QuantizedValueDiff> trace_quantized_values(const nn::Graph& fake_quant,
                                                              const Tensor& x) {
  nn::Graph exported = compression::lower_quantized(fake_quant, compression::QuantFormat::kQdq);
  nn::Graph sim = compression::simulate_fused_like_onnx_runtime(fake_quant);
  struct Site {
    std::string q, y, x;  // the QuantizeLinear's output, the DequantizeLinear's, its float input
    float scale;
    double zero_point;
  };
  std::vector<Site> sites;
  for (const auto& n : exported.nodes) {
    if (n.op_type != "QuantizeLinear") continue;
    const auto readers = exported.consumers(n.outputs[0]);
    if (readers.empty()) continue;
    const std::string& y = exported.nodes[static_cast<size_t>(readers[0])].outputs[0];
    if (sim.producer(y) < 0) continue;  // a pass-through copy the simulation does not have
    const Tensor& zp = exported.initializers.at(n.inputs[2]);
    sites.push_back({n.outputs[0], y, n.inputs[0],
                     exported.initializers.at(n.inputs[1]).data<float>()[0], zp.at(0)});
    exported.outputs.push_back({n.outputs[0], zp.dtype(), {}, false});
    sim.outputs.push_back({y, DType::kFloat32, {}, false});
    if (sim.producer(n.inputs[0]) >= 0)
      sim.outputs.push_back({n.inputs[0], DType::kFloat32, {}, false});
  }
  TempDir dir;
  const std::string path = dir.file("traced.onnx");
  io::save_onnx_graph(exported, path);
  const std::string input = exported.inputs.at(0).name;
  const Tensor xin = fit_input(exported.inputs.at(0), x);
  const auto ort = run_ort(path, {{input, xin}});
  nn::GraphModule m(sim);
  m.eval();
  NoGradGuard no_grad;
  const auto tamp = m.forward({{input, Variable(xin)}});
  std::vector<QuantizedValueDiff> out;
  for (const Site& s : sites) {
    const Tensor& o = ort.at(s.q);
    const Tensor& t = tamp.at(s.y).value();
    QuantizedValueDiff d{s.y, 0, o.numel()};
    for (int64_t i = 0; i < o.numel(); ++i) {
      const double q = std::nearbyint(t.at(i) / s.scale) + s.zero_point;
      const double diff = std::fabs(q - o.at(i));
      if (diff == 0) continue;
      if (d.differing++ == 0) {
        d.first = i;
        auto in = tamp.find(s.x);
        if (in != tamp.end()) d.tamp_float_input = in->second.value().at(i) / s.scale;
      }
      d.max_steps = std::max(d.max_steps, diff);
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace tamp::test
