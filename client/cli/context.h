// File: context.h
// What every `historian` command gets: the global options, a lazily
// connected client, the output streams and the current time; plus the
// command table type and the helpers several commands share.
//
// Not thread-safe: the CLI runs one command on one thread.
#ifndef HISTORIAN_CLIENT_CLI_CONTEXT_H_
#define HISTORIAN_CLIENT_CLI_CONTEXT_H_

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/cli/args.h"
#include "client/cli/output.h"
#include "client/cluster/owner_router.h"
#include "client/historian_client.h"
#include "historian/v1/common.pb.h"

namespace historian::cli {

class CommandContext {
 public:
  // `out` and `err` are not owned and must outlive the context.
  CommandContext(client::ClientOptions options, OutputFormat format, std::ostream* out,
                 std::ostream* err, int64_t now_ns, TimeStyle time_style = TimeStyle());

  // The client, connected on first use.
  absl::StatusOr<client::Client*> client();
  // Writes routed to the owners of their tags when the node is in a site
  // cluster (client/cluster/owner_router.h), made on first use.
  absl::StatusOr<client::OwnerRouter*> router();

  const client::ClientOptions& options() const { return options_; }
  OutputFormat format() const { return format_; }
  const TimeStyle& time_style() const { return time_style_; }
  std::ostream& out() { return *out_; }
  std::ostream& err() { return *err_; }
  int64_t now_ns() const { return now_ns_; }

 private:
  const client::ClientOptions options_;
  const OutputFormat format_;
  const TimeStyle time_style_;
  std::ostream* const out_;
  std::ostream* const err_;
  const int64_t now_ns_;
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<client::OwnerRouter> router_;
};

// One subcommand.
struct Command {
  std::string name;
  std::string summary;  // one line for `historian --help`
  std::string usage;    // full text for `historian NAME --help`
  std::vector<FlagSpec> flags;
  absl::Status (*run)(CommandContext& ctx, const ParsedArgs& args);
};

// Each command group registers itself (see *_cmd.cc).
std::vector<Command> WriteCommands();
std::vector<Command> QueryCommands();
std::vector<Command> WatchCommands();  // watch_cmd.cc
std::vector<Command> TagCommands();
std::vector<Command> CsvCommands();
std::vector<Command> AdminCommands();    // admin_cmd.cc
std::vector<Command> EventsCommands();   // events_cmd.cc
std::vector<Command> ClusterCommands();  // cluster_cmd.cc

// --server, --token, --timeout, --format, --time_format, --tz and the TLS
// flags: accepted by every command.
std::vector<FlagSpec> GlobalFlags();
extern const char kGlobalFlagsHelp[];

// The port of a --server address given without one.
inline constexpr absl::string_view kDefaultPort = "7400";

// Reads the global flags into options and format. --token falls back to the
// environment variable HISTORIAN_TOKEN; a --server address without a port
// gets kDefaultPort.
absl::Status ApplyGlobalFlags(const ParsedArgs& args, bool stdout_is_terminal,
                              client::ClientOptions* options, OutputFormat* format);

// Reads --time_format and --tz (an IANA name, loaded from the system's tzdata).
absl::Status ApplyTimeFlags(const ParsedArgs& args, TimeStyle* style);

// `address` with kDefaultPort appended when it names no port: `host`,
// `10.0.0.5`, `[::1]`. Addresses with a port or a scheme (`unix:/path`,
// `dns:///host:7400`) pass through.
std::string WithDefaultPort(absl::string_view address);

// The time flag `name` parsed relative to ctx.now_ns(), or `fallback`
// (parsed the same way) when it is absent.
absl::StatusOr<int64_t> TimeFlag(const CommandContext& ctx, const ParsedArgs& args,
                                 absl::string_view name, absl::string_view fallback);

// True when `name` holds glob characters (`*` or `?`).
bool IsGlob(absl::string_view name);

// Replaces every glob in `names` by the catalog's matching tag names (in
// catalog order); plain names pass through. NOT_FOUND when a glob matches
// nothing.
absl::StatusOr<std::vector<std::string>> ResolveTags(CommandContext& ctx,
                                                     const std::vector<std::string>& names);

// Remembers tag types looked up in the catalog, so values can be coerced to
// them (see client::CoerceValue).
class TagTypeCache {
 public:
  // The tag's type, or VALUE_TYPE_UNSPECIFIED when the catalog does not know
  // it or will not say (NOT_FOUND, UNIMPLEMENTED, PERMISSION_DENIED, ...).
  // Errors that would fail the write too (UNAVAILABLE, DEADLINE_EXCEEDED,
  // UNAUTHENTICATED) are returned.
  absl::StatusOr<historian::v1::ValueType> Get(client::Client& client, const std::string& tag);

  // Records the type a not-yet-existing tag will get from its first written
  // value (implicit creation), so later values are coerced to it as well.
  // No effect when the tag's type is already known.
  void RememberFirst(const std::string& tag, historian::v1::ValueType type);

 private:
  absl::flat_hash_map<std::string, historian::v1::ValueType> types_;
};

}  // namespace historian::cli

#endif  // HISTORIAN_CLIENT_CLI_CONTEXT_H_
