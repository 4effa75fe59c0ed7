// Internal: the fp32 parameter updates of the optimizers (nn/sgd.cpp, nn/adam.cpp) on the CPU's
// best instruction set, over elements [begin, end) of one parameter (the callers split a
// tensor over threads). float64 parameters keep the optimizers' own loops.
//
//   kernels::sgd_step(p, g, buf, 0, n, {.lr = 0.1f, .momentum = 0.9f, .keep = 1}, /*first=*/false);
#pragma once

#include <cstdint>

namespace tamp::kernels {

struct SgdStep {
  float lr, weight_decay, momentum;
  float keep;  // 1 - dampening
  bool nesterov;
};

// d = g + wd * p; without a buffer p -= lr * d; else buf = first ? d : mu * buf + keep * d and
// p -= lr * (nesterov ? d + mu * buf : buf).
void sgd_step(float* p, const float* g, float* buf, int64_t begin, int64_t end, const SgdStep& s,
              bool first);

struct AdamStep {
  float beta1, beta2, eps;
  float l2;            // weight decay added to the gradient (Adam)
  float decay_factor;  // decoupled weight decay: p *= decay_factor first (AdamW)
  float step_size;     // lr / (1 - beta1^t)
  float inv_sqrt_bc2;  // 1 / sqrt(1 - beta2^t)
};

// m, v updated; with vmax (AMSGrad) the denominator uses max(vmax, v), stored back in vmax.
void adam_step(float* p, const float* g, float* m, float* v, float* vmax, int64_t begin,
               int64_t end, const AdamStep& s);

}  // namespace tamp::kernels
