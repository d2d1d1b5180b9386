#include "api/cluster/write_split.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "api/core/tag_shard.h"

namespace historian::routing {

absl::StatusOr<std::vector<WritePart>> SplitWriteByOwner(v1::WriteRequest batch,
                                                         const v1::PlacementResponse& placement) {
  const uint32_t shards = placement.num_shards();
  if (shards == 0 || shards > kMaxClusterShards) {
    return absl::InvalidArgumentError(
        absl::StrCat("placement: num_shards is ", shards, ", want 1..", kMaxClusterShards));
  }
  if (placement.shard_owner_size() != static_cast<int>(shards)) {
    return absl::InvalidArgumentError(absl::StrCat("placement: shard_owner has ",
                                                   placement.shard_owner_size(),
                                                   " entries, want num_shards = ", shards));
  }
  std::map<uint32_t, WritePart> parts;  // by owner index: deterministic order
  for (int i = 0; i < batch.series_size(); ++i) {
    v1::TagSamples* series = batch.mutable_series(i);
    const uint32_t owner = placement.shard_owner(static_cast<int>(TagShard(series->tag(), shards)));
    if (owner >= static_cast<uint32_t>(placement.members_size())) {
      return absl::InvalidArgumentError(absl::StrCat("placement: owner ", owner, " of tag '",
                                                     series->tag(), "' is not among ",
                                                     placement.members_size(), " members"));
    }
    auto [it, created] = parts.try_emplace(owner);
    WritePart& part = it->second;
    if (created) {
      part.owner = owner;
      part.request.set_client_id(batch.client_id());
      part.request.set_batch_sequence(batch.batch_sequence());
      part.request.set_slice(batch.slice());
    }
    *part.request.add_series() = std::move(*series);
    part.series_index.push_back(static_cast<uint32_t>(i));
  }
  std::vector<WritePart> out;
  out.reserve(parts.size());
  for (auto& [owner, part] : parts) out.push_back(std::move(part));
  return out;
}

v1::WriteAck JoinPieceAcks(uint64_t batch_sequence, const std::vector<v1::WriteAck>& acks,
                           const std::function<void(size_t piece, v1::RejectedSample*)>& rename) {
  v1::WriteAck joined;
  joined.set_batch_sequence(batch_sequence);
  bool all_duplicate = !acks.empty();
  for (size_t p = 0; p < acks.size(); ++p) {
    const v1::WriteAck& ack = acks[p];
    joined.set_accepted_count(joined.accepted_count() + ack.accepted_count());
    all_duplicate = all_duplicate && ack.duplicate();
    for (const v1::RejectedSample& r : ack.rejected()) {
      v1::RejectedSample* out = joined.add_rejected();
      *out = r;
      rename(p, out);
    }
  }
  std::stable_sort(joined.mutable_rejected()->begin(), joined.mutable_rejected()->end(),
                   [](const v1::RejectedSample& a, const v1::RejectedSample& b) {
                     return std::make_pair(a.series_index(), a.sample_index()) <
                            std::make_pair(b.series_index(), b.sample_index());
                   });
  joined.set_duplicate(all_duplicate);
  return joined;
}

v1::WriteAck JoinWriteAcks(const std::vector<WritePart>& parts,
                           const std::vector<v1::WriteAck>& acks) {
  const size_t n = std::min(parts.size(), acks.size());
  const std::vector<v1::WriteAck> answered(acks.begin(), acks.begin() + static_cast<ptrdiff_t>(n));
  const uint64_t sequence = n > 0 ? answered.back().batch_sequence() : 0;
  return JoinPieceAcks(sequence, answered, [&](size_t p, v1::RejectedSample* r) {
    const std::vector<uint32_t>& index = parts[p].series_index;
    if (r->series_index() < index.size()) {
      r->set_series_index(index[r->series_index()]);
    } else {  // the owner named a series its part does not have: say so
      r->set_reason(absl::StrCat("owner ", parts[p].owner, " rejected series_index ",
                                 r->series_index(), " of a part of ", index.size(),
                                 " series: ", r->reason()));
    }
  });
}

bool ReplacesPlacement(const v1::PlacementResponse* held, const v1::PlacementResponse& read) {
  if (held == nullptr || held->num_shards() == 0) return true;
  if (read.num_shards() == 0) return false;
  return read.revision() >= held->revision();
}

namespace {

// A stable hash of `bytes` (the same in every process and version).
uint64_t BytesHash(const std::string& bytes) {
  uint64_t h = Fmix64(bytes.size());
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + i, 8);
    h = Fmix64(h ^ word);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, bytes.data() + i, bytes.size() - i);
  return Fmix64(h ^ tail ^ (uint64_t{0xA5} << 56));
}

// A slice's digest: every byte of each series (values too), so slices cut
// differently on two attempts (other limits) never pass for each other,
// and its index, so equal slices of one cut do not either.
uint64_t SliceDigest(const v1::WriteRequest& slice) {
  uint64_t sum = 0;
  std::string bytes;
  for (const v1::TagSamples& s : slice.series()) {
    bytes.clear();
    s.SerializeToString(&bytes);
    sum += BytesHash(bytes);  // a sum: any order of the series, as below
  }
  sum = Fmix64(sum ^ static_cast<uint64_t>(slice.series_size()));
  sum = Fmix64(sum ^ (uint64_t{slice.slice()} << 32));
  return sum == 0 ? 1 : sum;
}

}  // namespace

uint64_t WritePartDigest(const v1::WriteRequest& part) {
  if (part.slice() != 0) return SliceDigest(part);
  uint64_t sum = 0;
  for (const v1::TagSamples& s : part.series()) {
    const v1::SampleColumns& cols = s.columns();
    const int n = s.samples_size() + cols.timestamp_deltas_ns_size();
    int64_t first = 0;
    int64_t last = 0;
    if (s.samples_size() > 0) {
      first = s.samples(0).timestamp_ns();
      last = s.samples(s.samples_size() - 1).timestamp_ns();
    } else if (cols.timestamp_deltas_ns_size() > 0) {
      first = cols.timestamp_deltas_ns(0);
      last = cols.timestamp_deltas_ns(cols.timestamp_deltas_ns_size() - 1);
    }
    uint64_t h = TagPlacementHash(s.tag());
    h = Fmix64(h ^ static_cast<uint64_t>(n));
    h = Fmix64(h ^ static_cast<uint64_t>(first));
    h = Fmix64(h ^ static_cast<uint64_t>(last));
    sum += h;  // a sum: the same series in any order give the same digest
  }
  sum = Fmix64(sum ^ static_cast<uint64_t>(part.series_size()));
  return sum == 0 ? 1 : sum;
}

}  // namespace historian::routing
