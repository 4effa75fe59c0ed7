#include <tamp/compression/pruning/checker.h>
#include <tamp/compression/pruning/targets.h>

namespace tamp::compression::pruning {

PatternCheck check_pattern(const Tensor& weight, const WeightLayout& layout,
                           const Pattern& pattern) {
  PatternCheck c;
  const std::vector<float> v = to_view(weight, layout);
  int64_t zeros = 0;
  for (float x : v) zeros += x == 0;
  c.sparsity = v.empty() ? 0 : static_cast<double>(zeros) / static_cast<double>(v.size());
  const std::string problem = divisibility_problem(pattern, layout);
  if (!problem.empty()) {
    c.detail = problem;
    return c;
  }
  const int64_t rows = layout.out, cols = layout.reduction;
  switch (pattern.kind) {
    case PatternKind::kUnstructured:
      c.units = layout.numel();
      c.zero_units = zeros;
      break;
    case PatternKind::kNofM:
      for (int64_t g0 = 0; g0 < layout.numel(); g0 += pattern.m) {
        int64_t nonzero = 0;
        for (int64_t i = g0; i < g0 + pattern.m; ++i) nonzero += v[i] != 0;
        ++c.units;
        c.violations += nonzero > pattern.n;
        c.zero_units += nonzero <= pattern.n;
      }
      break;
    case PatternKind::kChannel:
      for (int64_t r = 0; r < rows; ++r) {
        int64_t z = 0;
        for (int64_t k = 0; k < cols; ++k) z += v[r * cols + k] == 0;
        ++c.units;
        c.zero_units += z == cols;
        c.violations += z > 0 && z < cols;
      }
      break;
    case PatternKind::kBlock:
      for (int64_t r0 = 0; r0 < rows; r0 += pattern.block_rows) {
        for (int64_t c0 = 0; c0 < cols; c0 += pattern.block_cols) {
          int64_t z = 0;
          for (int64_t r = r0; r < r0 + pattern.block_rows; ++r) {
            for (int64_t k = c0; k < c0 + pattern.block_cols; ++k) z += v[r * cols + k] == 0;
          }
          ++c.units;
          c.zero_units += z == pattern.block_rows * pattern.block_cols;
          c.violations += z > 0 && z < pattern.block_rows * pattern.block_cols;
        }
      }
      break;
    case PatternKind::kHead:
      c.detail = "the head pattern is checked on attention blocks, not single weights";
      return c;
  }
  c.valid = c.violations == 0;
  if (c.valid) {
    c.detail = fmt::format("{} valid", pattern.str());
  } else if (pattern.kind == PatternKind::kNofM) {
    c.detail = fmt::format("{} of {} groups have more than {} non-zeros", c.violations, c.units,
                           pattern.n);
  } else {
    c.detail = fmt::format("{} of {} {} are partly zero", c.violations, c.units,
                           pattern.kind == PatternKind::kChannel ? "channels" : "blocks");
  }
  return c;
}

WeightSparsity describe_sparsity(const Tensor& weight, const WeightLayout& layout) {
  WeightSparsity s;
  s.shape = weight.shape();
  const PatternCheck any = check_pattern(weight, layout, Pattern{});
  s.sparsity = any.sparsity;
  const std::string pct = fmt::format("{:.1f} %", 100 * s.sparsity);
  if (any.zero_units == 0) {
    s.structure = "dense";
    s.summary = "dense";
    return s;
  }
  for (const char* p : {"1:8", "1:4", "2:8", "1:2", "2:4", "4:8"}) {
    const Pattern pattern = Pattern::parse(p);
    if (check_pattern(weight, layout, pattern).valid) {
      s.structure = p;
      s.summary = fmt::format("{} {} valid", pct, p);
      return s;
    }
  }
  const PatternCheck ch = check_pattern(weight, layout, Pattern::parse("channel"));
  if (ch.valid && ch.zero_units > 0) {
    s.structure = "channel";
    s.summary = fmt::format("{} channel {}/{}", pct, ch.zero_units, ch.units);
    return s;
  }
  for (const char* p : {"8x1", "1x8", "4x1", "1x4", "2x2", "2x1", "1x2"}) {
    const PatternCheck b = check_pattern(weight, layout, Pattern::parse(p));
    if (b.valid && b.zero_units > 0) {
      s.structure = p;
      s.summary = fmt::format("{} {} blocks", pct, p);
      return s;
    }
  }
  s.structure = "unstructured";
  s.summary = fmt::format("{} unstructured", pct);
  return s;
}

namespace {

// (q - zero_point) * scale, per tensor or along `axis`, as float32.
Tensor dequantized(const Tensor& q, const Tensor& scale, const Tensor& zero_point, int64_t axis) {
  Tensor out = Tensor::empty(q.shape(), DType::kFloat32);
  const int64_t a = axis < 0 ? axis + q.rank() : axis;
  const bool per_channel = scale.numel() > 1;
  TAMP_CHECK(!per_channel || (a >= 0 && a < q.rank() && q.dim(a) == scale.numel()),
             "DequantizeLinear scale {} does not match axis {} of {}", describe(scale), axis,
             describe(q));
  int64_t inner = 1;
  for (int64_t d = a + 1; per_channel && d < q.rank(); ++d) inner *= q.dim(d);
  float* o = out.data<float>();
  for (int64_t i = 0; i < q.numel(); ++i) {
    const int64_t c = per_channel ? (i / inner) % scale.numel() : 0;
    const double zp = zero_point.defined() ? zero_point.at(zero_point.numel() > 1 ? c : 0) : 0.0;
    o[i] = static_cast<float>((q.at(i) - zp) * scale.at(c));
  }
  return out;
}

}  // namespace

std::vector<ComputedWeight> computed_weights(const nn::Graph& g) {
  std::vector<ComputedWeight> out;
  for (const PrunableWeight& w : find_prunable_weights(g)) {
    out.push_back({w.weight, w.node, w.op_type, w.layout, g.initializers.at(w.weight)});
  }
  for (const nn::Node& n : g.nodes) {
    if (!n.domain.empty() || (n.op_type != "Conv" && n.op_type != "Gemm" && n.op_type != "MatMul"))
      continue;
    if (n.inputs.size() < 2) continue;
    int p = g.producer(n.inputs[1]);
    // MatMul(x, Transpose(DequantizeLinear(W))): torch's nn.Linear on a 3-D input, W [out,
    // reduction]
    const bool transposed = n.op_type == "MatMul" && p >= 0 && g.nodes[p].op_type == "Transpose" &&
                            g.nodes[p].domain.empty() &&
                            g.nodes[p].attrs->ints("perm", {1, 0}) == std::vector<int64_t>{1, 0};
    if (transposed) p = g.producer(g.nodes[p].inputs.at(0));
    if (p < 0 || g.nodes[p].op_type != "DequantizeLinear" || !g.nodes[p].domain.empty()) continue;
    const nn::Node& dq = g.nodes[p];
    auto q = g.initializers.find(dq.inputs.at(0));
    auto scale = dq.inputs.size() > 1 ? g.initializers.find(dq.inputs[1]) : g.initializers.end();
    if (q == g.initializers.end() || scale == g.initializers.end() ||
        !is_integer(q->second.dtype()))
      continue;
    Tensor zero_point;
    if (dq.inputs.size() > 2 && !dq.inputs[2].empty()) {
      auto z = g.initializers.find(dq.inputs[2]);
      if (z == g.initializers.end()) continue;
      zero_point = z->second;
    }
    const Tensor& t = q->second;
    if (n.op_type == "Conv" ? t.rank() < 3 : t.rank() != 2) continue;
    const WeightLayout layout =
        transposed ? WeightLayout::of("Gemm", t.shape())
                   : WeightLayout::of(n.op_type, t.shape(),
                                      n.op_type == "Gemm" && n.attrs->i("transB", 0) == 0);
    out.push_back({q->first, n.name, n.op_type, layout,
                   dequantized(t, scale->second, zero_point, dq.attrs->i("axis", 1))});
  }
  return out;
}

std::vector<WeightSparsity> sparsity_report(const nn::Graph& graph) {
  std::vector<WeightSparsity> out;
  for (const ComputedWeight& w : computed_weights(graph)) {
    WeightSparsity s = describe_sparsity(w.values, w.layout);
    s.weight = w.weight;
    s.node = w.node;
    s.op_type = w.op_type;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace tamp::compression::pruning
