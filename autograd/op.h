// The op table. One OpDef per ONNX operator: forward and backward side by side in one file
// under autograd/ops/, registered with one line in register_builtin_ops.cpp.
//
//   const OpDef& relu = OpRegistry::builtin().get("", "Relu", 17);
//   std::vector<Tensor> y = run(relu, {x});            // no autograd
//   std::vector<Variable> v = apply(relu, {xv});       // recorded on the tape
// Writing an op: docs/architecture.md#adding-an-op
#pragma once

#include <tamp/autograd/attributes.h>
#include <tamp/autograd/integer_arithmetic.h>
#include <tamp/autograd/random.h>
#include <tamp/autograd/tensor.h>

#include <any>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tamp {

// Newest default-domain opset tamp implements: every op of the table follows ONNX's
// semantics up to this opset, including the changes of opsets 18-21 (docs/onnx_coverage.md).
// A default-domain node of a newer opset is unsupported, whatever its op.
constexpr int kMaxOpset = 21;
// Domain of training-only ops (FakeQuantize, ...); lowered to standard ONNX before export.
inline constexpr std::string_view kTampDomain = "tamp";

struct OpContext {
  std::shared_ptr<const Attributes> attrs_ptr;
  int opset = kMaxOpset;
  bool training = false;         // module mode: Dropout drops, BatchNorm uses batch stats
  Generator* rng = nullptr;      // for random ops; the default generator when null
  std::vector<bool> needs_grad;  // per input
  // Kept by forward for backward, freed after backward: one value, the op's own struct of
  // named tensors (`struct Saved { Tensor x, w; }; ctx.save(Saved{x, w});`).
  std::any saved;
  int num_outputs = -1;  // outputs the caller wants (a graph node's); -1: unknown
  IntegerArithmetic integer_arithmetic = IntegerArithmetic::kExact;  // integer ops' sums

  const Attributes& attrs() const;
  bool any_grad() const;
  template <class S> void save(S value) { saved = std::move(value); }
  // What forward saved; throws when it saved nothing or another type.
  template <class S> const S& saved_as() const {
    if (const S* s = std::any_cast<S>(&saved)) return *s;
    throw_no_saved(saved.has_value());
  }
  Generator& generator() const { return rng ? *rng : default_generator(); }

 private:
  [[noreturn]] static void throw_no_saved(bool saved_other);
};

// forward(ctx, inputs) -> outputs. inputs[i] is undefined when an optional ONNX input is
// omitted. Keeps what backward needs with ctx.save(...), only when ctx.any_grad().
using ForwardFn = std::vector<Tensor> (*)(OpContext& ctx, const std::vector<Tensor>& inputs);
// backward(ctx, grad_outputs) -> one gradient per input (undefined = no gradient).
// grad_outputs[i] is undefined when output i received no gradient. A gradient may have the
// broadcast output shape: the engine sums it down to the input's shape. Only inputs with
// ctx.needs_grad[i] need a gradient.
using BackwardFn = std::vector<Tensor> (*)(OpContext& ctx, const std::vector<Tensor>& grad_outputs);

struct OpDef {
  std::string domain;  // "" is the default ONNX domain (ai.onnx)
  std::string type;
  int since_version = 1;  // first opset whose semantics this def implements
  ForwardFn forward = nullptr;
  BackwardFn backward = nullptr;  // null: not differentiable
  // Inputs the backward never differentiates even when they are float (Clip's bounds,
  // BatchNormalization's running statistics). A float initializer fed only to such inputs
  // is a constant or a buffer of a GraphModule, not a trainable parameter.
  std::vector<int> nondiff_inputs = {};
  // (output k, input i): in training mode output k is the new value of the buffer fed at
  // input i (BatchNormalization's running mean and variance); the executor stores it there.
  std::vector<std::pair<int, int>> state_updates = {};

  bool differentiable() const { return backward != nullptr; }
  bool differentiates_input(int i) const;
};

class OpRegistry {
 public:
  // Every op of register_builtin_ops.cpp.
  static const OpRegistry& builtin();

  void add(OpDef def);
  // The def with the highest since_version <= opset, or null (always null for a
  // default-domain opset above kMaxOpset, whose semantics tamp cannot know).
  const OpDef* find(std::string_view domain, std::string_view type, int opset) const;
  // As find, but throws (kUnsupported) naming op, domain, opset and why_missing.
  const OpDef& get(std::string_view domain, std::string_view type, int opset) const;
  // Why find() gave null: no such op, or the opsets tamp implements it at.
  std::string why_missing(std::string_view domain, std::string_view type, int opset) const;
  const std::vector<OpDef>& ops() const { return ops_; }

 private:
  std::vector<OpDef> ops_;
};

// "" and "ai.onnx" are the same domain.
std::string_view canonical_domain(std::string_view domain);

struct CallOptions {
  int opset = kMaxOpset;
  bool training = false;
  Generator* rng = nullptr;
  int num_outputs = -1;  // Split without sizes splits into this many equal parts
  IntegerArithmetic integer_arithmetic = IntegerArithmetic::kExact;
};

// Runs an op's forward without recording anything.
std::vector<Tensor> run(const OpDef& op, const std::vector<Tensor>& inputs,
                        std::shared_ptr<const Attributes> attrs = nullptr,
                        const CallOptions& options = {});
std::vector<Tensor> run(std::string_view type, const std::vector<Tensor>& inputs,
                        Attributes attrs = {}, const CallOptions& options = {});

}  // namespace tamp
