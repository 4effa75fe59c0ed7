// Internal: reads the attributes of ONNX Conv and ConvTranspose (kernel_shape, strides,
// dilations, pads, auto_pad, group, output_padding, output_shape), checks them against the
// shapes of X, W and B, and returns the kernel geometry in conv orientation plus Y's shape.
#pragma once

#include <tamp/autograd/attributes.h>
#include <tamp/autograd/kernels/conv.h>
#include <tamp/autograd/tensor.h>

namespace tamp::ops {

struct ConvGeometry {
  kernels::ConvShape shape;  // Conv: X -> Y. ConvTranspose: Y -> X (Y is the conv input).
  Shape y_shape;             // the op's output
};

// b may be undefined (no bias).
ConvGeometry conv_geometry(const Attributes& attrs, const Tensor& x, const Tensor& w,
                           const Tensor& b);
ConvGeometry conv_transpose_geometry(const Attributes& attrs, const Tensor& x, const Tensor& w,
                                     const Tensor& b);

}  // namespace tamp::ops
