// Gradient-ready hooks: a leaf is told when its gradient is complete for the running
// backward(), so data-parallel training can reduce it while the rest of the backward pass
// runs (dist::GradientReducer). Unlike Variable::add_hook (which sees, and may replace, each
// gradient before it is accumulated), a ready hook only observes, after accumulation.
//
//   int id = add_ready_hook(w, [&](const Tensor& g) { reducer.ready(i); });
//   loss.backward();  remove_ready_hook(w, id);   // the hook ran once w's gradient was complete
#pragma once

#include <tamp/autograd/variable.h>

#include <functional>

namespace tamp {

using GradReadyHook = std::function<void(const Tensor& grad)>;

// `leaf` must be a leaf that requires a gradient. The hook runs once per backward() that
// reaches it, right after the last gradient that backward can bring has been accumulated,
// with leaf.grad() (undefined if nothing flowed); leaves the backward does not reach are not
// told. Hooks run in the order added; ids come from the same counter as add_hook's.
int add_ready_hook(const Variable& leaf, GradReadyHook hook);
void remove_ready_hook(const Variable& leaf, int id);

}  // namespace tamp
