// File: move_txn.cc
#include "server/cluster/move_txn.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/cluster/etcd/etcd_client.h"

namespace historian::cluster {

absl::StatusOr<Placement> ApplyMoveStep(const EtcdClient& etcd, const std::string& site,
                                        uint32_t shard, MoveGoal goal, const MoveStepFn& step,
                                        const std::function<void()>& before_commit) {
  const std::string key = PlacementKey(site);
  int64_t last_conflict = 0;
  for (int attempt = 0; attempt < kMoveTxnAttempts; ++attempt) {
    absl::StatusOr<EtcdRange> read = etcd.Get(key);
    if (!read.ok()) return read.status();
    if (read->kvs.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("move of shard ", shard, ": site '", site,
                                                        "' has no placement (", key, ")"));
    }
    const EtcdKeyValue& kv = read->kvs[0];
    absl::StatusOr<Placement> current = Placement::Decode(kv.value, kv.mod_revision);
    if (!current.ok()) return current.status();
    if (MoveStepDone(*current, shard, goal)) return current;
    absl::StatusOr<Placement> next = step(*current);
    if (!next.ok()) return next.status();
    const std::string value = next->Encode();
    if (before_commit) before_commit();
    absl::StatusOr<EtcdTxnOutcome> outcome = etcd.PutIfModRevision(key, value, kv.mod_revision);
    if (!outcome.ok()) return outcome.status();
    if (outcome->committed) return Placement::Decode(value, outcome->revision);
    for (const EtcdKeyValue& now : outcome->current) {
      if (now.key == key && now.value == value) {
        return Placement::Decode(value, now.mod_revision);  // ours, applied before a retry
      }
      if (now.key == key) last_conflict = now.mod_revision;
    }
  }
  return absl::AbortedError(absl::StrCat(
      "move of shard ", shard, ": the placement changed ", kMoveTxnAttempts,
      " times while this step was applied (last at revision ", last_conflict, "); try again"));
}

}  // namespace historian::cluster
