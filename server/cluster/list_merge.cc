#include "server/cluster/list_merge.h"

#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"

namespace historian::cluster {

absl::StatusOr<v1::ListTagsResponse> MergeListPages(std::vector<v1::ListTagsResponse> pages,
                                                    uint32_t page_size, uint64_t max_bytes) {
  // The smallest last name of a page with more after it: tags above it may
  // be missing from the union.
  std::optional<std::string> bound;
  bool more = false;
  std::vector<v1::Tag*> all;
  for (size_t p = 0; p < pages.size(); ++p) {
    v1::ListTagsResponse& page = pages[p];
    for (int i = 1; i < page.tags_size(); ++i) {
      if (!(page.tags(i - 1).name() < page.tags(i).name())) {
        return absl::InternalError(absl::StrCat("Catalog.ListTags: owner page ", p,
                                                " is not in name order at '", page.tags(i).name(),
                                                "'"));
      }
    }
    if (!page.next_page_token().empty()) {
      if (page.tags_size() == 0) {
        return absl::InternalError(
            absl::StrCat("Catalog.ListTags: owner page ", p, " has a token but no tags"));
      }
      more = true;
      const std::string& last = page.tags(page.tags_size() - 1).name();
      if (!bound || last < *bound) bound = last;
    }
    for (int i = 0; i < page.tags_size(); ++i) all.push_back(page.mutable_tags(i));
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const v1::Tag* a, const v1::Tag* b) { return a->name() < b->name(); });
  v1::ListTagsResponse out;
  size_t bytes = 0;
  size_t taken = 0;
  for (; taken < all.size(); ++taken) {
    v1::Tag* tag = all[taken];
    if (taken == page_size) break;
    if (bound && tag->name() > *bound) break;
    if (taken > 0 && bytes > max_bytes) break;
    bytes += tag->ByteSizeLong();
    out.add_tags()->Swap(tag);
  }
  if ((more || taken < all.size()) && out.tags_size() > 0) {
    out.set_next_page_token(out.tags(out.tags_size() - 1).name());
  }
  return out;
}

}  // namespace historian::cluster
