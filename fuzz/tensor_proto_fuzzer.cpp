// libFuzzer target: TensorProto files (ONNX test data, `tamp infer` inputs), read from a file
// as users do; a tensor that reads back must also serialize and read back equal in size.
#include <tamp/io/tensor_proto.h>

#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tamp;
  try {
    const io::NamedTensor nt =
        io::read_named_tensor_file(fuzz::write_input_file(data, size, ".pb"));
    const io::NamedTensor back =
        io::parse_tensor_proto(io::serialize_tensor_proto(nt.tensor, nt.name));
    if (back.tensor.shape() != nt.tensor.shape() || back.tensor.dtype() != nt.tensor.dtype())
      std::abort();
  } catch (const Error&) {}
  return 0;
}
