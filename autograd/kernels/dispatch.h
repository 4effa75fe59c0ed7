// Internal: runtime dispatch of the kernel files' exported entry points.
//
//   HWY_EXPORT(sgemm_f32);                  // in the HWY_ONCE part of a kernel file
//   void gemm(...) { TAMP_DISPATCH(sgemm_f32)(...); }
#pragma once

// HWY_DYNAMIC_DISPATCH after the environment's target choice (TAMP_SIMD) is in force.
#define TAMP_DISPATCH(fn) (::tamp::kernels::apply_simd_environment(), HWY_DYNAMIC_DISPATCH(fn))

namespace tamp::kernels {

// Applies TAMP_SIMD from the environment the first time a kernel runs; throws tamp::Error
// (on every call, until it is fixed) for a name the build or the CPU lacks.
void apply_simd_environment();

}  // namespace tamp::kernels
