#include "server/cluster/member_id.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "api/core/status_macros.h"
#include "api/core/tag_shard.h"
#include "server/cluster/cluster_keys.h"
#include "server/durable_file.h"

namespace historian::cluster {
namespace {

std::string DerivedId(const std::string& data_dir) {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  std::string name;
  for (const char* p = host; *p != '\0' && name.size() < 40; ++p) {
    const char c = *p;
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (c == '.') break;  // the short host name
    name.push_back(ok ? c : '-');
  }
  if (name.empty()) name = "node";
  std::error_code ec;
  std::string path = std::filesystem::absolute(data_dir, ec).lexically_normal().string();
  if (ec) path = data_dir;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return absl::StrFormat("%s-%08x", name, static_cast<uint32_t>(TagPlacementHash(path)));
}

}  // namespace

std::string ClusterStateDir(const std::string& data_dir) { return data_dir + "/cluster"; }

absl::StatusOr<std::string> LoadOrCreateMemberId(const std::string& data_dir,
                                                 const std::string& flag) {
  if (!flag.empty()) {
    if (absl::Status s = ValidateMemberId(flag, "--cluster_member_id"); !s.ok()) return s;
  }
  const std::string dir = ClusterStateDir(data_dir);
  const std::string path = dir + "/member_id";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  std::string stored;
  if (std::ifstream in(path); in) {
    std::stringstream ss;
    ss << in.rdbuf();
    stored = std::string(absl::StripAsciiWhitespace(ss.str()));
    if (absl::Status s = ValidateMemberId(stored, path); !s.ok()) {
      return absl::DataLossError(s.message());
    }
  }
  if (!stored.empty()) {
    if (!flag.empty() && flag != stored) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--cluster_member_id=", flag, ": this data dir belongs to member '", stored, "' (", path,
          "); a node keeps its id. Omit the flag, or give --cluster_member_id=", stored));
    }
    return stored;
  }
  const std::string id = flag.empty() ? DerivedId(data_dir) : flag;
  RETURN_IF_ERROR(server::ReplaceFileDurably(path, id + "\n"));
  return id;
}

}  // namespace historian::cluster
