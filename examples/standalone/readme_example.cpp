// The README's C++ example, as it compiles against the installed package (the package test
// builds it): distil from the trained float CNN while pruning to 2:4 and training with fake
// quantization, in one stage; writes int8 QDQ ONNX.
//   cd tests/data/models && readme_example          # writes cnn_int8_2of4.onnx here
#include <tamp/tamp.h>
using namespace tamp;
using namespace tamp::compression;

int main() {
  auto model = io::load_onnx("cnn_fmnist.onnx");  // nn::GraphModule
  auto teacher = std::make_shared<nn::GraphModule>(io::load_onnx("cnn_fmnist.onnx"));
  auto data = io::fashion_mnist("/usr/share/datasets/fashion-mnist");

  Scheduler sched;
  sched.append(Scheduler::combine(
      {// trained together
       std::make_shared<Distillation>(teacher, DistillationOptions{.temperature = 4, .alpha = 0.5}),
       std::make_shared<Pruning>(PruningOptions{.pattern = "2:4"}),
       std::make_shared<QuantizationAwareTraining>()}));
  FitResult r = sched.fit(model, {.train = data.train,
                                  .eval = data.test,
                                  .max_steps_per_epoch = 400,
                                  .optimizer = Adam{.lr = 5e-4}});
  fmt::print("top-1 {:.2f} %\n", 100 * r.stages[0].record.eval.top1);
  io::save_onnx_graph(lower_quantized(model.export_graph(), QuantFormat::kQdq),
                      "cnn_int8_2of4.onnx");
}
