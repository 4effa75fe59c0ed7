#include <tamp/autograd/detail/node.h>
#include <tamp/autograd/variable.h>

namespace tamp {

namespace {
thread_local bool g_grad_mode = true;

VariableImpl& checked(const std::shared_ptr<VariableImpl>& impl) {
  if (!impl) throw Error("use of an undefined Variable", ErrorKind::kInternal);
  return *impl;
}
}  // namespace

bool grad_mode_enabled() { return g_grad_mode; }
NoGradGuard::NoGradGuard() : previous_(g_grad_mode) { g_grad_mode = false; }
NoGradGuard::~NoGradGuard() { g_grad_mode = previous_; }

Variable::Variable(Tensor value, bool requires_grad) : impl_(std::make_shared<VariableImpl>()) {
  impl_->value = std::move(value);
  set_requires_grad(requires_grad);
}

Variable Variable::from_impl(std::shared_ptr<VariableImpl> impl) {
  Variable v;
  v.impl_ = std::move(impl);
  return v;
}

const Tensor& Variable::value() const { return checked(impl_).value; }
void Variable::set_value(Tensor value) { checked(impl_).value = std::move(value); }
const Tensor& Variable::grad() const { return checked(impl_).grad; }
void Variable::set_grad(Tensor grad) { checked(impl_).grad = std::move(grad); }
void Variable::zero_grad() { checked(impl_).grad = Tensor(); }
bool Variable::requires_grad() const { return impl_ && impl_->requires_grad; }

Variable& Variable::set_requires_grad(bool enabled) {
  auto& impl = checked(impl_);
  if (enabled && !is_floating(impl.value.dtype())) {
    throw Error(fmt::format("Variable '{}' of dtype {} cannot require a gradient", impl.name,
                            dtype_name(impl.value.dtype())));
  }
  TAMP_CHECK(enabled || !impl.grad_fn,
             "cannot stop gradients of a non-leaf Variable; use detach()");
  impl.requires_grad = enabled;
  return *this;
}

bool Variable::is_leaf() const { return checked(impl_).grad_fn == nullptr; }
const std::string& Variable::name() const { return checked(impl_).name; }
Variable& Variable::set_name(std::string name) {
  checked(impl_).name = std::move(name);
  return *this;
}

int Variable::add_hook(GradHook hook) {
  auto& impl = checked(impl_);
  TAMP_CHECK(impl.requires_grad, "a gradient hook on Variable '{}' which requires no gradient",
             impl.name);
  const int id = impl.next_hook_id++;
  impl.hooks.emplace(id, std::move(hook));
  return id;
}

void Variable::remove_hook(int id) { checked(impl_).hooks.erase(id); }

int add_ready_hook(const Variable& leaf, GradReadyHook hook) {
  auto& impl = checked(leaf.impl());
  TAMP_CHECK(impl.requires_grad && !impl.grad_fn,
             "a gradient-ready hook on Variable '{}', which is not a leaf that requires a gradient",
             impl.name);
  const int id = impl.next_hook_id++;
  impl.ready_hooks.emplace(id, std::move(hook));
  return id;
}

void remove_ready_hook(const Variable& leaf, int id) { checked(leaf.impl()).ready_hooks.erase(id); }

Variable Variable::detach() const {
  Variable v(value(), false);
  v.set_name(name());
  return v;
}

const std::shared_ptr<Node>& Variable::grad_fn() const { return checked(impl_).grad_fn; }
int Variable::output_index() const { return checked(impl_).output_index; }

}  // namespace tamp
