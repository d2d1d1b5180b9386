// File: digest.h
// Anti-entropy digests: per (tag, time bucket), the sample count and a hash
// of every sample's (timestamp, value bits, quality, version); and one
// digest of all alarm rules and events. Two nodes holding the same samples
// (rules, events) produce the same digests.
#ifndef HISTORIAN_SERVER_DIGEST_H_
#define HISTORIAN_SERVER_DIGEST_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "historian/v1/replication.pb.h"
#include "server/replication_filter.h"
#include "storage/store.h"

namespace historian::server {

// Digests of `tags` (all tags when empty) over [start, end) in buckets of
// `bucket_ns`; only non-empty buckets are listed. A tag with a retention
// is digested from FirstComparedBucket on. Lists every tombstone of
// the store too. `cancelled` (may be empty) is asked per tag and page:
// DeadlineExceeded when it says so. `filter` (may be null): only tags whose
// shard it owns (a node of another site cluster asking for its own shards).
absl::Status ComputeDigests(Store* store, const std::vector<std::string>& tags, int64_t start,
                            int64_t end, int64_t bucket_ns, v1::DigestResponse* out,
                            const CancelledFn& cancelled = nullptr,
                            const ShardSet* filter = nullptr);

// Where the digest of a tag with `retention_ns` (0: none) starts, at the
// store's clock `now`: the start of the second bucket of the grid (start +
// k * bucket_ns) past the retention horizon (now - retention_ns); `start`
// when the horizon is before it. Retention drops whole chunks, each site on
// its own schedule, so samples older than the horizon are held by one site
// and gone at another: never compared, never fetched (a repair would bring
// back what retention dropped, and verify would report them forever). The
// grid and the spare bucket make sites whose clocks differ by less than a
// bucket compare the same buckets nearly always; a bucket one side still
// compares is live at both.
int64_t FirstComparedBucket(int64_t start, int64_t bucket_ns, int64_t now, int64_t retention_ns);

// The events column family's rules and events (all of them, whatever the
// time range): how many records and a hash of every (key, value) in key
// order. ComputeDigests sets them in `out` when it digests all tags.
absl::Status DigestEvents(Store* store, uint64_t* records, uint64_t* hash);

// (tag name, bucket start) -> (count, hash), for comparing.
using DigestMap = std::map<std::pair<std::string, int64_t>, std::pair<uint64_t, uint64_t>>;
DigestMap ToDigestMap(const v1::DigestResponse& digests);

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_DIGEST_H_
