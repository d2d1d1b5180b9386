// File: list_merge.h
// MergeListPages: one Catalog.ListTags page of a site cluster from the
// pages its owners answered (docs/cluster.md, "Queries").
//
// Every owner lists its own tags after the same page token, in name order,
// at most page_size of them, with a next_page_token when it has more. The
// merged page is the first page_size tags of their union in name order,
// exactly what a single node holding every tag answers, with one guard: an
// owner whose page ended early (its byte limit) may hold unseen tags after
// its last one, so no tag sorting after the smallest such "last" is taken
// (the page is shorter, never missing a tag). The token is the last name
// taken, set whenever any owner has more or a tag was left over, so a
// resumed listing neither skips nor repeats a tag.
//
// Thread-safety: a pure function.
#ifndef HISTORIAN_SERVER_CLUSTER_LIST_MERGE_H_
#define HISTORIAN_SERVER_CLUSTER_LIST_MERGE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "historian/v1/catalog.pb.h"

namespace historian::cluster {

// `pages` are consumed (their tags moved). `max_bytes` is
// --max_list_tags_response_bytes: as on a single node, the page ends (with a
// token) once its tags pass it; the first tag is always taken. Internal when
// a page breaks the contract (out of order, a token without tags).
absl::StatusOr<v1::ListTagsResponse> MergeListPages(std::vector<v1::ListTagsResponse> pages,
                                                    uint32_t page_size, uint64_t max_bytes);

}  // namespace historian::cluster

#endif  // HISTORIAN_SERVER_CLUSTER_LIST_MERGE_H_
