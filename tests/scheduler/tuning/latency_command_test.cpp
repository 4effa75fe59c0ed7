// scheduler/tuning/latency_command.h: the latency is the last number a command prints; a
// failing or silent command is an error naming it.
#include <tamp/autograd/error.h>
#include <tamp/scheduler/tuning/latency_command.h>

#include "support/expect.h"

#include <gtest/gtest.h>

namespace tamp::test {
namespace {

TEST(LatencyCommand, ReturnsTheLastNumberPrinted) {
  EXPECT_DOUBLE_EQ(tuning::run_latency_command("echo 'warm-up 12 runs'; echo 'mean 3.25 ms' 0.75"),
                   0.75);
  EXPECT_DOUBLE_EQ(tuning::last_number("took 1e-3 s\n", "cmd"), 1e-3);
}

TEST(LatencyCommand, FailuresAndSilentCommandsAreErrorsNamingTheCommand) {
  expect_error([] { tuning::run_latency_command("echo broken; exit 3"); }, ErrorKind::kInvalidInput,
               {"'echo broken; exit 3' failed (status 3)", "broken"});
  expect_error([] { tuning::run_latency_command("echo no figure here nan"); },
               ErrorKind::kInvalidInput,
               {"printed no number", "print the latency as the last number"});
}

}  // namespace
}  // namespace tamp::test
