#include "server/write_gate.h"

#include <sys/statvfs.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/logging.h"

namespace historian::server {
namespace {

constexpr char kPrefix[] =
    "this node cannot store writes now (disk full or storage error); nothing of this batch was "
    "stored, reads are still served; retry later: ";

}  // namespace

absl::Status WriteGate::CheckFreeSpace() {
  if (min_free_bytes_ == 0) return absl::OkStatus();
  // statvfs costs about a microsecond: checked on every write, so a burst of
  // large batches cannot overshoot the reserve.
  {
    struct statvfs st;
    if (statvfs(data_dir_.c_str(), &st) == 0) {
      free_bytes_ = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
      bool low = free_bytes_ < min_free_bytes_;
      if (low && !low_space_) {
        LogError("storage", "disk almost full; refusing writes until space is freed",
                 {{"data_dir", data_dir_},
                  {"free_bytes", absl::StrCat(free_bytes_)},
                  {"min_free_disk_bytes", absl::StrCat(min_free_bytes_)}});
      } else if (!low && low_space_) {
        LogInfo("storage", "disk space back; accepting writes again",
                {{"free_bytes", absl::StrCat(free_bytes_)}});
      }
      low_space_ = low;
    }
  }
  if (!low_space_) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("this node cannot store writes now: disk almost full (", free_bytes_,
                   " bytes free in ", data_dir_, ", below --min_free_disk_bytes=", min_free_bytes_,
                   "); nothing of this batch was stored, reads are still served; retry later"));
}

absl::Status WriteGate::BeforeWrite() {
  absl::MutexLock l(&mu_);
  if (absl::Status s = CheckFreeSpace(); !s.ok()) return s;
  if (!failing_) return absl::OkStatus();
  absl::Time now = absl::Now();
  if (now - last_resume_ < resume_interval_) {
    return absl::UnavailableError(absl::StrCat(kPrefix, last_error_));
  }
  last_resume_ = now;
  absl::Status s = store_->ResumeAfterError();
  if (!s.ok()) {
    LogDebug("storage", "resume failed", {{"error", std::string(s.message())}});
    return absl::UnavailableError(absl::StrCat(kPrefix, s.message()));
  }
  // Resumed; the next write tells whether space really came back.
  failing_ = false;
  LogInfo("storage", "storage resumed; accepting writes again");
  return absl::OkStatus();
}

absl::Status WriteGate::AfterWrite(absl::Status status) {
  if (status.ok() || !absl::IsUnavailable(status) ||
      !absl::StrContains(status.message(), "storage refused")) {
    return status;
  }
  absl::MutexLock l(&mu_);
  ++failures_;
  last_error_ = std::string(status.message());
  if (!failing_) {
    LogError("storage", "storage refused a write; refusing writes until it recovers",
             {{"error", last_error_}});
  }
  failing_ = true;
  last_resume_ = absl::Now();
  return absl::UnavailableError(absl::StrCat(kPrefix, status.message()));
}

bool WriteGate::writes_accepted() const {
  absl::MutexLock l(&mu_);
  return !failing_ && !low_space_;
}

std::string WriteGate::last_error() const {
  absl::MutexLock l(&mu_);
  if (low_space_) {
    return absl::StrCat("disk almost full: ", free_bytes_, " bytes free, below ", min_free_bytes_);
  }
  return failing_ ? last_error_ : "";
}

uint64_t WriteGate::failures() const {
  absl::MutexLock l(&mu_);
  return failures_;
}

}  // namespace historian::server
