// File: event_record.h
// The records of the events column family (docs/events.md): alarm events
// and alarm rules, their keys, encodings and merges.
//
// Both are written only as RocksDB merge operands (EventsMergeOperator) and
// travel to the peers in the log (LogEntry::event_writes), so every site
// applies the same set of operands in whatever order and converges:
// - an event's state is a merge of monotone facts: raised, cleared and
//   acknowledged only ever become true; each keeps its earliest time (ties
//   broken by the rest of the fact), so the merge is commutative,
//   associative and idempotent;
// - a rule is last-writer-wins by version (a deleted rule is a record with
//   `deleted` set, kept so an older update cannot bring it back).
//
// Keys: "e" + event id (8 bytes big-endian); "r" + rule name; "s/..." local
// state (the evaluator's, never shipped, written with Put); "f" + feed
// position (8 bytes big-endian) -> the FeedRecords of one applied log
// entry: the local, durable feed of event changes (one Put per entry with
// event operands, in the entry's batch; never shipped; the outlets' cursors
// are positions in it).
//
// Thread-safety: plain values and pure functions.
#ifndef HISTORIAN_STORAGE_EVENTS_EVENT_RECORD_H_
#define HISTORIAN_STORAGE_EVENTS_EVENT_RECORD_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/events/rule_evaluator.h"

namespace historian::events {

inline constexpr char kEventKeyPrefix = 'e';
inline constexpr char kRuleKeyPrefix = 'r';
// The evaluator's saved state (with the log positions it covers).
inline constexpr char kEvaluatorStateKey[] = "s/evaluator";
inline constexpr char kFeedKeyPrefix = 'f';

struct EventRecord {
  uint64_t id = 0;  // EventId(rule, tag, raised_ns)
  uint64_t rule_id = 0;
  std::string rule;  // the rule's name
  std::string tag;
  // Facts; each false until some site records it.
  bool raised = false;
  bool cleared = false;
  bool acked = false;
  // raised: the raise's sample time, the value that triggered it, whether
  // it came from late data, and the site whose evaluator raised it.
  int64_t raised_ns = 0;
  double value = 0;
  bool late = false;
  std::string origin_site;
  // cleared: sample time of the clear.
  int64_t cleared_ns = 0;
  // acked: wall time of the ack, who (the token's name) and why.
  int64_t acked_ns = 0;
  std::string ack_user;
  std::string ack_comment;

  // A live alarm: raised, not cleared, not from late data (a late event
  // records what happened; it never was an alarm to act on).
  bool active() const { return raised && !cleared && !late; }
};

// hash(rule id, tag, raise time): FNV-1a 64, stable across builds and sites.
uint64_t EventId(uint64_t rule_id, std::string_view tag, int64_t raised_ns);
// The id as 16 lowercase hex digits, and back (InvalidArgument).
std::string EventIdToString(uint64_t id);
absl::StatusOr<uint64_t> ParseEventId(std::string_view text);
// hash(name): a rule's numeric id (the evaluator's rule_id).
uint64_t RuleId(std::string_view name);

std::string EventKey(uint64_t id);
std::string EncodeEvent(const EventRecord& e);
absl::StatusOr<EventRecord> DecodeEvent(std::string_view bytes);
// The merge of two states of one event (see the file comment).
EventRecord MergeEvents(const EventRecord& a, const EventRecord& b);

// One change in the event feed: which event, and which facts the applied
// operand carried (an own raise or clear, an ack, or the peer's operand).
struct FeedRecord {
  uint64_t position = 0;
  uint64_t event_id = 0;
  bool raised = false;
  bool cleared = false;
  bool acked = false;
};
// One "f" record holds the changes of one log entry at consecutive
// positions: key = FeedKey(first position), value = one [id BE 8][facts 1]
// per change, in order (records written before held one change each: the
// same format with one change).
std::string FeedKey(uint64_t position);
void AppendFeedChange(const FeedRecord& r, std::string* value);  // r.position unused
std::string EncodeFeedValue(const FeedRecord& r);                // one change
// Appends the record's changes to `out` (DataLoss when malformed).
absl::Status DecodeFeedRecords(std::string_view key, std::string_view value,
                               std::vector<FeedRecord>* out);
// The feed changes of one applied event operand (`id`, encoded `value`):
// one per fact it carries, in the order raised, cleared, acked (an own
// raise and clear of one event stored in one operand are two changes, as
// if stored in two; so are the facts of a repaired record); one change
// without facts when it carries none. Reads only EncodeEvent's flags.
// Returns how many (1..3) it wrote to `out`; positions are left 0.
int FeedChangesOf(uint64_t id, std::string_view value, FeedRecord out[3]);

// An alarm rule as managed through the Events service.
struct RuleRecord {
  std::string name;      // 1..128 bytes, the key
  uint64_t version = 0;  // last writer wins
  bool deleted = false;
  RuleKind kind = RuleKind::kHigh;
  std::string tag;              // a tag name or a glob
  std::string home_site;        // empty: the tag's origin site (twin rules: required)
  std::optional<double> limit;  // limit rules: default from the tag's eng range
  double deadband = 0;
  int64_t on_delay_ns = 0;
  int64_t window_ns = 0;
  int64_t duration_ns = 0;
  std::string description;
};

std::string RuleKey(std::string_view name);
std::string EncodeRule(const RuleRecord& r);
absl::StatusOr<RuleRecord> DecodeRule(std::string_view bytes);
// The newer of two (higher version; equal versions: the larger encoding).
const RuleRecord& NewerRule(const RuleRecord& a, const RuleRecord& b);

// "high", "high_high", "low", "low_low", "rate", "stale", "twin_deviation",
// "bad_quality" and back (InvalidArgument listing them).
std::string_view RuleKindName(RuleKind kind);
absl::StatusOr<RuleKind> ParseRuleKind(std::string_view name);

}  // namespace historian::events

#endif  // HISTORIAN_STORAGE_EVENTS_EVENT_RECORD_H_
