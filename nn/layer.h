// Layer: a Module with one input and one output, what Sequential chains and what a model or
// head written in C++ is made of.
//
//   struct Head : nn::Layer {
//     std::shared_ptr<nn::Linear> fc = register_module("fc", std::make_shared<nn::Linear>(128,
//     10)); Variable forward(const Variable& x) override { return fc->forward(nn::relu(x)); }
//   };
#pragma once

#include <tamp/autograd/attributes.h>
#include <tamp/nn/module.h>

#include <functional>

namespace tamp::nn {

class Layer : public Module {
 public:
  virtual Variable forward(const Variable& x) = 0;
  Variable operator()(const Variable& x) { return forward(x); }
};

// A parameter-free layer from a function (activations, reshapes):
//   nn::Lambda(nn::relu), nn::Lambda([](const Variable& x) { return nn::flatten(x); })
class Lambda : public Layer {
 public:
  explicit Lambda(std::function<Variable(const Variable&)> fn);
  Variable forward(const Variable& x) override { return fn_(x); }

 private:
  std::function<Variable(const Variable&)> fn_;
};

}  // namespace tamp::nn
