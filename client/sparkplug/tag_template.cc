// File: tag_template.cc
#include "client/sparkplug/tag_template.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace historian::sparkplug {

absl::StatusOr<TagTemplate> TagTemplate::Parse(absl::string_view text) {
  TagTemplate t;
  bool has_metric = false;
  size_t i = 0;
  while (i < text.size()) {
    const size_t open = text.find('{', i);
    if (open != i) {
      const size_t end = open == absl::string_view::npos ? text.size() : open;
      t.pieces_.push_back({Field::kLiteral, std::string(text.substr(i, end - i))});
      i = end;
      continue;
    }
    const size_t close = text.find('}', open);
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("--tag_template: unclosed '{': ", text));
    }
    const absl::string_view name = text.substr(open + 1, close - open - 1);
    Field f;
    if (name == "site") {
      f = Field::kSite;
    } else if (name == "group") {
      f = Field::kGroup;
    } else if (name == "node") {
      f = Field::kNode;
    } else if (name == "device") {
      f = Field::kDevice;
    } else if (name == "metric") {
      f = Field::kMetric;
      has_metric = true;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--tag_template: unknown field {", name,
                                                     "} (site, group, node, device, "
                                                     "metric)"));
    }
    t.pieces_.push_back({f, ""});
    i = close + 1;
  }
  if (!has_metric) return absl::InvalidArgumentError("--tag_template: needs {metric}");
  return t;
}

std::string TagTemplate::Render(const MetricPath& path) const {
  std::string out;
  // Whether the last field rendered was empty: then the separator literal
  // that follows it is dropped (or, at the end, the one before it).
  bool skip_next_literal = false;
  for (size_t k = 0; k < pieces_.size(); ++k) {
    const Piece& p = pieces_[k];
    if (p.field == Field::kLiteral) {
      if (skip_next_literal) {
        skip_next_literal = false;
        continue;
      }
      out += p.literal;
      continue;
    }
    absl::string_view v;
    switch (p.field) {
      case Field::kSite:
        v = path.site;
        break;
      case Field::kGroup:
        v = path.group;
        break;
      case Field::kNode:
        v = path.node;
        break;
      case Field::kDevice:
        v = path.device;
        break;
      case Field::kMetric:
        v = path.metric;
        break;
      case Field::kLiteral:
        break;
    }
    if (v.empty()) {
      if (k + 1 < pieces_.size() && pieces_[k + 1].field == Field::kLiteral) {
        skip_next_literal = true;
      } else if (k + 1 == pieces_.size() && k > 0 && pieces_[k - 1].field == Field::kLiteral &&
                 absl::EndsWith(out, pieces_[k - 1].literal)) {
        // A trailing empty field: drop the separator written before it.
        out.resize(out.size() - pieces_[k - 1].literal.size());
      }
      continue;
    }
    skip_next_literal = false;
    out.append(v.data(), v.size());
  }
  return SanitizeTagName(out);
}

std::string SanitizeTagName(absl::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (size_t i = 0; i < name.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    const bool ok =
        absl::ascii_isalnum(c) || c == '_' || c == '.' || c == ':' || c == '/' || c == '-';
    out.push_back(ok ? static_cast<char>(c) : '_');
    // One `_` per UTF-8 character: skip its continuation bytes.
    if (c >= 0xC0) {
      while (i + 1 < name.size() && (static_cast<unsigned char>(name[i + 1]) & 0xC0) == 0x80) ++i;
    }
  }
  return out;
}

}  // namespace historian::sparkplug
