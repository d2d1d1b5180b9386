// File: gateway.h
// Gateway: the store-and-forward writer = DiskQueue + Writer.
//
// Samples are batched (by size and age); every batch is appended durably to
// the DiskQueue, together with the input cursor after its last sample, and
// only then sent. A sender thread streams queued batches, oldest first, to
// the node through a Writer, each with its queue sequence as batch_sequence
// (so a batch resent after a reconnect or a restart keeps its sequence and
// the node stores it once). A batch leaves the queue when the node acks it.
// While no node is reachable the queue just grows (up to its quota; beyond,
// the oldest batches are dropped, counted and reported).
//
// The queue directory also holds `client_id` (the writer id the sequences
// belong to; fixed for the life of the directory).
//
// Thread-safety: thread-safe. Add/Flush are meant for one input thread;
// status(), StatusLine() and Stop() may be called from any thread.
#ifndef HISTORIAN_CLIENT_GATEWAY_GATEWAY_H_
#define HISTORIAN_CLIENT_GATEWAY_GATEWAY_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/batcher.h"
#include "client/disk_queue.h"
#include "client/writer.h"

namespace historian::client {

struct GatewayOptions {
  DiskQueueOptions queue;
  // Endpoints, token, backoff, in-flight limit. client_id: empty takes the
  // one stored in the queue directory, or makes and stores a new one; a
  // different one than stored is FAILED_PRECONDITION.
  WriterOptions writer;
  size_t batch_max_samples = 5000;
  absl::Duration batch_max_delay = absl::Seconds(1);
};

struct GatewayStatus {
  DiskQueueStats queue;
  WriterStats writer;
  uint64_t acked_batches = 0;     // this process
  uint64_t acked_samples = 0;     // accepted by the node (first deliveries + retries)
  uint64_t stored_samples = 0;    // accepted by first deliveries (not duplicates)
  uint64_t rejected_samples = 0;  // refused one by one in acks
  uint64_t failed_batches = 0;    // refused whole by the node; removed
  // Appends to the disk queue that failed (this process); the batch stays
  // in memory and is queued by a later flush.
  uint64_t queue_errors = 0;
  // Samples the gateway could not queue: refused by Add while a full batch
  // waited for the failing queue, or still in memory when it stopped. A
  // file input reads them again at the next start, from the cursor of the
  // last queued batch; other inputs lost them.
  uint64_t unqueued_samples = 0;
  absl::Duration lag;  // age of the oldest unacked batch
};

class Gateway {
 public:
  static absl::StatusOr<std::unique_ptr<Gateway>> Open(GatewayOptions options);
  // Stop(ZeroDuration()).
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // The cursor stored with the last queued batch: where input resumes if it
  // is the same input (see input_identity.h), and that batch's queue
  // sequence (0: none).
  uint64_t resume_cursor() const { return resume_cursor_; }
  uint64_t resume_sequence() const { return resume_sequence_; }
  // The queue sequence the next batch will get.
  uint64_t next_sequence() const { return queue_->stats().next_sequence; }
  const std::string& client_id() const { return client_id_; }

  // Adds a sample; `cursor` is the input position after it. A full batch is
  // queued (durably) before this returns. FAILED_PRECONDITION once stopped.
  // When the disk queue fails, its error: the sample stays in the batch,
  // which is taken from memory only once queued (the flush thread retries
  // every second); while that full batch is not queued, further samples
  // are refused with the queue's error.
  absl::Status Add(absl::string_view tag, historian::v1::Sample sample, uint64_t cursor);
  // Queues the current batch now.
  absl::Status Flush();
  // True once every queued batch is acked (or failed/dropped).
  bool Drained() const;
  // Waits until Drained() or `deadline`, or Stop().
  bool WaitDrained(absl::Time deadline);

  // Stops taking samples, queues the current batch, gives the sender up to
  // `grace` to get the queue acked, then stops the writer. Unacked batches
  // stay in the queue for the next run. Idempotent.
  void Stop(absl::Duration grace);

  GatewayStatus status() const;
  // `queue_batches=... queue_bytes=... acked_samples=... dropped_batches=...
  // lag=...` (see docs/gateway.md).
  std::string StatusLine() const;

 private:
  explicit Gateway(GatewayOptions options);
  absl::Status Init();
  absl::Status FlushLocked();
  void FlushLoop();
  void SendLoop();
  void OnResult(uint64_t sequence, const absl::Status& status, const historian::v1::WriteAck& ack);

  GatewayOptions options_;
  std::string client_id_;
  uint64_t resume_cursor_ = 0;
  uint64_t resume_sequence_ = 0;
  std::unique_ptr<DiskQueue> queue_;
  std::unique_ptr<Writer> writer_;

  // Input side.
  std::mutex input_mu_;
  std::condition_variable input_cv_;
  Batcher batcher_;
  uint64_t batch_cursor_ = 0;
  bool input_stopped_ = false;

  // Sender side and counters.
  mutable std::mutex mu_;
  std::condition_variable cv_;  // appended, acked, stopping
  bool stopping_ = false;
  uint64_t acked_batches_ = 0;
  uint64_t acked_samples_ = 0;
  uint64_t stored_samples_ = 0;
  uint64_t rejected_samples_ = 0;
  uint64_t failed_batches_ = 0;
  uint64_t queue_errors_ = 0;
  uint64_t unqueued_samples_ = 0;

  std::thread flush_thread_;
  std::thread send_thread_;
  std::mutex stop_mu_;
  bool stopped_ = false;
};

}  // namespace historian::client

#endif  // HISTORIAN_CLIENT_GATEWAY_GATEWAY_H_
