// The registry of cross-rank sums (cross_rank.h). Ops may run on several threads (a test runs
// two emulated ranks as threads), so the table is guarded; the sum itself runs unlocked.
#include <tamp/autograd/cross_rank.h>
#include <tamp/autograd/error.h>

#include <map>
#include <memory>
#include <mutex>

namespace tamp {

namespace {

struct Registry {
  std::mutex mutex;
  std::map<int64_t, std::shared_ptr<const CrossRankSum>> groups;
  int64_t next = 1;
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

CrossRankGroup::CrossRankGroup(CrossRankSum sum) {
  TAMP_CHECK(sum, "a cross-rank group needs a sum");
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  id_ = r.next++;
  r.groups[id_] = std::make_shared<const CrossRankSum>(std::move(sum));
}

CrossRankGroup::~CrossRankGroup() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.groups.erase(id_);
}

void cross_rank_sum(int64_t group, Tensor& t) {
  if (group == 0) return;
  std::shared_ptr<const CrossRankSum> sum;
  {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    auto it = r.groups.find(group);
    if (it != r.groups.end()) sum = it->second;
  }
  if (!sum) {
    throw Error(fmt::format("tamp_sync_group {} names no registered cross-rank group", group),
                ErrorKind::kInvalidInput,
                "synchronised BatchNorm runs inside a data-parallel Trainer "
                "(TrainOptions::sync_batch_norm), "
                "which registers the group for the training loop");
  }
  (*sum)(t);
}

}  // namespace tamp
