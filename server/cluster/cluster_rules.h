// File: cluster_rules.h
// ClusterRules: a site cluster's alarm rules, held site-wide in etcd
// (docs/cluster.md, "Alarm rules and events"). Every member holds every
// rule and evaluates it against the tags of the shards it owns.
//
// Each rule is one key, RulesPrefix(site) + name, whose value is the rule
// record as a store keeps it (events::EncodeRule), deleted rules as deleted
// records. Records are ordered by their version, last writer wins, as
// between sites; so applying one twice, or an older one, changes nothing.
// - etcd -> member: at Start the prefix is read and every record newer than
//   the member's is applied (Store::ApplyRule); then a watch of the prefix
//   applies each change. A compacted watch reads the prefix again.
// - member -> etcd: a record the member applied that is newer than etcd's
//   (kept from before it joined, or come from a peer site in the log) is
//   written with a compare on the key's mod revision, so etcd ends at the
//   newest record any member saw; a member that joins later gets it there.
// - Events.CreateRule/UpdateRule/DeleteRule (events_service.cc) read the
//   key (Get), write the checked, versioned record (Put, compare on the mod
//   revision read: two operators creating one name, one wins) and then ask
//   every member to apply it at once (Sync, Cluster.SyncRule), so the rule
//   is in force at every member when the call returns.
//
// Thread-safety: thread-safe. mu_ guards what this node knows of etcd's
// records and the watch; the watch handler runs on the watcher's thread,
// the publisher on its own.
#ifndef HISTORIAN_SERVER_CLUSTER_CLUSTER_RULES_H_
#define HISTORIAN_SERVER_CLUSTER_CLUSTER_RULES_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/cluster/etcd/etcd_client.h"
#include "server/cluster/site_rules.h"
#include "storage/events/event_record.h"
#include "storage/store.h"

namespace historian::cluster {

// "/historian-rules/<site>/": outside the site's prefix, which the
// placement watcher reads and watches whole.
std::string RulesPrefix(std::string_view site);

class ClusterRules final : public SiteRules {
 public:
  // `store` and `etcd` must outlive it.
  ClusterRules(Store* store, const EtcdClient* etcd, std::string site);
  ~ClusterRules();
  ClusterRules(const ClusterRules&) = delete;
  ClusterRules& operator=(const ClusterRules&) = delete;

  // Reads etcd's rules and applies the newer ones here (so a starting member
  // serves with the site's rules), then watches them and starts the
  // publisher. A failed first read is returned and retried in the
  // background.
  absl::Status Start() ABSL_LOCKS_EXCLUDED(mu_);
  // Ends the watch and the publisher. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // SiteRules, on etcd: a linearizable read of the key; a put with a
  // compare on its mod revision; a read of the key applied here
  // (Cluster.SyncRule).
  absl::StatusOr<std::optional<Held>> Get(std::string_view name) const override;
  absl::StatusOr<int64_t> Put(const events::RuleRecord& rule, int64_t mod_revision) const override;
  absl::StatusOr<Version> Sync(std::string_view name) override ABSL_LOCKS_EXCLUDED(mu_);

  struct Stats {
    uint64_t taken = 0;      // etcd records taken (applied unless this member's is as new)
    uint64_t published = 0;  // this member's records written to etcd
    uint64_t errors = 0;     // failed reads, writes and applies (logged)
  };
  Stats stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // etcd's rules read whole, the newer ones applied, and a watch from the
  // read's revision; the read's error when etcd could not be read.
  absl::Status LoadAndWatch() ABSL_LOCKS_EXCLUDED(mu_);
  void OnEvents(const std::vector<EtcdEvent>& events) ABSL_LOCKS_EXCLUDED(mu_);
  // Notes etcd's record in known_; returns it unless an older one than
  // known (or no rule record: logged, and known at version 0 so the
  // publisher replaces it).
  std::optional<events::RuleRecord> Note(const EtcdKeyValue& kv) ABSL_LOCKS_EXCLUDED(mu_);
  // Note, then applies the record here (unapplied_ on failure).
  void Take(const EtcdKeyValue& kv) ABSL_LOCKS_EXCLUDED(mu_);
  // Applies the records whose apply failed, again.
  void RetryUnapplied() ABSL_LOCKS_EXCLUDED(mu_);
  // Writes to etcd every record held here that is newer than etcd's.
  void PublishNewer() ABSL_LOCKS_EXCLUDED(mu_);
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  void CountError(std::string_view what, const absl::Status& s) ABSL_LOCKS_EXCLUDED(mu_);

  Store* const store_;
  const EtcdClient* const etcd_;
  const std::string site_;
  const std::string prefix_;

  struct Known {
    Version version = 0;
    int64_t mod_revision = 0;
  };
  mutable absl::Mutex mu_;
  std::map<std::string, Known, std::less<>> known_ ABSL_GUARDED_BY(mu_);  // etcd's, by name
  // etcd's records this member failed to apply (a store error): retried.
  std::map<std::string, events::RuleRecord, std::less<>> unapplied_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<EtcdWatcher> watcher_ ABSL_GUARDED_BY(mu_);
  bool watch_failed_ ABSL_GUARDED_BY(mu_) = true;  // (re)load and watch due
  bool recheck_ ABSL_GUARDED_BY(mu_) = true;       // compare held records with etcd's
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_CLUSTER_RULES_H_
