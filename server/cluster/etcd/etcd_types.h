// File: etcd_types.h
// Plain values our etcd client hands out and takes in, so callers never see
// etcd's generated protobuf types: a key-value with its revisions, a range
// read at a store revision, a watch event, the parts of a transaction.
// Keys and values are bytes (std::string). Pure data; no thread-safety
// concerns.
#ifndef HISTORIAN_SERVER_CLUSTER_ETCD_ETCD_TYPES_H_
#define HISTORIAN_SERVER_CLUSTER_ETCD_ETCD_TYPES_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace historian::cluster {

// One key as etcd stores it.
struct EtcdKeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;  // revision of the write that created it
  int64_t mod_revision = 0;     // revision of its last write (delete: of the delete)
  int64_t version = 0;          // writes since creation; 0 once deleted
  int64_t lease = 0;            // 0: no lease
};

// The answer of a read: the keys found (sorted by key) and the store's
// revision the read saw. Watching from `revision + 1` misses nothing.
struct EtcdRange {
  std::vector<EtcdKeyValue> kvs;
  int64_t revision = 0;
};

struct EtcdEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  // For kDelete: the key, mod_revision = the delete's revision, no value.
  EtcdKeyValue kv;
};

// One comparison of a transaction guard; all of them must hold. Absent keys
// compare as version, create_revision and mod_revision 0 and value "".
struct EtcdCompare {
  enum class Target { kVersion, kCreateRevision, kModRevision, kValue };
  std::string key;
  Target target = Target::kModRevision;
  int64_t number = 0;  // for every target but kValue
  std::string value;   // for kValue

  static EtcdCompare ModRevisionIs(std::string key, int64_t revision) {
    return {std::move(key), Target::kModRevision, revision, {}};
  }
  static EtcdCompare Absent(std::string key) {
    return {std::move(key), Target::kCreateRevision, 0, {}};
  }
  static EtcdCompare VersionIs(std::string key, int64_t version) {
    return {std::move(key), Target::kVersion, version, {}};
  }
  static EtcdCompare ValueIs(std::string key, std::string value) {
    return {std::move(key), Target::kValue, 0, std::move(value)};
  }
};

// One write of a transaction: a put (with an optional lease) or a delete of
// one key.
struct EtcdWrite {
  enum class Kind { kPut, kDelete };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;
  int64_t lease = 0;

  static EtcdWrite Put(std::string key, std::string value, int64_t lease = 0) {
    return {Kind::kPut, std::move(key), std::move(value), lease};
  }
  static EtcdWrite Delete(std::string key) { return {Kind::kDelete, std::move(key), {}, 0}; }
};

// What a transaction did. `committed` false is a conflict, not an error: a
// guard did not hold, nothing was written, and `current` holds the compared
// keys as they are now (absent keys left out), read in the same transaction,
// so the caller can decide whether to retry.
struct EtcdTxnOutcome {
  bool committed = false;
  int64_t revision = 0;               // the store revision after the transaction
  std::vector<EtcdKeyValue> current;  // only when !committed
};

struct EtcdLease {
  int64_t id = 0;
  int64_t ttl_seconds = 0;  // as granted (etcd raises a TTL below its minimum)
  // When the grant was asked (monotonic clock): etcd keeps the lease at
  // least until asked_at + ttl_seconds.
  std::chrono::steady_clock::time_point asked_at;
};

// What LeaseTimeToLive tells of a lease.
struct EtcdLeaseInfo {
  int64_t id = 0;
  int64_t ttl_seconds = -1;         // seconds left; -1: expired or unknown
  int64_t granted_ttl_seconds = 0;  // its TTL as granted
};

// The end of the key range holding every key that starts with `prefix`
// (etcd's convention: the prefix with its last byte below 0xff incremented);
// "\0" (every key) for an empty or all-0xff prefix.
std::string EtcdPrefixEnd(const std::string& prefix);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_ETCD_ETCD_TYPES_H_
