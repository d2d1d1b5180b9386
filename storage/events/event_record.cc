#include "storage/events/event_record.h"

#include <bit>
#include <cstring>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "storage/engine/coding.h"
#include "storage/engine/key_format.h"

namespace historian::events {
namespace {

using engine::PutFixed64;
using engine::PutString;
using engine::PutVarint64;
using engine::UnZigZag;
using engine::ZigZag;

constexpr uint8_t kEventFormat = 1;
constexpr uint8_t kRuleFormat = 1;
constexpr uint64_t kRaised = 1, kCleared = 2, kAcked = 4, kLate = 8;

constexpr uint64_t kFnvOffset = 1469598103934665603ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

uint64_t Fnv(uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= kFnvPrime;
  }
  return h;
}

std::string BigEndian(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i) {
    s[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return s;
}

constexpr std::string_view kKindNames[] = {
    "", "high", "high_high", "low", "low_low", "rate", "stale", "twin_deviation", "bad_quality"};

// Fnv over v's 8 bytes big-endian (BigEndian(v)), without building them.
uint64_t FnvBigEndian(uint64_t h, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    h ^= (v >> (8 * i)) & 0xff;
    h *= kFnvPrime;
  }
  return h;
}

}  // namespace

// FNV-1a over BigEndian(rule_id) + tag + '\0' + BigEndian(raised_ns),
// streamed (no buffer: one per raise was an allocation).
uint64_t EventId(uint64_t rule_id, std::string_view tag, int64_t raised_ns) {
  uint64_t h = Fnv(FnvBigEndian(kFnvOffset, rule_id), tag);
  h *= kFnvPrime;  // the '\0' (h ^= 0)
  return FnvBigEndian(h, static_cast<uint64_t>(raised_ns));
}

std::string EventIdToString(uint64_t id) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i) {
    s[i] = kHex[id & 0xf];
    id >>= 4;
  }
  return s;
}

absl::StatusOr<uint64_t> ParseEventId(std::string_view text) {
  uint64_t id = 0;
  bool ok = text.size() == 16;
  for (char c : text) {
    const int d = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                         : -1;
    if (d < 0) ok = false;
    id = id << 4 | static_cast<uint64_t>(d & 0xf);
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "event id: '", std::string(text), "' is not 16 hex digits (as `historian events` shows)"));
  }
  return id;
}

uint64_t RuleId(std::string_view name) { return Fnv(kFnvOffset, name); }

std::string EventKey(uint64_t id) { return std::string(1, kEventKeyPrefix) + BigEndian(id); }

std::string FeedKey(uint64_t position) {
  return std::string(1, kFeedKeyPrefix) + BigEndian(position);
}

void AppendFeedChange(const FeedRecord& r, std::string* value) {
  value->append(BigEndian(r.event_id));
  value->push_back(static_cast<char>((r.raised ? 1 : 0) | (r.cleared ? 2 : 0) | (r.acked ? 4 : 0)));
}

std::string EncodeFeedValue(const FeedRecord& r) {
  std::string out;
  AppendFeedChange(r, &out);
  return out;
}

absl::Status DecodeFeedRecords(std::string_view key, std::string_view value,
                               std::vector<FeedRecord>* out) {
  constexpr size_t kChange = 9;
  if (key.size() != 9 || key[0] != kFeedKeyPrefix || value.empty() || value.size() % kChange != 0) {
    return absl::DataLossError("events: malformed event feed record");
  }
  const uint64_t first = engine::GetBigEndian64(key.data() + 1);
  for (size_t i = 0; i < value.size() / kChange; ++i) {
    const char* c = value.data() + i * kChange;
    FeedRecord r;
    r.position = first + i;
    r.event_id = engine::GetBigEndian64(c);
    const uint8_t facts = static_cast<uint8_t>(c[8]);
    r.raised = facts & 1;
    r.cleared = facts & 2;
    r.acked = facts & 4;
    out->push_back(r);
  }
  return absl::OkStatus();
}

