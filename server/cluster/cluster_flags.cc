#include "server/cluster/cluster_flags.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace historian::cluster {
namespace {

// Splits host:port ([v6]:port too); false when either part is bad.
bool SplitHostPort(const std::string& address, std::string* host, int* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = address.substr(0, colon);
  return absl::SimpleAtoi(address.substr(colon + 1), port) && *port >= 0 && *port <= 65535;
}

bool IsWildcard(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::" || host == "*";
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseEtcdEndpointsFlag(const std::string& flag) {
  std::vector<std::string> endpoints;
  if (flag.empty()) return endpoints;
  for (absl::string_view part : absl::StrSplit(flag, ',')) {
    const std::string e(absl::StripAsciiWhitespace(part));
    if (e.find("://") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--cluster_etcd: '", e,
                       "' has a URL scheme: give host:port (TLS is on with --cluster_etcd_ca)"));
    }
    std::string host;
    int port = 0;
    if (!SplitHostPort(e, &host, &port) || port == 0 || host.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--cluster_etcd: '", e, "' is not host:port (want e.g. 10.0.0.5:2379,10.0.0.6:2379)"));
    }
    if (std::find(endpoints.begin(), endpoints.end(), e) != endpoints.end()) {
      return absl::InvalidArgumentError(absl::StrCat("--cluster_etcd: '", e, "' given twice"));
    }
    endpoints.push_back(e);
  }
  return endpoints;
}

absl::StatusOr<std::string> ResolveAdvertiseAddress(const std::string& flag,
                                                    const std::string& listen, int bound_port) {
  std::string host;
  int port = 0;
  if (!flag.empty()) {
    if (!SplitHostPort(flag, &host, &port) || port == 0 || IsWildcard(host)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--cluster_advertise: '", flag,
          "' is not host:port others can reach (a real host or IP and a port 1..65535)"));
    }
    return flag;
  }
  if (!SplitHostPort(listen, &host, &port)) {
    return absl::InvalidArgumentError(absl::StrCat("--listen: '", listen, "' is not host:port"));
  }
  if (IsWildcard(host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen=", listen,
        " binds every address: give --cluster_advertise=HOST:PORT, the address the other "
        "members and clients reach this node at"));
  }
  if (port == 0) port = bound_port;
  if (port == 0) return std::string();
  return absl::StrCat(host, ":", port);
}

}  // namespace historian::cluster
