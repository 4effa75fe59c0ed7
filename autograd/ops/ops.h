// Internal: the OpDef of every builtin op, one function per op, defined in the op's family
// file under autograd/ops/. register_builtin_ops.cpp lists them.
#pragma once

#include <tamp/autograd/op.h>

namespace tamp::ops {

// binary.cpp
OpDef add_op();
OpDef and_op();
OpDef div_op();
OpDef equal_op();
OpDef greater_op();
OpDef greater_or_equal_op();
OpDef less_op();
OpDef less_or_equal_op();
OpDef mul_op();
OpDef or_op();
OpDef pow_op();
OpDef sub_op();
OpDef xor_op();

// conv.cpp, conv_transpose.cpp
OpDef conv_op();
OpDef conv_transpose_op();

// fake_quantize.cpp (domain tamp)
OpDef fake_quantize_op();
// matmul.cpp
OpDef gemm_op();
OpDef matmul_op();

// unary.cpp
OpDef abs_op();
OpDef ceil_op();
OpDef cos_op();
OpDef elu_op();
OpDef erf_op();
OpDef exp_op();
OpDef floor_op();
OpDef hard_sigmoid_op();
OpDef hard_swish_op();
OpDef leaky_relu_op();
OpDef log_op();
OpDef neg_op();
OpDef not_op();
OpDef reciprocal_op();
OpDef relu_op();
OpDef round_op();
OpDef sigmoid_op();
OpDef sin_op();
OpDef softplus_op();
OpDef sqrt_op();
OpDef tanh_op();

// quantize_linear.cpp
OpDef dequantize_linear_op();
OpDef dynamic_quantize_linear_op();
OpDef quantize_linear_op();
}  // namespace tamp::ops
