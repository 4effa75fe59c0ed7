// nn::Collective over MPI: single-tensor reductions and broadcasts, and the fused variants
// that pack many tensors of one dtype into buckets so a model's gradients cost a few large
// MPI_Allreduce calls instead of one per tensor.
#include <tamp/scheduler/detail/dist_detail.h>

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>

namespace tamp::dist::detail {

namespace {

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return MPI_FLOAT;
    case DType::kFloat64:
      return MPI_DOUBLE;
    case DType::kInt64:
      return MPI_INT64_T;
    default:
      throw Error(fmt::format("collectives reduce float32, float64 and int64 tensors, not {}",
                              dtype_name(dtype)));
  }
}

MPI_Op mpi_op(nn::Reduce op) {
  switch (op) {
    case nn::Reduce::kSum:
    case nn::Reduce::kMean:
      return MPI_SUM;
    case nn::Reduce::kMin:
      return MPI_MIN;
    case nn::Reduce::kMax:
      return MPI_MAX;
  }
  return MPI_SUM;
}

// Sum to mean in place over `n` elements of `data`.
void divide(void* data, DType dtype, int64_t n, int ranks) {
  switch (dtype) {
    case DType::kFloat32: {
      float* p = static_cast<float*>(data);
      const float inv = 1.0f / static_cast<float>(ranks);
      for (int64_t i = 0; i < n; ++i) p[i] *= inv;
      break;
    }
    case DType::kFloat64: {
      double* p = static_cast<double*>(data);
      for (int64_t i = 0; i < n; ++i) p[i] /= ranks;
      break;
    }
    case DType::kInt64: {
      int64_t* p = static_cast<int64_t*>(data);
      for (int64_t i = 0; i < n; ++i) p[i] /= ranks;
      break;
    }
    default:
      break;
  }
}

void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  throw Error(fmt::format("{} failed: {}", what, std::string(text, static_cast<size_t>(len))));
}

