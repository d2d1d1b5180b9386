// ReplayFence and ReplayFiltered: a member's entries replayed after a
// repair that already reflects them.
#include "server/replay_fence.h"

#include <algorithm>
#include <utility>

#include "api/core/status_macros.h"
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

void ReplayFence::Passed(uint64_t applied) {
  if (applied >= up_to_) up_to_ = 0;
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
