#include <tamp/autograd/error.h>
#include <tamp/autograd/threads.h>

#include <omp.h>
#include <Eigen/Core>

namespace tamp {

void set_num_threads(int n) {
  TAMP_CHECK(n >= 1, "set_num_threads({}): need at least one thread", n);
  omp_set_num_threads(n);
  Eigen::setNbThreads(n);
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace tamp
