#include "storage/catalog/tag_rules.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"

namespace historian {

using engine::TagInfo;

absl::Status ValidateNewTag(const TagInfo& info) {
  RETURN_IF_ERROR(engine::ValidateTagName(info.name, "tag.name"));
  if (info.type == ValueType::kUnspecified || info.type > ValueType::kString) {
    return absl::InvalidArgumentError("tag.value_type: must be double, int64, bool or string");
  }
  if (info.retention_ns < 0) {
    return absl::InvalidArgumentError("tag.retention_ns: must be >= 0");
  }
  if (!(info.deadband >= 0) || std::isinf(info.deadband)) {
    return absl::InvalidArgumentError("tag.deadband: must be a finite number >= 0");
  }
  if (info.deadband > 0 && info.type != ValueType::kDouble && info.type != ValueType::kInt64) {
    return absl::InvalidArgumentError("tag.deadband: only double and int64 tags take a deadband");
  }
  return engine::ValidateTagRange(info);
}

absl::Status ValidateTagUpdate(const TagInfo& update) {
  if (update.retention_ns < 0) {
    return absl::InvalidArgumentError("tag.retention_ns: must be >= 0");
  }
  return engine::ValidateTagRange(update);
}

absl::Status MergeTagUpdate(const TagInfo& update, TagInfo* info) {
  if (update.type != ValueType::kUnspecified && update.type != info->type) {
    return absl::FailedPreconditionError(absl::StrCat("tag.value_type: tag '", info->name, "' is ",
                                                      engine::ValueTypeName(info->type),
                                                      "; the type cannot change"));
  }
  info->unit = update.unit;
  info->description = update.description;
  info->attributes = update.attributes;
  info->retention_ns = update.retention_ns;
  if (!(update.deadband >= 0) || std::isinf(update.deadband) ||
      (update.deadband > 0 && info->type != ValueType::kDouble &&
       info->type != ValueType::kInt64)) {
    return absl::InvalidArgumentError(
        "tag.deadband: must be a finite number >= 0, and only for double and int64 tags");
  }
  info->deadband = update.deadband;
  info->eng_low = update.eng_low;
  info->eng_high = update.eng_high;
  info->stale_after_ns = update.stale_after_ns;
  return absl::OkStatus();
}

}  // namespace historian
