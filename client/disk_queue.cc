// File: disk_queue.cc
#include "client/disk_queue.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "api/core/status_macros.h"
#include "client/crc32c.h"

namespace historian::client {
namespace {

constexpr size_t kRecordHeader = 8;            // u32 length, u32 crc
constexpr size_t kBodyHeader = 8 + 8 + 8 + 4;  // seq, time, cursor, items
constexpr uint32_t kMaxRecordBody = 1u << 30;
constexpr off_t kHeadSlotOffsets[2] = {0, 4096};
constexpr size_t kHeadSlotSize = 6 * 8;  // 5 u64 + u32 crc + u32 pad

absl::Status ErrnoError(absl::string_view what, absl::string_view path) {
  const int err = errno;
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(err)));
}

void PutU32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }  // host order (little endian)
void PutU64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t GetU32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

absl::Status WriteAll(int fd, const char* data, size_t n, off_t offset, absl::string_view path) {
  while (n > 0) {
    ssize_t w = pwrite(fd, data, n, offset);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot write", path);
    }
    data += w;
    n -= static_cast<size_t>(w);
    offset += w;
  }
  return absl::OkStatus();
}

// Reads exactly n bytes; false on a short read (end of file).
bool ReadAll(int fd, char* data, size_t n, off_t offset) {
  while (n > 0) {
    ssize_t r = pread(fd, data, n, offset);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    data += r;
    n -= static_cast<size_t>(r);
    offset += r;
  }
  return true;
}

std::string SegmentName(uint64_t first_sequence) {
  return absl::StrFormat("seg-%020u.q", first_sequence);
}

}  // namespace

DiskQueue::DiskQueue(DiskQueueOptions options)
    : options_(std::move(options)),
      segment_limit_(
          std::max<uint64_t>(4096, std::min(options_.segment_bytes, options_.max_bytes / 8))) {}

DiskQueue::~DiskQueue() {
  for (auto& [key, segment] : segments_) {
    if (segment.fd >= 0) close(segment.fd);
  }
  if (head_fd_ >= 0) close(head_fd_);
  if (lock_fd_ >= 0) close(lock_fd_);  // releases the flock
}

absl::StatusOr<std::unique_ptr<DiskQueue>> DiskQueue::Open(const DiskQueueOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("queue directory not given");
  if (options.max_bytes == 0) return absl::InvalidArgumentError("queue quota must be positive");
  std::unique_ptr<DiskQueue> queue(new DiskQueue(options));
  std::lock_guard<std::mutex> lock(queue->mu_);
  RETURN_IF_ERROR(queue->Recover());
  return queue;
}

absl::Status DiskQueue::SyncDir() {
  int fd = open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", options_.dir);
  const int rc = fsync(fd);
  close(fd);
  if (rc != 0) return ErrnoError("cannot fsync", options_.dir);
  return absl::OkStatus();
}

