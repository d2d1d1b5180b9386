// File: storage/own_log/own_log_batch.h
// The own log entries one read hands to a peer (Store::ReadOwnLog).
#ifndef HISTORIAN_STORAGE_OWN_LOG_OWN_LOG_BATCH_H_
#define HISTORIAN_STORAGE_OWN_LOG_OWN_LOG_BATCH_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace historian {

// Own log entries read for shipping to a peer.
struct OwnLogBatch {
  std::vector<std::pair<uint64_t, std::string>> records;  // (sequence, entry bytes)
  // True when from_seq was already trimmed; first_available says where the
  // log starts now.
  bool gap = false;
  uint64_t first_available = 0;
  uint64_t head_seq = 0;         // newest own sequence
  uint64_t pending_samples = 0;  // own samples after the last record returned
  int64_t head_time_ns = 0;      // write time of the newest own entry
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_OWN_LOG_OWN_LOG_BATCH_H_
