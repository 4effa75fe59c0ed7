// libFuzzer target: HDF5 dataset files (x and y datasets), through a file since HDF5 reads
// paths. libhdf5 itself is Debian's uninstrumented build: the sanitizers watch tamp's side
// (sizes, allocation, conversion), a crash inside libhdf5 still shows as a finding. The read
// runs in this process (not in tamp's isolated reader), so that coverage guides the fuzzer.
#include <tamp/io/detail/isolated_read.h>
#include <tamp/io/hdf5_dataset.h>

#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tamp;
  io::detail::set_read_isolation(false);
  try {
    const auto ds = io::hdf5_dataset(fuzz::write_input_file(data, size, ".h5"));
    if (ds->x().dim(0) != ds->y().dim(0)) std::abort();
  } catch (const Error&) {}
  return 0;
}
