// `tamp`: the subcommands of cli/commands.def and the exit-code policy —
//   0 success, 2 bad usage, 3 bad input file (tamp::Error kInvalidInput, kUnsupported, kIo),
//   1 any other failure (kNumerical, kInternal, an unexpected exception).
// Messages go to stderr; results (text or --json) to stdout.
#include "common.h"

#include <tamp/autograd/error.h>
#include <tamp/autograd/simd_target.h>

#include <fmt/format.h>

#include <iostream>
#include <string_view>
#include <vector>

namespace tamp::cli {

#define TAMP_COMMAND(name, help) Action setup_##name(CLI::App& sub);
#include "commands.def"
#undef TAMP_COMMAND

namespace {

struct CommandEntry {
  const char* name;
  const char* help;
  Action (*setup)(CLI::App&);
};

const std::vector<CommandEntry>& command_table() {
  static const std::vector<CommandEntry> table{
#define TAMP_COMMAND(name, help) {#name, help, &setup_##name},
#include "commands.def"
#undef TAMP_COMMAND
  };
  return table;
}

int exit_code_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidInput:
    case ErrorKind::kUnsupported:
    case ErrorKind::kIo:
      return kExitBadInput;
    case ErrorKind::kNumerical:
    case ErrorKind::kInternal:
      return kExitFailure;
  }
  return kExitFailure;
}

// "tamp 0.1.0 (kernels: avx2; this CPU also runs: sse4, scalar)": the instruction set in
// use, and what TAMP_SIMD may choose instead.
std::string version_text() {
  std::string others;
  try {
    const std::string current = simd_target();
    for (const std::string& t : simd_targets_available()) {
      if (t != current) others += (others.empty() ? "" : ", ") + t;
    }
    return fmt::format("tamp {} (kernels: {}{})", TAMP_VERSION, current,
                       others.empty() ? "" : "; this CPU also runs: " + others);
  } catch (const Error& e) {  // a TAMP_SIMD the CPU lacks
    return fmt::format("tamp {} ({})", TAMP_VERSION, e.what());
  }
}

int run(int argc, char** argv) {
  CLI::App app{"tamp " TAMP_VERSION
               " — compress neural networks while fine-tuning them, ONNX in and out",
               "tamp"};
  app.set_version_flag("--version", version_text);
  app.require_subcommand(1);
  app.fallthrough(false);
  std::vector<std::pair<CLI::App*, Action>> commands;
  for (const CommandEntry& c : command_table()) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    commands.emplace_back(sub, c.setup(*sub));
  }

  // CLI11 would call an unknown subcommand "a subcommand is required"; say what is wrong.
  std::string known;
  bool found = false;
  for (const CommandEntry& c : command_table()) {
    known += (known.empty() ? "" : ", ") + std::string(c.name);
    found = found || (argc > 1 && c.name == std::string_view(argv[1]));
  }
  if (argc > 1 && argv[1][0] != '-' && !found) {
    fmt::print(
        stderr,
        "tamp: unknown subcommand '{}' (known: {})\nRun 'tamp --help' for more information.\n",
        argv[1], known);
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, std::cout, std::cerr);  // prints help, version or the error
    return code == 0 ? kExitOk : kExitUsage;
  }

  const char* name = "tamp";
  try {
    for (auto& [sub, action] : commands) {
      if (!sub->parsed()) continue;
      name = sub->get_name().c_str();
      return action();
    }
    throw UsageError("no subcommand given");
  } catch (const UsageError& e) {
    fmt::print(stderr, "tamp {}: {}\nRun 'tamp {} --help' for the options.\n", name, e.what(),
               name);
    return kExitUsage;
  } catch (const Error& e) {
    fmt::print(stderr, "tamp {}: error: {}\n", name, e.what());
    return exit_code_for(e.kind());
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "tamp {}: error: out of memory\n", name);
    return kExitFailure;
  } catch (const std::exception& e) {
    fmt::print(stderr, "tamp {}: internal error: {}\n", name, e.what());
    return kExitFailure;
  }
}

}  // namespace
}  // namespace tamp::cli

int main(int argc, char** argv) { return tamp::cli::run(argc, argv); }
