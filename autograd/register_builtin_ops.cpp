// The one list of supported ops: one line per op, alphabetical by ONNX name. The importer,
// the executor, the gradient checks and `tamp inspect` all read this table.
#include <tamp/autograd/ops/ops.h>

namespace tamp {

const OpRegistry& OpRegistry::builtin() {
  static const OpRegistry registry = [] {
    OpRegistry r;
    r.add(ops::abs_op());
    r.add(ops::add_op());
    r.add(ops::and_op());
    r.add(ops::arg_max_op());
    r.add(ops::arg_min_op());
    r.add(ops::average_pool_op());
    r.add(ops::batch_normalization_op());
    r.add(ops::cast_op());
    r.add(ops::cast_like_op());
    r.add(ops::ceil_op());
    r.add(ops::clip_op());
    r.add(ops::concat_op());
    r.add(ops::constant_op());
    r.add(ops::constant_of_shape_op());
    r.add(ops::conv_op());
    r.add(ops::conv_integer_op());
    r.add(ops::conv_transpose_op());
    r.add(ops::cos_op());
    r.add(ops::dequantize_linear_op());
    r.add(ops::div_op());
    r.add(ops::dropout_op());
    r.add(ops::dynamic_quantize_linear_op());
    r.add(ops::elu_op());
    r.add(ops::equal_op());
    r.add(ops::erf_op());
    r.add(ops::exp_op());
    r.add(ops::expand_op());
    r.add(ops::flatten_op());
    r.add(ops::floor_op());
    r.add(ops::gather_op());
    r.add(ops::gather_elements_op());
    r.add(ops::gelu_op());
    r.add(ops::gemm_op());
    r.add(ops::global_average_pool_op());
    r.add(ops::global_max_pool_op());
    r.add(ops::greater_op());
    r.add(ops::greater_or_equal_op());
    r.add(ops::group_normalization_op());
    r.add(ops::hard_sigmoid_op());
    r.add(ops::hard_swish_op());
    r.add(ops::identity_op());
    r.add(ops::instance_normalization_op());
    r.add(ops::layer_normalization_op());
    r.add(ops::leaky_relu_op());
    r.add(ops::less_op());
    r.add(ops::less_or_equal_op());
    r.add(ops::log_op());
    r.add(ops::log_softmax_op());
    r.add(ops::matmul_op());
    r.add(ops::matmul_integer_op());
    r.add(ops::max_op());
    r.add(ops::max_pool_op());
    r.add(ops::mean_op());
    r.add(ops::min_op());
    r.add(ops::mish_op());
    r.add(ops::mul_op());
    r.add(ops::neg_op());
    r.add(ops::negative_log_likelihood_loss_op());
    r.add(ops::not_op());
    r.add(ops::or_op());
    r.add(ops::pad_op());
    r.add(ops::pow_op());
    r.add(ops::prelu_op());
    r.add(ops::qlinear_conv_op());
    r.add(ops::qlinear_matmul_op());
    r.add(ops::quantize_linear_op());
    r.add(ops::range_op());
    r.add(ops::reciprocal_op());
    r.add(ops::reduce_l1_op());
    r.add(ops::reduce_l2_op());
    r.add(ops::reduce_log_sum_op());
    r.add(ops::reduce_log_sum_exp_op());
    r.add(ops::reduce_max_op());
    r.add(ops::reduce_mean_op());
    r.add(ops::reduce_min_op());
    r.add(ops::reduce_prod_op());
    r.add(ops::reduce_sum_op());
    r.add(ops::reduce_sum_square_op());
    r.add(ops::relu_op());
    r.add(ops::reshape_op());
    r.add(ops::resize_op());
    r.add(ops::round_op());
    r.add(ops::scatter_elements_op());
    r.add(ops::scatter_nd_op());
    r.add(ops::selu_op());
    r.add(ops::shape_op());
    r.add(ops::sigmoid_op());
    r.add(ops::sin_op());
    r.add(ops::size_op());
    r.add(ops::slice_op());
    r.add(ops::softmax_op());
    r.add(ops::softmax_cross_entropy_loss_op());
    r.add(ops::softplus_op());
    r.add(ops::split_op());
    r.add(ops::sqrt_op());
    r.add(ops::squeeze_op());
    r.add(ops::sub_op());
    r.add(ops::sum_op());
    r.add(ops::tanh_op());
    r.add(ops::tile_op());
    r.add(ops::transpose_op());
    r.add(ops::unsqueeze_op());
    r.add(ops::where_op());
    r.add(ops::xor_op());
    // Training-only ops of the tamp domain, lowered to standard ONNX before export.
    r.add(ops::fake_quantize_op());
    r.add(ops::tamp_mse_loss_op());
    r.add(ops::tamp_softmax_cross_entropy_loss_op());
    r.add(ops::tamp_softmax_kl_div_loss_op());
    // ONNX Runtime's contrib ops (com.microsoft) that tamp exports and evaluates.
    r.add(ops::matmul_nbits_op());
    r.add(ops::qlinear_add_op());
    return r;
  }();
  return registry;
}

}  // namespace tamp
