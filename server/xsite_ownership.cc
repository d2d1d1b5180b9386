#include "server/xsite_ownership.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "server/durable_file.h"
#include "server/logging.h"

namespace historian::server {
namespace {

absl::Status Errno(const char* what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

}  // namespace

std::optional<ShardSet> IntersectOwnership(const std::optional<ShardSet>& a,
                                           const std::optional<ShardSet>& b) {
  if (!a.has_value()) return b;
  if (!b.has_value()) return a;
  return b->Intersect(*a);
}

bool FilterCovers(const std::optional<ShardSet>& filter, const std::optional<ShardSet>& owned) {
  if (!filter.has_value()) return true;
  if (!owned.has_value()) return false;
  return filter->Contains(*owned);
}

XsiteOwnership::XsiteOwnership(std::string file) : file_(std::move(file)) {
  if (file_.empty()) return;
  std::ifstream in(file_);
  if (!in) return;  // every tag
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  absl::StatusOr<ShardSet> set = ShardSet::Decode(absl::StripAsciiWhitespace(text));
  absl::MutexLock l(&mu_);
  if (set.ok()) {
    value_ = std::move(*set);
    return;
  }
  // Unknown: treat every owned shard as gained (a full range sync).
  LogWarning("replicator", "ownership file unreadable; range-syncing every owned shard",
             {{"file", file_}, {"error", set.status().ToString()}});
  value_ = *ShardSet::Create(1, {});
}

std::optional<ShardSet> XsiteOwnership::Get() const {
  absl::MutexLock l(&mu_);
  return value_;
}

absl::Status XsiteOwnership::Lower(const std::optional<ShardSet>& cut) {
  absl::MutexLock l(&mu_);
  cut_since_ = IntersectOwnership(cut_since_, cut);
  std::optional<ShardSet> lowered = IntersectOwnership(value_, cut);
  if (lowered == value_) return absl::OkStatus();
  RETURN_IF_ERROR(Write(lowered));
  LogInfo("replicator", "complete ownership lowered",
          {{"shards", absl::StrCat(lowered->shards().size(), " of ", lowered->num_shards())}});
  value_ = std::move(lowered);
  return absl::OkStatus();
}

std::optional<ShardSet> XsiteOwnership::BeginChange() {
  absl::MutexLock l(&mu_);
  cut_since_.reset();
  return value_;
}

absl::Status XsiteOwnership::FinishChange(const std::optional<ShardSet>& now) {
  absl::MutexLock l(&mu_);
  std::optional<ShardSet> value = IntersectOwnership(now, cut_since_);
  RETURN_IF_ERROR(Write(value));
  value_ = std::move(value);
  return absl::OkStatus();
}

absl::Status XsiteOwnership::Write(const std::optional<ShardSet>& value) {
  if (file_.empty()) return absl::OkStatus();
  if (!value.has_value()) {
    if (std::remove(file_.c_str()) != 0) {
      if (errno == ENOENT) return absl::OkStatus();
      return Errno("remove", file_);
    }
    return SyncParentDir(file_);
  }
  // Write, fdatasync, rename, directory fsync: a crash leaves the old or
  // the new value, and a lowered value is on disk before entries cut to it
  // are applied.
  const std::string text = value->Encode() + "\n";
  return ReplaceFileDurably(file_, text);
}

}  // namespace historian::server
