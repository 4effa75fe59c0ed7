// QDQ ONNX -> QOperator ONNX (see lower.h): integer operators replace the
// DequantizeLinear -> Conv/MatMul/Gemm -> QuantizeLinear groups of a QDQ graph.
#include <tamp/compression/quantization/lowering/lower.h>
#include <tamp/compression/quantization/quant_plan.h>
#include <tamp/nn/graph_edit.h>

#include <tamp/autograd/op.h>

#include <algorithm>
#include <map>
#include <set>

namespace tamp::compression {

namespace {

struct Dq {
  std::string x, scale, zero_point;  // the integer value and its parameters
  int64_t axis = 1;
  bool per_axis = false;
};

class Rewriter {
 public:
  explicit Rewriter(nn::Graph& g) : g_(g), names_(g) {}

  // The DequantizeLinear producing `v`, if any.
  bool dq(const std::string& v, Dq& out) const {
    const int p = g_.producer(v);
    if (p < 0) return false;
    const nn::Node& n = g_.nodes[static_cast<size_t>(p)];
    if (n.op_type != "DequantizeLinear" || n.inputs.size() < 3) return false;
    out = {n.inputs[0], n.inputs[1], n.inputs[2], n.attrs->i("axis", 1),
           init(n.inputs[1]).numel() > 1};
    return g_.initializers.count(n.inputs[1]) && g_.initializers.count(n.inputs[2]);
  }
  bool scalar_dq(const std::string& v, Dq& out) const { return dq(v, out) && !out.per_axis; }
  bool is_initializer(const std::string& v) const { return g_.initializers.count(v) != 0; }
  const Tensor& init(const std::string& v) const {
    static const Tensor kNone;
    auto it = g_.initializers.find(v);
    return it == g_.initializers.end() ? kNone : it->second;
  }

  // The QuantizeLinear reading `v` (only reader), possibly after a Relu that saturation
  // replaces (zero point at the bottom of the range). `relu` tells whether one was skipped.
  const nn::Node* quantizer_after(const std::string& v, bool& relu) const {
    relu = false;
    const nn::Node* n = only_reader(v);
    if (n && n->op_type == "Relu") {
      const nn::Node* q = only_reader(n->outputs[0]);
      if (!q || q->op_type != "QuantizeLinear" || q->inputs.size() < 3) return nullptr;
      const Tensor& zp = init(q->inputs[2]);
      const double bottom = zp.dtype() == DType::kInt8 ? -128 : 0;
      if (!zp.defined() || zp.numel() != 1 || zp.at(0) != bottom) return nullptr;
      relu = true;
      return q;
    }
    return n && n->op_type == "QuantizeLinear" && n->inputs.size() >= 3 &&
                   init(n->inputs[1]).numel() == 1
               ? n
               : nullptr;
  }

  const nn::Node* only_reader(const std::string& v) const {
    if (is_graph_output(g_, v)) return nullptr;
    const auto c = g_.consumers(v);
    return c.size() == 1 ? &g_.nodes[static_cast<size_t>(c[0])] : nullptr;
  }

  std::string fresh(const std::string& base) { return names_.fresh(base); }
  nn::Graph& g_;

