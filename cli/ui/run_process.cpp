#include "ui/run_process.h"

#include <tamp/autograd/error.h>

#include <fmt/format.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

extern char** environ;

namespace tamp::cli::ui {

namespace fs = std::filesystem;

pid_t spawn_tamp_run(const std::string& tamp_binary, const fs::path& folder, bool resume) {
  std::vector<std::string> args{tamp_binary, "run", (folder / "recipe.yaml").string(), "--out",
                                folder.string()};
  if (resume) args.push_back("--resume");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log = (folder / "log.txt").string();

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addchdir_np(&actions, folder.c_str());
  // The server's listening socket would otherwise live on in the run and keep the port.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, tamp_binary.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    throw Error(fmt::format("cannot start '{} run' in '{}': {}", tamp_binary, folder.string(),
                            std::strerror(rc)),
                ErrorKind::kIo);
  }
  return pid;
}

ExitStatus wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return {};
  }
  if (WIFEXITED(status)) return {WEXITSTATUS(status), 0};
  if (WIFSIGNALED(status)) return {-1, WTERMSIG(status)};
  return {};
}

bool is_run_alive(pid_t pid, const fs::path& folder) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  // A pid the system has since given to another process would not name this folder.
  std::ifstream f(fmt::format("/proc/{}/cmdline", pid), std::ios::binary);
  const std::string cmdline((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return cmdline.find(folder.string() + '\0') != std::string::npos;
}

void stop_run(pid_t pid) {
  if (pid > 0) ::kill(-pid, SIGTERM);
}

}  // namespace tamp::cli::ui