absl::Status DiskQueue::Recover() {
  const std::string& dir = options_.dir;
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoError("cannot create", dir);
  const std::string lock_path = dir + "/LOCK";
  lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return ErrnoError("cannot open", lock_path);
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("queue directory ", dir, " is in use by another process"));
  }

  // The head: the valid slot with the highest generation.
  const std::string head_path = dir + "/head";
  head_fd_ = open(head_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (head_fd_ < 0) return ErrnoError("cannot open", head_path);
  bool have_head = false;
  for (off_t offset : kHeadSlotOffsets) {
    char slot[kHeadSlotSize];
    if (!ReadAll(head_fd_, slot, sizeof(slot), offset)) continue;
    if (Crc32c(0, slot, 40) != GetU32(slot + 40)) continue;
    const uint64_t generation = GetU64(slot);
    if (have_head && generation <= head_generation_) continue;
    have_head = true;
    head_generation_ = generation;
    head_ = GetU64(slot + 8);
    head_cursor_ = GetU64(slot + 16);
    dropped_batches_ = GetU64(slot + 24);
    dropped_items_ = GetU64(slot + 32);
  }
  if (head_ == 0) head_ = 1;

  // Segments, in sequence order.
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return ErrnoError("cannot list", dir);
  std::vector<std::pair<uint64_t, std::string>> files;
  while (dirent* e = readdir(d)) {
    absl::string_view name = e->d_name;
    uint64_t key;
    if (!absl::StartsWith(name, "seg-") || !absl::EndsWith(name, ".q")) continue;
    if (!absl::SimpleAtoi(name.substr(4, name.size() - 6), &key)) continue;
    files.emplace_back(key, absl::StrCat(dir, "/", name));
  }
  closedir(d);
  std::sort(files.begin(), files.end());

  bool any_record = false;
  uint64_t last_sequence = 0;
  uint64_t last_cursor = 0;
  for (auto& [key, path] : files) {
    Segment segment;
    segment.path = path;
    segment.fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (segment.fd < 0) return ErrnoError("cannot open", path);
    // Records must continue the sequence of the previous segment.
    segment.last_sequence = last_sequence;
    RETURN_IF_ERROR(ScanSegment(key, &segment, &last_cursor));
    if (segment.last_sequence != last_sequence) any_record = true;
    last_sequence = segment.last_sequence;
    disk_bytes_ += segment.size;
    segments_.emplace(key, std::move(segment));
  }
  if (any_record) {
    cursor_ = last_cursor;
    cursor_sequence_ = last_sequence;
    next_sequence_ = std::max(head_, last_sequence + 1);
  } else {
    // The head cursor is the one of the record just below the head.
    cursor_ = head_cursor_;
    cursor_sequence_ = head_ - 1;
    next_sequence_ = head_;
  }
  // Entries below the head were acked (or dropped) before the restart.
  while (!index_.empty() && index_.front().sequence < head_) {
    live_bytes_ -= index_.front().length;
    live_items_ -= index_.front().items;
    index_.pop_front();
  }
  if (index_.empty()) head_ = next_sequence_;
  // An empty last segment (created, then nothing durable in it) goes away.
  if (!segments_.empty() && segments_.rbegin()->second.size == 0) {
    auto last = std::prev(segments_.end());
    close(last->second.fd);
    unlink(last->second.path.c_str());
    segments_.erase(last);
    RETURN_IF_ERROR(SyncDir());
  }
  active_open_ = !segments_.empty() && segments_.rbegin()->second.size < segment_limit_;
  DeleteAckedSegmentsLocked();
  return absl::OkStatus();
}

absl::Status DiskQueue::ScanSegment(uint64_t key, Segment* segment, uint64_t* last_cursor) {
  struct stat st;
  if (fstat(segment->fd, &st) != 0) return ErrnoError("cannot stat", segment->path);
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  uint64_t offset = 0;
  std::string body;
  while (offset < file_size) {
    char header[kRecordHeader];
    bool ok = offset + kRecordHeader <= file_size &&
              ReadAll(segment->fd, header, kRecordHeader, static_cast<off_t>(offset));
    const uint32_t length = ok ? GetU32(header) : 0;
    ok = ok && length >= kBodyHeader && length <= kMaxRecordBody &&
         offset + kRecordHeader + length <= file_size;
    if (ok) {
      body.resize(length);
      ok = ReadAll(segment->fd, body.data(), length, static_cast<off_t>(offset + kRecordHeader)) &&
           Crc32c(0, body.data(), length) == GetU32(header + 4);
    }
    const uint64_t sequence = ok ? GetU64(body.data()) : 0;
    // Sequences grow by one; the first record of a segment names it.
    if (ok && segment->last_sequence != 0 && sequence != segment->last_sequence + 1) ok = false;
    if (ok && offset == 0 && sequence != key) ok = false;
    if (!ok) {
      // A torn or corrupt record: it and the rest of the file are cut off.
      ++torn_records_;
      std::fprintf(stderr, "disk queue: dropping a torn record at %s offset %llu\n",
                   segment->path.c_str(), static_cast<unsigned long long>(offset));
      if (ftruncate(segment->fd, static_cast<off_t>(offset)) != 0 || fdatasync(segment->fd) != 0) {
        return ErrnoError("cannot truncate", segment->path);
      }
      break;
    }
    IndexEntry entry;
    entry.sequence = sequence;
    entry.segment = key;
    entry.offset = offset;
    entry.length = static_cast<uint32_t>(kRecordHeader + length);
    entry.append_time_ns = static_cast<int64_t>(GetU64(body.data() + 8));
    entry.cursor = GetU64(body.data() + 16);
    entry.items = GetU32(body.data() + 24);
    *last_cursor = entry.cursor;
    segment->last_sequence = sequence;
    live_bytes_ += entry.length;
    live_items_ += entry.items;
    index_.push_back(entry);
    offset += entry.length;
  }
  segment->size = offset;
  return absl::OkStatus();
}

