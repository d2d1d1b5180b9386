// File: context.cc
#include "client/cli/context.h"

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/core/status_macros.h"
#include "client/time_parse.h"

namespace historian::cli {

namespace v1 = historian::v1;

CommandContext::CommandContext(client::ClientOptions options, OutputFormat format,
                               std::ostream* out, std::ostream* err, int64_t now_ns,
                               TimeStyle time_style)
    : options_(std::move(options)),
      format_(format),
      time_style_(time_style),
      out_(out),
      err_(err),
      now_ns_(now_ns) {}

absl::StatusOr<client::Client*> CommandContext::client() {
  if (client_ == nullptr) {
    ASSIGN_OR_RETURN(client_, client::Client::Connect(options_));
  }
  return client_.get();
}

absl::StatusOr<client::OwnerRouter*> CommandContext::router() {
  if (router_ == nullptr) {
    ASSIGN_OR_RETURN(client::Client * known, client());
    ASSIGN_OR_RETURN(router_, client::OwnerRouter::Create(known, options_));
  }
  return router_.get();
}

std::vector<FlagSpec> GlobalFlags() {
  return {{"server", true}, {"token", true},       {"timeout", true},
          {"format", true}, {"time_format", true}, {"tz", true},
          {"tls_ca", true}, {"tls_cert", true},    {"tls_key", true}};
}

const char kGlobalFlagsHelp[] =
    "Global flags (before or after the command):\n"
    "  --server ADDR[,ADDR2]   nodes to use, in order; the next is tried when one is\n"
    "                          unavailable (default 127.0.0.1:7400; port 7400 when\n"
    "                          ADDR has none)\n"
    "  --token TOKEN           bearer token (default: $HISTORIAN_TOKEN)\n"
    "  --timeout D             deadline of each call, e.g. 30s, 5m (default 30s)\n"
    "  --format F              table, csv or json (JSON Lines); default table on a\n"
    "                          terminal, csv when stdout is piped or redirected\n"
    "  --time_format F         rfc3339 (default: 2026-11-23T10:00:00.000000000Z),\n"
    "                          ns or ms (integers since the epoch)\n"
    "  --tz NAME               print rfc3339 times in this IANA zone, e.g.\n"
    "                          Europe/Berlin (default UTC)\n"
    "  --tls_ca FILE           TLS: verify the node with this PEM CA\n"
    "  --tls_cert/--tls_key F  TLS client certificate and key (nodes with --tls_ca)\n";

absl::Status ApplyGlobalFlags(const ParsedArgs& args, bool stdout_is_terminal,
                              client::ClientOptions* options, OutputFormat* format) {
  if (auto server = args.Get("server")) {
    options->endpoints.clear();
    for (absl::string_view a : absl::StrSplit(*server, ',', absl::SkipWhitespace())) {
      options->endpoints.push_back(WithDefaultPort(absl::StripAsciiWhitespace(a)));
    }
    if (options->endpoints.empty()) return absl::InvalidArgumentError("--server: no address");
  }
  if (auto token = args.Get("token")) {
    options->token = *token;
  } else if (const char* env = std::getenv("HISTORIAN_TOKEN"); env != nullptr) {
    options->token = env;
  }
  if (auto v = args.Get("tls_ca")) options->tls.ca_file = *v;
  if (auto v = args.Get("tls_cert")) options->tls.cert_file = *v;
  if (auto v = args.Get("tls_key")) options->tls.key_file = *v;
  if (auto timeout = args.Get("timeout")) {
    absl::StatusOr<int64_t> ns = client::ParseDuration(*timeout);
    if (!ns.ok())
      return absl::InvalidArgumentError(absl::StrCat("--timeout: ", ns.status().message()));
    options->timeout = absl::Nanoseconds(*ns);
  }
  *format = DefaultOutputFormat(stdout_is_terminal);
  if (auto f = args.Get("format")) {
    ASSIGN_OR_RETURN(*format, ParseOutputFormat(*f));
  }
  return absl::OkStatus();
}

absl::Status ApplyTimeFlags(const ParsedArgs& args, TimeStyle* style) {
  if (auto f = args.Get("time_format")) {
    absl::StatusOr<client::TimeFormat> format = client::ParseTimeFormat(*f);
    if (!format.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--time_format: want rfc3339, ns or ms, got '", *f, "'"));
    }
    style->format = *format;
  }
  if (auto tz = args.Get("tz")) {
    absl::StatusOr<absl::TimeZone> zone = client::LoadZone(*tz);
    if (!zone.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tz: ", zone.status().message(),
          " (want an IANA name like Europe/Berlin; is the tzdata package installed?)"));
    }
    style->zone = *zone;
  }
  return absl::OkStatus();
}

std::string WithDefaultPort(absl::string_view address) {
  std::string out(address);
  if (address.find(':') == absl::string_view::npos ||
      (absl::StartsWith(address, "[") && absl::EndsWith(address, "]"))) {
    absl::StrAppend(&out, ":", kDefaultPort);
  }
  return out;
}

absl::StatusOr<int64_t> TimeFlag(const CommandContext& ctx, const ParsedArgs& args,
                                 absl::string_view name, absl::string_view fallback) {
  const std::optional<std::string> given = args.Get(name);
  absl::StatusOr<int64_t> t =
      client::ParseTime(given.has_value() ? absl::string_view(*given) : fallback, ctx.now_ns());
  if (!t.ok())
    return absl::Status(t.status().code(), absl::StrCat("--", name, ": ", t.status().message()));
  return t;
}

bool IsGlob(absl::string_view name) { return name.find_first_of("*?") != absl::string_view::npos; }

absl::StatusOr<std::vector<std::string>> ResolveTags(CommandContext& ctx,
                                                     const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const std::string& name : names) {
    if (!IsGlob(name)) {
      out.push_back(name);
      continue;
    }
    ASSIGN_OR_RETURN(client::Client * client, ctx.client());
    v1::ListTagsRequest request;
    request.set_glob(name);
    const size_t before = out.size();
    RETURN_IF_ERROR(client->ListAllTags(request, [&](const v1::Tag& tag) {
      out.push_back(tag.name());
      return absl::OkStatus();
    }));
    if (out.size() == before) {
      return absl::NotFoundError(absl::StrCat("no tag matches '", name, "'"));
    }
  }
  return out;
}

absl::StatusOr<v1::ValueType> TagTypeCache::Get(client::Client& client, const std::string& tag) {
  if (auto it = types_.find(tag); it != types_.end()) return it->second;
  v1::GetTagRequest request;
  request.set_name(tag);
  absl::StatusOr<v1::Tag> found = client.GetTag(request);
  v1::ValueType type = v1::VALUE_TYPE_UNSPECIFIED;
  if (found.ok()) {
    type = found->value_type();
  } else if (absl::IsUnavailable(found.status()) || absl::IsDeadlineExceeded(found.status()) ||
             absl::IsUnauthenticated(found.status())) {
    return found.status();
  }
  types_.emplace(tag, type);
  return type;
}

void TagTypeCache::RememberFirst(const std::string& tag, v1::ValueType type) {
  auto it = types_.find(tag);
  if (it != types_.end() && it->second == v1::VALUE_TYPE_UNSPECIFIED) it->second = type;
}

}  // namespace historian::cli
