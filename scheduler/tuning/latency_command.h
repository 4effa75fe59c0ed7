// A latency measured by a user's command (`tamp tune --latency-command`, `tamp ui`): the
// command runs in the shell and the last number it prints is the latency.
//
//   double ms = tuning::run_latency_command("./bench " + model_path + " 2>&1");
#pragma once

#include <string>

namespace tamp::tuning {

// Runs `command` through the shell and returns the last number of its standard output.
// Throws tamp::Error naming the command when it cannot start, exits with a nonzero status
// (with its output) or prints no number.
double run_latency_command(const std::string& command);

// The last whitespace-separated token of `output` that is a finite number. Throws naming
// `command` when there is none.
double last_number(const std::string& output, const std::string& command);

}  // namespace tamp::tuning
