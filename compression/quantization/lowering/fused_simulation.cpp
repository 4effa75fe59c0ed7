#include <tamp/compression/quantization/detail/lower_common.h>
#include <tamp/compression/quantization/fake_quant_graph.h>
#include <tamp/compression/quantization/lowering/fused_simulation.h>
#include <tamp/compression/quantization/lowering/lower.h>
#include <tamp/compression/quantization/quant_plan.h>
#include <tamp/nn/graph_edit.h>

#include <tamp/autograd/op.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

namespace tamp::compression {

namespace {

// A value on the grid of an active FakeQuantize.
struct Grid {
  const FakeQuantSite* site;
  const nn::Node* node;  // the FakeQuantize
  DType type;            // the integer type QuantizeLinear writes
  int64_t qmin;
};

class Rewriter {
 public:
  explicit Rewriter(const nn::Graph& g) : g_(g), out_(g), names_(g) {
    sites_ = find_fake_quantize(g);
    for (const auto& s : sites_) {
      if (s.bypass_node.empty()) by_output_[s.output] = &s;
    }
  }

  int run() {
    if (g_.opset("") < 13 || by_output_.empty())
      return 0;  // per-axis QuantizeLinear needs opset 13
    int fused = 0;
    for (const auto& n : g_.nodes) {
      if (n.op_type == "MatMul" || n.op_type == "Conv")
        fused += fuse_compute(n);
      else if (n.op_type == "Add")
        fused += fuse_add(n);
    }
    if (fused == 0) return 0;
    std::set<std::string> quantized;
    for (const auto& [value, site] : by_output_) quantized.insert(value);
    softmax_like_onnx_runtime(out_, quantized);
    std::vector<nn::Node> kept;
    for (auto& n : out_.nodes)
      if (!removed_.count(n.name)) kept.push_back(std::move(n));
    kept.insert(kept.end(), added_.begin(), added_.end());
    out_.nodes = std::move(kept);
    out_.validate();  // topological order
    return fused;
  }

  nn::Graph take() { return std::move(out_); }

 private:
  // The grid `v` is on: its quantization source is an active FakeQuantize's output with
  // integer zero points inside an 8-bit type; activations per tensor and of the whole range.
  std::optional<Grid> grid_of(const std::string& v, bool weight_allowed) const {
    auto it = by_output_.find(quantization_source(g_, v));
    if (it == by_output_.end()) return std::nullopt;
    const FakeQuantSite& s = *it->second;
    const nn::Node* fq = g_.find_node(s.node);
    const int64_t qmin = fq->attrs->i("quant_min", -128), qmax = fq->attrs->i("quant_max", 127);
    const DType type = qmin < 0 ? DType::kInt8 : DType::kUInt8;
    if (!unwritable_reason(qmin, qmax, s.is_weight).empty()) return std::nullopt;
    if (s.is_weight && !weight_allowed) return std::nullopt;
    const Tensor& scale = g_.initializers.at(s.scale);
    const auto zp = g_.initializers.find(s.zero_point);
    if (zp == g_.initializers.end() || scale.dtype() != DType::kFloat32) return std::nullopt;
    if (!s.is_weight && scale.numel() != 1) return std::nullopt;
    for (int64_t i = 0; i < zp->second.numel(); ++i) {
      if (zp->second.at(i) != std::nearbyint(zp->second.at(i))) return std::nullopt;
    }
    return Grid{&s, fq, type, qmin};
  }

