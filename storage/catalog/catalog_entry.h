// File: storage/catalog/catalog_entry.h
// CatalogEntry: the catalog's fields of a tag's record, held compactly (an
// idle tag's whole record is a few words: issue 16), and the arenas its name
// and origin live in.
#ifndef HISTORIAN_STORAGE_CATALOG_CATALOG_ENTRY_H_
#define HISTORIAN_STORAGE_CATALOG_CATALOG_ENTRY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/node_hash_set.h"
#include "api/core/types.h"
#include "storage/engine/tag_info.h"

namespace historian {

// Append-only storage of tag names: a name is copied once and never moves
// or goes while the arena lives (the catalog never frees a record either).
// About the name's bytes per tag, against 32-48 for a heap std::string.
// Not thread-safe: its owner (Catalog) says which lock guards it.
class NameArena {
 public:
  std::string_view Add(std::string_view name);
  size_t bytes() const { return blocks_.size() * kBlockBytes + big_bytes_; }

 private:
  // A longer name (never valid, but decoded from a peer) gets a block of its
  // own.
  static constexpr size_t kBlockBytes = 64 << 10;
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::vector<std::unique_ptr<char[]>> big_;  // names longer than a block
  size_t big_bytes_ = 0;
  size_t used_ = kBlockBytes;  // of the last block
};

// Interned origin site names: few sites, so one pointer per tag. Pointers
// stay valid while the interner lives. Not thread-safe (as NameArena).
class SiteInterner {
 public:
  const std::string* Intern(std::string_view site) { return &*sites_.emplace(site).first; }

 private:
  absl::node_hash_set<std::string> sites_;
};

// The catalog's fields of a tag's record: the hot ones (name, id, type,
// version) inline, the rarely set ones (unit, description, attributes,
// range, retention, deadband, staleness) in one allocation that exists
// only when one of them is set. Info() gives back the whole definition.
// Guarded as the record (Catalog says by which locks).
class CatalogEntry {
 public:
  std::string_view name() const { return std::string_view(name_, name_size_); }
  // Whether `site` created the tag (engine::TagInfo::origin_site).
  bool MadeAt(std::string_view site) const {
    return origin_site_ != nullptr && *origin_site_ == site;
  }
  TagId id() const { return id_; }
  ValueType type() const { return type_; }
  Version version() const { return version_; }
  int64_t retention_ns() const { return extras_ == nullptr ? 0 : extras_->retention_ns; }
  double exception_deadband() const { return extras_ == nullptr ? 0 : extras_->deadband; }
  // Removed from the catalog (the record is kept).
  bool deleted() const { return deleted_; }
  // The whole definition.
  engine::TagInfo Info() const;
  // Heap bytes of the rarely set fields (0 for a plain tag).
  size_t HeapBytes() const;

  // --- For the catalog ---

  // Takes `info` (its name stored as `stored_name`, its origin as `origin`,
  // both outliving the record).
  void Assign(const engine::TagInfo& info, std::string_view stored_name, const std::string* origin);
  void MarkDeleted() { deleted_ = true; }

 private:
  struct Extras {
    std::string unit;
    std::string description;
    std::map<std::string, std::string> attributes;
    int64_t retention_ns = 0;
    double deadband = 0;
    std::optional<double> eng_low, eng_high;
    int64_t stale_after_ns = 0;
  };

  const char* name_ = "";
  const std::string* origin_site_ = nullptr;
  std::unique_ptr<Extras> extras_;
  TagId id_ = 0;
  Version version_ = 0;
  int64_t created_ns_ = 0;
  uint32_t name_size_ = 0;
  ValueType type_ = ValueType::kUnspecified;
  bool deleted_ = false;
};

// Pins the idle tag's cost (bench/README.md, "Idle tags"): 7 words.
static_assert(sizeof(CatalogEntry) <= 56, "CatalogEntry grew: an idle tag pays it");

}  // namespace historian

#endif  // HISTORIAN_STORAGE_CATALOG_CATALOG_ENTRY_H_
