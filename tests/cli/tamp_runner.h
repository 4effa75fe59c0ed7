// Runs the built `tamp` binary as a user would (its path comes from the build: TAMP_CLI_BINARY)
// and captures its exit code, stdout and stderr.
//
//   CliResult r = run_tamp({"inspect", model, "--json"});
//   EXPECT_EQ(r.code, 0) << r.err;
#pragma once

#include "support/temp_dir.h"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace tamp::test {

struct CliResult {
  int code = -1;
  std::string out, err;
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Environment variables set for the one run (NAME, value).
using Environment = std::vector<std::pair<std::string, std::string>>;

inline CliResult run_program(const std::string& program, const std::vector<std::string>& args,
                             const Environment& env = {}) {
  TempDir dir;
  std::string cmd;
  for (const auto& [name, value] : env)
    cmd.append(name).append("=").append(shell_quote(value)).append(" ");
  cmd.append(shell_quote(program));
  for (const auto& a : args) cmd.append(" ").append(shell_quote(a));
  cmd.append(" >").append(shell_quote(dir.file("out")));
  cmd.append(" 2>").append(shell_quote(dir.file("err")));
  cmd.append(" </dev/null");
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.code =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  r.out = slurp(dir.file("out"));
  r.err = slurp(dir.file("err"));
  return r;
}

inline CliResult run_tamp(const std::vector<std::string>& args, const Environment& env = {}) {
  return run_program(TAMP_CLI_BINARY, args, env);
}

}  // namespace tamp::test
