// File: auth.h
// Bearer-token authorisation of every RPC.
//
// Tokens come from a token file (historiand --token_file), one per line:
//
//   # comment
//   <token> <role>[,<role>...]
//
// Roles: writer (gateways), reader (analysts), replicator (peer nodes),
// admin. A token is 16..512 printable ASCII characters without spaces.
// Clients send `authorization: Bearer <token>` metadata. Which roles an RPC
// accepts is fixed in one table (RolesFor, auth.cc; docs/operations.md).
// Without a token file authorisation is off and every call is allowed.
//
// A missing or unknown token gets UNAUTHENTICATED, a known token without an
// accepted role PERMISSION_DENIED. Tokens never appear in messages or logs;
// a token is named by its line in the file ("token@line 3").
//
// Thread-safety: Authorizer is immutable after construction and safe for
// concurrent use.
#ifndef HISTORIAN_SERVER_AUTH_H_
#define HISTORIAN_SERVER_AUTH_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"

namespace historian::server {

enum Role : uint8_t {
  kRoleWriter = 1,
  kRoleReader = 2,
  kRoleReplicator = 4,
  kRoleAdmin = 8,
};
using RoleSet = uint8_t;

// "writer,admin" -> set. InvalidArgument naming an unknown role.
absl::StatusOr<RoleSet> ParseRoles(std::string_view text);
std::string RolesToString(RoleSet roles);

// The roles that may call `method` ("Ingest.Write", "Admin.Stats", ...).
// 0 for an unknown method (nobody may call it).
RoleSet RolesFor(std::string_view method);
// Pseudo-method of the role table: Catalog.UpdateTag changing retention_ns
// or value_type (admin only: a shorter retention drops sealed data).
inline constexpr char kUpdateTagDataMethod[] = "Catalog.UpdateTag(retention_ns,value_type)";

struct TokenEntry {
  std::string token;
  RoleSet roles = 0;
  int line = 0;
};

// Parses token file text. InvalidArgument naming the line (never the token).
absl::StatusOr<std::vector<TokenEntry>> ParseTokenFile(std::string_view text);
// Reads and parses `path`.
absl::StatusOr<std::vector<TokenEntry>> LoadTokenFile(const std::string& path);

// Who made a call, once authorised.
struct Principal {
  // "token@line N" with authorisation on; empty when it is off.
  std::string name;
  RoleSet roles = 0;
};

class Authorizer {
 public:
  // Authorisation off: every call is allowed.
  Authorizer() = default;
  explicit Authorizer(std::vector<TokenEntry> tokens);

  bool enabled() const { return enabled_; }
  // Checks the call's bearer token against RolesFor(method).
  absl::StatusOr<Principal> Authorize(const grpc::ServerContextBase& context,
                                      std::string_view method) const;
  // The same, from the raw `authorization` header value (tests).
  absl::StatusOr<Principal> AuthorizeHeader(std::string_view header, bool present,
                                            std::string_view method) const;

 private:
  bool enabled_ = false;
  std::vector<TokenEntry> tokens_;
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_AUTH_H_
