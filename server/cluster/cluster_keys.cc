#include "server/cluster/cluster_keys.h"

#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace historian::cluster {
namespace {

// `key=value` lines into a map; later duplicates win.
std::map<std::string, std::string> ParseLines(std::string_view text) {
  std::map<std::string, std::string> fields;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(text.data(), text.size()), '\n', absl::SkipEmpty())) {
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) continue;
    fields[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  return fields;
}

template <typename Int>
absl::Status ReadNumber(const std::map<std::string, std::string>& fields, const char* what,
                        const char* name, Int* out) {
  auto it = fields.find(name);
  if (it == fields.end()) {
    return absl::DataLossError(absl::StrCat(what, ": field '", name, "' is missing"));
  }
  if (!absl::SimpleAtoi(it->second, out)) {
    return absl::DataLossError(
        absl::StrCat(what, ": field '", name, "' = '", it->second, "' is not a number"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string SitePrefix(std::string_view site) {
  return absl::StrCat("/historian/", std::string(site), "/");
}

std::string ClusterConfigKey(std::string_view site) {
  return absl::StrCat(SitePrefix(site), "cluster");
}

std::string EncodeClusterConfig(const ClusterConfig& config) {
  return absl::StrCat("num_shards=", config.num_shards, "\nformat_version=", config.format_version,
                      "\ncreated_unix_ns=", config.created_unix_ns, "\n");
}

absl::StatusOr<ClusterConfig> DecodeClusterConfig(std::string_view text) {
  const auto fields = ParseLines(text);
  ClusterConfig c;
  const char* what = "cluster config";
  if (absl::Status s = ReadNumber(fields, what, "num_shards", &c.num_shards); !s.ok()) return s;
  if (absl::Status s = ReadNumber(fields, what, "format_version", &c.format_version); !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadNumber(fields, what, "created_unix_ns", &c.created_unix_ns); !s.ok()) {
    return s;
  }
  return c;
}

std::string EncodeMemberRecord(const MemberRecord& record) {
  return absl::StrCat("address=", record.address, "\nstart_unix_ns=", record.start_unix_ns,
                      "\nversion=", record.version,
                      "\nisolation_write_fence_ms=", record.isolation_fence_ms,
                      "\nwrite_slices=", record.write_slices ? 1 : 0, "\n");
}

absl::StatusOr<MemberRecord> DecodeMemberRecord(std::string_view text) {
  const auto fields = ParseLines(text);
  MemberRecord r;
  auto it = fields.find("address");
  if (it == fields.end() || it->second.empty()) {
    return absl::DataLossError("member record: field 'address' is missing");
  }
  r.address = it->second;
  const char* what = "member record";
  if (absl::Status s = ReadNumber(fields, what, "start_unix_ns", &r.start_unix_ns); !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadNumber(fields, what, "version", &r.version); !s.ok()) return s;
  if (fields.count("isolation_write_fence_ms") > 0) {
    if (absl::Status s =
            ReadNumber(fields, what, "isolation_write_fence_ms", &r.isolation_fence_ms);
        !s.ok()) {
      return s;
    }
  }
  if (auto it = fields.find("write_slices"); it != fields.end()) r.write_slices = it->second == "1";
  return r;
}

std::string SiteIsolationFenceKey(std::string_view site) {
  return absl::StrCat(SitePrefix(site), "isolation_fence");
}

std::string EncodeSiteIsolationFence(int64_t max_ms) {
  return absl::StrCat("max_ms=", max_ms, "\n");
}

absl::StatusOr<int64_t> DecodeSiteIsolationFence(std::string_view key, std::string_view text) {
  int64_t max_ms = 0;
  if (absl::Status s = ReadNumber(ParseLines(text), "site isolation fence", "max_ms", &max_ms);
      !s.ok()) {
    return absl::DataLossError(absl::StrCat(std::string(key), ": ", s.message()));
  }
  return max_ms;
}

std::string MoveFenceKey(std::string_view site, uint32_t shard) {
  return absl::StrCat(SitePrefix(site), "moves/", shard, "/fence");
}

std::string MovesPrefix(std::string_view site) { return absl::StrCat(SitePrefix(site), "moves/"); }

std::string MoveProgressKey(std::string_view site, uint32_t shard) {
  return absl::StrCat(MovesPrefix(site), shard, "/progress");
}

std::string EncodeMoveProgress(const MoveProgress& p) {
  return absl::StrCat("to=", p.to, "\nstep=", p.step, "\nbytes_copied=", p.bytes_copied,
                      "\nbytes_total=", p.bytes_total, "\nentries_behind=", p.entries_behind,
                      "\neta_seconds=", p.eta_seconds, "\nupdated_unix_ns=", p.updated_unix_ns,
                      "\n");
}

absl::StatusOr<MoveProgress> DecodeMoveProgress(std::string_view text) {
  const auto fields = ParseLines(text);
  MoveProgress p;
  const char* what = "move progress";
  auto to = fields.find("to");
  if (to == fields.end() || to->second.empty()) {
    return absl::DataLossError("move progress: field 'to' is missing");
  }
  p.to = to->second;
  if (auto step = fields.find("step"); step != fields.end()) p.step = step->second;
  if (absl::Status s = ReadNumber(fields, what, "bytes_copied", &p.bytes_copied); !s.ok()) return s;
  // Not written before the copy's estimate was (kept -1).
  if (fields.count("bytes_total") > 0) {
    if (absl::Status s = ReadNumber(fields, what, "bytes_total", &p.bytes_total); !s.ok()) return s;
  }
  if (absl::Status s = ReadNumber(fields, what, "entries_behind", &p.entries_behind); !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadNumber(fields, what, "eta_seconds", &p.eta_seconds); !s.ok()) return s;
  if (absl::Status s = ReadNumber(fields, what, "updated_unix_ns", &p.updated_unix_ns); !s.ok()) {
    return s;
  }
  return p;
}

std::string EncodeMoveFence(const MoveFence& fence) {
  return absl::StrCat("from=", fence.from, "\nto=", fence.to,
                      "\nflipped_unix_ns=", fence.flipped_unix_ns, "\nposition=", fence.position,
                      "\nclock=", fence.clock, fence.without_source ? "\nwithout_source=1" : "",
                      "\n");
}

absl::StatusOr<MoveFence> DecodeMoveFence(std::string_view text) {
  const auto fields = ParseLines(text);
  MoveFence f;
  const char* what = "move fence";
  for (const char* name : {"from", "to"}) {
    auto it = fields.find(name);
    if (it == fields.end() || it->second.empty()) {
      return absl::DataLossError(absl::StrCat(what, ": field '", name, "' is missing"));
    }
  }
  f.from = fields.at("from");
  f.to = fields.at("to");
  if (absl::Status s = ReadNumber(fields, what, "flipped_unix_ns", &f.flipped_unix_ns); !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadNumber(fields, what, "position", &f.position); !s.ok()) return s;
  if (absl::Status s = ReadNumber(fields, what, "clock", &f.clock); !s.ok()) return s;
  auto without = fields.find("without_source");
  f.without_source = without != fields.end() && without->second == "1";
  return f;
}

absl::Status ValidateMemberId(std::string_view id, std::string_view what) {
  bool ok = !id.empty() && id.size() <= 64;
  for (char c : id) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(std::string(what), ": '", std::string(id),
                                                 "' is not a member id: want 1..64 characters of "
                                                 "[A-Za-z0-9._-]"));
}

}  // namespace historian::cluster
