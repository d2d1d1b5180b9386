#include "storage/engine/tag_info.h"

#include <bit>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "storage/engine/coding.h"

namespace historian::engine {
namespace {
constexpr uint8_t kTagInfoFormat = 1;
// The catalog CF's rows (EncodeCatalogRow): the name is the key and the id
// its hash, so neither is repeated in the value.
constexpr uint8_t kCatalogRowFormat = 2;
}  // namespace

TagId TagIdFromName(std::string_view name) {
  // FNV-1a 64 followed by the murmur3 finaliser for avalanche. Frozen: ids
  // are stored on disk and shared between sites.
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

absl::Status ValidateTagName(std::string_view name, std::string_view field) {
  if (name.empty() || name.size() > kMaxTagNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(field), ": tag name must be 1..",
                                                   kMaxTagNameBytes, " bytes, got ", name.size()));
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '/' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(std::string(field), ": tag name '",
                                                     std::string(name.substr(0, 64)),
                                                     "' has a character outside [A-Za-z0-9_.:/-]"));
    }
  }
  return absl::OkStatus();
}

namespace {

// Everything after the name and id, as EncodeTagInfo writes it.
void PutTagInfoBody(const TagInfo& info, std::string* out) {
  out->push_back(static_cast<char>(info.type));
  PutString(info.unit, out);
  PutString(info.description, out);
  PutString(info.origin_site, out);
  PutVarint64(info.attributes.size(), out);
  for (const auto& [k, v] : info.attributes) {
    PutString(k, out);
    PutString(v, out);
  }
  PutVarint64(ZigZag(info.retention_ns), out);
  PutVarint64(ZigZag(info.created_ns), out);
  PutVarint64(info.version, out);
  PutFixed64(std::bit_cast<uint64_t>(info.deadband), out);
  // Tail added later: presence bits, the set range ends, stale_after_ns.
  out->push_back(static_cast<char>((info.eng_low ? 1 : 0) | (info.eng_high ? 2 : 0)));
  if (info.eng_low) PutFixed64(std::bit_cast<uint64_t>(*info.eng_low), out);
  if (info.eng_high) PutFixed64(std::bit_cast<uint64_t>(*info.eng_high), out);
  PutVarint64(ZigZag(info.stale_after_ns), out);
}

// Reads what PutTagInfoBody wrote into `info` (name and id untouched).
absl::Status GetTagInfoBody(Reader& r, TagInfo* info) {
  uint8_t type = 0;
  std::string_view unit, desc, origin;
  uint64_t nattr = 0, retention = 0, created = 0;
  r.GetByte(&type);
  r.GetString(&unit);
  r.GetString(&desc);
  r.GetString(&origin);
  r.GetVarint64(&nattr);
  for (uint64_t i = 0; r.ok() && i < nattr; ++i) {
    std::string_view k, v;
    r.GetString(&k);
    r.GetString(&v);
    info->attributes.emplace(k, v);
  }
  r.GetVarint64(&retention);
  r.GetVarint64(&created);
  r.GetVarint64(&info->version);
  uint64_t deadband_bits = 0;
  r.GetFixed64(&deadband_bits);
  info->deadband = std::bit_cast<double>(deadband_bits);
  if (r.ok() && !r.done()) {  // absent in entries written before the range fields
    uint8_t present = 0;
    uint64_t bits = 0, stale = 0;
    r.GetByte(&present);
    if (present & 1) {
      r.GetFixed64(&bits);
      info->eng_low = std::bit_cast<double>(bits);
    }
    if (present & 2) {
      r.GetFixed64(&bits);
      info->eng_high = std::bit_cast<double>(bits);
    }
    r.GetVarint64(&stale);
    info->stale_after_ns = UnZigZag(stale);
  }
  if (!r.ok() || type > static_cast<uint8_t>(ValueType::kString)) {
    return absl::DataLossError("tag info: truncated or corrupt entry");
  }
  info->type = static_cast<ValueType>(type);
  info->unit = unit;
  info->description = desc;
  info->origin_site = origin;
  info->retention_ns = UnZigZag(retention);
  info->created_ns = UnZigZag(created);
  return absl::OkStatus();
}

}  // namespace

std::string EncodeTagInfo(const TagInfo& info) {
  std::string out;
  out.push_back(static_cast<char>(kTagInfoFormat));
  PutString(info.name, &out);
  PutFixed64(info.id, &out);
  PutTagInfoBody(info, &out);
  return out;
}

absl::StatusOr<TagInfo> DecodeTagInfo(std::string_view bytes) {
  Reader r(bytes);
  TagInfo info;
  uint8_t format = 0;
  std::string_view name;
  r.GetByte(&format);
  if (format != kTagInfoFormat) return absl::DataLossError("tag info: unknown format");
  r.GetString(&name);
  r.GetFixed64(&info.id);
  RETURN_IF_ERROR(GetTagInfoBody(r, &info));
  info.name = name;
  return info;
}

std::string EncodeCatalogRow(const TagInfo& info) {
  std::string out;
  out.push_back(static_cast<char>(kCatalogRowFormat));
  const bool own_id = info.id != TagIdFromName(info.name);
  out.push_back(static_cast<char>(own_id ? 1 : 0));
  if (own_id) PutFixed64(info.id, &out);
  PutTagInfoBody(info, &out);
  return out;
}

absl::StatusOr<TagInfo> DecodeCatalogRow(std::string_view name, std::string_view bytes) {
  if (!bytes.empty() && static_cast<uint8_t>(bytes[0]) == kTagInfoFormat) {
    return DecodeTagInfo(bytes);  // written before catalog rows (EncodeTagInfo)
  }
  Reader r(bytes);
  TagInfo info;
  uint8_t format = 0, flags = 0;
  r.GetByte(&format);
  if (format != kCatalogRowFormat) return absl::DataLossError("catalog row: unknown format");
  r.GetByte(&flags);
  if (flags > 1) return absl::DataLossError("catalog row: unknown flags");
  if (flags & 1) {
    r.GetFixed64(&info.id);
  } else {
    info.id = TagIdFromName(name);
  }
  RETURN_IF_ERROR(GetTagInfoBody(r, &info));
  info.name = name;
  return info;
}

absl::Status ValidateTagRange(const TagInfo& info) {
  if (info.eng_low && !std::isfinite(*info.eng_low)) {
    return absl::InvalidArgumentError("tag.eng_low: must be a finite number");
  }
  if (info.eng_high && !std::isfinite(*info.eng_high)) {
    return absl::InvalidArgumentError("tag.eng_high: must be a finite number");
  }
  if (info.eng_low && info.eng_high && !(*info.eng_low < *info.eng_high)) {
    return absl::InvalidArgumentError(absl::StrCat("tag.eng_low: ", *info.eng_low,
                                                   " must be below tag.eng_high ", *info.eng_high));
  }
  if (info.stale_after_ns < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tag.stale_after_ns: must be >= 0, got ", info.stale_after_ns));
  }
  return absl::OkStatus();
}

const char* ValueTypeName(ValueType type) {
  switch (type) {
    case ValueType::kDouble:
      return "double";
    case ValueType::kInt64:
      return "int64";
    case ValueType::kBool:
      return "bool";
    case ValueType::kString:
      return "string";
    default:
      return "unspecified";
  }
}

}  // namespace historian::engine
