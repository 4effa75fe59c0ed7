#include <tamp/compression/pruning/pattern.h>

#include <charconv>

namespace tamp::compression::pruning {

namespace {

// A positive decimal integer filling `s` exactly, or -1.
int64_t parse_count(const std::string& s) {
  int64_t v = -1;
  if (s.empty() || s.size() > 6) return -1;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size() && v > 0 ? v : -1;
}

[[noreturn]] void bad_pattern(const std::string& text, const std::string& why) {
  throw Error(fmt::format("pruning pattern '{}': {}", text, why), ErrorKind::kInvalidInput,
              "patterns are \"unstructured\", \"RxC\" blocks (\"4x1\", \"1x4\", \"2x2\"), \"N:M\" "
              "(\"2:4\", \"1:2\", \"4:8\"), \"channel\" or \"head\"");
}

}  // namespace

Pattern Pattern::parse(const std::string& text) {
  Pattern p;
  if (text == "unstructured") return p;
  if (text == "channel" || text == "filter") {
    p.kind = PatternKind::kChannel;
    return p;
  }
  if (text == "head") {
    p.kind = PatternKind::kHead;
    return p;
  }
  if (auto colon = text.find(':'); colon != std::string::npos) {
    const int64_t n = parse_count(text.substr(0, colon)), m = parse_count(text.substr(colon + 1));
    if (n < 0 || m < 0) bad_pattern(text, "N and M must be positive integers");
    if (n >= m) bad_pattern(text, "N must be smaller than M");
    if (m > 64) bad_pattern(text, "M above 64 is not supported");
    p.kind = PatternKind::kNofM;
    p.n = n;
    p.m = m;
    return p;
  }
  if (auto x = text.find('x'); x != std::string::npos) {
    const int64_t r = parse_count(text.substr(0, x)), c = parse_count(text.substr(x + 1));
    if (r < 0 || c < 0) bad_pattern(text, "block sides must be positive integers");
    if (r > 4096 || c > 4096) bad_pattern(text, "block sides above 4096 are not supported");
    if (r == 1 && c == 1) return p;  // a 1x1 block is an element
    p.kind = PatternKind::kBlock;
    p.block_rows = r;
    p.block_cols = c;
    return p;
  }
  bad_pattern(text, "unknown pattern");
}

std::string Pattern::str() const {
  switch (kind) {
    case PatternKind::kUnstructured:
      return "unstructured";
    case PatternKind::kBlock:
      return fmt::format("{}x{}", block_rows, block_cols);
    case PatternKind::kNofM:
      return fmt::format("{}:{}", n, m);
    case PatternKind::kChannel:
      return "channel";
    case PatternKind::kHead:
      return "head";
  }
  return "?";
}

double Pattern::max_sparsity() const {
  return kind == PatternKind::kNofM ? 1.0 - static_cast<double>(n) / static_cast<double>(m) : 1.0;
}

WeightLayout WeightLayout::of(const std::string& op_type, const Shape& shape, bool transposed) {
  WeightLayout l;
  l.shape = shape;
  for (int64_t d : shape)
    TAMP_CHECK(d >= 0, "weight shape {} has a negative dim", to_string(shape));
  if (op_type == "Conv" || op_type == "ConvTranspose") {
    TAMP_CHECK(op_type == "Conv", "pruning ConvTranspose weights is not supported");
    TAMP_CHECK(shape.size() >= 3, "a Conv weight must have rank >= 3, got {}", to_string(shape));
    l.kind = Kind::kConv;
    l.out = shape[0];
    l.in_channels = shape[1];
    for (size_t i = 2; i < shape.size(); ++i) l.positions *= shape[i];
    l.reduction = l.in_channels * l.positions;
    return l;
  }
  TAMP_CHECK(op_type == "Gemm" || op_type == "MatMul",
             "only Conv, Gemm and MatMul weights can be pruned, not {} weights", op_type);
  TAMP_CHECK(shape.size() == 2, "a {} weight must have rank 2 to be pruned, got {}", op_type,
             to_string(shape));
  const bool cols = op_type == "MatMul" || transposed;
  l.kind = cols ? Kind::kColumns : Kind::kRows;
  l.out = cols ? shape[1] : shape[0];
  l.reduction = cols ? shape[0] : shape[1];
  l.in_channels = l.reduction;
  return l;
}

int64_t WeightLayout::flat_index(int64_t row, int64_t col) const {
  switch (kind) {
    case Kind::kRows:
      return row * reduction + col;
    case Kind::kColumns:
      return col * out + row;
    case Kind::kConv: {
      const int64_t p = col / in_channels, c = col % in_channels;
      return (row * in_channels + c) * positions + p;
    }
  }
  return 0;
}

namespace {

template <class F> void for_each_view_index(const WeightLayout& l, F&& f) {
  for (int64_t r = 0; r < l.out; ++r) {
    for (int64_t c = 0; c < l.reduction; ++c) f(r * l.reduction + c, l.flat_index(r, c));
  }
}

}  // namespace

std::vector<float> to_view(const Tensor& w, const WeightLayout& l) {
  TAMP_CHECK(w.shape() == l.shape, "weight {} does not have the layout's shape {}", describe(w),
             to_string(l.shape));
  std::vector<float> v(static_cast<size_t>(l.numel()));
  if (w.dtype() == DType::kFloat32) {
    const float* p = w.data<float>();
    if (l.kind == WeightLayout::Kind::kRows) {
      std::copy(p, p + w.numel(), v.begin());
    } else {
      for_each_view_index(l, [&](int64_t vi, int64_t fi) { v[vi] = p[fi]; });
    }
  } else {
    TAMP_CHECK(w.dtype() == DType::kFloat64, "pruning needs a float32 or float64 weight, got {}",
               describe(w));
    const double* p = w.data<double>();
    for_each_view_index(l, [&](int64_t vi, int64_t fi) { v[vi] = static_cast<float>(p[fi]); });
  }
  return v;
}

Tensor from_view(const std::vector<float>& view, const WeightLayout& l, DType dtype) {
  TAMP_CHECK(static_cast<int64_t>(view.size()) == l.numel(), "view of {} values for a weight {}",
             view.size(), to_string(l.shape));
  Tensor t = Tensor::empty(l.shape, dtype);
  if (dtype == DType::kFloat32) {
    float* p = t.data<float>();
    for_each_view_index(l, [&](int64_t vi, int64_t fi) { p[fi] = view[vi]; });
  } else {
    TAMP_CHECK(dtype == DType::kFloat64, "masks are float32 or float64, not {}", dtype_name(dtype));
    double* p = t.data<double>();
    for_each_view_index(l, [&](int64_t vi, int64_t fi) { p[fi] = view[vi]; });
  }
  return t;
}

std::string divisibility_problem(const Pattern& p, const WeightLayout& l) {
  const char* axis =
      l.kind == WeightLayout::Kind::kConv ? "input channels" : "reduction (K) elements";
  switch (p.kind) {
    case PatternKind::kUnstructured:
    case PatternKind::kChannel:
      return {};
    case PatternKind::kHead:
      return "the head pattern applies to attention blocks, not to single weights";
    case PatternKind::kNofM:
      if (l.in_channels % p.m != 0) {
        return fmt::format("{} groups need the {} ({}) to be a multiple of {}", p.str(), axis,
                           l.in_channels, p.m);
      }
      return {};
    case PatternKind::kBlock:
      if (l.out % p.block_rows != 0) {
        return fmt::format("{} blocks need the output channels ({}) to be a multiple of {}",
                           p.str(), l.out, p.block_rows);
      }
      if (l.in_channels % p.block_cols != 0) {
        return fmt::format("{} blocks need the {} ({}) to be a multiple of {}", p.str(), axis,
                           l.in_channels, p.block_cols);
      }
      return {};
  }
  return {};
}

}  // namespace tamp::compression::pruning
