// The tape: apply() records a Node per differentiable op call; backward() sorts the nodes
// reachable from the root once and walks them in reverse, freeing each node's saved
// tensors as soon as it has run.
#include <tamp/autograd/apply.h>
#include <tamp/autograd/detail/node.h>
#include <tamp/autograd/tensor_math.h>

#include <unordered_map>
#include <unordered_set>

namespace tamp {

namespace {

std::vector<Tensor> run_forward(const OpDef& op, OpContext& ctx,
                                const std::vector<Tensor>& inputs) {
  try {
    return op.forward(ctx, inputs);
  } catch (Error& e) {
    e.add_context(op.type);
    throw;
  }
}

// Hooks of a Variable, applied in order to its total gradient.
Tensor run_hooks(VariableImpl& impl, Tensor grad) {
  for (auto& [id, hook] : impl.hooks) {
    Tensor g = hook(grad);
    TAMP_CHECK(g.shape() == grad.shape() && g.dtype() == grad.dtype(),
               "a gradient hook of '{}' returned {} for a gradient {}", impl.name, describe(g),
               describe(grad));
    grad = std::move(g);
  }
  return grad;
}

// acc += g without writing into storage someone else still holds.
void accumulate(Tensor& acc, Tensor g) {
  if (!acc.defined()) {
    acc = std::move(g);
  } else if (acc.unique()) {
    add_(acc, g);
  } else {
    acc = add(acc, g);
  }
}

void accumulate_leaf(VariableImpl& leaf, Tensor g) {
  g = run_hooks(leaf, std::move(g));
  if (!leaf.grad.defined()) {
    leaf.grad = g.unique() ? std::move(g) : g.clone();
  } else {
    accumulate(leaf.grad, std::move(g));
  }
}

void run_ready_hooks(VariableImpl& leaf) {
  for (auto& [id, hook] : leaf.ready_hooks) hook(leaf.grad);
}

// Reverse post-order of the nodes reachable from `roots`, without recursion.
std::vector<std::shared_ptr<Node>> topological_order(
    const std::vector<std::shared_ptr<Node>>& roots) {
  std::vector<std::shared_ptr<Node>> post;
  std::unordered_set<Node*> seen;
  for (const auto& root : roots) {
    if (!seen.insert(root.get()).second) continue;
    std::vector<std::pair<std::shared_ptr<Node>, size_t>> stack{{root, 0}};
    while (!stack.empty()) {
      auto& [node, next_edge] = stack.back();
      if (next_edge < node->next.size()) {
        std::shared_ptr<Node> child = node->next[next_edge++].node;
        if (child && seen.insert(child.get()).second) stack.emplace_back(std::move(child), 0);
      } else {
        post.push_back(std::move(node));
        stack.pop_back();
      }
    }
  }
  return {post.rbegin(), post.rend()};
}

// The roots' seeds in their nodes' gradient slots; a root that is a leaf takes its seed at
// once (and is listed when it has ready hooks).
struct SeededRoots {
  std::unordered_map<Node*, std::vector<Tensor>> pending;
  std::vector<std::shared_ptr<Node>> nodes;
  std::unordered_set<VariableImpl*> leaves;  // with ready hooks
};

SeededRoots seed_roots(const std::vector<Variable>& roots, std::vector<Tensor> seeds) {
  TAMP_CHECK(seeds.size() == roots.size(), "backward: {} roots but {} seeds", roots.size(),
             seeds.size());
  SeededRoots out;
  for (size_t r = 0; r < roots.size(); ++r) {
    const auto& impl = roots[r].impl();
    TAMP_CHECK(impl && impl->requires_grad,
               "backward() on a Variable that requires no gradient (nothing recorded it)");
    Tensor& seed = seeds[r];
    if (!seed.defined()) {
      TAMP_CHECK(impl->value.numel() == 1, "backward() without a seed needs a scalar, got {}",
                 describe(impl->value));
      seed = Tensor::full(impl->value.shape(), 1.0, impl->value.dtype());
    }
    TAMP_CHECK(seed.shape() == impl->value.shape() && seed.dtype() == impl->value.dtype(),
               "backward seed {} does not match {}", describe(seed), describe(impl->value));
    if (!impl->grad_fn) {
      accumulate_leaf(*impl, seed.clone());
      if (!impl->ready_hooks.empty()) out.leaves.insert(impl.get());
      continue;
    }
    auto& slot = out.pending[impl->grad_fn.get()];
    slot.resize(impl->grad_fn->outputs.size());
    accumulate(slot[impl->output_index], seed.clone());
    out.nodes.push_back(impl->grad_fn);
  }
  return out;
}

// The gradients of a node's inputs, reduced to their shapes (broadcasting), into the leaves
// or the slots of the nodes that made them.
void pass_to_inputs(const Node& node, std::vector<Tensor>& grad_inputs,
                    std::unordered_map<Node*, std::vector<Tensor>>& pending) {
  const size_t n = std::min(grad_inputs.size(), node.next.size());
  for (size_t i = 0; i < n; ++i) {
    const Node::Edge& edge = node.next[i];
    if (!edge.connected() || !grad_inputs[i].defined()) continue;
    Tensor g = std::move(grad_inputs[i]);
    if (g.shape() != node.input_shapes[i]) {
      TAMP_WITH_CONTEXT("backward of " + node.op->type, g = sum_to(g, node.input_shapes[i]));
    }
    if (edge.leaf) {
      accumulate_leaf(*edge.leaf, std::move(g));
    } else {
      auto& slot = pending[edge.node.get()];
      slot.resize(edge.node->outputs.size());
      accumulate(slot[edge.index], std::move(g));
    }
  }
}

}  // namespace

Node::~Node() {
  std::vector<std::shared_ptr<Node>> doomed;
  for (auto& e : next)
    if (e.node) doomed.push_back(std::move(e.node));
  next.clear();
  while (!doomed.empty()) {
    std::shared_ptr<Node> n = std::move(doomed.back());
    doomed.pop_back();
    if (n.use_count() == 1) {  // we hold the last reference: detach its inputs first
      for (auto& e : n->next)
        if (e.node) doomed.push_back(std::move(e.node));
      n->next.clear();
    }
  }
}

const Attributes& OpContext::attrs() const {
  static const Attributes kEmpty;
  return attrs_ptr ? *attrs_ptr : kEmpty;
}

void OpContext::throw_no_saved(bool saved_other) {
  throw Error(saved_other ? "backward found another op's saved state"
                          : "backward found nothing saved: forward "
                            "saves only when an input needs a gradient",
              ErrorKind::kInternal);
}

bool OpContext::any_grad() const {
  for (bool b : needs_grad)
    if (b) return true;
  return false;
}

std::vector<Tensor> run(const OpDef& op, const std::vector<Tensor>& inputs,
                        std::shared_ptr<const Attributes> attrs, const CallOptions& options) {
  OpContext ctx{std::move(attrs),
                options.opset,
                options.training,
                options.rng,
                std::vector<bool>(inputs.size(), false),
                {},
                options.num_outputs,
                options.integer_arithmetic};
  return run_forward(op, ctx, inputs);
}

std::vector<Tensor> run(std::string_view type, const std::vector<Tensor>& inputs, Attributes attrs,
                        const CallOptions& options) {
  return run(OpRegistry::builtin().get("", type, options.opset), inputs,
             std::make_shared<const Attributes>(std::move(attrs)), options);
}

std::vector<Variable> apply(const OpDef& op, const std::vector<Variable>& inputs,
                            std::shared_ptr<const Attributes> attrs, const CallOptions& options) {
  std::vector<Tensor> values(inputs.size());
  std::vector<bool> needs_grad(inputs.size(), false);
  bool record = false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) continue;
    values[i] = inputs[i].value();
    needs_grad[i] = inputs[i].requires_grad();
    record = record || needs_grad[i];
  }
  record = record && op.differentiable() && grad_mode_enabled();
  if (!record) std::fill(needs_grad.begin(), needs_grad.end(), false);

  auto node = record ? std::make_shared<Node>() : nullptr;
  OpContext local{std::move(attrs),    options.opset,
                  options.training,    options.rng,
                  needs_grad,          {},
                  options.num_outputs, options.integer_arithmetic};
  OpContext& ctx = node ? node->ctx : local;
  if (node) ctx = std::move(local);
  std::vector<Tensor> outs = run_forward(op, ctx, values);

  std::vector<Variable> result;
  result.reserve(outs.size());
  for (auto& t : outs) result.emplace_back(std::move(t), false);
  if (!node) return result;

  node->op = &op;
  node->input_shapes.reserve(inputs.size());
  node->next.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    node->input_shapes.push_back(values[i].defined() ? values[i].shape() : Shape{});
    if (!needs_grad[i]) continue;
    const auto& impl = inputs[i].impl();
    if (impl->grad_fn)
      node->next[i] = {impl->grad_fn, impl->output_index, nullptr};
    else
      node->next[i] = {nullptr, 0, impl};
  }
  for (size_t k = 0; k < result.size(); ++k) {
    auto& impl = *result[k].impl();
    node->outputs.push_back(result[k].impl());
    if (!result[k].value().defined() || !is_floating(result[k].dtype())) continue;
    impl.requires_grad = true;
    impl.grad_fn = node;
    impl.output_index = static_cast<int>(k);
  }
  return result;
}

