// QDQ ONNX -> QOperator ONNX (see lower.h).
#include <tamp/compression/quantization/lower.h>

namespace tamp::compression {

nn::Graph qdq_to_qoperator(const nn::Graph& qdq) {
  throw Error("QOperator lowering is not written yet", ErrorKind::kUnsupported);
}

}  // namespace tamp::compression
