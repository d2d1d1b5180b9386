// File: server/events/outlets/outlet_queue.cc
#include "server/events/outlets/outlet_queue.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/durable_file.h"
#include "storage/codec/crc32c.h"

namespace historian::outlets {
namespace {

constexpr size_t kHeader = 8;               // u32 length, u32 crc
constexpr uint32_t kMaxBody = 16u << 20;    // a record larger than this is corrupt
constexpr uint64_t kCompactMin = 1u << 20;  // acked prefix worth rewriting away

absl::Status Errno(const char* what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status WriteAll(int fd, const char* data, size_t n, uint64_t offset,
                      const std::string& path) {
  while (n > 0) {
    ssize_t w = pwrite(fd, data, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return Errno("write", path);
    }
    data += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return absl::OkStatus();
}

bool ReadAll(int fd, char* data, size_t n, uint64_t offset) {
  while (n > 0) {
    ssize_t r = pread(fd, data, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    data += r;
    n -= static_cast<size_t>(r);
    offset += static_cast<uint64_t>(r);
  }
  return true;
}

absl::Status SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open", dir);
  int rc = fsync(fd);
  close(fd);
  return rc == 0 ? absl::OkStatus() : Errno("fsync", dir);
}

}  // namespace

OutletQueue::OutletQueue(std::string dir, uint64_t max_bytes)
    : dir_(std::move(dir)), max_bytes_(max_bytes) {}

OutletQueue::~OutletQueue() {
  if (log_fd_ >= 0) close(log_fd_);
  if (lock_fd_ >= 0) close(lock_fd_);  // releases the flock
}

absl::StatusOr<std::unique_ptr<OutletQueue>> OutletQueue::Open(std::string dir,
                                                               uint64_t max_bytes) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return Errno("mkdir", dir);
  std::unique_ptr<OutletQueue> q(new OutletQueue(std::move(dir), max_bytes));
  std::string lock = q->dir_ + "/LOCK";
  q->lock_fd_ = open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (q->lock_fd_ < 0) return Errno("open", lock);
  if (flock(q->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("outlet queue ", q->dir_, " is open in another process"));
  }
  if (absl::Status s = q->Recover(); !s.ok()) return s;
  return q;
}

absl::Status OutletQueue::Recover() {
  std::string acked_path = dir_ + "/acked";
  int afd = open(acked_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (afd >= 0) {
    char buf[12];
    bool ok = ReadAll(afd, buf, sizeof(buf), 0);
    close(afd);
    uint32_t crc;
    std::memcpy(&crc, buf + 8, 4);
    // `acked` is replaced by rename: it is whole or the old one.
    if (!ok || codec::Crc32c(buf, 8) != crc) {
      return absl::DataLossError(absl::StrCat("outlet queue ", acked_path, " is corrupt"));
    }
    std::memcpy(&acked_, buf, 8);
  }
  std::string log_path = dir_ + "/queue.log";
  log_fd_ = open(log_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (log_fd_ < 0) return Errno("open", log_path);
  struct stat st;
  if (fstat(log_fd_, &st) != 0) return Errno("stat", log_path);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t off = 0;
  uint64_t last_seq = acked_;
  std::string body;
  while (off + kHeader <= size) {
    char hdr[kHeader];
    if (!ReadAll(log_fd_, hdr, kHeader, off)) break;
    uint32_t len, crc;
    std::memcpy(&len, hdr, 4);
    std::memcpy(&crc, hdr + 4, 4);
    if (len < 10 || len > kMaxBody || off + kHeader + len > size) break;
    body.resize(len);
    if (!ReadAll(log_fd_, body.data(), len, off + kHeader)) break;
    if (codec::Crc32c(body.data(), len) != crc) break;
    uint64_t seq;
    std::memcpy(&seq, body.data(), 8);
    if (seq > acked_) {
      index_.push_back({seq, off, len});
      live_bytes_ += kHeader + len;
    }
    last_seq = std::max(last_seq, seq);
    off += kHeader + len;
  }
  if (off < size) {  // a torn tail: never acknowledged by Append
    ++torn_records_;
    if (ftruncate(log_fd_, static_cast<off_t>(off)) != 0) return Errno("truncate", log_path);
    if (fdatasync(log_fd_) != 0) return Errno("fdatasync", log_path);
  }
  file_size_ = off;
  next_sequence_ = last_seq + 1;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> OutletQueue::Append(std::string_view event_id, std::string_view json) {
  if (event_id.size() > UINT16_MAX) return absl::InvalidArgumentError("event id too long");
  const size_t len = 8 + 2 + event_id.size() + json.size();
  if (len > kMaxBody) return absl::InvalidArgumentError("event body too large");
  if (live_bytes_ + kHeader + len > max_bytes_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("outlet queue ", dir_, " is full (", live_bytes_, " bytes unsent)"));
  }
  const uint64_t seq = next_sequence_;
  std::string rec(kHeader, '\0');
  rec.append(reinterpret_cast<const char*>(&seq), 8);
  const uint16_t id_len = static_cast<uint16_t>(event_id.size());
  rec.append(reinterpret_cast<const char*>(&id_len), 2);
  rec.append(event_id);
  rec.append(json);
  const uint32_t len32 = static_cast<uint32_t>(len);
  const uint32_t crc = codec::Crc32c(rec.data() + kHeader, len);
  std::memcpy(rec.data(), &len32, 4);
  std::memcpy(rec.data() + 4, &crc, 4);
  const std::string log_path = dir_ + "/queue.log";
  if (absl::Status s = WriteAll(log_fd_, rec.data(), rec.size(), file_size_, log_path); !s.ok()) {
    return s;
  }
  if (fdatasync(log_fd_) != 0) return Errno("fdatasync", log_path);
  index_.push_back({seq, file_size_, len32});
  file_size_ += rec.size();
  live_bytes_ += rec.size();
  ++next_sequence_;
  return seq;
}

absl::StatusOr<std::optional<OutletQueueEntry>> OutletQueue::Front() {
  if (index_.empty()) return std::nullopt;
  const Record& r = index_.front();
  std::string body(r.length, '\0');
  if (!ReadAll(log_fd_, body.data(), r.length, r.offset + kHeader)) {
    return Errno("read", dir_ + "/queue.log");
  }
  uint16_t id_len;
  std::memcpy(&id_len, body.data() + 8, 2);
  if (10u + id_len > body.size()) return absl::DataLossError("outlet queue record corrupt");
  OutletQueueEntry e;
  e.sequence = r.sequence;
  e.event_id = body.substr(10, id_len);
  e.json = body.substr(10 + id_len);
  return e;
}

absl::Status OutletQueue::WriteAcked(uint64_t sequence) {
  char buf[12];
  std::memcpy(buf, &sequence, 8);
  uint32_t crc = codec::Crc32c(buf, 8);
  std::memcpy(buf + 8, &crc, 4);
  return server::ReplaceFileDurably(dir_ + "/acked", std::string_view(buf, sizeof(buf)));
}

absl::Status OutletQueue::PopFront(uint64_t sequence) {
  if (index_.empty() || index_.front().sequence != sequence) {
    return absl::FailedPreconditionError("outlet queue: ack of an entry that is not the oldest");
  }
  if (absl::Status s = WriteAcked(sequence); !s.ok()) return s;
  acked_ = sequence;
  live_bytes_ -= kHeader + index_.front().length;
  index_.pop_front();
  return Compact();
}

absl::Status OutletQueue::Compact() {
  const std::string log_path = dir_ + "/queue.log";
  if (index_.empty()) {
    if (file_size_ == 0) return absl::OkStatus();
    // Everything is acked (durably, in `acked`): the log can go.
    if (ftruncate(log_fd_, 0) != 0) return Errno("truncate", log_path);
    if (fdatasync(log_fd_) != 0) return Errno("fdatasync", log_path);
    file_size_ = 0;
    return absl::OkStatus();
  }
  const uint64_t prefix = index_.front().offset;
  if (prefix < kCompactMin || prefix * 2 < file_size_) return absl::OkStatus();
  // Rewrite the unacked tail into a new file and rename it over the log.
  std::string tail(file_size_ - prefix, '\0');
  if (!ReadAll(log_fd_, tail.data(), tail.size(), prefix)) return Errno("read", log_path);
  const std::string tmp = dir_ + "/queue.log.tmp";
  int fd = open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("open", tmp);
  absl::Status s = WriteAll(fd, tail.data(), tail.size(), 0, tmp);
  if (s.ok() && fdatasync(fd) != 0) s = Errno("fdatasync", tmp);
  if (s.ok() && rename(tmp.c_str(), log_path.c_str()) != 0) s = Errno("rename", tmp);
  if (!s.ok()) {
    close(fd);
    return s;
  }
  close(log_fd_);
  log_fd_ = fd;
  file_size_ = tail.size();
  for (Record& r : index_) r.offset -= prefix;
  return SyncDir(dir_);
}

}  // namespace historian::outlets
