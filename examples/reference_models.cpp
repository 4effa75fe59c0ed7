#include "reference_models.h"

#include <tamp/autograd/apply.h>
#include <tamp/nn/conv2d.h>
#include <tamp/nn/functional.h>
#include <tamp/nn/layer_norm.h>
#include <tamp/nn/linear.h>
#include <tamp/nn/sequential.h>

#include <cmath>

namespace tamp::examples {

namespace {

using LayerList = std::vector<std::shared_ptr<nn::Layer>>;

std::shared_ptr<nn::Layer> make_mlp(Generator& rng) {
  return std::make_shared<nn::Sequential>(LayerList{
      std::make_shared<nn::Linear>(784, 512, true, rng), std::make_shared<nn::Lambda>(nn::relu),
      std::make_shared<nn::Linear>(512, 256, true, rng), std::make_shared<nn::Lambda>(nn::relu),
      std::make_shared<nn::Linear>(256, 10, true, rng)});
}

std::shared_ptr<nn::Layer> make_cnn(Generator& rng) {
  auto relu_pool = std::make_shared<nn::Lambda>(
      [](const Variable& x) { return nn::max_pool2d(nn::relu(x), 2); });
  return std::make_shared<nn::Sequential>(LayerList{
      std::make_shared<nn::Conv2d>(1, 32, 3, nn::Conv2dOptions{}, rng), relu_pool,
      std::make_shared<nn::Conv2d>(32, 64, 3, nn::Conv2dOptions{}, rng), relu_pool,
      std::make_shared<nn::Lambda>([](const Variable& x) { return nn::flatten(x); }),
      std::make_shared<nn::Linear>(1600, 128, true, rng), std::make_shared<nn::Lambda>(nn::relu),
      std::make_shared<nn::Linear>(128, 10, true, rng)});
}

Variable transpose(const Variable& x, std::vector<int64_t> perm) {
  return apply1("Transpose", {x}, {{"perm", std::move(perm)}});
}

// Post-norm encoder layer with the attention written out (MatMul, Softmax), as exported.
class EncoderLayer : public nn::Layer {
 public:
  EncoderLayer(int64_t d_model, int64_t heads, int64_t d_ff, Generator& rng)
      : heads_(heads),
        d_head_(d_model / heads),
        scale_(Tensor::scalar(1.0 / std::sqrt(static_cast<double>(d_model / heads)))) {
    q_ = register_module("q", std::make_shared<nn::Linear>(d_model, d_model, true, rng));
    k_ = register_module("k", std::make_shared<nn::Linear>(d_model, d_model, true, rng));
    v_ = register_module("v", std::make_shared<nn::Linear>(d_model, d_model, true, rng));
    proj_ = register_module("proj", std::make_shared<nn::Linear>(d_model, d_model, true, rng));
    ff1_ = register_module("ff1", std::make_shared<nn::Linear>(d_model, d_ff, true, rng));
    ff2_ = register_module("ff2", std::make_shared<nn::Linear>(d_ff, d_model, true, rng));
    norm1_ = register_module("norm1", std::make_shared<nn::LayerNorm>(Shape{d_model}));
    norm2_ = register_module("norm2", std::make_shared<nn::LayerNorm>(Shape{d_model}));
  }

  Variable forward(const Variable& x) override {  // (B, S, D)
    const int64_t b = x.shape()[0], s = x.shape()[1];
    auto split = [&](const Variable& t) {  // (B, S, D) -> (B, H, S, Dh)
      return transpose(nn::reshape(t, {b, s, heads_, d_head_}), {0, 2, 1, 3});
    };
    Variable qh = split(q_->forward(x)), kh = split(k_->forward(x)), vh = split(v_->forward(x));
    Variable scores =
        apply1("Mul", {apply1("MatMul", {qh, transpose(kh, {0, 1, 3, 2})}), Variable(scale_)});
    Variable attn = apply1("MatMul", {nn::softmax(scores, -1), vh});  // (B, H, S, Dh)
    attn = nn::reshape(transpose(attn, {0, 2, 1, 3}), {b, s, heads_ * d_head_});
    Variable h = norm1_->forward(apply1("Add", {x, proj_->forward(attn)}));
    return norm2_->forward(apply1("Add", {h, ff2_->forward(nn::relu(ff1_->forward(h)))}));
  }

 private:
  int64_t heads_, d_head_;
  Tensor scale_;
  std::shared_ptr<nn::Linear> q_, k_, v_, proj_, ff1_, ff2_;
  std::shared_ptr<nn::LayerNorm> norm1_, norm2_;
};

class Transformer : public nn::Layer {
 public:
  static constexpr int64_t kSeq = 64, kIn = 16, kModel = 128, kHeads = 4, kFf = 512, kLayers = 2;

  explicit Transformer(Generator& rng) {
    embed_ = register_module("embed", std::make_shared<nn::Linear>(kIn, kModel, true, rng));
    Tensor pos = Tensor::empty({kSeq, kModel});
    for (int64_t i = 0; i < pos.numel(); ++i) pos.data<float>()[i] = 0.1f * rng.normal();
    pos_ = register_parameter("pos", pos);
    for (int64_t i = 0; i < kLayers; ++i) {
      layers_.push_back(register_module("layer" + std::to_string(i),
                                        std::make_shared<EncoderLayer>(kModel, kHeads, kFf, rng)));
    }
    head_ = register_module("head", std::make_shared<nn::Linear>(kModel, 10, true, rng));
  }

  Variable forward(const Variable& x) override {  // (B, 64, 16)
    Variable h = apply1("Add", {embed_->forward(x), pos_});
    for (auto& layer : layers_) h = layer->forward(h);
    return head_->forward(
        apply1("ReduceMean", {h}, {{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{0}}}));
  }

 private:
  std::shared_ptr<nn::Linear> embed_, head_;
  Variable pos_;
  std::vector<std::shared_ptr<EncoderLayer>> layers_;
};

}  // namespace

std::shared_ptr<nn::Layer> reference_model(const std::string& name, Generator& rng) {
  if (name == "mlp") return make_mlp(rng);
  if (name == "cnn") return make_cnn(rng);
  if (name == "transformer") return std::make_shared<Transformer>(rng);
  throw Error(fmt::format("unknown reference model '{}' (mlp, cnn, transformer)", name));
}

Shape reference_input_shape(const std::string& name) {
  if (name == "mlp") return {784};
  if (name == "cnn") return {1, 28, 28};
  if (name == "transformer") return {Transformer::kSeq, Transformer::kIn};
  throw Error(fmt::format("unknown reference model '{}' (mlp, cnn, transformer)", name));
}

}  // namespace tamp::examples
