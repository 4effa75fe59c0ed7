// tamp in one include: every layer's public API (installed as <tamp/tamp.h>).
//
//   #include <tamp/tamp.h>
//   using namespace tamp;
//
//   nn::GraphModule model = io::load_onnx("cnn.onnx");
//   auto data = io::fashion_mnist("/usr/share/datasets/fashion-mnist");
//   Scheduler sched;
//   sched.append(std::make_shared<compression::QuantizationAwareTraining>());
//   sched.fit(model, {.train = data.train, .eval = data.test, .epochs = 1});
//   io::save_onnx_graph(compression::lower_quantized(model.export_graph(),
//   compression::QuantFormat::kQdq),
//                       "cnn_int8.onnx");
//
// docs/architecture.md's "What the user sees" is examples/standalone/design_example.cpp.
//
// Built against an installed tamp: find_package(tamp) and link tamp::tamp, or
// `pkg-config --cflags --libs tamp` (C++20). Single headers (<tamp/nn/graph.h>, ...) compile
// faster where only part of the API is needed; none of them includes Eigen, protobuf or MPI.
#pragma once

#include <tamp/version.h>

// autograd: tensors, variables, the op table
#include <tamp/autograd/apply.h>
#include <tamp/autograd/attributes.h>
#include <tamp/autograd/dtype.h>
#include <tamp/autograd/error.h>
#include <tamp/autograd/op.h>
#include <tamp/autograd/random.h>
#include <tamp/autograd/shape.h>
#include <tamp/autograd/tensor.h>
#include <tamp/autograd/tensor_math.h>
#include <tamp/autograd/threads.h>
#include <tamp/autograd/variable.h>

// nn: graphs and their executor, layers, losses, optimizers, data
#include <tamp/nn/adam.h>
#include <tamp/nn/batch_norm.h>
#include <tamp/nn/collective.h>
#include <tamp/nn/conv2d.h>
#include <tamp/nn/data_loader.h>
#include <tamp/nn/dataset.h>
#include <tamp/nn/dropout.h>
#include <tamp/nn/embedding.h>
#include <tamp/nn/fold_constants.h>
#include <tamp/nn/functional.h>
#include <tamp/nn/graph.h>
#include <tamp/nn/graph_module.h>
#include <tamp/nn/init.h>
#include <tamp/nn/layer.h>
#include <tamp/nn/layer_norm.h>
#include <tamp/nn/linear.h>
#include <tamp/nn/loss.h>
#include <tamp/nn/lr_schedule.h>
#include <tamp/nn/metrics.h>
#include <tamp/nn/module.h>
#include <tamp/nn/optimizer.h>
#include <tamp/nn/sequential.h>
#include <tamp/nn/sgd.h>

// io: ONNX in and out, TensorProto files, datasets, checkpoints
#include <tamp/io/checkpoint.h>
#include <tamp/io/hdf5_dataset.h>
#include <tamp/io/idx.h>
#include <tamp/io/onnx_export.h>
#include <tamp/io/onnx_import.h>
#include <tamp/io/tensor_proto.h>

// compression: the Component contract, quantization, pruning, distillation
#include <tamp/compression/component.h>
#include <tamp/compression/distillation/distillation.h>
#include <tamp/compression/distillation/losses.h>
#include <tamp/compression/distillation/self_distillation.h>
#include <tamp/compression/pruning/checker.h>
#include <tamp/compression/pruning/pruning.h>
#include <tamp/compression/pruning/shrink.h>
#include <tamp/compression/quantization/batch_norm_folding.h>
#include <tamp/compression/quantization/lowering/lower.h>
#include <tamp/compression/quantization/ptq/dynamic_quantization.h>
#include <tamp/compression/quantization/ptq/float_conversion.h>
#include <tamp/compression/quantization/ptq/static_quantization.h>
#include <tamp/compression/quantization/ptq/weight_only.h>
#include <tamp/compression/quantization/qat/qat.h>
#include <tamp/compression/quantization/qspec.h>

// scheduler: the training loop, multi-stage schedules and recipes, data-parallel training
// (MPI stays inside the library), evaluation, accuracy-aware tuning
#include <tamp/scheduler/dist.h>
#include <tamp/scheduler/evaluate.h>
#include <tamp/scheduler/recipe.h>
#include <tamp/scheduler/scheduler.h>
#include <tamp/scheduler/trainer.h>
#include <tamp/scheduler/tuning/quant_tuning.h>
#include <tamp/scheduler/tuning/tuner.h>