 private:
  nn::NameScope names_;
};

nn::Node node(std::string name, const char* op, std::vector<std::string> in,
              std::vector<std::string> out,
              std::shared_ptr<const Attributes> a = nn::attrs_with({})) {
  return {std::move(name), op, "", std::move(in), std::move(out), std::move(a)};
}

// Replaces node i (a Conv, MatMul or Gemm between DQs and a Q) by integer nodes; returns the
// names of the nodes it makes redundant (the Q and a skipped Relu), or nothing when the
// pattern does not hold.
bool lower_compute(Rewriter& r, size_t i, std::vector<nn::Node>& out, std::set<int>& drop) {
  const nn::Node n = r.g_.nodes[i];
  Dq x, w;
  if (n.inputs.size() < 2 || !r.scalar_dq(n.inputs[0], x) || !r.dq(n.inputs[1], w)) return false;
  bool relu = false;
  const nn::Node* q = r.quantizer_after(n.outputs[0], relu);
  if (!q) return false;
  const std::string y = q->outputs[0];
  if (n.op_type == "Conv") {
    if (!r.is_initializer(w.x) || (w.per_axis && w.axis != 0)) return false;
    std::vector<std::string> in{x.x,     x.scale,      x.zero_point, w.x,
                                w.scale, w.zero_point, q->inputs[1], q->inputs[2]};
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
      Dq b;
      if (!r.dq(n.inputs[2], b) || r.init(b.x).dtype() != DType::kInt32) return false;
      in.push_back(b.x);
    }
    out.push_back({n.name, "QLinearConv", "", in, {y}, n.attrs});
  } else if (n.op_type == "MatMul") {
    const int64_t rank_b = r.is_initializer(w.x) ? r.init(w.x).rank() : 2;
    if (w.per_axis && !(rank_b == 2 && (w.axis == 1 || w.axis == -1))) return false;
    out.push_back(node(
        n.name, "QLinearMatMul",
        {x.x, x.scale, x.zero_point, w.x, w.scale, w.zero_point, q->inputs[1], q->inputs[2]}, {y}));
  } else if (n.op_type == "Gemm") {
    // MatMulInteger, int32 bias, then requantization in float: Cast, Mul by s_x s_w alpha.
    const auto& a = *n.attrs;
    if (a.i("transA", 0) != 0 || !r.is_initializer(w.x)) return false;
    const bool trans_b = a.i("transB", 0) != 0;
    const Tensor& wq = r.init(w.x);
    if (wq.rank() != 2 || (w.per_axis && w.axis != (trans_b ? 0 : 1))) return false;
    std::string b_int = w.x;
    if (trans_b) {  // MatMulInteger wants B as [K, N]
      b_int = r.fresh(w.x + "_transposed");
      r.g_.initializers[b_int] =
          run("Transpose", {wq}, Attributes{{"perm", std::vector<int64_t>{1, 0}}}).at(0);
    }
    const int64_t cols = wq.dim(trans_b ? 0 : 1);
    const Tensor& sx = r.init(x.scale);
    const Tensor& sw = r.init(w.scale);
    Tensor mult = Tensor::empty({sw.numel() == 1 ? 1 : cols});
    for (int64_t c = 0; c < mult.numel(); ++c) {
      mult.data<float>()[c] = sx.data<float>()[0] * sw.data<float>()[c] * a.f("alpha", 1.0f);
    }
    std::string acc = r.fresh(n.name + "_int32");
    std::vector<std::string> mm_in{x.x, b_int, x.zero_point};
    const Tensor& wz = r.init(w.zero_point);
    bool zero_w = true;
    for (int64_t k = 0; k < wz.numel(); ++k) zero_w = zero_w && wz.at(k) == 0;
    if (!zero_w) mm_in.push_back(w.zero_point);
    out.push_back(node(r.fresh(n.name + "_MatMulInteger"), "MatMulInteger", mm_in, {acc}));
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
      Dq b;
      if (!r.dq(n.inputs[2], b) || r.init(b.x).dtype() != DType::kInt32) return false;
      const std::string biased = r.fresh(n.name + "_biased");
      out.push_back(node(r.fresh(n.name + "_AddBias"), "Add", {acc, b.x}, {biased}));
      acc = biased;
    }
    const std::string f = r.fresh(n.name + "_float"), m = r.fresh(n.name + "_multiplier");
    const std::string scaled = r.fresh(n.name + "_output");
    r.g_.initializers[m] = mult;
    out.push_back(
        node(r.fresh(n.name + "_Cast"), "Cast", {acc}, {f}, nn::attrs_with({{"to", int64_t{1}}})));
    out.push_back(node(r.fresh(n.name + "_Requantize"), "Mul", {f, m}, {scaled}));
    out.push_back(node(r.fresh(n.name + "_QuantizeLinear"), "QuantizeLinear",
                       {scaled, q->inputs[1], q->inputs[2]}, {y}));
  } else {
    return false;
  }
  drop.insert(r.g_.producer(y));
  if (relu) drop.insert(r.g_.producer(q->inputs[0]));
  return true;
}

