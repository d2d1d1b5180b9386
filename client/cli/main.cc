// File: main.cc
// `historian`: the command-line client. Dispatches to the commands defined in
// the *_cmd.cc files; every failure prints one line
// `historian: <command>: <message>` to stderr and exits 1.
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/cli/args.h"
#include "client/cli/context.h"
#include "client/cli/output.h"

namespace historian::cli {
namespace {

std::vector<Command> AllCommands() {
  std::vector<Command> all;
  for (auto group : {WriteCommands, QueryCommands, WatchCommands, TagCommands, CsvCommands,
                     AdminCommands, EventsCommands, ClusterCommands}) {
    for (Command& c : group()) all.push_back(std::move(c));
  }
  return all;
}

void PrintUsage(const std::vector<Command>& commands, std::ostream& out) {
  out << "Usage: historian [global flags] COMMAND [args] [flags]\n\nCommands:\n";
  for (const Command& c : commands) {
    out << "  " << c.name << std::string(c.name.size() < 14 ? 14 - c.name.size() : 1, ' ')
        << c.summary << '\n';
  }
  out << "  help          this text, or `historian help COMMAND`\n\n"
      << kGlobalFlagsHelp << "\nRun `historian COMMAND --help` for a command's flags.\n";
}

// Index of the command name in `args`: the first argument that is neither a
// flag nor the value of a global flag given as `--flag value`.
size_t FindCommand(const std::vector<std::string>& args) {
  const std::vector<FlagSpec> globals = GlobalFlags();
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") continue;
    if (!absl::StartsWith(a, "--")) return i;
    for (const FlagSpec& g : globals) {
      if (a == "--" + g.name) ++i;  // skip its value
    }
  }
  return args.size();
}

int Fail(absl::string_view command, absl::string_view message) {
  std::cout.flush();
  std::cerr << "historian: " << command << (command.empty() ? "" : ": ") << message << std::endl;
  return 1;
}

// Usage errors read best bare; anything else (mostly from the server) keeps
// its code: "UNAVAILABLE: failed to connect to all addresses".
std::string ErrorText(const absl::Status& status) {
  if (status.code() == absl::StatusCode::kInvalidArgument && !status.message().empty()) {
    return std::string(status.message());
  }
  std::string text = absl::StatusCodeToString(status.code());
  if (!status.message().empty()) absl::StrAppend(&text, ": ", status.message());
  return text;
}

int Main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  std::vector<std::string> args(argv + 1, argv + argc);
  const std::vector<Command> commands = AllCommands();
  const size_t pos = FindCommand(args);
  if (pos == args.size()) {
    if (args.empty()) {
      PrintUsage(commands, std::cerr);
      return 1;
    }
    PrintUsage(commands, std::cout);
    return 0;
  }
  std::string name = args[pos];
  args.erase(args.begin() + pos);
  if (name == "help") {
    const Command* target = nullptr;
    for (const Command& c : commands) {
      if (!args.empty() && c.name == args.back()) target = &c;
    }
    if (target == nullptr) {
      PrintUsage(commands, std::cout);
    } else {
      std::cout << target->usage << '\n' << kGlobalFlagsHelp;
    }
    return 0;
  }
  const Command* command = nullptr;
  for (const Command& c : commands) {
    if (c.name == name) command = &c;
  }
  if (command == nullptr) {
    return Fail("", "unknown command '" + name + "' (see historian --help)");
  }
  std::vector<FlagSpec> specs = command->flags;
  for (FlagSpec& g : GlobalFlags()) specs.push_back(std::move(g));
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(args, specs);
  if (!parsed.ok()) {
    return Fail(name,
                std::string(parsed.status().message()) + " (see historian " + name + " --help)");
  }
  if (parsed->Has("help")) {
    std::cout << command->usage << '\n' << kGlobalFlagsHelp;
    return 0;
  }
  client::ClientOptions options;
  OutputFormat format;
  if (absl::Status s = ApplyGlobalFlags(*parsed, isatty(STDOUT_FILENO) == 1, &options, &format);
      !s.ok()) {
    return Fail(name, s.message());
  }
  TimeStyle time_style;
  if (absl::Status s = ApplyTimeFlags(*parsed, &time_style); !s.ok()) {
    return Fail(name, s.message());
  }
  CommandContext ctx(options, format, &std::cout, &std::cerr, absl::GetCurrentTimeNanos(),
                     time_style);
  absl::Status status = command->run(ctx, *parsed);
  std::cout.flush();
  if (status.ok() && !std::cout) status = absl::DataLossError("cannot write to stdout");
  if (!status.ok()) return Fail(name, ErrorText(status));
  return 0;
}

}  // namespace
}  // namespace historian::cli

int main(int argc, char** argv) { return historian::cli::Main(argc, argv); }