absl::Status DiskQueue::WriteHeadLocked() {
  char slot[kHeadSlotSize] = {};
  ++head_generation_;
  PutU64(slot, head_generation_);
  PutU64(slot + 8, head_);
  PutU64(slot + 16, head_cursor_);
  PutU64(slot + 24, dropped_batches_);
  PutU64(slot + 32, dropped_items_);
  PutU32(slot + 40, Crc32c(0, slot, 40));
  const std::string path = options_.dir + "/head";
  RETURN_IF_ERROR(
      WriteAll(head_fd_, slot, sizeof(slot), kHeadSlotOffsets[head_generation_ % 2], path));
  if (fdatasync(head_fd_) != 0) return ErrnoError("cannot fsync", path);
  return absl::OkStatus();
}

void DiskQueue::AdvanceHeadLocked() {
  while (!index_.empty() && acked_.count(index_.front().sequence) > 0) {
    const IndexEntry& e = index_.front();
    acked_.erase(e.sequence);
    head_cursor_ = e.cursor;
    live_bytes_ -= e.length;
    live_items_ -= e.items;
    index_.pop_front();
  }
  head_ = index_.empty() ? next_sequence_ : index_.front().sequence;
  acked_.erase(acked_.begin(), acked_.lower_bound(head_));
}

void DiskQueue::DeleteAckedSegmentsLocked() {
  for (auto it = segments_.begin(); it != segments_.end();) {
    const bool active = active_open_ && std::next(it) == segments_.end();
    if (active || it->second.last_sequence >= head_) break;
    close(it->second.fd);
    unlink(it->second.path.c_str());  // a resurrected file is below the head: deleted again
    disk_bytes_ -= it->second.size;
    it = segments_.erase(it);
  }
}

absl::Status DiskQueue::DropOldestSegmentLocked() {
  auto it = segments_.begin();
  const uint64_t key = it->first;
  uint64_t dropped = 0;
  while (!index_.empty() && index_.front().segment == key) {
    const IndexEntry& e = index_.front();
    ++dropped_batches_;
    ++dropped;
    dropped_items_ += e.items;
    head_cursor_ = e.cursor;
    live_bytes_ -= e.length;
    live_items_ -= e.items;
    index_.pop_front();
  }
  head_ = index_.empty() ? next_sequence_ : index_.front().sequence;
  acked_.erase(acked_.begin(), acked_.lower_bound(head_));
  RETURN_IF_ERROR(WriteHeadLocked());  // before the file goes
  if (dropped > 0) {
    std::fprintf(stderr,
                 "disk queue: quota of %llu bytes reached: dropped the %llu oldest unacked "
                 "batches of %s (total dropped: %llu batches, %llu items)\n",
                 static_cast<unsigned long long>(options_.max_bytes),
                 static_cast<unsigned long long>(dropped), it->second.path.c_str(),
                 static_cast<unsigned long long>(dropped_batches_),
                 static_cast<unsigned long long>(dropped_items_));
  }
  if (std::next(it) == segments_.end()) active_open_ = false;
  close(it->second.fd);
  unlink(it->second.path.c_str());
  disk_bytes_ -= it->second.size;
  segments_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> DiskQueue::Append(absl::string_view payload, uint32_t items,
                                           uint64_t cursor) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t body_size = kBodyHeader + payload.size();
  const uint64_t record_size = kRecordHeader + body_size;
  if (body_size > kMaxRecordBody || record_size > options_.max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("a batch of ", record_size,
                                                     " bytes exceeds the queue quota of ",
                                                     options_.max_bytes, " bytes"));
  }
  while (!segments_.empty() && disk_bytes_ + record_size > options_.max_bytes) {
    RETURN_IF_ERROR(DropOldestSegmentLocked());
  }
  const uint64_t sequence = next_sequence_;
  if (!active_open_ || (segments_.rbegin()->second.size > 0 &&
                        segments_.rbegin()->second.size + record_size > segment_limit_)) {
    Segment segment;
    segment.path = absl::StrCat(options_.dir, "/", SegmentName(sequence));
    segment.fd = open(segment.path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (segment.fd < 0) return ErrnoError("cannot create", segment.path);
    segment.last_sequence = sequence - 1;
    absl::Status synced = SyncDir();
    if (!synced.ok()) {
      close(segment.fd);
      unlink(segment.path.c_str());
      return synced;
    }
    segments_[sequence] = std::move(segment);
    active_open_ = true;
    DeleteAckedSegmentsLocked();
  }
  auto& [key, segment] = *segments_.rbegin();

  std::string record(record_size, '\0');
  const int64_t now_ns = absl::ToUnixNanos(absl::Now());
  char* body = record.data() + kRecordHeader;
  PutU64(body, sequence);
  PutU64(body + 8, static_cast<uint64_t>(now_ns));
  PutU64(body + 16, cursor);
  PutU32(body + 24, items);
  std::memcpy(body + kBodyHeader, payload.data(), payload.size());
  PutU32(record.data(), static_cast<uint32_t>(body_size));
  PutU32(record.data() + 4, Crc32c(0, body, body_size));
  absl::Status written = WriteAll(segment.fd, record.data(), record.size(),
                                  static_cast<off_t>(segment.size), segment.path);
  if (written.ok() && fdatasync(segment.fd) != 0) {
    written = ErrnoError("cannot fsync", segment.path);
  }
  if (!written.ok()) {
    // Undo a partial write; the sequence stays unused.
    if (ftruncate(segment.fd, static_cast<off_t>(segment.size)) != 0) active_open_ = false;
    return written;
  }
  IndexEntry entry{sequence, key,    segment.size, static_cast<uint32_t>(record_size),
                   items,    now_ns, cursor};
  index_.push_back(entry);
  segment.size += record_size;
  segment.last_sequence = sequence;
  if (segment.size >= segment_limit_) active_open_ = false;
  disk_bytes_ += record_size;
  live_bytes_ += record_size;
  live_items_ += items;
  ++next_sequence_;
  if (index_.size() == 1) head_ = sequence;
  cursor_ = cursor;
  cursor_sequence_ = sequence;
  return sequence;
}

