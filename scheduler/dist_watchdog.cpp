// The watchdog: a thread per rank that ends the whole job when a rank is dead or hung, rather
// than leaving every other rank blocked in a collective forever.
//
// Each rank's thread sends a heartbeat to every peer twice a second on its own communicator:
// (collectives entered so far, inside one now?, finished?). It aborts the job (MPI_Abort,
// exit status kWatchdogExitCode) when
//   - its own rank has waited in one collective for longer than the timeout: the message names
//     the peers that have not reached that collective (their count is lower) and says whether
//     they are silent (stopped, dead, unreachable) or alive but stuck elsewhere; or
//   - a peer that has not said it finished has been silent for longer than the timeout.
// A rank killed outright is normally noticed by mpirun first (it ends the job when a process
// exits without MPI_Finalize); the watchdog covers the hung, stopped and unreachable cases.
#include <tamp/scheduler/detail/dist_detail.h>

#include <mpi.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

namespace tamp::dist::detail {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kTag = 7;
constexpr auto kPoll = std::chrono::milliseconds(100);
constexpr auto kBeatEvery = std::chrono::milliseconds(500);

double seconds_since(Clock::time_point t, Clock::time_point now) {
  return std::chrono::duration<double>(now - t).count();
}

class Impl final : public Watchdog {
 public:
  Impl(int rank, std::vector<Peer> peers, double timeout, bool heartbeats)
      : rank_(rank), peers_(std::move(peers)), timeout_(timeout), heartbeats_(heartbeats) {
    const size_t n = peers_.size();
    if (heartbeats_) {
      MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
      recv_buf_.resize(n);
      send_buf_.resize(n);
      recv_req_.assign(n, MPI_REQUEST_NULL);
      send_req_.assign(n, MPI_REQUEST_NULL);
    }
    last_heard_.assign(n, Clock::now());
    peer_seq_.assign(n, 0);
    peer_done_.assign(n, false);
    thread_ = std::thread([this] { loop(); });
  }

  ~Impl() override { stop(); }

  void enter(const char* what) override {
    what_.store(what);
    entered_at_.store(Clock::now().time_since_epoch().count());
    seq_.fetch_add(1);
    inside_.store(true);
  }

  void leave() override { inside_.store(false); }

  void stop() override {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (!heartbeats_) return;
    for (size_t p = 0; p < peers_.size(); ++p) {
      if (static_cast<int>(p) == rank_) continue;
      if (recv_req_[p] != MPI_REQUEST_NULL) {
        MPI_Cancel(&recv_req_[p]);
        MPI_Wait(&recv_req_[p], MPI_STATUS_IGNORE);
      }
      // Small heartbeats go eagerly; a send a peer never matched is cancelled.
      int done = 0;
      if (send_req_[p] != MPI_REQUEST_NULL) MPI_Test(&send_req_[p], &done, MPI_STATUS_IGNORE);
      if (!done && send_req_[p] != MPI_REQUEST_NULL) {
        MPI_Cancel(&send_req_[p]);
        MPI_Wait(&send_req_[p], MPI_STATUS_IGNORE);
      }
    }
    MPI_Comm_free(&comm_);
  }

 private:
  void loop() {
    auto last_beat = Clock::now() - kBeatEvery;
    if (heartbeats_) {
      for (size_t p = 0; p < peers_.size(); ++p) post_recv(p);
    }
    std::unique_lock lock(mutex_);
    while (!cv_.wait_for(lock, kPoll, [&] { return stopping_; })) {
      const auto now = Clock::now();
      if (heartbeats_) {
        receive(now);
        if (now - last_beat >= kBeatEvery) {
          beat();
          last_beat = now;
        }
      }
      check(now);
    }
    if (heartbeats_) {
      final_ = true;
      beat();  // "finished": peers stop expecting heartbeats
    }
  }

  void post_recv(size_t p) {
    if (static_cast<int>(p) == rank_) return;
    MPI_Irecv(recv_buf_[p].data(), 3, MPI_INT64_T, static_cast<int>(p), kTag, comm_, &recv_req_[p]);
  }

