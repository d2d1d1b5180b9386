// ReplayFence and ReplayFiltered: a member's entries replayed after a
// repair that already reflects them.
#include "server/replay_fence.h"

#include <algorithm>
#include <fstream>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/core/status_macros.h"
#include "server/durable_file.h"
#include "server/logging.h"
#include "storage/engine/log_entry.h"
#include "storage/store.h"

namespace historian::server {

void ReplayFence::Note(uint64_t applied, int64_t start, int64_t end) {
  if (applied == 0 || start >= end) return;
  if (up_to_ == 0) {
    up_to_ = applied;
    range_ = {start, end};
    return;
  }
  up_to_ = std::max(up_to_, applied);
  range_ = {std::max(range_.start, start), std::min(range_.end, end)};
  if (range_.start >= range_.end) up_to_ = 0;  // nothing both vouch for
}

std::optional<TimeRange> ReplayFence::Covering(uint64_t seq) const {
  if (up_to_ == 0 || seq > up_to_) return std::nullopt;
  return range_;
}

bool ReplayFence::Passed(uint64_t applied) {
  if (up_to_ == 0 || applied < up_to_) return false;
  up_to_ = 0;
  return true;
}

ReplayFences::ReplayFences(std::string file) : file_(std::move(file)) {
  if (file_.empty()) return;
  std::ifstream in(file_);
  if (!in) return;
  std::map<std::string, ReplayFence> fences;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    uint64_t up_to = 0;
    int64_t start = 0, end = 0;
    if (f.size() != 4 || f[0].empty() || !absl::SimpleAtoi(f[1], &up_to) ||
        !absl::SimpleAtoi(f[2], &start) || !absl::SimpleAtoi(f[3], &end)) {
      LogWarning("replicator", "replay fences file unreadable; entries replay unfiltered",
                 {{"file", file_}, {"line", line}});
      return;
    }
    fences[f[0]].Note(up_to, start, end);
  }
  absl::MutexLock l(&mu_);
  fences_ = std::move(fences);
}

void ReplayFences::Note(const std::string& link, uint64_t applied, int64_t start, int64_t end,
                        uint64_t cursor) {
  absl::MutexLock l(&mu_);
  ReplayFence& fence = fences_[link];
  const bool was = fence.pending();
  fence.Note(applied, start, end);
  fence.Passed(cursor);
  if (was || fence.pending()) Save();
}

std::optional<TimeRange> ReplayFences::Covering(const std::string& link, uint64_t seq) const {
  absl::MutexLock l(&mu_);
  auto it = fences_.find(link);
  return it == fences_.end() ? std::nullopt : it->second.Covering(seq);
}

void ReplayFences::Passed(const std::string& link, uint64_t applied) {
  absl::MutexLock l(&mu_);
  auto it = fences_.find(link);
  if (it != fences_.end() && it->second.Passed(applied)) Save();
}

void ReplayFences::Save() {
  if (file_.empty()) return;
  std::string text;
  for (const auto& [link, fence] : fences_) {
    if (!fence.pending()) continue;
    absl::StrAppend(&text, link, " ", fence.up_to(), " ", fence.range().start, " ",
                    fence.range().end, "\n");
  }
  // The repair it records is durable already; a fence lost here only lets
  // the entries replay unfiltered after a restart.
  if (absl::Status s = ReplaceFileDurably(file_, text); !s.ok()) {
    LogWarning("replicator", "replay fences not saved; kept in memory",
               {{"file", file_}, {"error", s.ToString()}});
  }
}

absl::Status ReplayFiltered(const Store& store, TimeRange range, std::string_view bytes,
                            std::string* out, bool* changed) {
  *changed = false;
  engine::LogEntry entry;
  RETURN_IF_ERROR(engine::DecodeLogEntry(bytes, &entry));
  for (engine::SeriesData& s : entry.series) {
    const size_t before = s.cols.size();
    RETURN_IF_ERROR(store.KeepHeldTies(&s, range.start, range.end));
    if (s.cols.size() != before) *changed = true;
  }
  if (!*changed) return absl::OkStatus();
  // A series left empty stays: the entry's shape (its catalog upserts,
  // deletes, events) is unchanged, and an empty series applies nothing.
  engine::EncodeLogEntry(entry, out);
  return absl::OkStatus();
}

}  // namespace historian::server
