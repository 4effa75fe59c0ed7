// The MSE strategy: the fallback search of fallback_strategy.h, ordered by the problem's
// quantization_error() (for quantization tuning: the relative MSE of the model's output with
// that op alone quantized), so no trials are spent measuring sensitivity.
#include <tamp/scheduler/tuning/fallback_strategy.h>

namespace tamp::tuning {

std::unique_ptr<Strategy> make_mse_strategy() {
  return std::make_unique<FallbackStrategy>(FallbackStrategy::Order::kQuantizationError);
}

}  // namespace tamp::tuning
