// What distillation needs to know about a model before training: that the values it names
// exist, their shapes (one forward pass on a zero example), how to feed it the student's
// input, and the learned projections that bridge different widths.
//
//   check_values_exist(teacher.graph(), {"/conv2/Conv_output_0"}, "teacher");
//   auto shapes = probe_shapes(student, "input", example_input(info), {"/conv2/Conv_output_0"});
//   Projection p(shapes.at(s), teacher_shape, rng);     // 1x1 conv (N,C,H,W) or linear
//   Variable t_like = p.forward(student_value);
#pragma once

#include <tamp/autograd/random.h>
#include <tamp/nn/conv2d.h>
#include <tamp/nn/graph_module.h>
#include <tamp/nn/linear.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tamp::compression::distillation {

// Throws (kInvalidInput) naming the first value that `graph` neither takes as input, holds as
// an initializer nor computes, with a few of the graph's value names as a hint.
void check_values_exist(const nn::Graph& graph, const std::vector<std::string>& names,
                        const std::string& model);

// The graph input `requested` (empty: the only one).
const nn::ValueInfo& graph_input(const nn::Graph& graph, const std::string& requested,
                                 const std::string& model);
// A zero tensor for `info` with batch `batch` in its first dim; throws when another dim is
// not declared (give an example input instead).
Tensor example_input(const nn::ValueInfo& info, int64_t batch, const std::string& model);
// `x` reshaped to `info`'s per-example layout when only that differs (flat vs image), else x.
Variable fit_to(const nn::ValueInfo& info, const Variable& x);

// Shapes of `names`, from one eval-mode forward pass without a tape (the mode is restored).
std::map<std::string, Shape> probe_shapes(nn::GraphModule& model, const std::string& input,
                                          const Tensor& x, const std::vector<std::string>& names);

// The width of a value: dim 1 of (N, C, H, W), the last dim of (N, C) and (N, S, C).
int64_t width_of(const Shape& shape);

// A learned map from a student value's width to a teacher value's (1x1 Conv for rank 4,
// Linear on the last axis for ranks 2 and 3). Throws when the other dims differ.
class Projection {
 public:
  Projection(const Shape& from, const Shape& to, Generator& rng, const std::string& label);
  Variable forward(const Variable& x) const;
  std::vector<std::pair<std::string, Variable>> named_parameters(const std::string& prefix) const;

 private:
  std::shared_ptr<nn::Layer> layer_;
};

}  // namespace tamp::compression::distillation
