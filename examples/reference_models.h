// The three reference models of the engine's benchmark, written with tamp's C++ layers, the
// same shapes as benchmarks/torch/bench_torch.cpp and scripts/export_test_models.py:
//   mlp          784-512-256-10, input (N, 784)
//   cnn conv(1->32,3x3)-relu-maxpool-conv(32->64,3x3)-relu-maxpool-fc(1600->128)-relu-fc(128->10),
//                input (N, 1, 28, 28)
//   transformer  Linear(16->128) + learned positions, 2 post-norm encoder layers (4 heads,
//                ff 512, ReLU), mean over the sequence, Linear(128->10); input (N, 64, 16)
//
//   auto cnn = reference_model("cnn", rng);   Variable logits = cnn->forward(x);
#pragma once

#include <tamp/autograd/random.h>
#include <tamp/nn/layer.h>

#include <memory>
#include <string>

namespace tamp::examples {

std::shared_ptr<nn::Layer> reference_model(const std::string& name, Generator& rng);
// The per-example input shape of a reference model.
Shape reference_input_shape(const std::string& name);

}  // namespace tamp::examples
