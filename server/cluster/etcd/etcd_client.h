// File: etcd_client.h
// EtcdClient: the narrow etcd v3 client the cluster code uses (issue 20):
// reads at a revision, puts and deletes, compare-and-swap transactions that
// report a conflict apart from an error, leases with a background keeper,
// and prefix watches that survive reconnects. Talks etcd's own gRPC API
// (server/cluster/etcd/proto/etcd/rpc.proto, a subset with etcd's field
// numbers) to a list of members, failing over between them.
//
//   ASSIGN_OR_RETURN(auto etcd, EtcdClient::Create({.endpoints = {"127.0.0.1:2379"}}));
//   ASSIGN_OR_RETURN(EtcdRange r, etcd->Get("/historian/us/placement"));
//   ASSIGN_OR_RETURN(EtcdTxnOutcome o, etcd->PutIfModRevision(key, next, r.kvs[0].mod_revision));
//   if (!o.committed) { /* someone else changed it: o.current has their version */ }
//
// Errors: every unary call has a deadline (options.call_timeout per
// endpoint); errors keep etcd's gRPC code and name the endpoint and the
// operation; UNAVAILABLE when no endpoint answered.
//
// Thread-safety: thread-safe; the object is immutable after Create (the
// shared EtcdEndpoints hold the only mutable state, an atomic).
#ifndef HISTORIAN_SERVER_CLUSTER_ETCD_ETCD_CLIENT_H_
#define HISTORIAN_SERVER_CLUSTER_ETCD_ETCD_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/cluster/etcd/etcd_endpoints.h"
#include "server/cluster/etcd/etcd_types.h"
#include "server/cluster/etcd/etcd_watcher.h"
#include "server/cluster/etcd/lease_keeper.h"

namespace historian::cluster {

class EtcdClient {
 public:
  // INVALID_ARGUMENT for a bad option. Does not connect.
  static absl::StatusOr<std::unique_ptr<EtcdClient>> Create(EtcdClientOptions options);

  // The key (kvs empty when absent) and the store revision of the read.
  // Linearizable reads.
  absl::StatusOr<EtcdRange> Get(const std::string& key) const;
  // Every key starting with `prefix`, sorted, at one revision.
  absl::StatusOr<EtcdRange> GetPrefix(const std::string& prefix) const;

  // Returns the store revision of the write. `lease` 0: none.
  absl::StatusOr<int64_t> Put(const std::string& key, const std::string& value,
                              int64_t lease = 0) const;
  // Returns the store revision after the delete; deleting an absent key is
  // not an error.
  absl::StatusOr<int64_t> Delete(const std::string& key) const;

  // All of `guard` hold → every write of `writes` is applied at one new
  // revision (committed). Otherwise nothing is written and the outcome
  // carries the guarded keys as they are (a conflict, not an error).
  // A write retried on another endpoint after UNAVAILABLE may have been
  // applied by the first one; the retry then reports a conflict whose
  // `current` holds our own value.
  absl::StatusOr<EtcdTxnOutcome> Txn(const std::vector<EtcdCompare>& guard,
                                     const std::vector<EtcdWrite>& writes) const;
  // Put `value` only if `key` was last written at `mod_revision` (0: the key
  // is absent).
  absl::StatusOr<EtcdTxnOutcome> PutIfModRevision(const std::string& key, const std::string& value,
                                                  int64_t mod_revision, int64_t lease = 0) const;
  // Put `value` only if `key` does not exist.
  absl::StatusOr<EtcdTxnOutcome> CreateIfAbsent(const std::string& key, const std::string& value,
                                                int64_t lease = 0) const;

  // A new lease; etcd raises a TTL below its minimum (the answer says).
  absl::StatusOr<EtcdLease> GrantLease(int64_t ttl_seconds) const;
  // Ends the lease now; its keys are deleted. NOT_FOUND when it is gone.
  absl::Status RevokeLease(int64_t lease_id) const;
  // Seconds left of a lease and its granted TTL; ttl_seconds -1 when it
  // expired or never existed (not an error).
  absl::StatusOr<EtcdLeaseInfo> LeaseTimeToLive(int64_t lease_id) const;

  // Keeps `lease` alive on a background stream until the keeper is
  // destroyed (which does not revoke it: it then expires after its TTL).
  // `on_lost` runs once, on the keeper's thread, if the lease is lost;
  // `on_renewed` (optional) after each answered keep-alive (LeaseKeeper).
  std::unique_ptr<LeaseKeeper> KeepAlive(
      EtcdLease lease, std::function<void(absl::Status)> on_lost,
      std::function<void(std::chrono::steady_clock::time_point)> on_renewed = {}) const;

  // Watches every key starting with `prefix` from `start_revision`
  // (inclusive; 0: from now) until the watcher is destroyed; see
  // EtcdWatcher for reconnects and compaction.
  std::unique_ptr<EtcdWatcher> WatchPrefix(const std::string& prefix, int64_t start_revision,
                                           EtcdWatchHandlers handlers) const;

  const EtcdClientOptions& options() const { return endpoints_->options(); }

 private:
  explicit EtcdClient(std::shared_ptr<const EtcdEndpoints> endpoints)
      : endpoints_(std::move(endpoints)) {}
  absl::StatusOr<EtcdRange> Range(const std::string& key, const std::string& range_end) const;

  const std::shared_ptr<const EtcdEndpoints> endpoints_;
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_ETCD_ETCD_CLIENT_H_
