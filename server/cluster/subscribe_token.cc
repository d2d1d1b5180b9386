#include "server/cluster/subscribe_token.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/core/tag_shard.h"
#include "storage/engine/coding.h"

namespace historian::cluster {
namespace {
constexpr uint8_t kVersion = 4;
constexpr uint8_t kVersionWithoutSince = 3;
constexpr uint8_t kVersionWithoutOwners = 2;
constexpr uint64_t kMaxMembers = 65536;

uint64_t Mix(uint64_t h, uint64_t v) { return Fmix64(h ^ (v + 0x9e3779b97f4a7c15ull)); }
}  // namespace

std::string EncodeClusterResumeToken(const ClusterResumeToken& token) {
  std::string out(1, static_cast<char>(kVersion));
  engine::PutVarint64(token.members.size(), &out);
  for (const auto& [id, member] : token.members) {
    engine::PutString(id, &out);
    engine::PutString(member.token, &out);
    engine::PutFixed64(member.owned_digest, &out);
  }
  engine::PutFixed64(static_cast<uint64_t>(token.issued_ns), &out);
  engine::PutVarint64(static_cast<uint64_t>(token.placement_revision), &out);
  engine::PutFixed64(static_cast<uint64_t>(token.placement_since_ns), &out);
  return out;
}

absl::StatusOr<ClusterResumeToken> DecodeClusterResumeToken(std::string_view bytes) {
  engine::Reader r(bytes);
  uint8_t version = 0;
  if (!r.GetByte(&version)) version = 0;
  if (version != kVersion && version != kVersionWithoutSince && version != kVersionWithoutOwners) {
    return absl::InvalidArgumentError(absl::StrCat(
        "resume_token: not a token of Query.Subscribe in a site cluster (version ", version,
        "; this node reads versions 2 to 4: pass SubscribeResponse.resume_token as it was "
        "received)"));
  }
  const bool with_owners = version != kVersionWithoutOwners;
  uint64_t n = 0;
  ClusterResumeToken token;
  token.owners_known = with_owners;
  bool ok = r.GetVarint64(&n) && n <= kMaxMembers;
  for (uint64_t i = 0; ok && i < n; ++i) {
    std::string_view member, member_token;
    ok = r.GetString(&member) && r.GetString(&member_token);
    ClusterResumeToken::Member m;
    m.token = std::string(member_token);
    if (ok && with_owners) ok = r.GetFixed64(&m.owned_digest);
    if (ok) token.members[std::string(member)] = std::move(m);
  }
  uint64_t issued = 0, revision = 0, since = 0;
  ok = ok && r.GetFixed64(&issued);
  if (ok && with_owners) ok = r.GetVarint64(&revision);
  if (ok && version == kVersion) ok = r.GetFixed64(&since);
  ok = ok && r.ok() && r.done();
  if (!ok) {
    return absl::InvalidArgumentError(
        "resume_token: not a token of Query.Subscribe in a site cluster (pass "
        "SubscribeResponse.resume_token as it was received)");
  }
  token.issued_ns = static_cast<int64_t>(issued);
  token.placement_revision = static_cast<int64_t>(revision);
  token.placement_since_ns = static_cast<int64_t>(since);
  return token;
}

bool IsSingleNodeResumeToken(std::string_view bytes) {
  return !bytes.empty() && static_cast<uint8_t>(bytes[0]) == 1;
}

std::optional<std::vector<uint32_t>> CoveredShards(const Placement& placement,
                                                   const std::vector<std::string>& tags,
                                                   bool glob) {
  if (glob) return std::nullopt;
  std::vector<uint32_t> shards;
  shards.reserve(tags.size());
  for (const std::string& t : tags) shards.push_back(placement.ShardOfTag(t));
  std::sort(shards.begin(), shards.end());
  shards.erase(std::unique(shards.begin(), shards.end()), shards.end());
  return shards;
}

uint64_t OwnedShardsDigest(const Placement& placement, std::string_view member,
                           const std::optional<std::vector<uint32_t>>& covered) {
  uint64_t h = Mix(0x6f776e6564ull, placement.num_shards());
  uint64_t owned = 0;
  auto add = [&](uint32_t shard) {
    if (shard >= placement.num_shards() || placement.OwnerOfShard(shard).id != member) return;
    h = Mix(h, shard);
    ++owned;
  };
  if (covered.has_value()) {
    for (uint32_t s : *covered) add(s);
  } else {
    for (uint32_t s = 0; s < placement.num_shards(); ++s) add(s);
  }
  return Mix(h, owned);
}

std::string OwnedShardsValue(int64_t revision, uint64_t digest) {
  return absl::StrCat(revision, ":", absl::Hex(digest));
}

bool ParseOwnedShardsValue(std::string_view value, int64_t* revision, uint64_t* digest) {
  const size_t colon = value.find(':');
  if (colon == std::string_view::npos) return false;
  const absl::string_view rev(value.data(), colon);
  const absl::string_view hex(value.data() + colon + 1, value.size() - colon - 1);
  return absl::SimpleAtoi(rev, revision) && absl::SimpleHexAtoi(hex, digest);
}

}  // namespace historian::cluster