  // The FakeQuantize reading `v` as the group's output, through a Relu its clamp makes
  // redundant (ORT's ReluQuantFusion); nodes on the way are added to `chain`.
  std::optional<Grid> output_grid(const std::string& v, std::vector<std::string>& chain) const {
    if (is_graph_output(g_, v)) return std::nullopt;
    const std::vector<int> readers = g_.consumers(v);
    if (readers.size() != 1) return std::nullopt;
    const nn::Node& r = g_.nodes[static_cast<size_t>(readers[0])];
    if (r.op_type == "Relu" && chain.empty()) {
      chain.push_back(r.name);
      auto grid = output_grid(r.outputs.at(0), chain);
      if (!grid ||
          g_.initializers.at(grid->site->zero_point).at(0) != static_cast<double>(grid->qmin)) {
        return std::nullopt;
      }
      return grid;
    }
    if (r.op_type != "FakeQuantize" || r.inputs.at(0) != v) return std::nullopt;
    auto grid = grid_of(r.outputs.at(0), false);
    if (!grid || grid->node != &r) return std::nullopt;
    chain.push_back(r.name);
    return grid;
  }

  // The integer zero point of a grid (one initializer per FakeQuantize).
  const std::string& zero_point(const Grid& grid) {
    auto [it, fresh] = zero_points_.try_emplace(grid.site->node);
    if (fresh) {
      it->second = names_.fresh(grid.site->zero_point + "_" + std::string(dtype_name(grid.type)));
      out_.initializers[it->second] =
          detail::integers_as(g_.initializers.at(grid.site->zero_point), grid.type);
    }
    return it->second;
  }

  // The axis of `v` a per-channel grid runs along: the FakeQuantize's, carried through the
  // Transposes between them (MatMul(x, Transpose(W))); -1 when another op reorders the axes.
  int axis_at(const std::string& v, const Grid& grid) const {
    std::vector<const nn::Node*> path;  // from `v` up to the FakeQuantize
    for (std::string u = v; u != grid.site->output;) {
      const nn::Node& p = g_.nodes[static_cast<size_t>(g_.producer(u))];
      path.push_back(&p);
      u = p.inputs.at(0);
    }
    int axis = static_cast<int>(grid.node->attrs->i("axis", 0));
    const int64_t rank =
        g_.initializers.count(grid.site->input) ? g_.initializers.at(grid.site->input).rank() : -1;
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
      const nn::Node& p = **it;
      if (p.op_type == "Identity" || p.op_type == "Dropout") continue;
      if (p.op_type != "Transpose" || rank < 1) return -1;
      std::vector<int64_t> perm = p.attrs->ints("perm", {});
      for (int64_t d = rank - 1; perm.empty() && d >= 0; --d) perm.push_back(d);
      const auto at = std::find(perm.begin(), perm.end(), int64_t{axis});
      if (at == perm.end()) return -1;
      axis = static_cast<int>(at - perm.begin());
    }
    return axis;
  }

  std::string quantize(const std::string& v, const Grid& grid) {
    const std::string q = names_.fresh(v + "_quantized_int");
    Attributes a;
    if (g_.initializers.at(grid.site->scale).numel() != 1) a.set("axis", int64_t{axis_at(v, grid)});
    added_.push_back({names_.fresh(v + "_QuantizeLinear"),
                      "QuantizeLinear",
                      "",
                      {v, grid.site->scale, zero_point(grid)},
                      {q},
                      nn::attrs_with(a)});
    return q;
  }

  void finish(const nn::Node& n, const std::vector<std::string>& chain, const Grid& y,
              nn::Node fused, const std::string& y_q) {
    const nn::Node* fq = g_.find_node(chain.back());
    added_.push_back(std::move(fused));
    added_.push_back({names_.fresh(n.name + "_DequantizeLinear"),
                      "DequantizeLinear",
                      "",
                      {y_q, y.site->scale, zero_point(y)},
                      {fq->outputs.at(0)},
                      nn::attrs_with({})});
    removed_.insert(n.name);
    removed_.insert(chain.begin(), chain.end());
  }

