// File: storage/catalog/catalog.h
// The tag catalog: tag records by name and id, creation and removal, and the
// conflict rule of catalog changes (last writer wins by version; a type or
// id clash keeps the local definition).
#ifndef HISTORIAN_STORAGE_CATALOG_CATALOG_H_
#define HISTORIAN_STORAGE_CATALOG_CATALOG_H_

#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/catalog/catalog_entry.h"
#include "storage/engine/tag_info.h"

namespace historian {

// The catalog's indexes hold record pointers and find them by name or id
// (heterogeneous lookup): a pointer a tag per index, no copy of the key.
struct ByName {
  using is_transparent = void;
  static std::string_view Key(std::string_view name) { return name; }
  static std::string_view Key(const CatalogEntry* e) { return e->name(); }
  size_t operator()(std::string_view name) const { return absl::HashOf(name); }
  size_t operator()(const CatalogEntry* e) const { return absl::HashOf(e->name()); }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return Key(a) == Key(b);
  }
};
struct ByNameLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return ByName::Key(a) < ByName::Key(b);
  }
};
struct ById {
  using is_transparent = void;
  static TagId Key(TagId id) { return id; }
  static TagId Key(const CatalogEntry* e) { return e->id(); }
  size_t operator()(TagId id) const { return absl::HashOf(id); }
  size_t operator()(const CatalogEntry* e) const { return absl::HashOf(e->id()); }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return Key(a) == Key(b);
  }
};

// Records that never move and are never freed while the arena lives, in
// blocks: no allocation (and no malloc header) per tag.
template <typename Record>
class RecordArena {
 public:
  Record* New() {
    if (used_ == kBlockRecords) {
      blocks_.push_back(std::make_unique<Record[]>(kBlockRecords));
      used_ = 0;
    }
    return &blocks_.back()[used_++];
  }
  size_t bytes() const { return blocks_.size() * kBlockRecords * sizeof(Record); }

 private:
  static constexpr size_t kBlockRecords = 256;
  std::vector<std::unique_ptr<Record[]>> blocks_;
  size_t used_ = kBlockRecords;  // of the last block
};

// The catalog of one store. `Record` is the store's per-tag record: it
// derives from CatalogEntry and holds the other parts' state of the tag, so
// one lookup (Find, FindByName) finds all of it. The catalog owns the
// records (in an arena) and never frees one while it lives: a removed record
// is marked deleted and kept, as other parts may still point to it. An idle
// tag costs its record, its name's bytes and a pointer in each of three
// indexes (bench/README.md, "Idle tags").
//
// Thread-safety: the indexes and every record's CatalogEntry fields change
// under the store-wide mutex `mu` (given to the constructor) and the
// catalog's own `catalog_mu` both, so they may be read under either: name lookups (one per
// series of every write) take only catalog_mu and do not wait for the group
// commit's apply, which holds mu. The names being created and the conflict
// count are guarded by mu. Lock order: mu before catalog_mu.
template <typename Record>
class Catalog {
  static_assert(std::is_base_of_v<CatalogEntry, Record>, "Record must derive from CatalogEntry");

 public:
  // Called with each tag of a scan, in name order; false stops the scan.
  using VisitFn = std::function<bool(std::string_view, const Record&)>;

  explicit Catalog(absl::Mutex& mu) : mu_(mu) {}
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  absl::Mutex& mu() const ABSL_LOCK_RETURNED(mu_) { return mu_; }
  absl::Mutex& catalog_mu() const ABSL_LOCK_RETURNED(catalog_mu_) { return catalog_mu_; }

  // --- Lookups ---

