#include "storage/tombstones/tombstone_set.h"

#include <memory>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "storage/engine/columns.h"
#include "storage/engine/key_format.h"

namespace historian {

absl::Status TombstoneSet::Load(engine::RocksDb* db) {
  std::unique_ptr<rocksdb::Iterator> it(db->db()->NewIterator(rocksdb::ReadOptions(), db->state()));
  // Calls fn(tombstone) for each key with `prefix` (tag id -> version).
  auto scan = [&](std::string_view prefix, auto fn) -> absl::Status {
    for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size()));
         it->Valid() && it->key().starts_with(rocksdb::Slice(prefix.data(), prefix.size()));
         it->Next()) {
      if (it->key().size() != prefix.size() + engine::kU64Size ||
          it->value().size() != engine::kU64Size) {
        return absl::DataLossError(
            absl::StrCat("state ", std::string(prefix), ": bad key or value size"));
      }
      fn(engine::Tombstone{engine::GetBigEndian64(it->key().data() + prefix.size()),
                           engine::GetBigEndian64(it->value().data())});
    }
    return engine::FromRocks(it->status(), "load tombstones");
  };
  std::vector<engine::Tombstone> found, purges;
  auto into = [](std::vector<engine::Tombstone>* v) {
    return [v](const engine::Tombstone& t) { v->push_back(t); };
  };
  RETURN_IF_ERROR(scan(engine::kTombstonePrefix, into(&found)));
  RETURN_IF_ERROR(scan(engine::kPurgePrefix, into(&purges)));
  for (const engine::Tombstone& t : found) {
    tombstones_[t.tag] = t.version;
    RaiseFloor(t.version);
    NoteVersion(t.version);
  }
  purges_due_.insert(purges_due_.end(), purges.begin(), purges.end());
  return absl::OkStatus();
}

size_t TombstoneSet::CountAbove(TagId tag, const codec::ChunkColumns& in) const {
  const Version dead = Of(tag);
  if (dead == 0 || in.versions.size() != in.size()) return in.size();
  return static_cast<size_t>(
      std::count_if(in.versions.begin(), in.versions.end(), [&](Version v) { return v > dead; }));
}

bool TombstoneSet::Drop(TagId tag, const codec::ChunkColumns& in, codec::ChunkColumns* kept) const {
  const Version dead = Of(tag);
  if (dead == 0 || in.versions.size() != in.size()) return false;
  if (std::none_of(in.versions.begin(), in.versions.end(), [&](Version v) { return v <= dead; })) {
    return false;
  }
  kept->Reset(in.type);
  for (size_t i = 0; i < in.size(); ++i) {
    if (in.versions[i] > dead) engine::AppendSample(in, i, kept);
  }
  return true;
}

void TombstoneSet::Apply(const engine::Tombstone& t) {
  Version& known = tombstones_[t.tag];
  known = std::max(known, t.version);
  RaiseFloor(t.version);
  NoteVersion(t.version);
}

std::vector<engine::Tombstone> TombstoneSet::Sorted() const {
  std::vector<engine::Tombstone> out;
  out.reserve(tombstones_.size());
  for (const auto& [tag, version] : tombstones_) out.push_back({tag, version});
  std::sort(out.begin(), out.end(),
            [](const engine::Tombstone& a, const engine::Tombstone& b) { return a.tag < b.tag; });
  return out;
}

}  // namespace historian
