// File: disk_queue.h
// DiskQueue: the gateway's append-only, crash-safe queue of batches
// (encoded WriteRequests) in segment files under one directory.
//
// Layout of `dir`:
//   LOCK                     flock()ed while open: one process per queue
//   head                     two checksummed slots (offsets 0 and 4096),
//                            written alternately: the first unacked sequence,
//                            the input cursor at that point, drop counters
//   seg-<first seq>.q        records, each [u32 len][u32 crc32c][body],
//                            body = [u64 seq][i64 append ns][u64 cursor]
//                                   [u32 items][payload]
//
// Durability:
//   - Append() writes the record and fdatasync()s the segment (and fsyncs the
//     directory when it creates a segment) before returning: a batch is
//     durable BEFORE it is sent. One fsync per batch (no group commit: the
//     gateway appends one batch at a time).
//   - Ack() advances the head over the acked prefix and writes the head slot
//     with fdatasync BEFORE any segment is deleted; segments whose records
//     are all below the head are deleted (the active one is kept until it is
//     full).
//   - After kill -9 or a power cut, Open() scans the segments; a record whose
//     length or CRC does not check (a torn last write) is cut off with the
//     rest of its file and counted in `torn_records`. Such a record was never
//     acknowledged by Append(), hence never sent.
//   - Sequences: the next sequence is one past the last record on disk, or
//     the head when every segment is gone, so it only ever grows across
//     restarts; a sequence is never given to different data, and replayed
//     entries keep theirs.
//   - Cursor: each record carries an opaque caller-defined `cursor` (the
//     gateway stores its input position after the batch), atomically with the
//     batch; cursor() returns the cursor of the last appended record and
//     cursor_sequence() that record's sequence.
//
// Quota: the segment files may hold at most `max_bytes`. An Append that would
// go over deletes whole segments, OLDEST first, unacked or not, until the new
// record fits; every batch dropped that way is counted (dropped_batches,
// dropped_items, persisted in the head file) and the caller is expected to
// report it. Segments are at most max(4 KiB, min(segment_bytes,
// max_bytes / 8)) (one record may exceed it), so a drop loses at most about
// an eighth of the quota at a time. A single record larger than max_bytes is
// refused with RESOURCE_EXHAUSTED.
//
// Thread-safety: all methods are thread-safe (one internal mutex, held during
// file I/O, including Append's fsync).
#ifndef HISTORIAN_CLIENT_DISK_QUEUE_H_
#define HISTORIAN_CLIENT_DISK_QUEUE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace historian::client {

struct DiskQueueOptions {
  std::string dir;  // created if missing
  uint64_t max_bytes = uint64_t{1} << 30;
  uint64_t segment_bytes = uint64_t{64} << 20;
};

struct DiskQueueEntry {
  uint64_t sequence = 0;
  int64_t append_time_ns = 0;  // wall clock at Append
  uint64_t cursor = 0;
  uint32_t items = 0;  // e.g. samples in the batch
  std::string payload;
};

struct DiskQueueStats {
  uint64_t batches = 0;          // unacked entries
  uint64_t items = 0;            // items from the head on (incl. acked out of order)
  uint64_t bytes = 0;            // record bytes from the head on
  uint64_t disk_bytes = 0;       // segment files (counted against the quota)
  uint64_t head_sequence = 0;    // first unacked (== next_sequence when empty)
  uint64_t next_sequence = 0;    // given to the next Append
  int64_t oldest_append_ns = 0;  // of the first unacked entry; 0 when empty
  uint64_t dropped_batches = 0;  // by the quota, over the queue's lifetime
  uint64_t dropped_items = 0;
  uint64_t torn_records = 0;  // cut off by Open (this process)
};

class DiskQueue {
 public:
  // Opens or creates the queue in `options.dir` and recovers it (see above).
  // FAILED_PRECONDITION when another process has it open.
  static absl::StatusOr<std::unique_ptr<DiskQueue>> Open(const DiskQueueOptions& options);

  ~DiskQueue();
  DiskQueue(const DiskQueue&) = delete;
  DiskQueue& operator=(const DiskQueue&) = delete;

  // Appends a batch durably; returns its sequence. May drop the oldest
  // segments to stay within the quota (counted).
  absl::StatusOr<uint64_t> Append(absl::string_view payload, uint32_t items, uint64_t cursor);

  // The first unacked entry with sequence >= `sequence`, or nullopt.
  absl::StatusOr<std::optional<DiskQueueEntry>> ReadFrom(uint64_t sequence);

  // Marks `sequence` acknowledged (in any order). Sequences below the head
  // (acked, or dropped by the quota) are ignored. Durable on return.
  absl::Status Ack(uint64_t sequence);

  // The cursor of the last appended record (0 for a new queue), and that
  // record's sequence (0: none yet). The record may since have been acked
  // and deleted; its cursor and sequence are kept in the head.
  uint64_t cursor() const;
  uint64_t cursor_sequence() const;
  DiskQueueStats stats() const;

 private:
  struct Segment {
    std::string path;
    int fd = -1;
    uint64_t size = 0;
    uint64_t last_sequence = 0;  // 0: no record yet
  };
  struct IndexEntry {
    uint64_t sequence;
    uint64_t segment;  // key in segments_
    uint64_t offset;   // of the record
    uint32_t length;   // of the record
    uint32_t items;
    int64_t append_time_ns;
    uint64_t cursor;
  };

  explicit DiskQueue(DiskQueueOptions options);
  absl::Status Recover();
  absl::Status ScanSegment(uint64_t key, Segment* segment, uint64_t* last_cursor);
  absl::Status WriteHeadLocked();
  // Deletes the oldest segment, counting its unacked entries as dropped.
  absl::Status DropOldestSegmentLocked();
  // Unlinks segments (other than the active one) whose records are all acked.
  void DeleteAckedSegmentsLocked();
  void AdvanceHeadLocked();
  absl::Status SyncDir();

  const DiskQueueOptions options_;
  const uint64_t segment_limit_;

  mutable std::mutex mu_;
  int lock_fd_ = -1;
  int head_fd_ = -1;
  uint64_t head_generation_ = 0;
  std::map<uint64_t, Segment> segments_;  // by first sequence; last one is active
  std::deque<IndexEntry> index_;          // unacked entries, in sequence order
  std::set<uint64_t> acked_;              // acked above the head (out of order)
  uint64_t head_ = 1;                     // first unacked sequence
  uint64_t next_sequence_ = 1;
  uint64_t cursor_ = 0;           // of the last appended record
  uint64_t cursor_sequence_ = 0;  // that record's sequence
  uint64_t head_cursor_ = 0;      // of the last record below the head
  uint64_t live_bytes_ = 0;
  uint64_t live_items_ = 0;
  uint64_t disk_bytes_ = 0;
  uint64_t dropped_batches_ = 0;
  uint64_t dropped_items_ = 0;
  uint64_t torn_records_ = 0;
  bool active_open_ = false;  // the last segment may take appends
};

}  // namespace historian::client

#endif  // HISTORIAN_CLIENT_DISK_QUEUE_H_
