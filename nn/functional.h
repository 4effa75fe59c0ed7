// Functional forms of parameter-free ops, on Variables, through the op table (ONNX names).
//
//   Variable h = nn::relu(x);
//   Variable p = nn::softmax(logits, -1);
//   Variable f = nn::flatten(nn::max_pool2d(h, 2));      // (N, C*H*W)
#pragma once

#include <tamp/autograd/variable.h>

#include <vector>

namespace tamp::nn {

Variable relu(const Variable& x);
Variable leaky_relu(const Variable& x, double negative_slope = 0.01);
Variable sigmoid(const Variable& x);
Variable tanh(const Variable& x);
// The exact (erf) form, 0.5 x (1 + erf(x / sqrt 2)), as torch.nn.GELU() by default.
Variable gelu(const Variable& x);
Variable softmax(const Variable& x, int64_t axis = -1);
Variable log_softmax(const Variable& x, int64_t axis = -1);

// ONNX Flatten: (d0..d(axis-1)) and (d(axis)..) become the two dims.
Variable flatten(const Variable& x, int64_t axis = 1);
// ONNX Reshape: 0 copies the input's dim, -1 is inferred.
Variable reshape(const Variable& x, const std::vector<int64_t>& shape);

// 2-D pooling over (N, C, H, W); stride defaults to the kernel size, as in PyTorch.
Variable max_pool2d(const Variable& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);
Variable avg_pool2d(const Variable& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);
// (N, C, H, W) -> (N, C, 1, 1).
Variable global_avg_pool(const Variable& x);

}  // namespace tamp::nn
