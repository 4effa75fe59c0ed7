// The one threading runtime of tamp is OpenMP (Eigen's GEMM uses it too: two spinning pools
// in one process starve each other on a small machine).
//
//   tamp::set_num_threads(2);
#pragma once

namespace tamp {

void set_num_threads(int n);  // n >= 1
int num_threads();

}  // namespace tamp
