// `tamp run` as a child process of `tamp ui`: started in a session of its own (a closed
// browser, a stopped server or a Ctrl-C in the server's terminal does not end it), with its
// output in the run folder's log.txt and nothing inherited but the environment.
//
//   pid_t pid = spawn_tamp_run("/usr/bin/tamp", "/runs/cnn-1", /*resume=*/false);
//   int status = wait_for(pid);                 // blocks; a reaper thread calls it
//   stop_run(pid);                              // SIGTERM to the run's process group
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace tamp::cli::ui {

// Runs `tamp_binary run FOLDER/recipe.yaml --out FOLDER [--resume]` in FOLDER, stdin from
// /dev/null, stdout and stderr appended to FOLDER/log.txt. Throws kIo when it cannot start.
pid_t spawn_tamp_run(const std::string& tamp_binary, const std::filesystem::path& folder,
                     bool resume);

// How a child ended, from waitpid's status.
struct ExitStatus {
  int code = -1;   // the exit code, or -1 when a signal ended it
  int signal = 0;  // the signal that ended it, or 0
};
ExitStatus wait_for(pid_t pid);

// Whether a process `tamp run ... --out FOLDER` with this id is alive (for runs a previous
// server started: their pid is no child of this one).
bool is_run_alive(pid_t pid, const std::filesystem::path& folder);

// SIGTERM to the process group the run leads (it and any helper it started).
void stop_run(pid_t pid);

}  // namespace tamp::cli::ui
