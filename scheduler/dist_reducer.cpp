// dist::GradientReducer: gradient buckets reduced while backward still runs.
#include <tamp/autograd/ready_hook.h>
#include <tamp/scheduler/detail/dist_detail.h>

#include <cstring>

namespace tamp::dist {

namespace {

// sum -> mean, the way the blocking path does it (float32: times 1/n).
void scale_into(void* out, const void* sum, DType dtype, int64_t n, int ranks) {
  if (dtype == DType::kFloat32) {
    const float inv = 1.0f / static_cast<float>(ranks);
    const float* s = static_cast<const float*>(sum);
    float* o = static_cast<float*>(out);
    for (int64_t i = 0; i < n; ++i) o[i] = s[i] * inv;
  } else {
    const double* s = static_cast<const double*>(sum);
    double* o = static_cast<double*>(out);
    for (int64_t i = 0; i < n; ++i) o[i] = s[i] / ranks;
  }
}

}  // namespace

struct GradientReducer::Impl {
  struct Slot {
    Variable param;
    int bucket = 0;
    int64_t offset = 0;  // elements into the bucket
    int hook = -1;
    bool ready = false;  // this step
  };
  struct Bucket {
    Tensor buffer;  // (numel,) of the bucket's dtype: the gradients, then their sums
    std::vector<int> slots;
    int pending = 0;
    bool started = false;
  };

  nn::Collective& collective;
  detail::MpiCollective* mpi = nullptr;  // null: no overlap
  ReducerOptions options;
  std::vector<Slot> slots;
  std::vector<Bucket> buckets;
  size_t next = 0;  // the next bucket to start
  bool armed = false;
  bool stale = false;  // a gradient changed after its bucket started
  int64_t early = 0;

  Impl(nn::Collective& c, ReducerOptions o) : collective(c), options(o) {}

  void copy_in(Slot& s) {
    Bucket& b = buckets[static_cast<size_t>(s.bucket)];
    const size_t bytes = static_cast<size_t>(s.param.value().numel()) * size_of(b.buffer.dtype());
    auto* dst = static_cast<unsigned char*>(b.buffer.raw_data()) +
                static_cast<size_t>(s.offset) * size_of(b.buffer.dtype());
    const Tensor& g = s.param.grad();
    if (g.defined()) {
      TAMP_CHECK(g.shape() == s.param.shape() && g.dtype() == b.buffer.dtype(),
                 "the gradient of '{}' is {}, its parameter {}", s.param.name(), describe(g),
                 describe(s.param.value()));
      std::memcpy(dst, g.raw_data(), bytes);
    } else {
      std::memset(dst, 0, bytes);
    }
  }

  void start(Bucket& b) {
    mpi->start_sum(b.buffer.raw_data(), b.buffer.numel(), b.buffer.dtype());
    b.started = true;
  }

  void on_ready(size_t i) {
    if (!armed) return;
    Slot& s = slots[i];
    Bucket& b = buckets[static_cast<size_t>(s.bucket)];
    if (b.started) {  // a second backward in this step changed a gradient already sent
      stale = true;
      return;
    }
    copy_in(s);
    if (!s.ready) {
      s.ready = true;
      --b.pending;
    }
    while (next < buckets.size() && buckets[next].pending == 0) {
      start(buckets[next++]);
      ++early;
    }
    mpi->test_started();  // MPI advances nonblocking collectives only inside its calls
  }

  void reset_step() {
    for (auto& s : slots) s.ready = false;
    for (auto& b : buckets) {
      b.pending = static_cast<int>(b.slots.size());
      b.started = false;
    }
    next = 0;
    stale = false;
    armed = false;
  }

