#include <tamp/compression/quantization/ptq/gptq.h>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace tamp::compression {

namespace {

using MatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

MatrixD to_matrix(const Tensor& t, int64_t rows, int64_t cols) {
  MatrixD m(rows, cols);
  if (t.dtype() == DType::kFloat64) {
    m = Eigen::Map<const MatrixD>(t.data<double>(), rows, cols);
  } else {
    m = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
            t.data<float>(), rows, cols)
            .cast<double>();
  }
  return m;
}

void check_hessian(const Tensor& h, int64_t k) {
  TAMP_CHECK(h.defined() && h.dtype() == DType::kFloat64 && h.shape() == Shape({k, k}),
             "Hessian must be float64 [{}, {}], got {}", k, k, h.defined() ? describe(h) : "none");
}

// Upper Cholesky factor U of (H + damping)^-1 = U^T U; the damping grows tenfold until H is
// numerically positive definite.
MatrixD inverse_cholesky_upper(MatrixD h, double damp_percent) {
  const int64_t k = h.rows();
  const double mean_diag = h.diagonal().mean();
  if (!std::isfinite(mean_diag)) {
    throw Error("the Hessian holds NaN or Inf: the calibration inputs are not finite",
                ErrorKind::kNumerical);
  }
  double damp = std::max(damp_percent, 1e-6) * mean_diag;
  for (int attempt = 0; attempt < 6; ++attempt, damp *= 10) {
    MatrixD damped = h;
    damped.diagonal().array() += damp;
    Eigen::LLT<MatrixD> llt(damped);
    if (llt.info() != Eigen::Success) continue;
    const MatrixD inv = llt.solve(MatrixD::Identity(k, k));
    Eigen::LLT<MatrixD> llt_inv(inv);
    if (llt_inv.info() != Eigen::Success) continue;
    return llt_inv.matrixU();
  }
  throw Error(
      fmt::format("the damped Hessian ({} x {}) is not positive definite even with damping {:.3g}",
                  k, k, damp),
      ErrorKind::kNumerical, "check the calibration inputs for NaN/Inf or raise damp_percent");
}

// Zeroes the weights of inputs that never fire (they carry no information, so cannot matter;
// their Hessian diagonal becomes 1) and returns the column order (position -> original
// column): by decreasing Hessian diagonal with act_order, else the identity.
std::vector<int64_t> column_order(MatrixD& w, MatrixD& h, bool act_order) {
  const int64_t k = h.rows();
  for (int64_t c = 0; c < k; ++c) {
    if (h(c, c) == 0) {
      h(c, c) = 1;
      w.col(c).setZero();
    }
  }
  std::vector<int64_t> perm(static_cast<size_t>(k));
  std::iota(perm.begin(), perm.end(), 0);
  if (act_order)
    std::stable_sort(perm.begin(), perm.end(),
                     [&](int64_t a, int64_t b) { return h(a, a) > h(b, b); });
  return perm;
}

// w's columns and h's rows and columns in the order perm gives.
void permute(const MatrixD& w, const MatrixD& h, const std::vector<int64_t>& perm, MatrixD& wp,
             MatrixD& hp) {
  const auto k = static_cast<int64_t>(perm.size());
  for (int64_t i = 0; i < k; ++i) {
    wp.col(i) = w.col(perm[i]);
    for (int64_t j = 0; j < k; ++j) hp(i, j) = h(perm[i], perm[j]);
  }
}

}  // namespace

HessianAccumulator::HessianAccumulator(int64_t k) : k_(k) {
  TAMP_CHECK(k > 0 && k <= 65536, "Hessian size K = {} must be in 1..65536", k);
  h_.assign(static_cast<size_t>(k * k), 0.0);
}

void HessianAccumulator::add(const Tensor& x) {
  TAMP_CHECK(x.defined() && x.dtype() == DType::kFloat32 && x.rank() >= 1 && x.shape().back() == k_,
             "layer input must be float32 [..., {}], got {}", k_,
             x.defined() ? describe(x) : "none");
  const int64_t rows = x.numel() / k_;
  if (rows == 0) return;
  using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Map<const MatrixF> xf(x.data<float>(), rows, k_);
  // One batch's X^T X in float (a GEMM at full speed), accumulated across batches in double.
  const MatrixF batch = xf.transpose() * xf;
  Eigen::Map<MatrixD> h(h_.data(), k_, k_);
  h += batch.cast<double>();
  rows_ += rows;
}

Tensor HessianAccumulator::hessian() const {
  Tensor t = Tensor::empty({k_, k_}, DType::kFloat64);
  Eigen::Map<MatrixD> out(t.data<double>(), k_, k_);
  Eigen::Map<const MatrixD> h(h_.data(), k_, k_);
  out = h;
  return t;
}

