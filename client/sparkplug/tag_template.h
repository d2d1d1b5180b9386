// File: tag_template.h
// TagTemplate: the historian tag name of a Sparkplug metric, from a template
// such as `{site}.{group}.{node}.{device}.{metric}` (the default). An empty
// field drops one separator next to it (a node-level metric has no device:
// `mx.plant1.edge1.Oven/Temp`), and characters outside [A-Za-z0-9_.:/-]
// become `_`.
//
// Thread-safety: immutable after Parse; Render is const and thread-safe.
#ifndef HISTORIAN_CLIENT_SPARKPLUG_TAG_TEMPLATE_H_
#define HISTORIAN_CLIENT_SPARKPLUG_TAG_TEMPLATE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace historian::sparkplug {

inline constexpr absl::string_view kDefaultTagTemplate = "{site}.{group}.{node}.{device}.{metric}";

struct MetricPath {
  absl::string_view site;
  absl::string_view group;
  absl::string_view node;
  absl::string_view device;  // empty for node metrics
  absl::string_view metric;
};

class TagTemplate {
 public:
  // INVALID_ARGUMENT for an unknown `{field}`, an unclosed brace, or a
  // template without `{metric}`.
  static absl::StatusOr<TagTemplate> Parse(absl::string_view text);

  std::string Render(const MetricPath& path) const;

 private:
  enum class Field { kLiteral, kSite, kGroup, kNode, kDevice, kMetric };
  struct Piece {
    Field field;
    std::string literal;  // kLiteral only
  };
  std::vector<Piece> pieces_;
};

// Replaces every character outside [A-Za-z0-9_.:/-] with `_` (one per UTF-8
// character).
std::string SanitizeTagName(absl::string_view name);

}  // namespace historian::sparkplug

#endif  // HISTORIAN_CLIENT_SPARKPLUG_TAG_TEMPLATE_H_
