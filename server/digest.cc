#include "server/digest.h"

#include <algorithm>
#include <bit>
#include <cstdint>

#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"
#include "server/proto_convert.h"

namespace historian::server {
namespace {

constexpr size_t kPageSamples = 65536;

inline uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 32);
}

uint64_t HashSample(const codec::ChunkColumns& c, size_t i) {
  uint64_t h = Mix(0, static_cast<uint64_t>(c.timestamps[i]));
  switch (c.type) {
    case ValueType::kDouble:
      h = Mix(h, std::bit_cast<uint64_t>(c.doubles[i]));
      break;
    case ValueType::kInt64:
      h = Mix(h, static_cast<uint64_t>(c.ints[i]));
      break;
    case ValueType::kBool:
      h = Mix(h, c.bools[i]);
      break;
    case ValueType::kString:
      for (unsigned char ch : c.strings[i]) h = Mix(h, ch);
      h = Mix(h, c.strings[i].size());
      break;
    default:
      break;
  }
  h = Mix(h, c.qualities[i]);
  return Mix(h, c.versions[i]);
}

uint64_t HashBytes(uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) h = Mix(h, c);
  return Mix(h, bytes.size());
}

}  // namespace

absl::Status DigestEvents(Store* store, uint64_t* records, uint64_t* hash) {
  *records = 0;
  *hash = 0;
  return store->ForEachEventRecord([&](std::string_view key, std::string_view value) {
    ++*records;
    *hash = HashBytes(HashBytes(*hash, key), value);
    return true;
  });
}

int64_t FirstComparedBucket(int64_t start, int64_t bucket_ns, int64_t now, int64_t retention_ns) {
  if (retention_ns <= 0 || now - retention_ns <= start) return start;
  // The bucket grid's first start above the horizon, then one more.
  const uint64_t past = static_cast<uint64_t>(now - retention_ns) - static_cast<uint64_t>(start);
  const uint64_t b = static_cast<uint64_t>(bucket_ns);
  const absl::int128 first = absl::int128(start) + absl::int128(past / b + 2) * absl::int128(b);
  return first > absl::int128(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(first);
}

absl::Status ComputeDigests(Store* store, const std::vector<std::string>& names, int64_t start,
                            int64_t end, int64_t bucket_ns, v1::DigestResponse* out,
                            const CancelledFn& cancelled, const ShardSet* filter) {
  auto stop = [&] { return cancelled && cancelled(); };
  const absl::Status kStopped =
      absl::DeadlineExceededError("digest: cancelled or past its deadline");
  if (start >= end) return absl::InvalidArgumentError("start_ns: must be below end_ns");
  if (bucket_ns <= 0) return absl::InvalidArgumentError("bucket_ns: must be > 0");
  std::vector<engine::TagInfo> tags;
  if (names.empty()) {
    std::string token;
    do {
      ListTagsResult page = store->ListTags("", {}, token, 10000, cancelled);
      if (page.cancelled) return kStopped;
      for (auto& t : page.tags) tags.push_back(std::move(t));
      token = page.next_page_token;
    } while (!token.empty());
  } else {
    for (const std::string& name : names) {
      if (stop()) return kStopped;
      absl::StatusOr<engine::TagInfo> t = store->GetTag(name);
      if (t.ok()) tags.push_back(std::move(*t));
    }
  }
  if (names.empty()) {
    uint64_t records = 0, hash = 0;
    if (absl::Status s = DigestEvents(store, &records, &hash); !s.ok()) return s;
    out->set_event_records(records);
    out->set_events_hash(hash);
  }
  for (const engine::Tombstone& t : store->Tombstones()) {
    v1::TagTombstone* tombstone = out->add_tombstones();
    tombstone->set_tag_id(t.tag);
    tombstone->set_version(t.version);
  }
  codec::ChunkColumns page;
  const int64_t now = store->options().now_ns();
  for (const engine::TagInfo& tag : tags) {
    if (filter != nullptr && !filter->OwnsTag(tag.name)) continue;
    v1::TagDigest* digest = out->add_tags();
    TagToProto(tag, digest->mutable_tag());
    digest->set_catalog_version(tag.version);
    v1::BucketDigest* bucket = nullptr;
    uint64_t current = UINT64_MAX;
    int64_t cursor = std::max(start, FirstComparedBucket(start, bucket_ns, now, tag.retention_ns));
    while (cursor < end) {
      if (stop()) return kStopped;
      absl::Status s = store->ReadRaw(tag.id, cursor, end, kPageSamples, &page);
      if (!s.ok()) return s;
      for (size_t i = 0; i < page.size(); ++i) {
        uint64_t b = (static_cast<uint64_t>(page.timestamps[i]) - static_cast<uint64_t>(start)) /
                     static_cast<uint64_t>(bucket_ns);
        if (b != current) {
          bucket = digest->add_buckets();
          bucket->set_start_ns(static_cast<int64_t>(static_cast<uint64_t>(start) +
                                                    b * static_cast<uint64_t>(bucket_ns)));
          current = b;
        }
        bucket->set_count(bucket->count() + 1);
        bucket->set_hash(Mix(bucket->hash(), HashSample(page, i)));
      }
      if (page.size() < kPageSamples) break;
      cursor = page.timestamps.back() + 1;
    }
  }
  return absl::OkStatus();
}

DigestMap ToDigestMap(const v1::DigestResponse& digests) {
  DigestMap map;
  for (const auto& t : digests.tags()) {
    for (const auto& b : t.buckets()) {
      map[{t.tag().name(), b.start_ns()}] = {b.count(), b.hash()};
    }
  }
  return map;
}

}  // namespace historian::server