absl::StatusOr<std::optional<DiskQueueEntry>> DiskQueue::ReadFrom(uint64_t sequence) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::lower_bound(index_.begin(), index_.end(), sequence,
                             [](const IndexEntry& e, uint64_t s) { return e.sequence < s; });
  if (it == index_.end()) return std::nullopt;
  const Segment& segment = segments_.at(it->segment);
  std::string record(it->length, '\0');
  if (!ReadAll(segment.fd, record.data(), record.size(), static_cast<off_t>(it->offset))) {
    return absl::DataLossError(absl::StrCat("short read in ", segment.path));
  }
  const char* body = record.data() + kRecordHeader;
  const size_t body_size = record.size() - kRecordHeader;
  if (Crc32c(0, body, body_size) != GetU32(record.data() + 4)) {
    return absl::DataLossError(
        absl::StrCat("checksum mismatch in ", segment.path, " at offset ", it->offset));
  }
  DiskQueueEntry entry;
  entry.sequence = it->sequence;
  entry.append_time_ns = it->append_time_ns;
  entry.cursor = it->cursor;
  entry.items = it->items;
  entry.payload.assign(body + kBodyHeader, body_size - kBodyHeader);
  return entry;
}

absl::Status DiskQueue::Ack(uint64_t sequence) {
  std::lock_guard<std::mutex> lock(mu_);
  if (sequence < head_) return absl::OkStatus();
  if (sequence >= next_sequence_) {
    return absl::InvalidArgumentError(
        absl::StrCat("ack of sequence ", sequence, " that was never appended"));
  }
  acked_.insert(sequence);
  const uint64_t old_head = head_;
  AdvanceHeadLocked();
  if (head_ == old_head) return absl::OkStatus();
  RETURN_IF_ERROR(WriteHeadLocked());
  DeleteAckedSegmentsLocked();
  return absl::OkStatus();
}

uint64_t DiskQueue::cursor() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cursor_;
}

uint64_t DiskQueue::cursor_sequence() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cursor_sequence_;
}

DiskQueueStats DiskQueue::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  DiskQueueStats s;
  s.batches = index_.size() - acked_.size();
  s.items = live_items_;
  s.bytes = live_bytes_;
  s.disk_bytes = disk_bytes_;
  s.head_sequence = head_;
  s.next_sequence = next_sequence_;
  s.oldest_append_ns = index_.empty() ? 0 : index_.front().append_time_ns;
  s.dropped_batches = dropped_batches_;
  s.dropped_items = dropped_items_;
  s.torn_records = torn_records_;
  return s;
}

}  // namespace historian::client
