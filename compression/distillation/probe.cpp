#include <tamp/compression/distillation/probe.h>

#include <set>

namespace tamp::compression::distillation {

void check_values_exist(const nn::Graph& g, const std::vector<std::string>& names,
                        const std::string& model) {
  std::set<std::string> defined;
  for (const auto& v : g.defined_values()) defined.insert(v);
  for (const auto& name : names) {
    if (defined.count(name)) continue;
    std::string some;
    int shown = 0;
    for (const auto& n : g.nodes) {
      for (const auto& o : n.outputs) {
        if (o.empty() || shown >= 8) continue;
        some += (shown++ ? ", " : "") + o;
      }
    }
    throw Error(fmt::format("the {} has no value named '{}'", model, name),
                ErrorKind::kInvalidInput,
                fmt::format("name a node output of the {}, e.g. {}", model, some));
  }
}

const nn::ValueInfo& graph_input(const nn::Graph& g, const std::string& requested,
                                 const std::string& model) {
  if (requested.empty()) {
    TAMP_CHECK(g.inputs.size() == 1, "the {} has {} inputs: say which one takes the data", model,
               g.inputs.size());
    return g.inputs[0];
  }
  for (const auto& i : g.inputs)
    if (i.name == requested) return i;
  throw Error(fmt::format("the {} has no input named '{}'", model, requested));
}

Tensor example_input(const nn::ValueInfo& info, int64_t batch, const std::string& model) {
  TAMP_CHECK(info.has_shape && !info.shape.empty(),
             "the {}'s input '{}' declares no shape: give an example input", model, info.name);
  Shape shape{batch};
  for (size_t i = 1; i < info.shape.size(); ++i) {
    TAMP_CHECK(info.shape[i].known(),
               "the {}'s input '{}' has an undeclared dim {}: give an example input", model,
               info.name, i);
    shape.push_back(info.shape[i].value);
  }
  return Tensor::zeros(shape, info.dtype);
}

Variable fit_to(const nn::ValueInfo& info, const Variable& x) {
  if (!info.has_shape || info.shape.empty() || x.value().rank() == 0) return x;
  int64_t per_example = 1;
  Shape shape{x.value().dim(0)};
  for (size_t i = 1; i < info.shape.size(); ++i) {
    if (!info.shape[i].known()) return x;
    per_example *= info.shape[i].value;
    shape.push_back(info.shape[i].value);
  }
  if (shape == x.shape() || x.value().numel() != per_example * x.value().dim(0)) return x;
  return Variable(x.value().reshape(shape));
}

std::map<std::string, Shape> probe_shapes(nn::GraphModule& model, const std::string& input,
                                          const Tensor& x, const std::vector<std::string>& names) {
  const bool was_training = model.is_training();
  model.eval();
  std::map<std::string, Shape> shapes;
  try {
    NoGradGuard no_grad;
    for (const auto& [name, v] : model.forward({{input, Variable(x)}}, names))
      shapes[name] = v.shape();
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  return shapes;
}

int64_t width_of(const Shape& shape) {
  TAMP_CHECK(shape.size() >= 2 && shape.size() <= 4,
             "distilled values must have rank 2, 3 or 4, got {}", to_string(shape));
  return shape.size() == 4 ? shape[1] : shape.back();
}

Projection::Projection(const Shape& from, const Shape& to, Generator& rng,
                       const std::string& label) {
  TAMP_CHECK(from.size() == to.size(), "{}: student {} and teacher {} have different ranks", label,
             to_string(from), to_string(to));
  const int64_t cs = width_of(from), ct = width_of(to);
  Shape a = from, b = to;
  a[0] = b[0] = 0;  // the batch may differ in the probe
  if (from.size() == 4)
    a[1] = b[1] = 0;
  else
    a.back() = b.back() = 0;
  TAMP_CHECK(
      a == b,
      "{}: student {} and teacher {} differ in more than their width (the batch and spatial dims "
      "must match)",
      label, to_string(from), to_string(to));
  if (from.size() == 4)
    layer_ = std::make_shared<nn::Conv2d>(cs, ct, 1, nn::Conv2dOptions{}, rng);
  else
    layer_ = std::make_shared<nn::Linear>(cs, ct, true, rng);
}

Variable Projection::forward(const Variable& x) const { return layer_->forward(x); }

std::vector<std::pair<std::string, Variable>> Projection::named_parameters(
    const std::string& prefix) const {
  std::vector<std::pair<std::string, Variable>> out;
  for (auto& [n, v] : layer_->named_parameters()) out.emplace_back(prefix + "." + n, v);
  return out;
}

}  // namespace tamp::compression::distillation
