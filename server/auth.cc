#include "server/auth.h"

#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "api/core/bearer_token.h"

namespace historian::server {
namespace {

constexpr size_t kMinTokenBytes = 16;
constexpr size_t kMaxTokenBytes = 512;

struct MethodRoles {
  std::string_view method;
  RoleSet roles;
};

// The one table of who may call what (docs/operations.md repeats it).
constexpr MethodRoles kMethodRoles[] = {
    {"Ingest.Write", kRoleWriter | kRoleAdmin},
    {"Ingest.WriteBatch", kRoleWriter | kRoleAdmin},
    {"Query.Read", kRoleReader | kRoleAdmin},
    {"Query.Latest", kRoleReader | kRoleAdmin},
    {"Query.Aggregate", kRoleReader | kRoleAdmin},
    {"Query.Interpolate", kRoleReader | kRoleAdmin},
    {"Query.Plot", kRoleReader | kRoleAdmin},
    {"Query.Subscribe", kRoleReader | kRoleAdmin},
    // Catalog reads: readers, and writers too (gateways look up tag types).
    {"Catalog.GetTag", kRoleReader | kRoleWriter | kRoleAdmin},
    {"Catalog.ListTags", kRoleReader | kRoleWriter | kRoleAdmin},
    // Catalog writes: gateways create and describe their tags.
    {"Catalog.CreateTag", kRoleWriter | kRoleAdmin},
    {"Catalog.UpdateTag", kRoleWriter | kRoleAdmin},
    // ...but a retention change drops sealed data, as DeleteTag does.
    {kUpdateTagDataMethod, kRoleAdmin},
    // Deleting a tag drops its data: admin only.
    {"Catalog.DeleteTag", kRoleAdmin},
    // Replication: peer nodes only.
    {"Replication.Pull", kRoleReplicator},
    {"Replication.Digest", kRoleReplicator},
    {"Replication.Fetch", kRoleReplicator},
    {"Replication.FetchEvents", kRoleReplicator},
    {"Admin.Stats", kRoleAdmin | kRoleReader},
    {"Admin.Verify", kRoleAdmin},
    {"Admin.Backup", kRoleAdmin},
    {"Admin.Compact", kRoleAdmin},
    // Events (docs/events.md): rules are admin's; acks the writer's.
    {"Events.CreateRule", kRoleAdmin},
    {"Events.UpdateRule", kRoleAdmin},
    {"Events.DeleteRule", kRoleAdmin},
    {"Events.ListRules", kRoleReader | kRoleWriter | kRoleAdmin},
    {"Events.ListEvents", kRoleReader | kRoleWriter | kRoleAdmin},
    {"Events.Subscribe", kRoleReader | kRoleWriter | kRoleAdmin},
    {"Events.Ack", kRoleWriter | kRoleAdmin},
    // Routers (clients, gateways, the CLI) read the placement (docs/cluster.md).
    // Peer sites' nodes read it too, to pull from every member (replicator).
    {"Cluster.Placement", kRoleReader | kRoleWriter | kRoleAdmin | kRoleReplicator},
    // Operators: creating the cluster is admin's; its status is readable.
    {"Cluster.Init", kRoleAdmin},
    {"Cluster.Status", kRoleReader | kRoleAdmin},
    // Membership changes move data: admin only (docs/cluster.md, "Moving shards").
    {"Cluster.AddNode", kRoleAdmin},
    {"Cluster.RemoveNode", kRoleAdmin},
    {"Cluster.CancelMoves", kRoleAdmin},
    {"Cluster.FenceWithoutSource", kRoleAdmin},
    // A move's target copies with --peer_token (replicator): the copy is no
    // more than Replication.Pull already gives.
    {"Cluster.CopyShard", kRoleAdmin | kRoleReplicator},
    {"Cluster.PullShard", kRoleAdmin},
    // The member that changed an alarm rule sends its caller's (admin) token.
    {"Cluster.SyncRule", kRoleAdmin},
};

// Compares without an early exit, so timing does not reveal a prefix.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

absl::StatusOr<RoleSet> ParseRoles(std::string_view text) {
  RoleSet roles = 0;
  for (absl::string_view r :
       absl::StrSplit(absl::string_view(text.data(), text.size()), ',', absl::SkipWhitespace())) {
    std::string role = absl::AsciiStrToLower(absl::StripAsciiWhitespace(r));
    if (role == "writer") {
      roles |= kRoleWriter;
    } else if (role == "reader") {
      roles |= kRoleReader;
    } else if (role == "replicator") {
      roles |= kRoleReplicator;
    } else if (role == "admin") {
      roles |= kRoleAdmin;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown role '", role, "' (want writer, reader, replicator or admin)"));
    }
  }
  if (roles == 0) return absl::InvalidArgumentError("no role given");
  return roles;
}

std::string RolesToString(RoleSet roles) {
  std::vector<std::string> names;
  if (roles & kRoleWriter) names.push_back("writer");
  if (roles & kRoleReader) names.push_back("reader");
  if (roles & kRoleReplicator) names.push_back("replicator");
  if (roles & kRoleAdmin) names.push_back("admin");
  return absl::StrJoin(names, ",");
}

RoleSet RolesFor(std::string_view method) {
  for (const MethodRoles& m : kMethodRoles) {
    if (m.method == method) return m.roles;
  }
  return 0;
}

absl::StatusOr<std::vector<TokenEntry>> ParseTokenFile(std::string_view text) {
  std::vector<TokenEntry> out;
  int line_no = 0;
  for (absl::string_view raw : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    ++line_no;
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> parts =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (parts.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("token file line ", line_no, ": want `<token> <role>[,<role>...]`"));
    }
    absl::string_view token = parts[0];
    if (token.size() < kMinTokenBytes || token.size() > kMaxTokenBytes) {
      return absl::InvalidArgumentError(absl::StrCat("token file line ", line_no, ": a token has ",
                                                     kMinTokenBytes, "..", kMaxTokenBytes,
                                                     " characters"));
    }
    for (char c : token) {
      if (c < 0x21 || c > 0x7e) {
        return absl::InvalidArgumentError(
            absl::StrCat("token file line ", line_no, ": a token is printable ASCII"));
      }
    }
    absl::StatusOr<RoleSet> roles = ParseRoles(std::string_view(parts[1].data(), parts[1].size()));
    if (!roles.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("token file line ", line_no, ": ", roles.status().message()));
    }
    for (const TokenEntry& e : out) {
      if (e.token == token) {
        return absl::InvalidArgumentError(
            absl::StrCat("token file line ", line_no, ": the same token as line ", e.line));
      }
    }
    out.push_back({std::string(token), *roles, line_no});
  }
  if (out.empty()) return absl::InvalidArgumentError("token file: no tokens");
  return out;
}