std::vector<Variable> apply(std::string_view type, const std::vector<Variable>& inputs,
                            Attributes attrs, const CallOptions& options) {
  return apply(OpRegistry::builtin().get("", type, options.opset), inputs,
               std::make_shared<const Attributes>(std::move(attrs)), options);
}

Variable apply1(std::string_view type, const std::vector<Variable>& inputs, Attributes attrs,
                const CallOptions& options) {
  return apply(type, inputs, std::move(attrs), options).at(0);
}

void Variable::backward(Tensor seed) const { tamp::backward({*this}, {std::move(seed)}); }

void backward(const std::vector<Variable>& roots, std::vector<Tensor> seeds) {
  SeededRoots seeded = seed_roots(roots, std::move(seeds));
  std::unordered_map<Node*, std::vector<Tensor>>& pending = seeded.pending;
  const std::vector<std::shared_ptr<Node>>& root_nodes = seeded.nodes;
  const std::unordered_set<VariableImpl*>& root_leaves = seeded.leaves;

  const std::vector<std::shared_ptr<Node>> order = topological_order(root_nodes);
  // Leaves with ready hooks: how many edges of the walk may still bring them a gradient. A
  // node settles its edges once it has run or been skipped; the hooks run at zero.
  std::unordered_map<VariableImpl*, int> edges_left;
  for (const auto& node : order) {
    for (const Node::Edge& e : node->next) {
      if (e.leaf && !e.leaf->ready_hooks.empty()) ++edges_left[e.leaf.get()];
    }
  }
  for (VariableImpl* leaf : root_leaves) {
    if (!edges_left.count(leaf)) run_ready_hooks(*leaf);
  }
  auto settle = [&](const Node& node) {
    if (edges_left.empty()) return;
    for (const Node::Edge& e : node.next) {
      if (!e.leaf) continue;
      auto left = edges_left.find(e.leaf.get());
      if (left != edges_left.end() && --left->second == 0) run_ready_hooks(*e.leaf);
    }
  };

  for (const auto& node : order) {
    auto it = pending.find(node.get());
    if (it == pending.end()) {
      settle(*node);
      continue;
    }
    std::vector<Tensor> grad_outputs = std::move(it->second);
    pending.erase(it);
    if (node->released) {
      throw Error(fmt::format("backward through {} a second time: its saved tensors are freed",
                              node->op->type),
                  ErrorKind::kInvalidInput,
                  "compute the forward pass again before a second backward()");
    }
    bool any = false;
    for (size_t k = 0; k < grad_outputs.size(); ++k) {
      if (!grad_outputs[k].defined()) continue;
      any = true;
      if (auto out = node->outputs[k].lock(); out && !out->hooks.empty()) {
        grad_outputs[k] = run_hooks(*out, std::move(grad_outputs[k]));
      }
    }
    if (!any) {
      settle(*node);
      continue;
    }
    std::vector<Tensor> grad_inputs;
    try {
      grad_inputs = node->op->backward(node->ctx, grad_outputs);
    } catch (Error& e) {
      e.add_context("backward of " + node->op->type);
      throw;
    }
    grad_outputs.clear();
    node->ctx.saved.reset();
    node->released = true;
    pass_to_inputs(*node, grad_inputs, pending);
    settle(*node);
    node->next.clear();
  }
}

}  // namespace tamp
