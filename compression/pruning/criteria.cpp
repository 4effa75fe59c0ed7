#include <tamp/compression/pruning/criteria.h>

#include <cmath>

namespace tamp::compression::pruning {

Criterion parse_criterion(const std::string& text) {
  if (text == "magnitude") return Criterion::kMagnitude;
  if (text == "gradient") return Criterion::kGradient;
  if (text == "snip") return Criterion::kSnip;
  if (text == "snip_momentum" || text == "snip-momentum") return Criterion::kSnipMomentum;
  if (text == "movement") return Criterion::kMovement;
  throw Error(fmt::format("unknown pruning criterion '{}'", text), ErrorKind::kInvalidInput,
              "criteria are magnitude, gradient, snip, snip_momentum and movement");
}

std::string criterion_name(Criterion c) {
  switch (c) {
    case Criterion::kMagnitude:
      return "magnitude";
    case Criterion::kGradient:
      return "gradient";
    case Criterion::kSnip:
      return "snip";
    case Criterion::kSnipMomentum:
      return "snip_momentum";
    case Criterion::kMovement:
      return "movement";
  }
  return "?";
}

bool needs_gradients(Criterion c) { return c != Criterion::kMagnitude; }

namespace {

// Reads element i of a float32 or float64 tensor.
struct Reader {
  const float* f = nullptr;
  const double* d = nullptr;
  explicit Reader(const Tensor& t) {
    if (t.dtype() == DType::kFloat32)
      f = t.data<float>();
    else
      d = t.data<double>();
  }
  float operator[](int64_t i) const { return f ? f[i] : static_cast<float>(d[i]); }
};

void check_float(const Tensor& t, const char* what) {
  TAMP_CHECK(t.dtype() == DType::kFloat32 || t.dtype() == DType::kFloat64,
             "pruning scores need a float32 or float64 {}, got {}", what, describe(t));
}

}  // namespace

void ScoreTracker::observe(const Tensor& w, const Tensor& g) {
  if (criterion_ == Criterion::kMagnitude) return;
  check_float(w, "weight");
  check_float(g, "gradient");
  TAMP_CHECK(w.shape() == g.shape(), "pruning scores: gradient {} does not match weight {}",
             describe(g), describe(w));
  if (!acc_.defined() || acc_.shape() != w.shape()) {
    acc_ = Tensor::zeros(w.shape());
    observations_ = 0;
  }
  float* a = acc_.data<float>();
  const Reader wr(w), gr(g);
  const int64_t n = w.numel();
  switch (criterion_) {
    case Criterion::kGradient:
      for (int64_t i = 0; i < n; ++i) a[i] += gr[i];
      break;
    case Criterion::kSnip:
      for (int64_t i = 0; i < n; ++i) a[i] = std::fabs(wr[i] * gr[i]);
      break;
    case Criterion::kSnipMomentum:
      for (int64_t i = 0; i < n; ++i)
        a[i] = static_cast<float>(kMomentum) * a[i] + std::fabs(wr[i] * gr[i]);
      break;
    case Criterion::kMovement:
      for (int64_t i = 0; i < n; ++i) a[i] -= wr[i] * gr[i];
      break;
    case Criterion::kMagnitude:
      break;
  }
  ++observations_;
}

Tensor ScoreTracker::scores(const Tensor& w) const {
  check_float(w, "weight");
  Tensor s = Tensor::empty(w.shape());
  float* out = s.data<float>();
  const Reader wr(w);
  const int64_t n = w.numel();
  if (criterion_ == Criterion::kMagnitude) {
    for (int64_t i = 0; i < n; ++i) out[i] = std::fabs(wr[i]);
    return s;
  }
  if (observations_ == 0 || !acc_.defined()) {
    throw Error(
        fmt::format("the {} criterion has no gradient to score with yet",
                    criterion_name(criterion_)),
        ErrorKind::kInvalidInput,
        "gradient-based criteria score during training: fine-tune (or use the magnitude criterion "
        "for one-shot pruning without data)");
  }
  TAMP_CHECK(acc_.shape() == w.shape(), "pruning scores: accumulated {} does not match weight {}",
             describe(acc_), describe(w));
  const float* a = acc_.data<float>();
  if (criterion_ == Criterion::kGradient) {
    const float inv = 1.0f / static_cast<float>(observations_);
    for (int64_t i = 0; i < n; ++i) out[i] = std::fabs(wr[i] * a[i] * inv);
  } else {
    std::copy(a, a + n, out);
  }
  return s;
}

void ScoreTracker::after_update() {
  if (criterion_ != Criterion::kGradient || !acc_.defined()) return;
  acc_.fill(0);
  observations_ = 0;
}

void ScoreTracker::load_state(Tensor acc, int64_t observations) {
  TAMP_CHECK(!acc.defined() || acc.dtype() == DType::kFloat32,
             "pruning score state must be float32, got {}", describe(acc));
  acc_ = acc.defined() ? acc.clone() : Tensor();
  observations_ = observations;
}

}  // namespace tamp::compression::pruning