bool same_params(const Rewriter& r, const std::string& s1, const std::string& z1,
                 const std::string& s2, const std::string& z2) {
  if (s1 == s2 && z1 == z2) return true;
  const Tensor &a = r.init(s1), &b = r.init(s2), &c = r.init(z1), &d = r.init(z2);
  return a.defined() && b.defined() && c.defined() && d.defined() && a.numel() == 1 &&
         b.numel() == 1 && c.numel() == 1 && d.numel() == 1 && a.at(0) == b.at(0) &&
         c.at(0) == d.at(0) && c.dtype() == d.dtype();
}

// Pass-through ops between a DequantizeLinear and a QuantizeLinear with the same parameters
// run on the integers: DQ -> MaxPool -> Q becomes MaxPool on the quantized value.
void integer_pass_through(nn::Graph& g) {
  Rewriter r(g);
  std::set<int> drop;
  std::vector<nn::Node> out;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (drop.count(static_cast<int>(i))) continue;
    nn::Node n = g.nodes[i];
    Dq x;
    bool relu = false;
    const nn::Node* q = nullptr;
    if (is_pass_through(n.op_type) && !n.inputs.empty() && n.outputs.size() >= 1 &&
        r.scalar_dq(n.inputs[0], x) && (q = r.quantizer_after(n.outputs[0], relu)) && !relu &&
        same_params(r, x.scale, x.zero_point, q->inputs[1], q->inputs[2])) {
      drop.insert(g.producer(q->outputs[0]));
      n.inputs[0] = x.x;
      n.outputs[0] = q->outputs[0];
    }
    out.push_back(n);
  }
  g.nodes = std::move(out);
  remove_unused(g);
}

// QuantizeLinear(DequantizeLinear(q)) with the same parameters is q.
void cancel_dq_q(nn::Graph& g) {
  Rewriter r(g);
  for (const auto& n : std::vector<nn::Node>(g.nodes)) {
    Dq x;
    if (n.op_type != "QuantizeLinear" || n.inputs.size() < 3 || !r.scalar_dq(n.inputs[0], x))
      continue;
    if (!same_params(r, x.scale, x.zero_point, n.inputs[1], n.inputs[2]) ||
        is_graph_output(g, n.outputs[0]))
      continue;
    replace_uses(g, n.outputs[0], x.x);
  }
  remove_unused(g);
}

}  // namespace

nn::Graph qdq_to_qoperator(const nn::Graph& qdq) {
  nn::Graph g = qdq;
  g.validate();
  {
    Rewriter r(g);
    std::vector<nn::Node> out;
    std::set<int> drop;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (drop.count(static_cast<int>(i))) continue;
      const std::string& op = g.nodes[i].op_type;
      if ((op == "Conv" || op == "MatMul" || op == "Gemm") && lower_compute(r, i, out, drop))
        continue;
      out.push_back(g.nodes[i]);
    }
    g.nodes = std::move(out);
  }
  g.validate();
  remove_unused(g);
  integer_pass_through(g);
  cancel_dq_q(g);
  // What is left of a quantized Conv/Gemm/MatMul has no integer form.
  Rewriter r(g);
  for (const auto& n : g.nodes) {
    if (!is_quantizable_compute(n.op_type) || n.inputs.size() < 2) continue;
    // A float op the user excluded keeps its float weight (input 1) and may read a dequantized
    // activation; a quantized op left unlowered reads a dequantized weight.
    Dq b;
    if (!r.dq(n.inputs[1], b)) continue;
    throw Error(
        fmt::format("node '{}' ({}) reads quantized values but has no QOperator form here: "
                    "QLinearConv needs "
                    "a per-tensor input, weights per output channel and a QuantizeLinear after it "
                    "(a Relu in between only with the zero point at the bottom of the range); "
                    "QLinearMatMul and MatMulInteger (Gemm) likewise; ConvTranspose has none",
                    n.name, n.op_type),
        ErrorKind::kUnsupported, "export with --format qdq, or exclude the node from quantization");
  }
  g.validate();
  return g;
}

}  // namespace tamp::compression
