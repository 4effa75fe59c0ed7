#include <tamp/nn/collective.h>

namespace tamp::nn {

Collective& local_collective() {
  static Collective local;
  return local;
}

}  // namespace tamp::nn