namespace {

void check_gptq_inputs(const Tensor& w_nk, const GptqOptions& options) {
  TAMP_CHECK(
      w_nk.defined() && w_nk.dtype() == DType::kFloat32 && w_nk.rank() == 2 && w_nk.numel() > 0,
      "weight must be a non-empty float32 [N, K], got {}",
      w_nk.defined() ? describe(w_nk) : "none");
  TAMP_CHECK(options.damp_percent > 0 && options.damp_percent < 1,
             "damp_percent must be in (0, 1), got {}", options.damp_percent);
  TAMP_CHECK(options.block_size > 0, "GPTQ block size must be positive, got {}",
             options.block_size);
}

// Each block's scale (and zero point) per row, from the scale group holding it.
void store_block_params(const std::vector<BlockParams>& params, int64_t group,
                        const QuantSpec& spec, BlockQuantized& q) {
  const int64_t n = q.q.dim(0), k = q.q.dim(1), kb = (k + q.block_size - 1) / q.block_size;
  q.scales = Tensor::empty({n, kb});
  if (!spec.symmetric) q.zero_points = Tensor::empty({n, kb}, DType::kUInt8);
  for (int64_t blk = 0; blk < kb; ++blk) {
    const BlockParams& p = params[blk * q.block_size / group];  // a group holds whole blocks
    for (int64_t r = 0; r < n; ++r) {
      q.scales.data<float>()[r * kb + blk] = p.scale[r];
      if (!spec.symmetric)
        q.zero_points.data<uint8_t>()[r * kb + blk] = static_cast<uint8_t>(p.zero_point[r]);
    }
  }
}

}  // namespace

BlockQuantized gptq_quantize(const Tensor& w_nk, const Tensor& hessian, const QuantSpec& spec,
                             const GptqOptions& options) {
  check_gptq_inputs(w_nk, options);
  const int64_t n = w_nk.dim(0), k = w_nk.dim(1);
  check_hessian(hessian, k);
  BlockQuantized q;
  q.bits = spec.bits;
  q.block_size = block_size_for(spec, k);
  const int64_t group = scale_group_for(spec, k), groups = (k + group - 1) / group;  // scale groups

  MatrixD w = to_matrix(w_nk, n, k);
  MatrixD h = to_matrix(hessian, k, k);
  const std::vector<int64_t> perm = column_order(w, h, options.act_order);
  // Group parameters chosen up front: all of them with act_order (static groups), or the
  // only one when a group spans the whole row.
  const bool static_groups = options.act_order || groups == 1;
  std::vector<BlockParams> params(static_cast<size_t>(groups));
  auto choose = [&](int64_t g, const MatrixD& from) {
    const int64_t begin = g * group, end = std::min(k, begin + group);
    std::vector<float> rows(static_cast<size_t>(n * (end - begin)));
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t c = begin; c < end; ++c)
        rows[r * (end - begin) + (c - begin)] = static_cast<float>(from(r, c));
    }
    params[g] = block_params(rows.data(), n, end - begin, 0, end - begin, spec);
  };
  if (static_groups)
    for (int64_t g = 0; g < groups; ++g) choose(g, w);

  MatrixD wp(n, k), hp(k, k);  // permuted copies
  permute(w, h, perm, wp, hp);
  const MatrixD u = inverse_cholesky_upper(std::move(hp), options.damp_percent);

  q.q = Tensor::empty({n, k}, DType::kUInt8);
  uint8_t* codes = q.q.data<uint8_t>();
  // A lazy batch holds whole groups, so a group's parameters see every earlier update.
  const int64_t batch = static_groups
                            ? options.block_size
                            : (std::max(options.block_size, group) + group - 1) / group * group;
  MatrixD err(n, batch);
  // Without static groups the order is the identity, so a group's columns are positions
  // [col, col + group) of wp, inside the current batch.
  for (int64_t i1 = 0; i1 < k; i1 += batch) {
    const int64_t i2 = std::min(k, i1 + batch), count = i2 - i1;
    for (int64_t i = 0; i < count; ++i) {
      const int64_t pos = i1 + i, col = perm[pos];
      if (!static_groups && col % group == 0) choose(col / group, wp);
      const BlockParams& p = params[col / group];
      const double d = u(pos, pos);
      for (int64_t r = 0; r < n; ++r) {
        const int code = quantize_code(static_cast<float>(wp(r, pos)), p, r);
        codes[r * k + col] = static_cast<uint8_t>(code);
        err(r, i) = (wp(r, pos) - dequantize_code(code, p, r)) / d;
      }
      // Error feedback onto the rest of the batch.
      if (pos + 1 < i2) {
        wp.block(0, pos + 1, n, i2 - pos - 1).noalias() -=
            err.col(i) * u.block(pos, pos + 1, 1, i2 - pos - 1);
      }
    }
    if (i2 < k)
      wp.rightCols(k - i2).noalias() -= err.leftCols(count) * u.block(i1, i2, count, k - i2);
  }

  store_block_params(params, group, spec, q);
  return q;
}

double reconstruction_error(const Tensor& w_nk, const Tensor& w_hat_nk, const Tensor& hessian) {
  TAMP_CHECK(
      w_nk.defined() && w_hat_nk.defined() && w_nk.rank() == 2 && w_nk.shape() == w_hat_nk.shape(),
      "weights {} and {} must be the same 2-D shape", w_nk.defined() ? describe(w_nk) : "none",
      w_hat_nk.defined() ? describe(w_hat_nk) : "none");
  const int64_t n = w_nk.dim(0), k = w_nk.dim(1);
  check_hessian(hessian, k);
  const MatrixD d = to_matrix(w_nk, n, k) - to_matrix(w_hat_nk, n, k);
  const MatrixD h = to_matrix(hessian, k, k);
  return ((d * h).array() * d.array()).sum();
}

}  // namespace tamp::compression
