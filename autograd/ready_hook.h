// Gradient-ready hooks: a leaf is told when its gradient is complete for the running
// backward(), so that data-parallel training can start reducing it while the rest of the
// backward pass still runs (scheduler/dist.h, dist::GradientReducer).
//
//   int id = add_ready_hook(w, [&](const Tensor& g) { reducer.ready(i); });
//   loss.backward();            // the hook runs once w's last contribution is accumulated
//   remove_ready_hook(w, id);
//
// Unlike Variable::add_hook (which sees, and may replace, each gradient before it is
// accumulated), a ready hook only observes, after accumulation.
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
