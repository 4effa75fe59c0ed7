// libFuzzer target: tamp checkpoints (io/checkpoint.h), through a file since HDF5 reads paths.
// Any input must load or give a tamp::Error; a loaded entry's bytes must match its dtype and
// shape. Inputs are files as a user would pass them: the seal (magic, length, CRC-32) is
// checked first, so libhdf5 sees only inputs whose seal the fuzzer got right.
#include <tamp/io/checkpoint.h>

#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tamp;
  try {
    const io::Checkpoint c = io::load_checkpoint(fuzz::write_input_file(data, size, ".h5"));
    for (const auto& [name, t] : c.tensors) {
      if (static_cast<uint64_t>(t.nbytes()) > size) std::abort();
    }
  } catch (const Error&) {
  }
  return 0;
}
