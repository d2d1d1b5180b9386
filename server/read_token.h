// File: read_token.h
// The continuation token of Query.Read: the index of the tag to resume in
// the request's tag list and the timestamp to resume that tag from (one past
// the last sample sent). It names no node, so a token from any node of a
// site cluster resumes at any other (docs/cluster.md, "Queries"): the tag
// index counts in the whole request, whoever owns the tag.
//
// Wire: u8 version (1) | varint tag index | fixed64 next timestamp.
//
// Thread-safety: pure functions.
#ifndef HISTORIAN_SERVER_READ_TOKEN_H_
#define HISTORIAN_SERVER_READ_TOKEN_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace historian::server {

std::string EncodeReadToken(size_t tag_index, int64_t cursor);

// InvalidArgument unless `token` is a token of a request with `num_tags`
// tags over [start, end].
absl::Status DecodeReadToken(const std::string& token, size_t num_tags, int64_t start, int64_t end,
                             size_t* tag_index, int64_t* cursor);

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_READ_TOKEN_H_
