// File: args.h
// Plain argv parsing for the `historian` subcommands: `--name value`,
// `--name=value`, boolean `--name`, positionals, and `--` to end flags.
// Only arguments starting with `--` (and `-h`) are flags, so negative
// numbers and relative times like `-1h` are ordinary values.
//
// Pure and thread-safe.
#ifndef HISTORIAN_CLIENT_CLI_ARGS_H_
#define HISTORIAN_CLIENT_CLI_ARGS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace historian::cli {

struct FlagSpec {
  std::string name;  // without the leading `--`
  bool takes_value;  // false: a boolean switch
};

struct ParsedArgs {
  std::vector<std::string> positional;
  // Every occurrence of each flag in order; a boolean switch maps to {""}.
  absl::flat_hash_map<std::string, std::vector<std::string>> flags;

  bool Has(absl::string_view name) const { return flags.contains(name); }
  // The last value given for `name`, if any.
  std::optional<std::string> Get(absl::string_view name) const;
  // Every value given for `name` (repeatable flags such as --attr).
  std::vector<std::string> GetAll(absl::string_view name) const;
};

// Parses `args` (without the program and command names) against `specs`.
// `-h` is read as `--help`, which is always accepted. INVALID_ARGUMENT for an
// unknown flag, a missing value or a value given to a boolean switch.
absl::StatusOr<ParsedArgs> ParseArgs(absl::Span<const std::string> args,
                                     absl::Span<const FlagSpec> specs);

// Splits `key=value`; INVALID_ARGUMENT when there is no `=` or the key is
// empty.
absl::StatusOr<std::pair<std::string, std::string>> ParseKeyValue(absl::string_view text);

}  // namespace historian::cli

#endif  // HISTORIAN_CLIENT_CLI_ARGS_H_
