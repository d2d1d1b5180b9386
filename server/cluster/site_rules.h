// File: site_rules.h
// SiteRules: where a site cluster's alarm rules are held site-wide, as the
// Events and Cluster services see it (cluster_rules.h is the etcd one;
// docs/cluster.md, "Alarm rules and events").
//
// Thread-safety: implementations are thread-safe.
#ifndef HISTORIAN_SERVER_CLUSTER_SITE_RULES_H_
#define HISTORIAN_SERVER_CLUSTER_SITE_RULES_H_

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api/core/types.h"
#include "storage/events/event_record.h"

namespace historian::cluster {

class SiteRules {
 public:
  virtual ~SiteRules() = default;

  // The site's record of rule `name` now, with the revision it was last
  // written at; nullopt when there is none.
  struct Held {
    events::RuleRecord rule;
    int64_t mod_revision = 0;
  };
  virtual absl::StatusOr<std::optional<Held>> Get(std::string_view name) const = 0;
  // Writes `rule` if its record was last written at `mod_revision` (0:
  // none) and returns the write's revision; ABORTED naming the rule when it
  // was changed meanwhile.
  virtual absl::StatusOr<int64_t> Put(const events::RuleRecord& rule,
                                      int64_t mod_revision) const = 0;
  // Applies the site's record of rule `name` on this member when newer;
  // returns once this member's evaluator reflects it, with the version of
  // the record this member holds then (0: none; above the site's record's
  // when this member holds a newer one, e.g. a peer site's change not
  // written to the site's record yet).
  virtual absl::StatusOr<Version> Sync(std::string_view name) = 0;
};

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_SITE_RULES_H_
