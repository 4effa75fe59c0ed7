#include <tamp/scheduler/tuning/latency_command.h>

#include <tamp/autograd/error.h>

#include <fmt/format.h>

#include <sys/wait.h>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <vector>

namespace tamp::tuning {

double run_latency_command(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe)
    throw Error(fmt::format("cannot run the latency command '{}'", command), ErrorKind::kIo);
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  const int status = ::pclose(pipe);
  if (status != 0) {
    throw Error(fmt::format("the latency command '{}' failed (status {}): {}", command,
                            WIFEXITED(status) ? WEXITSTATUS(status) : status, out),
                ErrorKind::kInvalidInput);
  }
  return last_number(out, command);
}

double last_number(const std::string& output, const std::string& command) {
  std::istringstream in(output);
  std::vector<std::string> tokens;
  for (std::string tok; in >> tok;) tokens.push_back(tok);
  for (auto it = tokens.rbegin(); it != tokens.rend(); ++it) {
    char* end = nullptr;
    const double v = std::strtod(it->c_str(), &end);
    if (end != it->c_str() && end == it->c_str() + it->size() && std::isfinite(v)) return v;
  }
  throw Error(
      fmt::format("the latency command '{}' printed no number (output: '{}')", command, output),
      ErrorKind::kInvalidInput, "print the latency as the last number of the output");
}

}  // namespace tamp::tuning