  // Every gradient defined and owned (reduced in place), then one fused blocking allreduce.
  void reduce_blocking() {
    std::vector<Tensor> grads;
    for (auto& s : slots) {
      Variable& p = s.param;
      if (!p.grad().defined())
        p.set_grad(Tensor::zeros(p.shape(), p.dtype()));
      else if (!p.grad().unique())
        p.set_grad(p.grad().clone());
      grads.push_back(p.grad());
    }
    collective.allreduce_many(grads, nn::Reduce::kMean);
  }
};

GradientReducer::GradientReducer(nn::Collective& collective, const nn::NamedParameters& params,
                                 ReducerOptions options)
    : impl_(std::make_unique<Impl>(collective, options)) {
  Impl& m = *impl_;
  for (const auto& [name, p] : params) {
    if (!p.requires_grad()) continue;
    bool seen = false;
    for (const auto& s : m.slots) seen = seen || s.param.same(p);
    if (!seen) m.slots.push_back({p});
  }
  if (collective.size() <= 1) return;
  m.mpi = options.overlap ? dynamic_cast<detail::MpiCollective*>(&collective) : nullptr;
  if (!m.mpi) return;
  // Buckets in reverse parameter order, one dtype each, at most bucket_bytes (a larger tensor
  // alone); every rank builds the same from the same parameter list.
  std::vector<int64_t> numel;
  for (size_t k = m.slots.size(); k-- > 0;) {
    Impl::Slot& s = m.slots[k];
    const DType dtype = s.param.dtype();
    TAMP_CHECK(dtype == DType::kFloat32 || dtype == DType::kFloat64,
               "parameter '{}' is {}: gradients are reduced as float32 or float64", s.param.name(),
               describe(s.param.value()));
    const size_t bytes = static_cast<size_t>(s.param.value().numel()) * size_of(dtype);
    const bool fits =
        !m.buckets.empty() && m.buckets.back().buffer.dtype() == dtype &&
        static_cast<size_t>(numel.back()) * size_of(dtype) + bytes <= options.bucket_bytes;
    if (!fits) {
      m.buckets.push_back({Tensor::empty({1}, dtype), {}, 0, false});
      numel.push_back(0);
    }
    s.bucket = static_cast<int>(m.buckets.size() - 1);
    s.offset = numel.back();
    numel.back() += s.param.value().numel();
    m.buckets.back().slots.push_back(static_cast<int>(k));
  }
  for (size_t b = 0; b < m.buckets.size(); ++b)
    m.buckets[b].buffer = Tensor::empty({numel[b]}, m.buckets[b].buffer.dtype());
  for (size_t k = 0; k < m.slots.size(); ++k) {
    m.slots[k].hook = add_ready_hook(m.slots[k].param,
                                     [impl = impl_.get(), k](const Tensor&) { impl->on_ready(k); });
  }
  m.reset_step();
}

GradientReducer::~GradientReducer() {
  for (auto& s : impl_->slots) {
    if (s.hook >= 0) remove_ready_hook(s.param, s.hook);
  }
}

void GradientReducer::arm() {
  if (impl_->mpi) impl_->armed = true;
}

void GradientReducer::finish() {
  Impl& m = *impl_;
  if (m.collective.size() <= 1) return;
  if (!m.mpi) {
    m.reduce_blocking();
    return;
  }
  // Whatever backward did not finish (parameters it did not reach) goes now, in bucket order.
  for (auto& s : m.slots) {
    if (!s.ready && !m.buckets[static_cast<size_t>(s.bucket)].started) m.copy_in(s);
  }
  while (m.next < m.buckets.size()) m.start(m.buckets[m.next++]);
  m.mpi->wait_started();
  if (m.stale) {
    m.reset_step();
    m.reduce_blocking();
    return;
  }
  const int ranks = m.collective.size();
  for (auto& s : m.slots) {
    const Impl::Bucket& b = m.buckets[static_cast<size_t>(s.bucket)];
    Variable& p = s.param;
    if (!p.grad().defined() || !p.grad().unique()) p.set_grad(Tensor::empty(p.shape(), p.dtype()));
    Tensor g = p.grad();  // shares the storage just checked to be the parameter's own
    const void* sum = static_cast<const unsigned char*>(b.buffer.raw_data()) +
                      static_cast<size_t>(s.offset) * size_of(p.dtype());
    scale_into(g.raw_data(), sum, p.dtype(), p.value().numel(), ranks);
  }
  m.reset_step();
}

int GradientReducer::buckets() const { return static_cast<int>(impl_->buckets.size()); }
int64_t GradientReducer::started_early() const { return impl_->early; }

}  // namespace tamp::dist
