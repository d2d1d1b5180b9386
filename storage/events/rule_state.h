// File: storage/events/rule_state.h
// The per-rule state of the RuleEvaluator (storage/events/rule_evaluator.h)
// and its encoding for SaveState / LoadState.
//
// Encoding (all integers little-endian, doubles as their IEEE-754 bits):
//   "HREV" | u8 version (1) | u32 count |
//   count x { u64 rule_id | u8 kind | u32 fingerprint | u8 flags |
//             [i64 pending_since | f64 pending_value]   if flags & kPending
//             [i64 newest_ns | f64 newest_value]        if flags & kNewest
//             [i64 twin_ns | f64 twin_value]            if flags & kTwin
//             [i64 armed_ns]                            if flags & kArmed
//             [i64 late_prev_ns]                        if flags & kLateRun
//             u32 window_size | window_size x {i64 ts | f64 value} }
//   | u32 crc32c of everything before it.
// The fingerprint (CRC-32C of "tag\0twin_tag") ties a state to the tags it
// was computed for: a rule whose id remains but whose kind or tags changed
// starts from a fresh state.
//
// Thread-safety: plain values and functions, no shared state.
#ifndef HISTORIAN_STORAGE_EVENTS_RULE_STATE_H_
#define HISTORIAN_STORAGE_EVENTS_RULE_STATE_H_

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/events/rule_evaluator.h"

namespace historian::events {

inline constexpr int64_t kNoTime = INT64_MIN;

struct RuleState {
  bool active = false;
  // The previous late sample of this rule violated: later late samples at
  // or after late_prev_ns continue the same late run (no second late raise).
  bool late_run = false;
  int64_t newest_ns = kNoTime;  // newest sample of the rule's tag
  double newest_value = 0;
  int64_t pending_since_ns = kNoTime;  // on-delay / duration started here
  double pending_value = 0;            // the value that started it
  int64_t late_prev_ns = kNoTime;
  int64_t twin_ns = kNoTime;  // kTwinDeviation: newest sample of the twin tag
  double twin_value = 0;
  int64_t armed_ns = kNoTime;  // kStale without any sample: first OnTimer time
  // kRateOfChange: the newest sample at or before (newest - window), then
  // every later one.
  std::deque<std::pair<int64_t, double>> window;
};

struct SavedRuleState {
  uint64_t rule_id = 0;
  uint8_t kind = 0;
  uint32_t fingerprint = 0;
  RuleState state;
};

uint32_t RuleFingerprint(const RuleSpec& spec);

// Appends rule states one by one, then Finish() returns the encoding.
class RuleStateEncoder {
 public:
  RuleStateEncoder();
  void Add(uint64_t rule_id, uint8_t kind, uint32_t fingerprint, const RuleState& state);
  std::string Finish() &&;

 private:
  std::string out_;
  uint32_t count_ = 0;
};

// Rejects bad magic, unknown versions, truncation, trailing bytes and a
// checksum mismatch with InvalidArgument (DataLoss for the checksum).
absl::StatusOr<std::vector<SavedRuleState>> DecodeRuleStates(std::string_view data);

}  // namespace historian::events

#endif  // HISTORIAN_STORAGE_EVENTS_RULE_STATE_H_
