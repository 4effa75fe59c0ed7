// The one list of supported ops: one line per op, alphabetical by ONNX name. The importer,
// the executor, the gradient checks and `tamp inspect` all read this table. Each line names the
// function that returns the op's OpDef, defined in its family file under autograd/ops/; the
// list declares it and registers it, so no header repeats the ops.
#include <tamp/autograd/op.h>

#define TAMP_BUILTIN_OPS(OP)                                                          \
  OP(abs_op)                                                                          \
  OP(add_op)                                                                          \
  OP(and_op)                                                                          \
  OP(arg_max_op)                                                                      \
  OP(arg_min_op)                                                                      \
  OP(average_pool_op)                                                                 \
  OP(batch_normalization_op)                                                          \
  OP(cast_op)                                                                         \
  OP(cast_like_op)                                                                    \
  OP(ceil_op)                                                                         \
  OP(clip_op)                                                                         \
  OP(concat_op)                                                                       \
  OP(constant_op)                                                                     \
  OP(constant_of_shape_op)                                                            \
  OP(conv_op)                                                                         \
  OP(conv_integer_op)                                                                 \
  OP(conv_transpose_op)                                                               \
  OP(cos_op)                                                                          \
  OP(dequantize_linear_op)                                                            \
  OP(div_op)                                                                          \
  OP(dropout_op)                                                                      \
  OP(dynamic_quantize_linear_op)                                                      \
  OP(elu_op)                                                                          \
  OP(equal_op)                                                                        \
  OP(erf_op)                                                                          \
  OP(exp_op)                                                                          \
  OP(expand_op)                                                                       \
  OP(flatten_op)                                                                      \
  OP(floor_op)                                                                        \
  OP(gather_op)                                                                       \
  OP(gather_elements_op)                                                              \
  OP(gelu_op)                                                                         \
  OP(gemm_op)                                                                         \
  OP(global_average_pool_op)                                                          \
  OP(global_max_pool_op)                                                              \
  OP(greater_op)                                                                      \
  OP(greater_or_equal_op)                                                             \
  OP(group_normalization_op)                                                          \
  OP(hard_sigmoid_op)                                                                 \
  OP(hard_swish_op)                                                                   \
  OP(identity_op)                                                                     \
  OP(instance_normalization_op)                                                       \
  OP(layer_normalization_op)                                                          \
  OP(leaky_relu_op)                                                                   \
  OP(less_op)                                                                         \
  OP(less_or_equal_op)                                                                \
  OP(log_op)                                                                          \
  OP(log_softmax_op)                                                                  \
  OP(matmul_op)                                                                       \
  OP(matmul_integer_op)                                                               \
  OP(max_op)                                                                          \
  OP(max_pool_op)                                                                     \
  OP(mean_op)                                                                         \
  OP(min_op)                                                                          \
  OP(mish_op)                                                                         \
  OP(mul_op)                                                                          \
  OP(neg_op)                                                                          \
  OP(negative_log_likelihood_loss_op)                                                 \
  OP(not_op)                                                                          \
  OP(or_op)                                                                           \
  OP(pad_op)                                                                          \
  OP(pow_op)                                                                          \
  OP(prelu_op)                                                                        \
  OP(qlinear_add_op)                                                                  \
  OP(qlinear_conv_op)                                                                 \
  OP(qlinear_matmul_op)                                                               \
  OP(quantize_linear_op)                                                              \
  OP(range_op)                                                                        \
  OP(reciprocal_op)                                                                   \
  OP(reduce_l1_op)                                                                    \
  OP(reduce_l2_op)                                                                    \
  OP(reduce_log_sum_op)                                                               \
  OP(reduce_log_sum_exp_op)                                                           \
  OP(reduce_max_op)                                                                   \
  OP(reduce_mean_op)                                                                  \
  OP(reduce_min_op)                                                                   \
  OP(reduce_prod_op)                                                                  \
  OP(reduce_sum_op)                                                                   \
  OP(reduce_sum_square_op)                                                            \
  OP(relu_op)                                                                         \
  OP(reshape_op)                                                                      \
  OP(resize_op)                                                                       \
  OP(round_op)                                                                        \
  OP(scatter_elements_op)                                                             \
  OP(scatter_nd_op)                                                                   \
  OP(selu_op)                                                                         \
  OP(shape_op)                                                                        \
  OP(sigmoid_op)                                                                      \
  OP(sin_op)                                                                          \
  OP(size_op)                                                                         \
  OP(slice_op)                                                                        \
  OP(softmax_op)                                                                      \
  OP(softmax_cross_entropy_loss_op)                                                   \
  OP(softplus_op)                                                                     \
  OP(split_op)                                                                        \
  OP(sqrt_op)                                                                         \
  OP(squeeze_op)                                                                      \
  OP(sub_op)                                                                          \
  OP(sum_op)                                                                          \
  OP(tanh_op)                                                                         \
  OP(tile_op)                                                                         \
  OP(transpose_op)                                                                    \
  OP(unsqueeze_op)                                                                    \
  OP(where_op)                                                                        \
  OP(xor_op)                                                                          \
  /* Training-only ops of the tamp domain, lowered to standard ONNX before export. */ \
  OP(fake_quantize_op)                                                                \
  OP(tamp_mse_loss_op)                                                                \
  OP(tamp_softmax_cross_entropy_loss_op)                                              \
  OP(tamp_softmax_kl_div_loss_op)                                                     \
  /* ONNX Runtime's float kernels, bit for bit: the fused-kernel simulation. */       \
  OP(ort_softmax_op)                                                                  \
  /* ONNX Runtime's contrib ops (com.microsoft) that tamp exports and evaluates. */   \
  OP(matmul_nbits_op)

namespace tamp {

namespace ops {
#define TAMP_DECLARE_OP(name) OpDef name();
TAMP_BUILTIN_OPS(TAMP_DECLARE_OP)
#undef TAMP_DECLARE_OP
}  // namespace ops

const OpRegistry& OpRegistry::builtin() {
  static const OpRegistry registry = [] {
    OpRegistry r;
#define TAMP_REGISTER_OP(name) r.add(ops::name());
    TAMP_BUILTIN_OPS(TAMP_REGISTER_OP)
#undef TAMP_REGISTER_OP
    return r;
  }();
  return registry;
}

}  // namespace tamp
