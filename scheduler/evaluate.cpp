#include <tamp/compression/quantization/fake_quant_graph.h>
#include <tamp/compression/quantization/lowering/fused_simulation.h>
#include <tamp/nn/data_loader.h>
#include <tamp/nn/loss.h>
#include <tamp/nn/metrics.h>
#include <tamp/scheduler/evaluate.h>

#include <cstring>

namespace tamp {

const nn::ValueInfo& input_info(const nn::Graph& graph, const std::string& requested) {
  if (requested.empty()) {
    TAMP_CHECK(graph.inputs.size() == 1, "the model has {} inputs; say which one takes the data",
               graph.inputs.size());
    return graph.inputs[0];
  }
  for (const auto& in : graph.inputs)
    if (in.name == requested) return in;
  throw Error(fmt::format("the model has no input '{}'", requested));
}

std::string output_name(const nn::Graph& graph, const std::string& requested) {
  if (!requested.empty()) return requested;
  TAMP_CHECK(!graph.outputs.empty(), "the model has no outputs");
  return graph.outputs[0].name;
}

namespace {

Tensor fit_shape(const nn::ValueInfo& info, const Tensor& x) {
  if (!info.has_shape || info.shape.empty() || x.rank() == 0) return x;
  Shape want{x.dim(0)};
  int64_t known = 1;
  int unknown = 0;
  for (size_t i = 1; i < info.shape.size(); ++i) {
    want.push_back(info.shape[i].known() ? info.shape[i].value : -1);
    if (info.shape[i].known())
      known *= info.shape[i].value;
    else
      ++unknown;
  }
  const int64_t per_example = x.dim(0) ? x.numel() / x.dim(0) : 0;
  if (unknown > 1 || known == 0 || per_example % known != 0) return x;
  for (auto& d : want)
    if (d < 0) d = per_example / known;
  if (unknown == 0 && known != per_example) return x;
  return want == x.shape() ? x : x.reshape(want);
}

}  // namespace

Tensor fit_input(const nn::ValueInfo& info, const Tensor& x) {
  const bool convert = is_integer(x.dtype()) && x.dtype() != info.dtype &&
                       (is_floating(info.dtype) || info.dtype == DType::kInt64);
  return fit_shape(info, convert ? x.to(info.dtype) : x);
}

std::unique_ptr<nn::GraphModule> onnx_runtime_simulation(const nn::GraphModule& model) {
  // A float model has nothing to fuse: no copy of its parameters on every evaluation.
  if (compression::find_fake_quantize(model.graph()).empty()) return nullptr;
  int fused = 0;
  nn::Graph g = compression::simulate_fused_like_onnx_runtime(model.export_graph(), &fused);
  if (fused == 0) return nullptr;
  auto m = std::make_unique<nn::GraphModule>(std::move(g));
  m->set_integer_arithmetic(model.integer_arithmetic());
  m->eval();
  return m;
}

EvaluationShard evaluation_shard(const nn::Dataset& data, int64_t batch_size,
                                 const nn::Collective& coll) {
  // A view that does not own the dataset: evaluation never outlives the caller's reference.
  std::shared_ptr<const nn::Dataset> view(&data, [](const nn::Dataset*) {});
  EvaluationShard shard;
  shard.loader =
      std::make_unique<nn::DataLoader>(view, nn::DataLoaderOptions{.batch_size = batch_size,
                                                                   .shuffle = false,
                                                                   .prefetch = true,
                                                                   .num_shards = coll.size(),
                                                                   .shard = coll.rank()});
  shard.real_examples =
      data.size() / coll.size() + (coll.rank() < data.size() % coll.size() ? 1 : 0);
  return shard;
}

EvalResult evaluate(nn::GraphModule& evaluated, const nn::Dataset& data,
                    const EvalOptions& options) {
  const bool was_training = evaluated.is_training();
  evaluated.eval();
  const std::unique_ptr<nn::GraphModule> simulation = onnx_runtime_simulation(evaluated);
  nn::GraphModule& model = simulation ? *simulation : evaluated;
  nn::Collective& coll = options.collective ? *options.collective : nn::local_collective();
  const nn::ValueInfo& in = input_info(model.graph(), options.input);
  const std::string out = output_name(model.graph(), options.output);
  const EvaluationShard shard = evaluation_shard(data, options.batch_size, coll);
  const int64_t real = shard.real_examples;
  double loss_sum = 0;
  int64_t hits1 = 0, hits5 = 0, seen = 0, batches = 0;
  {
    NoGradGuard no_grad;
    for (const nn::Batch& b : *shard.loader) {
      if (options.max_batches >= 0 && batches++ >= options.max_batches) break;
      Tensor x = fit_input(in, b.x), y = b.y;
      int64_t n = std::min<int64_t>(x.dim(0), real - seen);
      if (n <= 0) break;
      Variable logits = model.forward({{in.name, Variable(x)}}, {out}).at(out);
      const Tensor& lv = logits.value();
      TAMP_CHECK(lv.rank() == 2, "output '{}' is {}, expected logits (N, classes)", out,
                 describe(lv));
      Tensor l = lv, t = y;
      if (n < x.dim(0)) {
        l = Tensor::empty({n, lv.dim(1)}, lv.dtype());
        std::memcpy(l.raw_data(), lv.raw_data(), l.nbytes());
        t = Tensor::empty({n}, y.dtype());
        std::memcpy(t.raw_data(), y.raw_data(), t.nbytes());
      }
      hits1 += nn::count_correct(l, t, 1);
      hits5 += nn::count_correct(l, t, std::min<int64_t>(5, l.dim(1)));
      loss_sum += nn::cross_entropy(Variable(l), Variable(t), {.reduction = nn::Reduction::kSum})
                      .value()
                      .item();
      seen += n;
    }
  }
  Tensor totals =
      Tensor::from_vector<double>({4}, {static_cast<double>(hits1), static_cast<double>(hits5),
                                        loss_sum, static_cast<double>(seen)});
  coll.allreduce(totals, nn::Reduce::kSum);
  const double* t = totals.data<double>();
  evaluated.train(was_training);
  EvalResult r;
  r.count = static_cast<int64_t>(t[3]);
  if (r.count > 0) {
    r.top1 = t[0] / t[3];
    r.top5 = t[1] / t[3];
    r.loss = t[2] / t[3];
  }
  return r;
}

}  // namespace tamp
