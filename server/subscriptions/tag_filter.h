// File: tag_filter.h
// TagFilter: which tags a live subscription wants, by names and/or a glob.
//
// Thread-safety: a value; Matches is const (glob_keep must be thread-safe).
#ifndef HISTORIAN_SERVER_SUBSCRIPTIONS_TAG_FILTER_H_
#define HISTORIAN_SERVER_SUBSCRIPTIONS_TAG_FILTER_H_

#include <functional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_set.h"

namespace historian::server {

// Which tags a subscription wants: names, and/or a glob (matched on the
// name, so tags created later are included).
struct TagFilter {
  absl::flat_hash_set<std::string> names;
  std::string glob;  // empty: names only
  // When set, a name only the glob matches counts when this says so (a
  // forwarded part in a site cluster keeps the tags this node owns, so
  // every tag is sent by its owner only). Must be thread-safe.
  std::function<bool(std::string_view)> glob_keep;
  bool Matches(std::string_view name) const;
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_SUBSCRIPTIONS_TAG_FILTER_H_
