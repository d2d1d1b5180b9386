// File: tag_filter.cc
#include "server/subscriptions/tag_filter.h"

#include "absl/strings/string_view.h"
#include "storage/catalog/glob.h"

namespace historian::server {

bool TagFilter::Matches(std::string_view name) const {
  if (names.contains(absl::string_view(name.data(), name.size()))) return true;
  return !glob.empty() && GlobMatch(glob, name) && (!glob_keep || glob_keep(name));
}

}  // namespace historian::server
