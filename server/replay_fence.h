// File: replay_fence.h
// ReplayFence: what a repair from one peer member (a range sync after a
// gap, an anti-entropy pass, verify --repair) means for the member's log
// entries this node applies after it.
//
// A repair brings the member's samples as they are after its own entry
// `applied` (DigestResponse.applied_sequence), so it may run ahead of this
// node's cursor of that member. The entries up to `applied` then come
// again in the log. Each of their samples is already reflected in what the
// repair left here, but a sample whose version ties with the one held (two
// writes of one timestamp within one second at the member) would win as
// the one applied later, and a read would see the older value until the
// member's next entry. So within the repaired range their ties and losers
// are left out (Store::KeepHeldTies): ReplayFiltered. ReplayFences keeps
// one fence per member link in <data_dir>/REPLAY_FENCES, so a restart in
// the middle of that catch-up keeps it (docs/replication.md, "Repairs
// ahead of the log").
//
//   fences.Note(link, digest.applied_sequence(), start, end, cursor);
//   if (auto range = fences.Covering(link, seq)) ReplayFiltered(store, *range, ...);
//   fences.Passed(link, cursor);
//
// Thread-safety: ReplayFence none; ReplayFences thread-safe (mu_, the file
// written under it).
#ifndef HISTORIAN_SERVER_REPLAY_FENCE_H_
#define HISTORIAN_SERVER_REPLAY_FENCE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace historian {
class Store;
}

namespace historian::server {

// A time range [start, end).
struct TimeRange {
  int64_t start = 0;
  int64_t end = 0;
};

class ReplayFence {
 public:
  // After a repair over [start, end) of the member's state after its entry
  // `applied`. A fence still pending narrows to the ranges' intersection
  // (what both repairs vouch for) and covers up to the higher entry.
  void Note(uint64_t applied, int64_t start, int64_t end);
  // The range in which entry `seq` is already reflected here; none when
  // past the fence.
  std::optional<TimeRange> Covering(uint64_t seq) const;
  // The cursor reached `applied`: a fence up to it is done. Returns whether
  // this ended it.
  bool Passed(uint64_t applied);
  bool pending() const { return up_to_ != 0; }
  uint64_t up_to() const { return up_to_; }
  const TimeRange& range() const { return range_; }

 private:
  uint64_t up_to_ = 0;  // 0: no fence
  TimeRange range_;
};

// The fence of each member link (its cursor key: site or site/member),
// kept in a file: one "link up_to start end" line per pending fence. A
// missing or unreadable file (logged) holds none: the entries then replay
// unfiltered, as before fences.
class ReplayFences {
 public:
  explicit ReplayFences(std::string file);  // empty: in memory only

  // After a repair from `link` (ReplayFence::Note), with this node's cursor
  // of it now. A file that cannot be written is logged; the fence still
  // holds in memory.
  void Note(const std::string& link, uint64_t applied, int64_t start, int64_t end, uint64_t cursor);
  std::optional<TimeRange> Covering(const std::string& link, uint64_t seq) const;
  void Passed(const std::string& link, uint64_t applied);

 private:
  void Save() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string file_;
  mutable absl::Mutex mu_;
  std::map<std::string, ReplayFence> fences_ ABSL_GUARDED_BY(mu_);
};

// `entry` (storage log format) with its samples in `range` that `store`
// holds at the same timestamp with a version as new or newer left out.
// *changed says whether *out was written (else apply `entry` as it is).
absl::Status ReplayFiltered(const Store& store, TimeRange range, std::string_view entry,
                            std::string* out, bool* changed);

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_REPLAY_FENCE_H_
