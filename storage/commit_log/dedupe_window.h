// File: dedupe_window.h
// DedupeWindow: the batches each client has written recently, so a retried
// batch is acknowledged again instead of stored twice.
#ifndef HISTORIAN_STORAGE_COMMIT_LOG_DEDUPE_WINDOW_H_
#define HISTORIAN_STORAGE_COMMIT_LOG_DEDUPE_WINDOW_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "rocksdb/write_batch.h"
#include "storage/engine/rocks_db.h"

namespace historian {

// Per client: (batch sequence, digest) -> accepted count, for the batches
// within `window` sequences of the highest one seen, loaded from the state CF
// (client/ keys) at a client's first batch. The digest tells apart writes of
// one batch that hold different slices of it (a site cluster node's parts
// of a batch before and after the placement moved: docs/cluster.md,
// "Routing writes"): only a write with the same digest is a retry. Digest 0
// (a single node) is the batch key alone, stored as before (client/<id>\0
// <seq>); other digests add 8 bytes to the key, which older versions skip
// when loading (they forget those batches: a retry is stored again, never
// lost). Not thread-safe: its owner's lock guards it (CommitLog: the
// store's mu).
class DedupeWindow {
 public:
  // `db` must outlive this.
  DedupeWindow(engine::RocksDb* db, uint64_t window) : db_(db), window_(window) {}

  // Starts batch `batch_seq` of `client` with `digest`: the accepted count
  // when it was written already with that digest (a retry), nullopt when it
  // is new (and now in flight). Errors: FailedPrecondition when older than
  // the window, Unavailable when the same write is in flight, a read error
  // loading the client.
  absl::StatusOr<std::optional<uint64_t>> Begin(const std::string& client, uint64_t batch_seq,
                                                uint64_t digest);
  // The write started by Begin is done (written or failed).
  void End(const std::string& client, uint64_t batch_seq, uint64_t digest) {
    in_flight_.erase(InFlightKey{client, batch_seq, digest});
  }
  // Into the group's batch: the write's accepted count, and every 64
  // batches the client's keys that left the window.
  void Prepare(const std::string& client, uint64_t batch_seq, uint64_t digest, uint64_t accepted,
               rocksdb::WriteBatch* batch) const;
  // After the write: remembers it and forgets batches out of the window.
  void Record(const std::string& client, uint64_t batch_seq, uint64_t digest, uint64_t accepted);

 private:
  // (batch sequence, digest) -> accepted count, ordered by sequence.
  using Batches = std::map<std::pair<uint64_t, uint64_t>, uint64_t>;
  using InFlightKey = std::tuple<std::string, uint64_t, uint64_t>;

  absl::Status LoadClient(const std::string& client);

  engine::RocksDb* const db_;
  const uint64_t window_;
  absl::flat_hash_map<std::string, Batches> client_batches_;
  absl::flat_hash_set<std::string> clients_loaded_;
  absl::flat_hash_set<InFlightKey> in_flight_;
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_COMMIT_LOG_DEDUPE_WINDOW_H_