  int fuse_compute(const nn::Node& n) {
    if (n.inputs.size() < 2 || n.outputs.empty()) return 0;
    std::vector<std::string> chain;
    const auto y = output_grid(n.outputs[0], chain);
    const auto a = grid_of(n.inputs[0], false);
    const auto w = grid_of(n.inputs[1], true);
    if (!y || !a || !w || y->site->is_weight) return 0;
    const Tensor& sw = g_.initializers.at(w->site->scale);
    const int out_axis = n.op_type == "Conv" ? 0 : 1;  // the output channel of the weight
    if (sw.numel() != 1 && axis_at(n.inputs[1], *w) != out_axis) return 0;
    const bool conv = n.op_type == "Conv";
    std::string bias;
    if (conv && n.inputs.size() > 2 && !n.inputs[2].empty()) {
      auto b = g_.initializers.find(n.inputs[2]);
      if (b == g_.initializers.end() || b->second.dtype() != DType::kFloat32 ||
          b->second.rank() != 1)
        return 0;
      const float s_a = g_.initializers.at(a->site->scale).data<float>()[0];
      bias = names_.fresh(n.inputs[2] + "_int32");
      out_.initializers[bias] = detail::bias_as_int32(n.name, b->second, s_a, sw);
    }
    std::vector<std::string> in{quantize(n.inputs[0], *a),
                                a->site->scale,
                                zero_point(*a),
                                quantize(n.inputs[1], *w),
                                w->site->scale,
                                zero_point(*w),
                                y->site->scale,
                                zero_point(*y)};
    if (!bias.empty()) in.push_back(bias);
    const std::string y_q = names_.fresh(n.outputs[0] + "_quantized_int");
    finish(n, chain, *y,
           {names_.fresh(n.name + (conv ? "_QLinearConv" : "_QLinearMatMul")),
            conv ? "QLinearConv" : "QLinearMatMul",
            "",
            std::move(in),
            {y_q},
            conv ? n.attrs : nn::attrs_with({})},
           y_q);
    return 1;
  }

  int fuse_add(const nn::Node& n) {
    if (n.inputs.size() != 2) return 0;
    std::vector<std::string> chain;
    const auto y = output_grid(n.outputs.at(0), chain);
    // A constant addend (a position embedding) is fake-quantized like a weight, per tensor.
    const auto a = grid_of(n.inputs[0], true);
    const auto b = grid_of(n.inputs[1], true);
    if (!y || !a || !b || a->type != y->type || b->type != y->type) return 0;
    for (const Grid* x : {&*a, &*b}) {
      if (g_.initializers.at(x->site->scale).numel() != 1) return 0;
    }
    out_.opsets["com.microsoft"] = 1;
    const std::string y_q = names_.fresh(n.outputs[0] + "_quantized_int");
    finish(n, chain, *y,
           {names_.fresh(n.name + "_QLinearAdd"),
            "QLinearAdd",
            "com.microsoft",
            {quantize(n.inputs[0], *a), a->site->scale, zero_point(*a), quantize(n.inputs[1], *b),
             b->site->scale, zero_point(*b), y->site->scale, zero_point(*y)},
            {y_q},
            nn::attrs_with({})},
           y_q);
    return 1;
  }

  const nn::Graph& g_;
  nn::Graph out_;
  nn::NameScope names_;
  std::vector<FakeQuantSite> sites_;
  std::map<std::string, const FakeQuantSite*> by_output_;
  std::map<std::string, std::string> zero_points_;  // FakeQuantize node -> integer zero point
  std::set<std::string> removed_;
  std::vector<nn::Node> added_;
};

}  // namespace

int softmax_like_onnx_runtime(nn::Graph& graph, const std::set<std::string>& quantized) {
  int replaced = 0;
  for (auto& n : graph.nodes) {
    if (n.op_type != "Softmax" || !n.domain.empty() || n.inputs.empty() ||
        quantized.count(n.inputs[0]))
      continue;
    n.op_type = "OrtSoftmax";
    n.domain = std::string(kTampDomain);
    ++replaced;
  }
  if (replaced > 0) graph.opsets[std::string(kTampDomain)] = 1;
  return replaced;
}

nn::Graph simulate_fused_like_onnx_runtime(const nn::Graph& graph, int* fused) {
  Rewriter r(graph);
  const int n = r.run();
  if (fused) *fused = n;
  return n == 0 ? graph : r.take();
}

}  // namespace tamp::compression
