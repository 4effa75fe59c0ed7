// Internal to the engine: the tape's node and the Variable's shared state.
#pragma once

#include <tamp/autograd/op.h>
#include <tamp/autograd/ready_hook.h>
#include <tamp/autograd/variable.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tamp {

struct VariableImpl {
  Tensor value;
  Tensor grad;
  bool requires_grad = false;
  std::string name;
  std::shared_ptr<Node> grad_fn;  // null for leaves
  int output_index = 0;
  std::map<int, GradHook> hooks;
  std::map<int, GradReadyHook> ready_hooks;  // leaves: after the last accumulation of a backward
  int next_hook_id = 0;
};

class Node {
 public:
  // Where the gradient of one input goes: into another node's output, or into a leaf.
  struct Edge {
    std::shared_ptr<Node> node;
    int index = 0;
    std::shared_ptr<VariableImpl> leaf;
    bool connected() const { return node || leaf; }
  };

  const OpDef* op = nullptr;
  OpContext ctx;
  std::vector<Shape> input_shapes;
  std::vector<Edge> next;                            // one per input
  std::vector<std::weak_ptr<VariableImpl>> outputs;  // for hooks on non-leaf Variables
  bool released = false;                             // backward ran; saved tensors are gone

  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // Releases the chain of inputs iteratively: a long tape must not overflow the stack.
  ~Node();
};

}  // namespace tamp
