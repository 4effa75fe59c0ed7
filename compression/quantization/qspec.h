// QuantSpec: how one tensor is quantized (bits, signedness, symmetry, per tensor / channel /
// group, narrow range, power-of-two scales, observer), shared by QAT, every PTQ and the export.
// Numerics are ONNX QuantizeLinear's (docs/quantization.md#quantspec-and-the-numerics).
//
//   QuantizationAwareTraining({.weights = qint8_per_channel, .activations = quint8});
//   QuantSpec w4{.bits = 4, .group_size = 32};            // weight-only int4, blocks of 32
//   QuantParams p = choose_qparams(quint8, Tensor::scalar(-1.0f), Tensor::scalar(3.0f));
#pragma once

#include <tamp/autograd/tensor.h>

#include <string>
#include <string_view>

namespace tamp::compression {

// How an observer turns the values it has seen into a range [min, max].
enum class ObserverKind {
  kMinMax,               // running min and max of everything seen
  kMovingAverageMinMax,  // exponential moving average of per-batch min and max
  kPercentile,           // histogram; clip to the given percentile of |x| mass on each side
  kEntropy,              // histogram; threshold minimising KL divergence (TensorRT-style)
  kMse,                  // histogram; threshold minimising the quantization MSE
};

// "minmax", "moving-average", "percentile", "entropy", "mse".
std::string_view observer_name(ObserverKind kind);
// Inverse of observer_name; throws naming the accepted names.
ObserverKind observer_from_name(std::string_view name);

struct ObserverOptions {
  ObserverKind kind = ObserverKind::kMinMax;
  double averaging_constant = 0.01;  // moving average: m = (1 - c) m + c batch_min
  double percentile = 99.99;         // percentile observer, in (50, 100]
  int bins = 2048;                   // histogram observers
  int freeze_epoch = -1;             // QAT: stop updating from this epoch (-1: never)
};

struct QuantSpec {
  int bits = 8;               // 2..8 (the integer range stored in int8/uint8)
  bool is_signed = true;      // int8-style range [-2^(b-1), 2^(b-1)-1], else [0, 2^b-1]
  bool symmetric = true;      // zero point 0 (signed) or 2^(b-1) (unsigned)
  bool per_channel = false;   // one scale per slice along `axis`
  int axis = 0;               // channel axis; the QAT pass sets the op's output-channel axis
  int64_t group_size = 0;     // > 0: one scale per block of this many along the reduction
                              //      axis (weight-only MatMulNBits); 0: whole axis
  bool narrow_range = false;  // signed: [-(2^(b-1)-1), 2^(b-1)-1] (drops -128 for int8)
  bool power_of_two = false;  // scales rounded up to a power of two (Vitis AI style)
  ObserverOptions observer = {};

  int64_t quant_min() const;
  int64_t quant_max() const;
  // The ONNX storage type of the integers: kInt8 or kUInt8.
  DType storage_dtype() const;
  // Throws (kInvalidInput) naming the field when the spec is inconsistent (bits out of 2..8,
  // negative group size, narrow range on an unsigned spec, ...).
  void validate() const;
  // "int8 symmetric per-channel(axis 0) minmax", for logs and `tamp inspect`.
  std::string describe() const;
};

// Weights: int8 symmetric (zero point 0) per output channel, min-max range.
inline constexpr QuantSpec qint8_per_channel{
    .bits = 8, .is_signed = true, .symmetric = true, .per_channel = true};
// int8 symmetric per tensor.
inline constexpr QuantSpec qint8{.bits = 8, .is_signed = true, .symmetric = true};
// Activations: uint8 asymmetric per tensor, moving-average min-max range.
inline constexpr QuantSpec quint8{.bits = 8,
                                  .is_signed = false,
                                  .symmetric = false,
                                  .observer = {.kind = ObserverKind::kMovingAverageMinMax}};

// Scale and zero point as FakeQuantize takes them: float32 tensors of the same shape, a
// scalar (per tensor) or [C] (per channel). zero_point holds integers in
// [quant_min, quant_max].
struct QuantParams {
  Tensor scale;
  Tensor zero_point;
};

// The parameters that represent [min, max] under `spec`. min and max are float tensors of
// the same shape (scalar or [C]). The range is first widened to contain 0 (so zero, padding
// and ReLU's floor are exact); symmetric specs use max(|min|, |max|). A zero-width range
// gets scale 1. With power_of_two the scale is rounded up to 2^k.
// Throws (kNumerical) for NaN or infinite bounds, (kInvalidInput) for min > max or
// mismatched shapes.
QuantParams choose_qparams(const QuantSpec& spec, const Tensor& min, const Tensor& max);

// Rounds a positive scale up to the next power of two (exact powers stay).
float power_of_two_scale(float scale);

}  // namespace tamp::compression