int FeedChangesOf(uint64_t id, std::string_view value, FeedRecord out[3]) {
  engine::Reader in(value);
  uint8_t format = 0;
  uint64_t flags = 0;
  in.GetByte(&format);
  in.GetVarint64(&flags);
  if (!in.ok() || format != kEventFormat) flags = 0;
  int n = 0;
  for (uint64_t fact : {kRaised, kCleared, kAcked}) {
    if (!(flags & fact)) continue;
    out[n] = FeedRecord{};
    out[n].event_id = id;
    out[n].raised = fact == kRaised;
    out[n].cleared = fact == kCleared;
    out[n].acked = fact == kAcked;
    ++n;
  }
  if (n == 0) {
    out[0] = FeedRecord{};
    out[0].event_id = id;
    n = 1;
  }
  return n;
}

std::string EncodeEvent(const EventRecord& e) {
  std::string out;
  out.push_back(static_cast<char>(kEventFormat));
  uint64_t flags = (e.raised ? kRaised : 0) | (e.cleared ? kCleared : 0) | (e.acked ? kAcked : 0) |
                   (e.late ? kLate : 0);
  PutVarint64(flags, &out);
  PutFixed64(e.id, &out);
  PutFixed64(e.rule_id, &out);
  PutString(e.rule, &out);
  PutString(e.tag, &out);
  PutVarint64(ZigZag(e.raised_ns), &out);
  PutFixed64(std::bit_cast<uint64_t>(e.value), &out);
  PutString(e.origin_site, &out);
  PutVarint64(ZigZag(e.cleared_ns), &out);
  PutVarint64(ZigZag(e.acked_ns), &out);
  PutString(e.ack_user, &out);
  PutString(e.ack_comment, &out);
  return out;
}

absl::StatusOr<EventRecord> DecodeEvent(std::string_view bytes) {
  engine::Reader r(bytes);
  EventRecord e;
  uint8_t format = 0;
  uint64_t flags = 0, v = 0, bits = 0;
  std::string_view s;
  r.GetByte(&format);
  if (format != kEventFormat) return absl::DataLossError("event record: unknown format");
  r.GetVarint64(&flags);
  e.raised = flags & kRaised;
  e.cleared = flags & kCleared;
  e.acked = flags & kAcked;
  e.late = flags & kLate;
  r.GetFixed64(&e.id);
  r.GetFixed64(&e.rule_id);
  if (r.GetString(&s)) e.rule = s;
  if (r.GetString(&s)) e.tag = s;
  r.GetVarint64(&v);
  e.raised_ns = UnZigZag(v);
  r.GetFixed64(&bits);
  e.value = std::bit_cast<double>(bits);
  if (r.GetString(&s)) e.origin_site = s;
  r.GetVarint64(&v);
  e.cleared_ns = UnZigZag(v);
  r.GetVarint64(&v);
  e.acked_ns = UnZigZag(v);
  if (r.GetString(&s)) e.ack_user = s;
  if (r.GetString(&s)) e.ack_comment = s;
  if (!r.ok() || !r.done()) return absl::DataLossError("event record: truncated or trailing bytes");
  return e;
}

EventRecord MergeEvents(const EventRecord& a, const EventRecord& b) {
  EventRecord m = a;
  // Identity: equal for operands of one id; the smaller wins if not.
  if (m.rule.empty() || (!b.rule.empty() &&
                         std::tie(b.rule_id, b.rule, b.tag) < std::tie(m.rule_id, m.rule, m.tag))) {
    m.id = b.id;
    m.rule_id = b.rule_id;
    m.rule = b.rule;
    m.tag = b.tag;
  }
  if (b.raised) {
    // A live raise before a late one; then the earliest, then any order.
    const uint64_t bv = std::bit_cast<uint64_t>(b.value), mv = std::bit_cast<uint64_t>(m.value);
    if (!m.raised || std::tie(b.late, b.raised_ns, bv, b.origin_site) <
                         std::tie(m.late, m.raised_ns, mv, m.origin_site)) {
      m.raised_ns = b.raised_ns;
      m.value = b.value;
      m.late = b.late;
      m.origin_site = b.origin_site;
    }
    m.raised = true;
  }
  if (b.cleared) {
    if (!m.cleared || b.cleared_ns < m.cleared_ns) m.cleared_ns = b.cleared_ns;
    m.cleared = true;
  }
  if (b.acked) {
    if (!m.acked || std::tie(b.acked_ns, b.ack_user, b.ack_comment) <
                        std::tie(m.acked_ns, m.ack_user, m.ack_comment)) {
      m.acked_ns = b.acked_ns;
      m.ack_user = b.ack_user;
      m.ack_comment = b.ack_comment;
    }
    m.acked = true;
  }
  return m;
}

