// Internal: the OpDef of every builtin op, one function per op, defined in the op's family
// file under autograd/ops/. register_builtin_ops.cpp lists them.
#pragma once

#include <tamp/autograd/op.h>

namespace tamp::ops {

// arg.cpp
OpDef arg_max_op();
OpDef arg_min_op();

// batch_norm.cpp
OpDef batch_normalization_op();

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

// cast.cpp
OpDef cast_like_op();
OpDef cast_op();

// clip.cpp
OpDef clip_op();

// concat_split.cpp
OpDef concat_op();
OpDef split_op();

// constant.cpp
OpDef constant_of_shape_op();
OpDef constant_op();
OpDef range_op();

// conv.cpp, conv_transpose.cpp
OpDef conv_op();
OpDef conv_transpose_op();

// cross_entropy.cpp
OpDef negative_log_likelihood_loss_op();
OpDef softmax_cross_entropy_loss_op();
OpDef tamp_softmax_cross_entropy_loss_op();  // domain tamp: + label_smoothing

// dropout.cpp
OpDef dropout_op();

// expand.cpp
OpDef expand_op();
OpDef tile_op();

// gather.cpp (and the Scatter ops)
OpDef gather_elements_op();
OpDef gather_op();
OpDef scatter_elements_op();
OpDef scatter_nd_op();

// global_pool.cpp
OpDef global_average_pool_op();
OpDef global_max_pool_op();

// fake_quantize.cpp (domain tamp)
OpDef fake_quantize_op();

// kl_div.cpp (domain tamp)
OpDef tamp_softmax_kl_div_loss_op();

// group_norm.cpp
OpDef group_normalization_op();
OpDef instance_normalization_op();

// layer_norm.cpp
OpDef layer_normalization_op();

// matmul.cpp
OpDef gemm_op();
OpDef matmul_op();

// matmul_integer.cpp
OpDef matmul_integer_op();

// matmul_nbits.cpp (domain com.microsoft)
OpDef matmul_nbits_op();

// mse_loss.cpp (domain tamp)
OpDef tamp_mse_loss_op();

// pad.cpp
OpDef pad_op();

// pool.cpp
OpDef average_pool_op();
OpDef max_pool_op();

// reduce.cpp
OpDef reduce_l1_op();
OpDef reduce_l2_op();
OpDef reduce_log_sum_exp_op();
OpDef reduce_log_sum_op();
OpDef reduce_max_op();
OpDef reduce_mean_op();
OpDef reduce_min_op();
OpDef reduce_prod_op();
OpDef reduce_sum_op();
OpDef reduce_sum_square_op();

// reshape.cpp
OpDef flatten_op();
OpDef identity_op();
OpDef reshape_op();
OpDef shape_op();
OpDef size_op();
OpDef squeeze_op();
OpDef unsqueeze_op();

// resize.cpp
OpDef resize_op();

// slice.cpp
OpDef slice_op();

// softmax.cpp
OpDef log_softmax_op();
OpDef softmax_op();

// transpose.cpp
OpDef transpose_op();

// unary.cpp
OpDef abs_op();
OpDef ceil_op();
OpDef cos_op();
OpDef elu_op();
OpDef erf_op();
OpDef exp_op();
OpDef floor_op();
OpDef gelu_op();
OpDef hard_sigmoid_op();
OpDef hard_swish_op();
OpDef leaky_relu_op();
OpDef log_op();
OpDef mish_op();
OpDef neg_op();
OpDef not_op();
OpDef reciprocal_op();
OpDef relu_op();
OpDef round_op();
OpDef selu_op();
OpDef sigmoid_op();
OpDef sin_op();
OpDef softplus_op();
OpDef sqrt_op();
OpDef tanh_op();

// prelu.cpp
OpDef prelu_op();

// qlinear.cpp
OpDef conv_integer_op();
OpDef qlinear_conv_op();
OpDef qlinear_matmul_op();

// qlinear_add.cpp
OpDef qlinear_add_op();  // com.microsoft

// quantize_linear.cpp
OpDef dequantize_linear_op();
OpDef dynamic_quantize_linear_op();
OpDef quantize_linear_op();

// variadic.cpp
OpDef max_op();
OpDef mean_op();
OpDef min_op();
OpDef sum_op();

// where.cpp
OpDef where_op();

}  // namespace tamp::ops
