#include <tamp/compression/quantization/ptq/block_quant.h>

#include <algorithm>
#include <bit>

namespace tamp::compression {

namespace {

// The spec choose_qparams sees: signed when symmetric (zero point 0, shifted to 2^(b-1) in
// the stored code), unsigned when asymmetric; per channel over the rows.
QuantSpec params_spec(const QuantSpec& spec) {
  QuantSpec s = spec;
  s.is_signed = spec.symmetric;
  s.narrow_range = spec.narrow_range && spec.symmetric;
  s.per_channel = true;
  s.axis = 0;
  s.group_size = 0;
  return s;
}

}  // namespace

int64_t block_size_for(const QuantSpec& spec, int64_t k) {
  spec.validate();
  TAMP_CHECK(k > 0, "a weight with K = {} input features cannot be quantized", k);
  const int64_t whole_row =
      std::clamp<int64_t>(static_cast<int64_t>(std::bit_ceil(static_cast<uint64_t>(k))), 16, 256);
  const int64_t block = spec.group_size > 0 ? spec.group_size : whole_row;
  check_matmul_nbits_format(spec.bits, block);
  return block;
}

int64_t scale_group_for(const QuantSpec& spec, int64_t k) {
  return spec.group_size > 0 ? spec.group_size : k;
}

BlockParams block_params(const float* w, int64_t n, int64_t k, int64_t begin, int64_t end,
                         const QuantSpec& spec) {
  TAMP_CHECK(0 <= begin && begin < end && end <= k, "block [{}, {}) is outside K = {}", begin, end,
             k);
  Tensor lo = Tensor::empty({n}), hi = Tensor::empty({n});
  float* pl = lo.data<float>();
  float* ph = hi.data<float>();
  for (int64_t r = 0; r < n; ++r) {
    const float* row = w + r * k;
    float mn = row[begin], mx = row[begin];
    for (int64_t c = begin; c < end; ++c) {
      mn = std::min(mn, row[c]);
      mx = std::max(mx, row[c]);
      // min/max skip NaN: look for it explicitly so choose_qparams can name it.
      if (std::isnan(row[c])) mn = mx = row[c];
      if (std::isnan(mn)) break;
    }
    pl[r] = mn;
    ph[r] = mx;
  }
  const QuantSpec s = params_spec(spec);
  const QuantParams p = choose_qparams(s, lo, hi);
  BlockParams b;
  const int shift = spec.symmetric ? 1 << (spec.bits - 1) : 0;
  b.code_min = static_cast<int>(s.quant_min()) + shift;
  b.code_max = static_cast<int>(s.quant_max()) + shift;
  b.scale.assign(p.scale.data<float>(), p.scale.data<float>() + n);
  b.zero_point.resize(static_cast<size_t>(n));
  const float* pz = p.zero_point.data<float>();
  for (int64_t r = 0; r < n; ++r) b.zero_point[r] = static_cast<int>(pz[r]) + shift;
  return b;
}

BlockQuantized quantize_blocks_rtn(const Tensor& w_nk, const QuantSpec& spec) {
  TAMP_CHECK(w_nk.defined() && w_nk.dtype() == DType::kFloat32 && w_nk.rank() == 2,
             "weight must be float32 [N, K], got {}", w_nk.defined() ? describe(w_nk) : "none");
  const int64_t n = w_nk.dim(0), k = w_nk.dim(1);
  TAMP_CHECK(n > 0, "weight {} has no output channels", describe(w_nk));
  BlockQuantized q;
  q.bits = spec.bits;
  q.block_size = block_size_for(spec, k);
  const int64_t kb = (k + q.block_size - 1) / q.block_size;
  q.q = Tensor::empty({n, k}, DType::kUInt8);
  q.scales = Tensor::empty({n, kb});
  if (!spec.symmetric) q.zero_points = Tensor::empty({n, kb}, DType::kUInt8);
  const float* pw = w_nk.data<float>();
  uint8_t* pq = q.q.data<uint8_t>();
  const int64_t group = scale_group_for(spec, k);
  for (int64_t begin = 0; begin < k; begin += group) {
    const int64_t end = std::min(k, begin + group);
    const BlockParams p = block_params(pw, n, k, begin, end, spec);
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t c = begin; c < end; ++c)
        pq[r * k + c] = static_cast<uint8_t>(quantize_code(pw[r * k + c], p, r));
    }
    // Storage blocks inside the group repeat its parameters.
    for (int64_t blk = begin / q.block_size; blk < kb && blk * q.block_size < end; ++blk) {
      for (int64_t r = 0; r < n; ++r) {
        q.scales.data<float>()[r * kb + blk] = p.scale[r];
        if (!spec.symmetric)
          q.zero_points.data<uint8_t>()[r * kb + blk] = static_cast<uint8_t>(p.zero_point[r]);
      }
    }
  }
  return q;
}

Tensor to_output_major(const Tensor& w_kn) {
  TAMP_CHECK(w_kn.rank() == 2, "weight must be 2-D, got {}", describe(w_kn));
  const int64_t k = w_kn.dim(0), n = w_kn.dim(1);
  Tensor t = Tensor::empty({n, k});
  float* pt = t.data<float>();
  for (int64_t i = 0; i < k; ++i) {
    for (int64_t j = 0; j < n; ++j) pt[j * k + i] = static_cast<float>(w_kn.at(i * n + j));
  }
  return t;
}

}  // namespace tamp::compression
