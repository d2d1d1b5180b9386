// File: server/events/outlets/outlet_queue.h
// OutletQueue: a small, crash-safe FIFO of (event id, JSON body) records on
// disk for an event outlet (the webhook sender): what was enqueued survives a
// restart until it is acked.
//
// Not client/disk_queue.*: that one is the gateway's (batches with cursors,
// segments, a drop-oldest quota) and server/ may not depend on client/.
// This one is single-file and refuses past its quota (the event itself is
// kept in the event store; only its notification is refused, and counted).
//
// Layout of `dir`:
//   LOCK        flock()ed while open: one process per queue
//   queue.log   records [u32 body length][u32 crc32c(body)][body],
//               body = [u64 sequence][u16 id length][id][json]
//   acked       [u64 last acked sequence][u32 crc32c]; replaced by
//               write + fsync + rename (+ directory fsync)
// Durability: Append fdatasync()s the record before returning. Ack writes
// `acked` durably before anything is cut from queue.log. Open() cuts a torn
// tail (a record whose length or CRC does not check: it was never
// acknowledged by Append) and skips records at or below the acked sequence.
// Space: once every record is acked the log is truncated to zero; while some
// remain, the acked prefix is rewritten away when it is over 1 MiB and over
// half the file.
//
// Thread-safety: not thread-safe; the owner (WebhookOutlet) guards it with
// its mutex.
#ifndef HISTORIAN_SERVER_EVENTS_OUTLETS_OUTLET_QUEUE_H_
#define HISTORIAN_SERVER_EVENTS_OUTLETS_OUTLET_QUEUE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace historian::outlets {

struct OutletQueueEntry {
  uint64_t sequence = 0;
  std::string event_id;
  std::string json;
};

class OutletQueue {
 public:
  // Opens or creates the queue in `dir` and recovers it (see above).
  // FAILED_PRECONDITION when another process has it open.
  static absl::StatusOr<std::unique_ptr<OutletQueue>> Open(std::string dir, uint64_t max_bytes);
  ~OutletQueue();
  OutletQueue(const OutletQueue&) = delete;
  OutletQueue& operator=(const OutletQueue&) = delete;

  // Appends durably. RESOURCE_EXHAUSTED past max_bytes of unacked records.
  absl::StatusOr<uint64_t> Append(std::string_view event_id, std::string_view json);
  // The oldest unacked entry, or nullopt.
  absl::StatusOr<std::optional<OutletQueueEntry>> Front();
  // Acks the oldest entry (which must have `sequence`). Durable on return.
  absl::Status PopFront(uint64_t sequence);

  size_t size() const { return index_.size(); }
  uint64_t live_bytes() const { return live_bytes_; }
  uint64_t torn_records() const { return torn_records_; }

 private:
  struct Record {
    uint64_t sequence;
    uint64_t offset;  // of the record header in queue.log
    uint32_t length;  // of the body
  };
  OutletQueue(std::string dir, uint64_t max_bytes);
  absl::Status Recover();
  absl::Status WriteAcked(uint64_t sequence);
  absl::Status Compact();

  const std::string dir_;
  const uint64_t max_bytes_;
  int lock_fd_ = -1;
  int log_fd_ = -1;
  uint64_t file_size_ = 0;
  uint64_t acked_ = 0;  // last acked sequence
  uint64_t next_sequence_ = 1;
  std::deque<Record> index_;  // unacked records in order
  uint64_t live_bytes_ = 0;
  uint64_t torn_records_ = 0;
};

}  // namespace historian::outlets

#endif  // HISTORIAN_SERVER_EVENTS_OUTLETS_OUTLET_QUEUE_H_
