// Runs an op of the table on Variables and records it on the tape when any input requires a
// gradient (and grad mode is on).
//
//   Variable y = apply1("Relu", {x});
//   auto outs = apply(OpRegistry::builtin().get("", "Split", 13), {x, sizes}, attrs);
#pragma once

#include <tamp/autograd/op.h>
#include <tamp/autograd/variable.h>

namespace tamp {

std::vector<Variable> apply(const OpDef& op, const std::vector<Variable>& inputs,
                            std::shared_ptr<const Attributes> attrs = nullptr,
                            const CallOptions& options = {});
// Looks the op up in the builtin table (default domain, options.opset).
std::vector<Variable> apply(std::string_view type, const std::vector<Variable>& inputs,
                            Attributes attrs = {}, const CallOptions& options = {});
// The first output.
Variable apply1(std::string_view type, const std::vector<Variable>& inputs, Attributes attrs = {},
                const CallOptions& options = {});

}  // namespace tamp
