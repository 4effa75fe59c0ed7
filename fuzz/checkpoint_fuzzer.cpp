// libFuzzer target: tamp checkpoints (io/checkpoint.h), through a file since HDF5 reads paths.
// Any input must load or give a tamp::Error; a loaded entry's bytes must match its dtype and
// shape. An odd first byte: the file as a user would pass it, so the seal (magic, length,
// CRC-32) is checked first and stops nearly every mutation (a damaged file). An even one
// ('t', the seal's first byte): the target seals the file itself first (rewriting its first 512
// bytes), as a crafted file would be, so the mutations reach libhdf5 and tamp's entry checks.
// The read runs in this process (not in tamp's isolated reader), so that coverage guides the
// fuzzer.
#include <tamp/io/checkpoint.h>
#include <tamp/io/detail/checkpoint_seal.h>
#include <tamp/io/detail/isolated_read.h>

#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tamp;
  io::detail::set_read_isolation(false);
  try {
    const std::string path = fuzz::write_input_file(data, size, ".h5");
    if (size > 0 && !(data[0] & 1)) io::detail::seal_checkpoint(path);
    const io::Checkpoint c = io::load_checkpoint(path);
    for (const auto& [name, t] : c.tensors) {
      if (static_cast<uint64_t>(t.nbytes()) > size) std::abort();
    }
  } catch (const Error&) {}
  return 0;
}
