// dist::Context: MPI's lifetime in a tamp process, the rank's collective and its watchdog.
#include <tamp/scheduler/detail/dist_detail.h>

#include <mpi.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tamp::dist {

namespace {

// Launched by mpirun (Open MPI sets OMPI_COMM_WORLD_SIZE; PMIx launchers set PMIX_RANK)? A
// plain process does not initialise MPI at all: Open MPI's singleton mode would start a
// helper daemon, slow and failing in some containers.
bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("PMI_RANK");
}

std::string local_host() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "?";
  return name;
}

double watchdog_seconds(const ContextOptions& o) {
  if (const char* env = std::getenv("TAMP_DIST_WATCHDOG_SECONDS")) {
    char* end = nullptr;
    const double v = std::strtod(env, &end);
    TAMP_CHECK(end != env && *end == '\0' && v >= 0,
               "TAMP_DIST_WATCHDOG_SECONDS='{}' is not a number of seconds", env);
    return v;
  }
  return o.watchdog_seconds;
}

}  // namespace

struct Context::Impl {
  bool mpi = false;
  int rank = 0, size = 1;
  std::string host;
  std::unique_ptr<detail::Watchdog> watchdog;
  std::unique_ptr<detail::MpiCollective> collective;
};

Context::Context(int argc, char** argv, ContextOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->host = local_host();
  if (!launched_by_mpi()) return;
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  TAMP_CHECK(!initialized && !finalized,
             "a dist::Context already exists (or existed) in this process: MPI initialises once "
             "per process");
  int provided = 0;
  MPI_Init_thread(argc > 0 ? &argc : nullptr, argc > 0 ? &argv : nullptr, MPI_THREAD_MULTIPLE,
                  &provided);
  impl_->mpi = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &impl_->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &impl_->size);

  // Host names and pids of every rank, for the watchdog's messages.
  constexpr int kHostChars = 64;
  std::vector<char> hosts(static_cast<size_t>(kHostChars * impl_->size));
  std::vector<long> pids(static_cast<size_t>(impl_->size));
  char mine[kHostChars] = {};
  std::strncpy(mine, impl_->host.c_str(), kHostChars - 1);
  long pid = static_cast<long>(getpid());
  MPI_Allgather(mine, kHostChars, MPI_CHAR, hosts.data(), kHostChars, MPI_CHAR, MPI_COMM_WORLD);
  MPI_Allgather(&pid, 1, MPI_LONG, pids.data(), 1, MPI_LONG, MPI_COMM_WORLD);
  std::vector<detail::Peer> peers(static_cast<size_t>(impl_->size));
  for (size_t r = 0; r < peers.size(); ++r) {
    peers[r].host.assign(&hosts[r * kHostChars], strnlen(&hosts[r * kHostChars], kHostChars));
    peers[r].pid = pids[r];
  }

  const double timeout = watchdog_seconds(options);
  const bool heartbeats = provided >= MPI_THREAD_MULTIPLE;
  if (!heartbeats && impl_->rank == 0) {
    std::fprintf(stderr,
                 "tamp dist: MPI gives no MPI_THREAD_MULTIPLE; the watchdog checks collective "
                 "timeouts only (no heartbeats)\n");
  }
  if (timeout > 0 && impl_->size > 1) {
    impl_->watchdog = detail::start_watchdog(impl_->rank, std::move(peers), timeout, heartbeats);
  }
  impl_->collective = detail::make_mpi_collective(options.bucket_bytes, impl_->watchdog.get());
}

Context::~Context() {
  if (!impl_->mpi) return;
  try {
    impl_->collective->barrier();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tamp dist: rank %d: final barrier failed: %s\n", impl_->rank, e.what());
  }
  if (impl_->watchdog) impl_->watchdog->stop();
  impl_->collective.reset();
  MPI_Finalize();
}

int Context::rank() const { return impl_->rank; }
int Context::size() const { return impl_->size; }
bool Context::uses_mpi() const { return impl_->mpi; }
std::string Context::host() const { return impl_->host; }

nn::Collective& Context::collective() {
  if (impl_->collective) return *impl_->collective;
  return nn::local_collective();
}

void Context::abort(int exit_code) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (impl_->mpi) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::exit(exit_code);
}

CollectiveStats Context::stats() const {
  return impl_->collective ? impl_->collective->stats() : CollectiveStats{};
}

void Context::reset_stats() {
  if (impl_->collective) impl_->collective->reset_stats();
}

}  // namespace tamp::dist
