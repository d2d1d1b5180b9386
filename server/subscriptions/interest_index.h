// File: interest_index.h
// InterestIndex: which subscriptions want a tag, kept up to date as
// subscriptions come and go, for SubscriptionHub::OnApplied (under the
// store's lock, once per applied series).
//
// A tag's subscribers are worked out the first time the tag is seen (one
// lookup among the name-only subscriptions, a match against each glob
// subscription) and cached by tag id. A subscription that comes or goes
// changes only what it touches: a name-only one its names' tags, a glob one
// every cached tag (a match each). Before this index, every Add or Remove
// emptied the cache and each tag's next series matched every subscription
// again under the store's lock: O(tags x subscriptions) per subscription
// opened or closed.
//
// A tag keeps the name it was first seen with (tags are not renamed; one
// re-created under its old name gets a new id, cached apart).
//
//   InterestIndex<Sub> index;
//   index.Add(sub, &sub->filter);       // the filter must outlive Remove
//   for (Sub* s : index.Interested(tag_id, name)) ...;
//   index.Remove(sub);
//
// Thread-safety: none; the owner locks (the hub's mu_).
#ifndef HISTORIAN_SERVER_SUBSCRIPTIONS_INTEREST_INDEX_H_
#define HISTORIAN_SERVER_SUBSCRIPTIONS_INTEREST_INDEX_H_

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "server/subscriptions/tag_filter.h"
#include "storage/applied_listener.h"

namespace historian::server {

template <typename Subscriber>
class InterestIndex {
 public:
  // `filter` must not change and must outlive `sub`'s Remove.
  void Add(Subscriber* sub, const TagFilter* filter) {
    filters_[sub] = filter;
    if (filter->glob.empty()) {
      for (const std::string& name : filter->names) {
        by_name_[name].push_back(sub);
        ForEachCachedTagNamed(name, [sub](std::vector<Subscriber*>& subs) { subs.push_back(sub); });
      }
      return;
    }
    by_glob_.push_back(sub);
    for (auto& [id, tag] : tags_) {
      if (filter->Matches(tag.name)) tag.subs.push_back(sub);
    }
  }

  void Remove(Subscriber* sub) {
    auto it = filters_.find(sub);
    if (it == filters_.end()) return;
    const TagFilter* filter = it->second;
    filters_.erase(it);
    if (filter->glob.empty()) {
      for (const std::string& name : filter->names) {
        auto named = by_name_.find(name);
        if (named != by_name_.end()) {
          Erase(sub, &named->second);
          if (named->second.empty()) by_name_.erase(named);
        }
        ForEachCachedTagNamed(name, [sub](std::vector<Subscriber*>& subs) { Erase(sub, &subs); });
      }
      return;
    }
    Erase(sub, &by_glob_);
    for (auto& [id, tag] : tags_) Erase(sub, &tag.subs);
  }

  // The subscriptions that want tag `id`, named `name`.
  const std::vector<Subscriber*>& Interested(TagId id, std::string_view name) {
    auto [it, inserted] = tags_.try_emplace(id);
    Tag& tag = it->second;
    if (inserted) {
      tag.name = std::string(name);
      ids_of_name_[tag.name].push_back(id);
      if (auto named = by_name_.find(tag.name); named != by_name_.end()) tag.subs = named->second;
      for (Subscriber* sub : by_glob_) {
        if (filters_.at(sub)->Matches(tag.name)) tag.subs.push_back(sub);
      }
    }
    return tag.subs;
  }

  size_t subscriptions() const { return filters_.size(); }

 private:
  struct Tag {
    std::string name;
    std::vector<Subscriber*> subs;
  };

  static void Erase(Subscriber* sub, std::vector<Subscriber*>* subs) {
    subs->erase(std::remove(subs->begin(), subs->end(), sub), subs->end());
  }

  template <typename Fn>
  void ForEachCachedTagNamed(const std::string& name, Fn fn) {
    auto ids = ids_of_name_.find(name);
    if (ids == ids_of_name_.end()) return;
    for (TagId id : ids->second) fn(tags_.at(id).subs);
  }

  absl::flat_hash_map<Subscriber*, const TagFilter*> filters_;
  // Subscriptions without a glob, by each of their names.
  absl::flat_hash_map<std::string, std::vector<Subscriber*>> by_name_;
  // Subscriptions with a glob (Matches covers their names too).
  std::vector<Subscriber*> by_glob_;
  // Tags seen, and the ids seen per name.
  absl::flat_hash_map<TagId, Tag> tags_;
  absl::flat_hash_map<std::string, std::vector<TagId>> ids_of_name_;
};

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_SUBSCRIPTIONS_INTEREST_INDEX_H_
