// Kills a run mid-way, as a crash or a scheduler would: the resume tests start the `tamp`
// binary, wait until it has replaced its checkpoint file `writes` times (checkpoints are
// renamed into place, so every write is a new inode), wait `delay_ms` more and send SIGKILL.
//
//   bool killed = run_and_kill(TAMP_CLI_BINARY, {"run", recipe, "--out", dir}, dir +
//   "/checkpoint.h5", 3);
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace tamp::test {

inline ino_t inode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// True when the run was killed, false when it finished first. Its stdout goes to /dev/null.
inline bool run_and_kill(const std::string& binary, const std::vector<std::string>& args,
                         const std::string& checkpoint, int writes, int delay_ms = 0) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv{const_cast<char*>(binary.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  ino_t last = inode_of(checkpoint);
  int seen = 0, status = 0;
  while (seen < writes) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return false;
    const ino_t now = inode_of(checkpoint);
    if (now != 0 && now != last) {
      ++seen;
      last = now;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return WIFSIGNALED(status);
}

}  // namespace tamp::test
