// File: version.h
// Versions order writes for last-writer-wins (api/core/types.h): the hybrid
// clock's seconds in the high 56 bits, the writing site's 8-bit tag in the
// low 8 bits as the last tie-break.
#ifndef HISTORIAN_STORAGE_ENGINE_VERSION_H_
#define HISTORIAN_STORAGE_ENGINE_VERSION_H_

#include <cstdint>
#include <string_view>

#include "api/core/types.h"
#include "storage/engine/tag_info.h"

namespace historian::engine {

inline constexpr int64_t kNanosPerSecond = 1'000'000'000;
// Bits of the site tag below the seconds.
inline constexpr int kVersionSiteBits = 8;

// The clock seconds of `v`.
constexpr uint64_t VersionSeconds(Version v) { return v >> kVersionSiteBits; }
// The 8-bit tag of the site that stamped `v`.
constexpr uint8_t VersionSiteTag(Version v) {
  return static_cast<uint8_t>(v & ((Version{1} << kVersionSiteBits) - 1));
}
// The version of second `seconds` written by the site tagged `site_tag`.
constexpr Version MakeVersion(uint64_t seconds, uint8_t site_tag) {
  return (seconds << kVersionSiteBits) | site_tag;
}

// The 8-bit tag of `site` in its versions: the low byte of its name's id.
inline uint8_t SiteTag(std::string_view site) {
  return static_cast<uint8_t>(TagIdFromName(site) & 0xff);
}

}  // namespace historian::engine

#endif  // HISTORIAN_STORAGE_ENGINE_VERSION_H_
