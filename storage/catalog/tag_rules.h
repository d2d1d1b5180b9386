// File: storage/catalog/tag_rules.h
// What a tag definition may hold: the checks of CreateTag and UpdateTag, and
// how an update merges into a tag's definition. Pure functions.
#ifndef HISTORIAN_STORAGE_CATALOG_TAG_RULES_H_
#define HISTORIAN_STORAGE_CATALOG_TAG_RULES_H_

#include "absl/status/status.h"
#include "storage/engine/tag_info.h"

namespace historian {

// InvalidArgument naming the first bad field of a new tag: name, value
// type, retention, deadband (finite, >= 0, only for double and int64 tags),
// engineering range.
absl::Status ValidateNewTag(const engine::TagInfo& info);

// InvalidArgument for an update's retention or engineering range (checked
// before the tag is looked up).
absl::Status ValidateTagUpdate(const engine::TagInfo& update);

// Merges `update` into `*info`, the tag's current definition: the metadata
// (unit, description, attributes, retention, deadband, range, staleness)
// is replaced; name, id, type, origin and version are kept. Errors:
// FailedPrecondition when the update names another value type,
// InvalidArgument for a bad deadband (then *info is partly merged).
absl::Status MergeTagUpdate(const engine::TagInfo& update, engine::TagInfo* info);

}  // namespace historian

#endif  // HISTORIAN_STORAGE_CATALOG_TAG_RULES_H_