  Record* Find(TagId id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : *it;
  }
  // REQUIRES: mu or catalog_mu held (the analysis cannot say "either").
  Record* FindByName(std::string_view name) const ABSL_NO_THREAD_SAFETY_ANALYSIS {
    auto it = by_exact_name_.find(name);
    return it == by_exact_name_.end() ? nullptr : *it;
  }
  // The tag's definition into *info; false when there is no such tag. Takes
  // catalog_mu (as a reader).
  bool Lookup(std::string_view name, engine::TagInfo* info) const ABSL_LOCKS_EXCLUDED(catalog_mu_) {
    absl::ReaderMutexLock l(&catalog_mu_);
    const Record* t = FindByName(name);
    if (t == nullptr) return false;
    *info = t->Info();
    return true;
  }
  // Takes catalog_mu (as a reader).
  bool Has(std::string_view name) const ABSL_LOCKS_EXCLUDED(catalog_mu_) {
    absl::ReaderMutexLock l(&catalog_mu_);
    return FindByName(name) != nullptr;
  }
  // NotFound for an unknown name. Takes catalog_mu (as a reader).
  absl::StatusOr<engine::TagInfo> Get(std::string_view name) const
      ABSL_LOCKS_EXCLUDED(catalog_mu_) {
    absl::ReaderMutexLock l(&catalog_mu_);
    const Record* t = FindByName(name);
    if (t == nullptr) {
      return absl::NotFoundError(absl::StrCat("tag '", std::string(name), "' not found"));
    }
    return t->Info();
  }
  size_t size() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return by_name_.size(); }
  // Bytes of every record (removed ones too), the names and the indexes:
  // an estimate from sizes and capacities.
  size_t MemoryBytes() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Calls fn(id, record) for every tag, in no particular order (the id
  // index's).
  template <typename Fn>
  void ForEach(Fn fn) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (Record* t : by_id_) fn(t->id(), *t);
  }
  // Calls visit(name, record) for the tags after `after` in name order until
  // it returns false or `cancelled` does (true then). Holds catalog_mu (as
  // a reader) for a slice of tags at a time, never mu: a long glob scan
  // neither stalls writes nor outlives its caller's deadline by much.
  // (Reads the indexes under catalog_mu alone, which the analysis cannot
  // tell from a race.)
  bool Scan(std::string_view after, const std::function<bool()>& cancelled,
            const VisitFn& visit) const ABSL_NO_THREAD_SAFETY_ANALYSIS;

  // --- Changes: under mu, taking catalog_mu ---

  // Removes the tag `name` from every index and marks it deleted (the record
  // is kept). Returns it, or nullptr when there is no such tag.
  Record* Remove(std::string_view name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_)
      ABSL_LOCKS_EXCLUDED(catalog_mu_);
  // Applies an accepted upsert (see PrepareUpserts): the tag of that name
  // takes `info`, or a new tag is added. Returns its record.
  Record* Upsert(const engine::TagInfo& info) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_)
      ABSL_LOCKS_EXCLUDED(catalog_mu_);
  // Reads every tag of the catalog column family from `it` into a new
  // record, calls loaded(record) and adds it. DataLoss for an entry that
  // does not decode.
  absl::Status Load(rocksdb::Iterator* it, absl::FunctionRef<void(Record&)> loaded)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) ABSL_LOCKS_EXCLUDED(catalog_mu_);

  // --- Conflicts ---

  // Decides catalog upserts against the catalog in memory and keeps in
  // *upserts those accepted, each also put into `batch` (column family
  // `cf`): a new tag is created; an existing one of the same type takes the
  // newer metadata (version, last writer wins; its creation time and origin
  // stay); a type conflict or an id used by another name keeps the local
  // definition and is counted. A deleted incarnation (version at or below
  // tombstone_of(id)) is not created again. A tie (the same version) goes
  // to the upsert, as its log's order decides, unless the upsert is below
  // `entry_version`, the version of the log entry carrying it: then it
  // restates a definition stamped earlier (a move target's announce,
  // Store::AnnounceShardTags), possibly an older content of that second
  // that another log had replaced, and it is a no-op. 0: no entry (a
  // copy, a repair).
  void PrepareUpserts(std::vector<engine::TagInfo>* upserts,
                      absl::FunctionRef<Version(TagId)> tombstone_of, rocksdb::WriteBatch* batch,
                      rocksdb::ColumnFamilyHandle* cf, Version entry_version = 0)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Catalog changes refused by PrepareUpserts since open.
  uint64_t conflicts() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return conflicts_; }

  // --- Creation: one creation of a name at a time ---

  // Waits while `info.name` is being created, then marks it as being
  // created. AlreadyExists when the name is taken; FailedPrecondition when
  // another tag has the same id.
  absl::Status Reserve(const engine::TagInfo& info) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool IsCreating(const std::string& name) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return creating_.contains(name);
  }
  void BeginCreating(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    creating_.insert(name);
  }
  // The creations of `infos` are over (done or failed); wakes Reserve.
  void EndCreating(const std::vector<engine::TagInfo>& infos) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const engine::TagInfo& info : infos) creating_.erase(info.name);
    created_cv_.SignalAll();
  }

 private:
  absl::Mutex& mu_;
  mutable absl::Mutex catalog_mu_ ABSL_ACQUIRED_AFTER(mu_);
  // The records and their names, never freed while the catalog lives (a
  // removed record stays, marked deleted: other parts may point to it).
  RecordArena<Record> records_ ABSL_GUARDED_BY(mu_);
  NameArena names_ ABSL_GUARDED_BY(mu_);
  SiteInterner origins_ ABSL_GUARDED_BY(mu_);
  size_t extras_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // of every record's HeapBytes()
  // Ordered, for listings and globs.
  absl::btree_set<Record*, ByNameLess> by_name_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<Record*, ById, ById> by_id_ ABSL_GUARDED_BY(mu_);
  // Exact names by hash: every write and query names its tags, and a walk
  // down the ordered index costs a cache miss per level.
  absl::flat_hash_set<Record*, ByName, ByName> by_exact_name_ ABSL_GUARDED_BY(mu_);
  // Tag names whose creation is queued; created_cv_ is signalled when it
  // shrinks.
  absl::flat_hash_set<std::string> creating_ ABSL_GUARDED_BY(mu_);
  absl::CondVar created_cv_;
  uint64_t conflicts_ ABSL_GUARDED_BY(mu_) = 0;
};

