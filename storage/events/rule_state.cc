// File: storage/events/rule_state.cc
#include "storage/events/rule_state.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "storage/codec/crc32c.h"

namespace historian::events {
namespace {

constexpr char kMagic[4] = {'H', 'R', 'E', 'V'};
constexpr uint8_t kVersion = 1;
constexpr uint8_t kActive = 1;
constexpr uint8_t kPending = 2;
constexpr uint8_t kNewest = 4;
constexpr uint8_t kTwin = 8;
constexpr uint8_t kArmed = 16;
constexpr uint8_t kLateRun = 32;
constexpr uint8_t kKnownFlags = 63;
// Bounds a corrupt count before it allocates anything.
constexpr size_t kMinRuleBytes = 8 + 1 + 4 + 1 + 4;

template <typename T>
void Put(std::string* out, T v) {
  static_assert(std::is_trivially_copyable_v<T>);
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));  // little-endian hosts only (x86-64, arm64)
  out->append(buf, sizeof(T));
}

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  template <typename T>
  bool Get(T* v) {
    if (data_.size() < sizeof(T)) return false;
    std::memcpy(v, data_.data(), sizeof(T));
    data_.remove_prefix(sizeof(T));
    return true;
  }
  size_t remaining() const { return data_.size(); }

 private:
  std::string_view data_;
};

}  // namespace

uint32_t RuleFingerprint(const RuleSpec& spec) {
  std::string s = spec.tag;
  s.push_back('\0');
  s += spec.twin_tag;
  return codec::Crc32c(s.data(), s.size());
}

RuleStateEncoder::RuleStateEncoder() {
  out_.append(kMagic, 4);
  Put<uint8_t>(&out_, kVersion);
  Put<uint32_t>(&out_, 0);  // count, patched by Finish
}

void RuleStateEncoder::Add(uint64_t rule_id, uint8_t kind, uint32_t fingerprint,
                           const RuleState& s) {
  ++count_;
  Put<uint64_t>(&out_, rule_id);
  Put<uint8_t>(&out_, kind);
  Put<uint32_t>(&out_, fingerprint);
  uint8_t flags = (s.active ? kActive : 0) | (s.pending_since_ns != kNoTime ? kPending : 0) |
                  (s.newest_ns != kNoTime ? kNewest : 0) | (s.twin_ns != kNoTime ? kTwin : 0) |
                  (s.armed_ns != kNoTime ? kArmed : 0) | (s.late_run ? kLateRun : 0);
  Put<uint8_t>(&out_, flags);
  if (flags & kPending) {
    Put<int64_t>(&out_, s.pending_since_ns);
    Put<double>(&out_, s.pending_value);
  }
  if (flags & kNewest) {
    Put<int64_t>(&out_, s.newest_ns);
    Put<double>(&out_, s.newest_value);
  }
  if (flags & kTwin) {
    Put<int64_t>(&out_, s.twin_ns);
    Put<double>(&out_, s.twin_value);
  }
  if (flags & kArmed) Put<int64_t>(&out_, s.armed_ns);
  if (flags & kLateRun) Put<int64_t>(&out_, s.late_prev_ns);
  Put<uint32_t>(&out_, static_cast<uint32_t>(s.window.size()));
  for (const auto& [ts, v] : s.window) {
    Put<int64_t>(&out_, ts);
    Put<double>(&out_, v);
  }
}

std::string RuleStateEncoder::Finish() && {
  std::memcpy(out_.data() + 5, &count_, sizeof(count_));
  Put<uint32_t>(&out_, codec::Crc32c(out_.data(), out_.size()));
  return std::move(out_);
}

absl::StatusOr<std::vector<SavedRuleState>> DecodeRuleStates(std::string_view data) {
  auto bad = [](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("rule evaluator state: ", why));
  };
  if (data.size() < 4 + 1 + 4 + 4) return bad("too short");
  if (std::memcmp(data.data(), kMagic, 4) != 0) return bad("bad magic");
  uint32_t stored_crc;
  std::memcpy(&stored_crc, data.data() + data.size() - 4, 4);
  std::string_view body = data.substr(0, data.size() - 4);
  if (codec::Crc32c(body.data(), body.size()) != stored_crc) {
    return absl::DataLossError("rule evaluator state: checksum mismatch (corrupt state)");
  }
  Reader r(body.substr(4));
  uint8_t version;
  uint32_t count;
  r.Get(&version);
  if (version != kVersion) return bad(absl::StrCat("unknown version ", version));
  r.Get(&count);
  if (count > r.remaining() / kMinRuleBytes) return bad("rule count past the end");
  std::vector<SavedRuleState> out(count);
  for (SavedRuleState& saved : out) {
    RuleState& s = saved.state;
    uint8_t flags;
    if (!r.Get(&saved.rule_id) || !r.Get(&saved.kind) || !r.Get(&saved.fingerprint) ||
        !r.Get(&flags)) {
      return bad("truncated");
    }
    if (flags & ~kKnownFlags) return bad("unknown flags");
    s.active = flags & kActive;
    bool ok = true;
    if (flags & kPending) ok = ok && r.Get(&s.pending_since_ns) && r.Get(&s.pending_value);
    if (flags & kNewest) ok = ok && r.Get(&s.newest_ns) && r.Get(&s.newest_value);
    if (flags & kTwin) ok = ok && r.Get(&s.twin_ns) && r.Get(&s.twin_value);
    if (flags & kArmed) ok = ok && r.Get(&s.armed_ns);
    if (flags & kLateRun) {
      s.late_run = true;
      ok = ok && r.Get(&s.late_prev_ns);
    }
    uint32_t window_size = 0;
    ok = ok && r.Get(&window_size);
    if (!ok || window_size > r.remaining() / 16) return bad("truncated");
    for (uint32_t i = 0; i < window_size; ++i) {
      int64_t ts = 0;
      double v = 0;
      r.Get(&ts);
      r.Get(&v);
      s.window.emplace_back(ts, v);
    }
  }
  if (r.remaining() != 0) return bad("trailing bytes");
  return out;
}

}  // namespace historian::events