class Impl final : public MpiCollective {
 public:
  Impl(size_t bucket_bytes, Watchdog* watchdog)
      : bucket_bytes_(std::max<size_t>(bucket_bytes, 64)), watchdog_(watchdog) {
    MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
    // Errors come back as codes (then tamp::Error) rather than aborting inside MPI.
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~Impl() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void allreduce(Tensor& t, nn::Reduce op) override {
    if (t.numel() == 0) return;
    const MPI_Datatype type = mpi_type(t.dtype());
    TAMP_CHECK(t.numel() <= INT32_MAX, "allreduce of {} elements exceeds MPI's int count",
               t.numel());
    timed("MPI_Allreduce", t.nbytes(), [&] {
      return MPI_Allreduce(MPI_IN_PLACE, t.raw_data(), static_cast<int>(t.numel()), type,
                           mpi_op(op), comm_);
    });
    if (op == nn::Reduce::kMean) divide(t.raw_data(), t.dtype(), t.numel(), size_);
  }

  void broadcast(Tensor& t, int root) override {
    if (t.nbytes() == 0) return;
    TAMP_CHECK(root >= 0 && root < size_, "broadcast root {} is not a rank of {}", root, size_);
    TAMP_CHECK(t.nbytes() <= INT32_MAX, "broadcast of {} bytes exceeds MPI's int count",
               t.nbytes());
    timed("MPI_Bcast", t.nbytes(), [&] {
      return MPI_Bcast(t.raw_data(), static_cast<int>(t.nbytes()), MPI_BYTE, root, comm_);
    });
  }

  void allreduce_many(std::vector<Tensor>& ts, nn::Reduce op) override {
    for_buckets(ts, [&](void* buf, size_t bytes, DType dtype) {
      const int64_t n = static_cast<int64_t>(bytes / size_of(dtype));
      timed("MPI_Allreduce", bytes, [&] {
        return MPI_Allreduce(MPI_IN_PLACE, buf, static_cast<int>(n), mpi_type(dtype), mpi_op(op),
                             comm_);
      });
      if (op == nn::Reduce::kMean) divide(buf, dtype, n, size_);
    });
  }

  void broadcast_many(std::vector<Tensor>& ts, int root) override {
    TAMP_CHECK(root >= 0 && root < size_, "broadcast root {} is not a rank of {}", root, size_);
    for_buckets(ts, [&](void* buf, size_t bytes, DType) {
      timed("MPI_Bcast", bytes,
            [&] { return MPI_Bcast(buf, static_cast<int>(bytes), MPI_BYTE, root, comm_); });
    });
  }

  void barrier() override {
    timed("MPI_Barrier", 0, [&] { return MPI_Barrier(comm_); });
  }

  void start_sum(void* data, int64_t count, DType dtype) override {
    TAMP_CHECK(count <= INT32_MAX, "allreduce of {} elements exceeds MPI's int count", count);
    MPI_Request request = MPI_REQUEST_NULL;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(count), mpi_type(dtype), MPI_SUM,
                             comm_, &request),
              "MPI_Iallreduce");
    started_.push_back(request);
    stats_.calls += 1;
    stats_.nonblocking += 1;
    stats_.bytes += count * static_cast<int64_t>(size_of(dtype));
  }

  void test_started() override {
    if (started_.empty()) return;
    int done = 0;
    check_mpi(
        MPI_Testall(static_cast<int>(started_.size()), started_.data(), &done, MPI_STATUSES_IGNORE),
        "MPI_Testall");
  }

  void wait_started() override {
    if (started_.empty()) return;
    // One watchdog entry for the lot (some may have completed in a test on one rank and not on
    // another), so every rank counts the same collectives.
    timed("MPI_Waitall (gradient buckets)", 0, [&] {
      return MPI_Waitall(static_cast<int>(started_.size()), started_.data(), MPI_STATUSES_IGNORE);
    });
    stats_.calls -= 1;  // the sums were counted when started
    started_.clear();
  }

  CollectiveStats stats() const override { return stats_; }
  void reset_stats() override { stats_ = {}; }

 private:
  template <typename F> void timed(const char* what, size_t bytes, F&& call) {
    const auto start = std::chrono::steady_clock::now();
    if (watchdog_) watchdog_->enter(what);
    const int code = call();
    if (watchdog_) watchdog_->leave();
    stats_.seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    stats_.calls += 1;
    stats_.bytes += static_cast<int64_t>(bytes);
    check_mpi(code, what);
  }

  // Packs the tensors of each dtype, in order, into buckets of at most bucket_bytes_ (a larger
  // tensor travels alone, in place), calls `reduce` on each, and unpacks.
  template <typename F> void for_buckets(std::vector<Tensor>& ts, F&& reduce) {
    std::map<DType, std::vector<Tensor*>> by_dtype;  // the same grouping on every rank
    for (auto& t : ts) {
      if (t.numel() > 0) by_dtype[t.dtype()].push_back(&t);
    }
    for (auto& [dtype, group] : by_dtype) {
      mpi_type(dtype);  // rejects unsupported dtypes before any rank communicates
      size_t i = 0;
      while (i < group.size()) {
        if (group[i]->nbytes() >= bucket_bytes_) {
          TAMP_CHECK(group[i]->nbytes() <= INT32_MAX,
                     "a tensor of {} bytes exceeds MPI's int count", group[i]->nbytes());
          reduce(group[i]->raw_data(), group[i]->nbytes(), dtype);
          ++i;
          continue;
        }
        size_t end = i, bytes = 0;
        while (end < group.size() && group[end]->nbytes() < bucket_bytes_ &&
               bytes + group[end]->nbytes() <= bucket_bytes_) {
          bytes += group[end]->nbytes();
          ++end;
        }
        if (end == i + 1) {
          reduce(group[i]->raw_data(), bytes, dtype);
        } else {
          buffer_.resize(bytes);
          size_t off = 0;
          for (size_t k = i; k < end; ++k) {
            std::memcpy(buffer_.data() + off, group[k]->raw_data(), group[k]->nbytes());
            off += group[k]->nbytes();
          }
          reduce(buffer_.data(), bytes, dtype);
          off = 0;
          for (size_t k = i; k < end; ++k) {
            std::memcpy(group[k]->raw_data(), buffer_.data() + off, group[k]->nbytes());
            off += group[k]->nbytes();
          }
        }
        i = end;
      }
    }
  }

  size_t bucket_bytes_;
  Watchdog* watchdog_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::vector<unsigned char> buffer_;  // bucket staging (reused: no allocation per step)
  std::vector<MPI_Request> started_;   // start_sum's requests, in order
  CollectiveStats stats_;
};

}  // namespace

std::unique_ptr<MpiCollective> make_mpi_collective(size_t bucket_bytes, Watchdog* watchdog) {
  return std::make_unique<Impl>(bucket_bytes, watchdog);
}

}  // namespace tamp::dist::detail