  void receive(Clock::time_point now) {
    for (size_t p = 0; p < peers_.size(); ++p) {
      if (static_cast<int>(p) == rank_) continue;
      for (;;) {  // drain the backlog: the latest heartbeat counts
        int flag = 0;
        MPI_Test(&recv_req_[p], &flag, MPI_STATUS_IGNORE);
        if (!flag) break;
        last_heard_[p] = now;
        peer_seq_[p] = recv_buf_[p][0];
        peer_done_[p] = recv_buf_[p][2] != 0;
        post_recv(p);
      }
    }
  }

  void beat() {
    for (size_t p = 0; p < peers_.size(); ++p) {
      if (static_cast<int>(p) == rank_) continue;
      int done = 1;
      if (send_req_[p] != MPI_REQUEST_NULL) MPI_Test(&send_req_[p], &done, MPI_STATUS_IGNORE);
      if (!done) continue;  // the previous heartbeat to this peer is still in flight
      send_buf_[p] = {seq_.load(), inside_.load() ? 1 : 0, final_ ? 1 : 0};
      MPI_Isend(send_buf_[p].data(), 3, MPI_INT64_T, static_cast<int>(p), kTag, comm_,
                &send_req_[p]);
    }
  }

  std::string describe_peer(size_t p, Clock::time_point now) const {
    return fmt::format("rank {} (pid {} on {})", p, peers_[p].pid, peers_[p].host);
  }

  void check(Clock::time_point now) {
    if (timeout_ <= 0) return;
    std::string why;
    if (inside_.load()) {
      const Clock::time_point entered{Clock::duration(entered_at_.load())};
      const double waited = seconds_since(entered, now);
      if (waited > timeout_) {
        const int64_t seq = seq_.load();
        why = fmt::format("rank {} has waited {:.1f} s in collective #{} ({})", rank_, waited, seq,
                          what_.load());
        std::string missing;
        if (heartbeats_) {
          for (size_t p = 0; p < peers_.size(); ++p) {
            if (static_cast<int>(p) == rank_ || peer_seq_[p] >= seq) continue;
            const double silent = seconds_since(last_heard_[p], now);
            missing += fmt::format(
                "\n  {} has not reached it (at collective #{}; {})", describe_peer(p, now),
                peer_seq_[p],
                silent > 2 * std::chrono::duration<double>(kBeatEvery).count()
                    ? fmt::format("silent for {:.1f} s: stopped, dead or unreachable", silent)
                    : std::string("alive: hung or stuck outside the collectives"));
          }
        }
        why += missing.empty() ? "; every peer has reached it (a peer may be stuck inside MPI)"
                               : missing;
      }
    }
    if (why.empty() && heartbeats_) {
      for (size_t p = 0; p < peers_.size(); ++p) {
        if (static_cast<int>(p) == rank_ || peer_done_[p]) continue;
        const double silent = seconds_since(last_heard_[p], now);
        if (silent > timeout_) {
          why = fmt::format("{} has sent no heartbeat for {:.1f} s: stopped, dead or unreachable",
                            describe_peer(p, now), silent);
          break;
        }
      }
    }
    if (why.empty()) return;
    std::fprintf(
        stderr,
        "tamp dist watchdog on rank %d (%s): %s\n  timeout %.1f s; aborting the job (exit %d)\n",
        rank_, peers_[static_cast<size_t>(rank_)].host.c_str(), why.c_str(), timeout_,
        kWatchdogExitCode);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, kWatchdogExitCode);
  }

  const int rank_;
  const std::vector<Peer> peers_;
  const double timeout_;
  const bool heartbeats_;
  MPI_Comm comm_ = MPI_COMM_NULL;

  // Written by the main thread, read by the watchdog thread.
  std::atomic<int64_t> seq_{0};
  std::atomic<bool> inside_{false};
  std::atomic<Clock::rep> entered_at_{0};
  std::atomic<const char*> what_{""};

  // The watchdog thread's own.
  std::vector<std::array<int64_t, 3>> recv_buf_, send_buf_;
  std::vector<MPI_Request> recv_req_, send_req_;
  std::vector<Clock::time_point> last_heard_;
  std::vector<int64_t> peer_seq_;
  std::vector<bool> peer_done_;
  bool final_ = false;

  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Watchdog> start_watchdog(int rank, std::vector<Peer> peers, double timeout_seconds,
                                         bool heartbeats) {
  return std::make_unique<Impl>(rank, std::move(peers), timeout_seconds, heartbeats);
}

}  // namespace tamp::dist::detail
