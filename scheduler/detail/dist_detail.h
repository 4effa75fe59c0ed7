// Internal to scheduler/dist*.cpp (detail/: not installed; MPI-free all the same):
// the MPI collective and the watchdog the Context owns.
#pragma once

#include <tamp/scheduler/dist.h>

#include <memory>
#include <string>
#include <vector>

namespace tamp::dist::detail {

// Who the ranks are, gathered once at start so messages can name a missing rank's host and pid.
struct Peer {
  std::string host;
  long pid = 0;
};

class Watchdog {
 public:
  virtual ~Watchdog() = default;
  // Around every blocking collective of the main thread: `what` names it in messages and
  // must outlive the call (a string literal).
  virtual void enter(const char* what) = 0;
  virtual void leave() = 0;
  // Before MPI_Finalize: stops heartbeats and the thread (every rank has passed the final
  // barrier, so silence is expected from then on).
  virtual void stop() = 0;
};

// Starts the thread. Needs MPI initialised with MPI_THREAD_MULTIPLE for the heartbeats;
// `heartbeats` false keeps only the local timeout.
std::unique_ptr<Watchdog> start_watchdog(int rank, std::vector<Peer> peers, double timeout_seconds,
                                         bool heartbeats);

class MpiCollective : public nn::Collective {
 public:
  virtual CollectiveStats stats() const = 0;
  virtual void reset_stats() = 0;
  // Nonblocking in-place sums for the gradient reducer (MPI_Iallreduce): start_sum returns at
  // once and `data` must stay untouched until wait_started; test_started lets MPI advance what
  // is in flight (it does so only inside MPI calls); wait_started blocks, under the watchdog,
  // until every started sum is done. Every rank starts the same sums in the same order.
  virtual void start_sum(void* data, int64_t count, DType dtype) = 0;
  virtual void test_started() = 0;
  virtual void wait_started() = 0;
};

// Over a duplicate of MPI_COMM_WORLD; `watchdog` may be null.
std::unique_ptr<MpiCollective> make_mpi_collective(size_t bucket_bytes, Watchdog* watchdog);

}  // namespace tamp::dist::detail