absl::StatusOr<std::vector<TokenEntry>> LoadTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("token file ", path, ": cannot open"));
  std::stringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<std::vector<TokenEntry>> tokens = ParseTokenFile(ss.str());
  if (!tokens.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", tokens.status().message()));
  }
  return tokens;
}

Authorizer::Authorizer(std::vector<TokenEntry> tokens)
    : enabled_(true), tokens_(std::move(tokens)) {}

absl::StatusOr<Principal> Authorizer::Authorize(const grpc::ServerContextBase& context,
                                                std::string_view method) const {
  if (!enabled_) return Principal{};
  const auto& md = context.client_metadata();
  auto it = md.find(kAuthorizationMetadataKey);
  if (it == md.end()) return AuthorizeHeader("", false, method);
  return AuthorizeHeader(std::string_view(it->second.data(), it->second.size()), true, method);
}

absl::StatusOr<Principal> Authorizer::AuthorizeHeader(std::string_view header, bool present,
                                                      std::string_view method) const {
  if (!enabled_) return Principal{};
  if (!present) {
    return absl::UnauthenticatedError(
        "missing `authorization: Bearer <token>` metadata (this node requires a token)");
  }
  const std::optional<std::string_view> value = ParseBearerValue(header);
  if (!value) return absl::UnauthenticatedError("authorization metadata is not `Bearer <token>`");
  const TokenEntry* found = nullptr;
  for (const TokenEntry& e : tokens_) {
    // Every entry is compared, so the time taken does not tell which matched.
    if (ConstantTimeEquals(e.token, *value)) found = &e;
  }
  if (found == nullptr) return absl::UnauthenticatedError("unknown bearer token");
  Principal p{absl::StrCat("token@line ", found->line), found->roles};
  const RoleSet allowed = RolesFor(method);
  if ((found->roles & allowed) == 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        std::string(method), " needs role ", allowed == 0 ? "(none)" : RolesToString(allowed), "; ",
        p.name, " has ", RolesToString(found->roles)));
  }
  return p;
}

}  // namespace historian::server
