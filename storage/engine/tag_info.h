// File: tag_info.h
// TagInfo: a tag's catalog entry, its stable id and its name rules.
#ifndef HISTORIAN_STORAGE_ENGINE_TAG_INFO_H_
#define HISTORIAN_STORAGE_ENGINE_TAG_INFO_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api/core/types.h"

namespace historian::engine {

inline constexpr size_t kMaxTagNameBytes = 256;

struct TagInfo {
  std::string name;
  TagId id = 0;
  ValueType type = ValueType::kUnspecified;
  std::string unit;
  std::string description;
  std::string origin_site;
  std::map<std::string, std::string> attributes;
  int64_t retention_ns = 0;  // 0: keep forever
  double deadband = 0;       // exception deadband (lossy); 0: off
  int64_t created_ns = 0;
  // Instrument range (engineering units); unset when not given.
  std::optional<double> eng_low, eng_high;
  // 0: never stale; else the default max_gap_ns of this tag's queries.
  int64_t stale_after_ns = 0;
  // Version of the last create/update: concurrent updates at two sites
  // resolve last-writer-wins on it.
  Version version = 0;

  bool operator==(const TagInfo&) const = default;
};

// The id of a tag name: a stable 64-bit hash (the same on every node and
// every build), so sites agree on ids without talking.
TagId TagIdFromName(std::string_view name);

// OK when `name` is 1..256 bytes of [A-Za-z0-9_.:/-]; otherwise
// InvalidArgument naming `field` and the rule.
absl::Status ValidateTagName(std::string_view name, std::string_view field = "tag");

// InvalidArgument naming the field: eng_low/eng_high not finite, or
// eng_low >= eng_high when both are set; stale_after_ns < 0.
absl::Status ValidateTagRange(const TagInfo& info);

// Entries written before eng_low/eng_high/stale_after_ns existed end after
// the deadband and decode with them unset; older readers ignore the tail.
std::string EncodeTagInfo(const TagInfo& info);
// DataLoss when `bytes` is not a valid encoding.
absl::StatusOr<TagInfo> DecodeTagInfo(std::string_view bytes);

// The catalog CF's value for `info` (its key is info.name): EncodeTagInfo's
// fields without the name and, when it is TagIdFromName(name) (always, for
// tags created by this code), the id: the name and the 8 random bytes of
// its hash were 13 of the 23 bytes a row cost after compression (issue 16,
// docs/storage.md "Smaller per-tag rows"). Format byte 2.
std::string EncodeCatalogRow(const TagInfo& info);
// The TagInfo of catalog row `name` -> `bytes`: EncodeCatalogRow's, or
// EncodeTagInfo's (format 1: rows written before catalog rows, read as
// they are). DataLoss when neither.
absl::StatusOr<TagInfo> DecodeCatalogRow(std::string_view name, std::string_view bytes);

const char* ValueTypeName(ValueType type);

}  // namespace historian::engine

#endif  // HISTORIAN_STORAGE_ENGINE_TAG_INFO_H_
