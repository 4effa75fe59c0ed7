// dist::SyncBatchNorm: BatchNormalization nodes marked with a cross-rank group for the
// training loop (the op sums its statistics through it, autograd/ops/batch_norm.cpp).
#include <tamp/scheduler/dist.h>

#include <cstdio>

namespace tamp::dist {

namespace {

constexpr const char* kAttribute = "tamp_sync_group";

}  // namespace

SyncBatchNorm::SyncBatchNorm(nn::GraphModule& model, nn::Collective& collective) : model_(model) {
  if (collective.size() <= 1) return;
  group_ = std::make_unique<CrossRankGroup>(
      [&collective](Tensor& t) { collective.allreduce(t, nn::Reduce::kSum); });
  nn::Graph g = model_.export_graph();
  for (auto& node : g.nodes) {
    if (node.op_type != "BatchNormalization" || !(node.domain.empty() || node.domain == "ai.onnx"))
      continue;
    Attributes a = *node.attrs;
    a.set(kAttribute, group_->id());
    node.attrs = nn::attrs_with(std::move(a));
    ++nodes_;
  }
  if (nodes_ > 0) model_.set_graph(std::move(g));
}

SyncBatchNorm::~SyncBatchNorm() {
  if (nodes_ == 0) return;
  try {
    nn::Graph g = model_.export_graph();
    for (auto& node : g.nodes) {
      if (!node.attrs->has(kAttribute) || node.attrs->i(kAttribute, 0) != group_->id()) continue;
      Attributes a = *node.attrs;
      a.erase(kAttribute);
      node.attrs = nn::attrs_with(std::move(a));
    }
    model_.set_graph(std::move(g));
  } catch (const std::exception& e) {
    // Cannot happen short of memory (set_graph took the same graph with the marks); a
    // destructor must not throw.
    std::fprintf(stderr, "tamp dist: removing the synchronised BatchNorm marks failed: %s\n",
                 e.what());
  }
}

}  // namespace tamp::dist
