// docs/architecture.md's "What the user sees", as it compiles against the installed package: distil
// from a wider teacher while pruning to 2:4, then quantization-aware training with the masks
// locked, on one process or many under mpirun; writes int8 QDQ ONNX.
//
//   cp tests/data/models/cnn.onnx tests/data/models/cnn_wide.onnx /tmp/run && cd /tmp/run
//   design_example                                   # writes cnn_int8_2of4.onnx here
//   mpirun -np 2 design_example                      # data-parallel
#include <tamp/tamp.h>
using namespace tamp;
using namespace tamp::compression;

int main(int argc, char** argv) {
  dist::Context world(argc, argv);           // MPI; a single process needs no mpirun
  auto student = io::load_onnx("cnn.onnx");  // nn::GraphModule, params named after initializers
  auto teacher =
      std::make_shared<nn::GraphModule>(io::load_onnx("cnn_wide.onnx"));  // frozen, eval mode
  auto data = io::fashion_mnist("/usr/share/datasets/fashion-mnist");

  Scheduler sched;
  sched.append(Scheduler::combine(
      {// shot 1: distil while pruning to 2:4
       std::make_shared<Distillation>(teacher, DistillationOptions{.temperature = 4, .alpha = 0.5}),
       std::make_shared<Pruning>(PruningOptions{
           .pattern = "2:4",
           .target_sparsity = 0.5,
           .schedule = {.curve = pruning::Curve::kCubic, .start_epoch = 0, .end_epoch = 2}})}));
  sched.append(
      std::make_shared<QuantizationAwareTraining>(  // shot 2: QAT; the 2:4 masks stay locked
          QuantizerOptions{.weights = qint8_per_channel, .activations = quint8}));
  auto result = sched.fit(student, {.train = data.train,
                                    .eval = data.test,
                                    .epochs = 3,
                                    .optimizer = SGD{.lr = 0.01, .momentum = 0.9},
                                    .collective = &world.collective()});
  if (world.is_root())
    io::save_onnx_graph(lower_quantized(student.export_graph(), QuantFormat::kQdq),
                        "cnn_int8_2of4.onnx");
}