std::string RuleKey(std::string_view name) {
  std::string key(1, kRuleKeyPrefix);
  key.append(name);
  return key;
}

std::string EncodeRule(const RuleRecord& r) {
  std::string out;
  out.push_back(static_cast<char>(kRuleFormat));
  PutString(r.name, &out);
  PutVarint64(r.version, &out);
  out.push_back(static_cast<char>(r.deleted));
  out.push_back(static_cast<char>(r.kind));
  PutString(r.tag, &out);
  PutString(r.home_site, &out);
  out.push_back(static_cast<char>(r.limit.has_value()));
  PutFixed64(std::bit_cast<uint64_t>(r.limit.value_or(0)), &out);
  PutFixed64(std::bit_cast<uint64_t>(r.deadband), &out);
  PutVarint64(ZigZag(r.on_delay_ns), &out);
  PutVarint64(ZigZag(r.window_ns), &out);
  PutVarint64(ZigZag(r.duration_ns), &out);
  PutString(r.description, &out);
  return out;
}

absl::StatusOr<RuleRecord> DecodeRule(std::string_view bytes) {
  engine::Reader r(bytes);
  RuleRecord rule;
  uint8_t format = 0, deleted = 0, kind = 0, has_limit = 0;
  uint64_t v = 0, bits = 0;
  std::string_view s;
  r.GetByte(&format);
  if (format != kRuleFormat) return absl::DataLossError("rule record: unknown format");
  if (r.GetString(&s)) rule.name = s;
  r.GetVarint64(&rule.version);
  r.GetByte(&deleted);
  r.GetByte(&kind);
  rule.deleted = deleted != 0;
  rule.kind = static_cast<RuleKind>(kind);
  if (r.GetString(&s)) rule.tag = s;
  if (r.GetString(&s)) rule.home_site = s;
  r.GetByte(&has_limit);
  r.GetFixed64(&bits);
  if (has_limit) rule.limit = std::bit_cast<double>(bits);
  r.GetFixed64(&bits);
  rule.deadband = std::bit_cast<double>(bits);
  r.GetVarint64(&v);
  rule.on_delay_ns = UnZigZag(v);
  r.GetVarint64(&v);
  rule.window_ns = UnZigZag(v);
  r.GetVarint64(&v);
  rule.duration_ns = UnZigZag(v);
  if (r.GetString(&s)) rule.description = s;
  if (!r.ok() || !r.done()) return absl::DataLossError("rule record: truncated or trailing bytes");
  if (kind < 1 || kind > 8) return absl::DataLossError("rule record: unknown kind");
  return rule;
}

const RuleRecord& NewerRule(const RuleRecord& a, const RuleRecord& b) {
  if (a.version != b.version) return a.version > b.version ? a : b;
  return EncodeRule(a) >= EncodeRule(b) ? a : b;
}

std::string_view RuleKindName(RuleKind kind) {
  const auto k = static_cast<size_t>(kind);
  return k >= 1 && k <= 8 ? kKindNames[k] : "unknown";
}

absl::StatusOr<RuleKind> ParseRuleKind(std::string_view name) {
  for (size_t k = 1; k <= 8; ++k) {
    if (name == kKindNames[k]) return static_cast<RuleKind>(k);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "rule kind: '", std::string(name),
      "' is not one of high, high_high, low, low_low, rate, stale, twin_deviation, bad_quality"));
}

}  // namespace historian::events