// --- Implementation ---

template <typename Record>
bool Catalog<Record>::Scan(std::string_view after, const std::function<bool()>& cancelled,
                           const VisitFn& visit) const {
  // Bounds the time catalog_mu is held: a writer waiting for it (a tag
  // being created) blocks new readers, so a scan yields between slices.
  constexpr size_t kSliceTags = 256;
  std::string resume(after);  // names are never empty: "" sorts first
  while (true) {
    if (cancelled && cancelled()) return true;
    absl::ReaderMutexLock l(&catalog_mu_);
    auto it = by_name_.upper_bound(std::string_view(resume));
    for (size_t i = 0; i < kSliceTags; ++i, ++it) {
      if (it == by_name_.end()) return false;
      if (!visit((*it)->name(), **it)) return false;
    }
    if (it == by_name_.end()) return false;
    resume = std::string((*std::prev(it))->name());
  }
}

template <typename Record>
size_t Catalog<Record>::MemoryBytes() const {
  // A btree_set of pointers: about 8 bytes a slot at its usual fill of
  // three quarters, plus node headers; a flat_hash_set: a slot and a
  // control byte per capacity.
  const size_t ordered = by_name_.size() * 12;
  const size_t hashed = (by_id_.capacity() + by_exact_name_.capacity()) * (sizeof(Record*) + 1);
  return records_.bytes() + names_.bytes() + extras_bytes_ + ordered + hashed;
}

template <typename Record>
Record* Catalog<Record>::Remove(std::string_view name) {
  absl::MutexLock l(&catalog_mu_);
  auto it = by_exact_name_.find(name);
  if (it == by_exact_name_.end()) return nullptr;
  Record* t = *it;
  t->MarkDeleted();
  by_exact_name_.erase(it);
  by_id_.erase(t);
  by_name_.erase(t);
  return t;
}

template <typename Record>
Record* Catalog<Record>::Upsert(const engine::TagInfo& info) {
  if (Record* existing = FindByName(info.name)) {
    absl::MutexLock l(&catalog_mu_);
    extras_bytes_ -= existing->HeapBytes();
    existing->Assign(info, existing->name(), origins_.Intern(info.origin_site));
    extras_bytes_ += existing->HeapBytes();
    return existing;
  }
  Record* t = records_.New();
  t->Assign(info, names_.Add(info.name), origins_.Intern(info.origin_site));
  extras_bytes_ += t->HeapBytes();
  absl::MutexLock l(&catalog_mu_);
  by_id_.insert(t);
  by_name_.insert(t);
  by_exact_name_.insert(t);
  return t;
}

template <typename Record>
absl::Status Catalog<Record>::Load(rocksdb::Iterator* it, absl::FunctionRef<void(Record&)> loaded) {
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    absl::StatusOr<engine::TagInfo> info =
        engine::DecodeCatalogRow(std::string_view(it->key().data(), it->key().size()),
                                 std::string_view(it->value().data(), it->value().size()));
    if (!info.ok()) return info.status();
    loaded(*Upsert(*info));
  }
  return absl::OkStatus();
}

template <typename Record>
void Catalog<Record>::PrepareUpserts(std::vector<engine::TagInfo>* upserts,
                                     absl::FunctionRef<Version(TagId)> tombstone_of,
                                     rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* cf,
                                     Version entry_version) {
  std::vector<engine::TagInfo> accepted;
  for (engine::TagInfo& info : *upserts) {
    if (info.version <= tombstone_of(info.id)) continue;
    if (const Record* existing = FindByName(info.name)) {
      if (existing->type() != info.type) {
        ++conflicts_;
        continue;
      }
      if (info.version < existing->version()) continue;
      const bool restated = info.version < entry_version;
      if (restated && info.version == existing->version()) continue;
      const engine::TagInfo cur = existing->Info();
      info.created_ns = cur.created_ns;
      info.origin_site = cur.origin_site;
    } else if (Find(info.id) != nullptr) {
      ++conflicts_;  // id collision with another name
      continue;
    }
    batch->Put(cf, info.name, engine::EncodeCatalogRow(info));
    accepted.push_back(info);
  }
  *upserts = std::move(accepted);
}

template <typename Record>
absl::Status Catalog<Record>::Reserve(const engine::TagInfo& info) {
  while (creating_.contains(info.name)) created_cv_.Wait(&mu_);
  if (FindByName(info.name) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("tag '", info.name, "' already exists"));
  }
  if (const Record* other = Find(info.id)) {
    return absl::FailedPreconditionError(absl::StrCat("tag '", info.name, "' has the same id as '",
                                                      std::string(other->name()), "'; rename it"));
  }
  creating_.insert(info.name);
  return absl::OkStatus();
}

}  // namespace historian

#endif  // HISTORIAN_STORAGE_CATALOG_CATALOG_H_
