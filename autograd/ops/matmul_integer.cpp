// MatMulInteger (ONNX, opset 10): int32 Y = (A - a_zero_point) * (B - b_zero_point) with
// numpy matmul broadcasting. Forward only: tamp runs it to evaluate dynamically quantized
// models (DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul), never trains through it.
//
// Zero points as the spec allows them: a_zero_point is a scalar (per tensor) or per row of
// A — [M] for a 2-D A, or A's shape with the last dim 1; b_zero_point is a scalar or per
// column of B — [N] for a 2-D B, or B's shape with the second-to-last dim 1.
//
// The sums run in kernels::int8_gemm. Under IntegerArithmetic::kX86Int16Pairs a uint8 A
// times an int8 B is summed as ONNX Runtime's AVX2 kernel sums it: the raw products in
// saturating pairs along K, the zero points applied exactly afterwards through row and
// column sums, as MLAS does.
#include <tamp/autograd/kernels/int8_gemm.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/ops/op_helpers.h>

#include <vector>

namespace tamp::ops {

namespace {

int32_t int_at(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kInt8 ? t.data<int8_t>()[i] : t.data<uint8_t>()[i];
}

// A zero point as one value per (matrix, vector) of its operand: `vectors` values per matrix
// (rows of A or columns of B), `matrices` matrices (1 when shared by every batch).
struct ZeroPoints {
  std::vector<int32_t> values;  // (matrices, vectors), or one value
  int64_t vectors = 1;
  bool scalar = true;
  // The zero points of one matrix: one value, or `vectors`.
  const int32_t* of_matrix(int64_t matrix) const {
    return scalar ? values.data() : values.data() + matrix * vectors;
  }
};

// `operand` is A (per_row) or B (per column); `own` is its shape with 1-D operands promoted.
ZeroPoints zero_points(const Tensor& zp, const Tensor& operand, const Shape& own, bool per_row,
                       const char* name) {
  ZeroPoints z;
  if (!zp.defined()) {
    z.values = {0};
    return z;
  }
  TAMP_CHECK(zp.dtype() == operand.dtype(), "{} {} must have the dtype of its operand {}", name,
             describe(zp), describe(operand));
  if (zp.numel() == 1) {
    z.values = {int_at(zp, 0)};
    return z;
  }
  const int64_t rank = static_cast<int64_t>(own.size());
  const int64_t vectors = per_row ? own[rank - 2] : own[rank - 1];
  // The shape a per-row / per-column zero point must have: the operand's with K set to 1.
  Shape want = own;
  want[per_row ? rank - 1 : rank - 2] = 1;
  const bool one_d = zp.rank() == 1 && zp.dim(0) == vectors && rank == 2;
  TAMP_CHECK(one_d || zp.shape() == want, "{} {} must be a scalar, or per {} of {} ([{}] or {})",
             name, describe(zp), per_row ? "row" : "column", describe(operand), vectors,
             to_string(want));
  z.scalar = false;
  z.vectors = vectors;
  z.values.resize(zp.numel());
  for (int64_t i = 0; i < zp.numel(); ++i) z.values[i] = int_at(zp, i);
  return z;
}

std::vector<Tensor> matmul_integer(OpContext& ctx, const std::vector<Tensor>& in) {
  const Tensor& a = input(in, 0, "A");
  const Tensor& b = input(in, 1, "B");
  const auto is_8bit = [](DType t) { return t == DType::kInt8 || t == DType::kUInt8; };
  TAMP_CHECK(is_8bit(a.dtype()) && is_8bit(b.dtype()), "A {} and B {} must be int8 or uint8",
             describe(a), describe(b));
  TAMP_CHECK(a.rank() >= 1 && b.rank() >= 1, "A {} and B {} must have rank >= 1", describe(a),
             describe(b));
  const bool a_vector = a.rank() == 1, b_vector = b.rank() == 1;
  const Shape as = a_vector ? Shape{1, a.dim(0)} : a.shape();
  const Shape bs = b_vector ? Shape{b.dim(0), 1} : b.shape();
  const int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  TAMP_CHECK(k == bs[bs.size() - 2], "A {} and B {} disagree on the inner dimension", describe(a),
             describe(b));
  const Shape a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
  const Shape batch = broadcast_shapes(a_batch, b_batch);
  Shape out_shape = batch;
  if (!a_vector) out_shape.push_back(m);
  if (!b_vector) out_shape.push_back(n);
  check_output_size(out_shape, DType::kInt32, "MatMulInteger output");
  const ZeroPoints za = zero_points(optional_input(in, 2), a, as, true, "a_zero_point");
  const ZeroPoints zb = zero_points(optional_input(in, 3), b, bs, false, "b_zero_point");

  if (k == 0) return {Tensor::zeros(out_shape, DType::kInt32)};  // sums of nothing
  Tensor y = Tensor::empty(out_shape, DType::kInt32);
  if (y.numel() == 0) return {y};
  const bool a_signed = a.dtype() == DType::kInt8, b_signed = b.dtype() == DType::kInt8;
  const bool pairs =
      ctx.integer_arithmetic == IntegerArithmetic::kX86Int16Pairs && !a_signed && b_signed;
  const auto* pa = static_cast<const uint8_t*>(a.raw_data());
  const auto* pb = static_cast<const uint8_t*>(b.raw_data());
  for (int64_t bi = 0; bi < numel(batch); ++bi) {
    const int64_t ao = broadcast_offset(bi, batch, a_batch);
    const int64_t bo = broadcast_offset(bi, batch, b_batch);
    const kernels::Int8Matrix am{pa + ao * m * k, k, a_signed, za.of_matrix(ao), !za.scalar};
    const kernels::Int8Matrix bm{pb + bo * k * n, n, b_signed, zb.of_matrix(bo), !zb.scalar};
    kernels::int8_gemm(am, bm, m, n, k, pairs, y.data<int32_t>() + bi * m * n, n);
  }
  return {y};
}

}  // namespace

OpDef matmul_integer_op() { return {"", "MatMulInteger", 10, &matmul_integer, nullptr}; }

}  // namespace tamp::ops
