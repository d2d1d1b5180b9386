#include "server/replication_filter.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "api/core/tag_shard.h"
#include "storage/engine/log_entry.h"

namespace historian::server {

ShardSet::ShardSet(uint32_t num_shards, std::vector<uint32_t> shards)
    : num_shards_(num_shards), shards_(std::move(shards)), owned_(num_shards, false) {
  for (uint32_t s : shards_) owned_[s] = true;
}

absl::StatusOr<ShardSet> ShardSet::Create(uint32_t num_shards, std::vector<uint32_t> shards) {
  if (num_shards == 0 || num_shards > kMaxClusterShards) {
    return absl::InvalidArgumentError(
        absl::StrCat("filter.num_shards: ", num_shards, " is not in 1..", kMaxClusterShards));
  }
  if (shards.size() > num_shards) {
    return absl::InvalidArgumentError(absl::StrCat(
        "filter.shards: ", shards.size(), " entries; at most num_shards (", num_shards, ")"));
  }
  std::sort(shards.begin(), shards.end());
  for (size_t i = 0; i < shards.size(); ++i) {
    if (shards[i] >= num_shards) {
      return absl::InvalidArgumentError(absl::StrCat(
          "filter.shards: ", shards[i], " is not below num_shards (", num_shards, ")"));
    }
    if (i > 0 && shards[i] == shards[i - 1]) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter.shards: ", shards[i], " is listed twice"));
    }
  }
  return ShardSet(num_shards, std::move(shards));
}

absl::StatusOr<ShardSet> ShardSet::FromProto(const v1::ShardFilter& proto) {
  return Create(proto.num_shards(), {proto.shards().begin(), proto.shards().end()});
}

v1::ShardFilter ShardSet::ToProto() const {
  v1::ShardFilter p;
  p.set_num_shards(num_shards_);
  for (uint32_t s : shards_) p.add_shards(s);
  return p;
}

bool ShardSet::OwnsTag(std::string_view name) const {
  return OwnsShard(TagShard(name, num_shards_));
}

std::vector<uint32_t> ShardSet::GainedSince(const ShardSet& before) const {
  if (before.num_shards_ != num_shards_) return shards_;
  std::vector<uint32_t> gained;
  for (uint32_t s : shards_) {
    if (!before.OwnsShard(s)) gained.push_back(s);
  }
  return gained;
}

bool ShardSet::Contains(const ShardSet& o) const {
  if (o.num_shards_ != num_shards_) return false;
  for (uint32_t s : o.shards_) {
    if (!OwnsShard(s)) return false;
  }
  return true;
}

ShardSet ShardSet::Intersect(const ShardSet& o) const {
  std::vector<uint32_t> both;
  if (o.num_shards_ == num_shards_) {
    for (uint32_t s : shards_) {
      if (o.OwnsShard(s)) both.push_back(s);
    }
  }
  return ShardSet(num_shards_, std::move(both));
}

std::string ShardSet::Encode() const {
  return absl::StrCat(num_shards_, ":", absl::StrJoin(shards_, ","));
}

absl::StatusOr<ShardSet> ShardSet::Decode(absl::string_view text) {
  std::vector<std::string> parts = absl::StrSplit(text, absl::MaxSplits(':', 1));
  uint32_t n = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &n)) {
    return absl::DataLossError(absl::StrCat("shard set '", text, "' is not num_shards:s1,s2,..."));
  }
  std::vector<uint32_t> shards;
  for (absl::string_view item : absl::StrSplit(parts[1], ',', absl::SkipWhitespace())) {
    uint32_t s = 0;
    if (!absl::SimpleAtoi(item, &s)) {
      return absl::DataLossError(absl::StrCat("shard set: '", item, "' is not a shard number"));
    }
    shards.push_back(s);
  }
  absl::StatusOr<ShardSet> set = Create(n, std::move(shards));
  if (!set.ok()) return absl::DataLossError(set.status().message());
  return set;
}

absl::Status FilterLogEntry(const Store& store, const ShardSet& filter, std::string_view bytes,
                            std::string* out, bool* changed, OwnedCache* owned_cache) {
  *changed = false;
  engine::LogEntry entry;
  if (absl::Status s = engine::DecodeLogEntry(bytes, &entry); !s.ok()) return s;
  absl::flat_hash_map<TagId, bool> owned;  // by the entry's own upserts
  std::vector<engine::TagInfo> upserts;
  for (engine::TagInfo& info : entry.catalog_upserts) {
    const bool own = filter.OwnsTag(info.name);
    owned[info.id] = own;
    if (own) {
      upserts.push_back(std::move(info));
    } else {
      *changed = true;
    }
  }
  std::vector<std::string> deletes;
  for (std::string& name : entry.catalog_deletes) {
    if (filter.OwnsTag(name)) {
      deletes.push_back(std::move(name));
    } else {
      *changed = true;
    }
  }
  std::vector<engine::SeriesData> series;
  for (engine::SeriesData& s : entry.series) {
    bool keep = true;
    if (auto it = owned.find(s.tag); it != owned.end()) {
      keep = it->second;
    } else if (owned_cache != nullptr && owned_cache->contains(s.tag)) {
      keep = owned_cache->at(s.tag);
    } else if (absl::StatusOr<std::string> name = store.TagName(s.tag); name.ok()) {
      keep = filter.OwnsTag(*name);
      if (owned_cache != nullptr) (*owned_cache)[s.tag] = keep;
    }  // else unknown here (deleted since): kept, the receiver decides
    if (keep) {
      series.push_back(std::move(s));
    } else {
      *changed = true;
    }
  }
  if (!*changed) return absl::OkStatus();
  entry.catalog_upserts = std::move(upserts);
  entry.catalog_deletes = std::move(deletes);
  entry.series = std::move(series);
  out->clear();
  engine::EncodeLogEntry(entry, out);
  return absl::OkStatus();
}

}  // namespace historian::server
