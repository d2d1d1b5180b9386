#include "storage/head/head.h"

#include <algorithm>
#include <cmath>

#include "storage/engine/columns.h"

namespace historian {
Head::Charge Head::ChargeOf(const HeadState& t) {
  Charge c{0, 0};
  for (const HeadBuffer* b : {t.head.get(), t.sealing.get()}) {
    if (b == nullptr) continue;
    c.samples += b->cols.size();
    c.bytes += b->MemoryBytes();
  }
  return c;
}

void Head::Recount(const HeadState& t, Charge before) {
  const bool was_over = OverBudget();
  const Charge now = ChargeOf(t);
  unsealed_samples_ = unsealed_samples_ + now.samples - before.samples;
  bytes_ = bytes_ + now.bytes - before.bytes;
  if (was_over && !OverBudget()) room_.SignalAll();
}

uint64_t Head::ExcessBytes() const {
  if (!OverBudget()) return 0;
  return bytes_ - max_bytes_ / 4 * 3;
}

void Head::ApplyDeadband(HeadState& t, double deadband, codec::ChunkColumns* cols) {
  if (!t.deadband) t.deadband = std::make_unique<HeadState::DeadbandState>();
  HeadState::DeadbandState& d = *t.deadband;
  codec::ChunkColumns& in = *cols;
  in.versions.assign(in.size(), 0);  // set for real after this
  codec::ChunkColumns kept;
  kept.Reset(in.type);
  for (size_t i = 0; i < in.size(); ++i) {
    const int64_t ts = in.timestamps[i];
    const double v =
        in.type == ValueType::kDouble ? in.doubles[i] : static_cast<double>(in.ints[i]);
    const uint32_t q = in.qualities[i];
    bool keep = !d.has_last || ts <= d.last_ts || q != d.last_quality ||
                !(std::fabs(v - d.last_value) <= deadband);
    if (!keep) {
      d.held.Reset(in.type);
      engine::AppendSample(in, i, &d.held);
      d.has_held = true;
      continue;
    }
    if (ts > d.last_ts || !d.has_last) {
      // The held-back sample goes first, so the trend keeps its shape.
      if (d.has_held && (kept.size() == 0 || d.held.timestamps[0] > kept.timestamps.back())) {
        engine::AppendSample(d.held, 0, &kept);
      }
      d.has_held = false;
      d.has_last = true;
      d.last_ts = ts;
      d.last_value = v;
      d.last_quality = q;
    }
    engine::AppendSample(in, i, &kept);
  }
  in = std::move(kept);
}

void Head::Append(TagId id, HeadState& t, ValueType type, const codec::ChunkColumns& cols,
                  const std::string* origin, uint64_t seq, int64_t now) {
  // Only the head changes here: its bytes are charged, the sealing
  // buffer's are not read (a cache miss per append).
  const size_t head_before = HeadSamples(t);
  const size_t bytes_before = HeadBytes(t);
  if (!t.head) {
    tags_in_memory_.insert(id);
    t.head = std::make_unique<HeadBuffer>(type);
    t.head->started_ns = now;
    if (t.last_head_samples > 0) t.head->cols.Reserve(t.last_head_samples);
  }
  t.head->cols.Append(cols, 0, cols.size());
  // Before the charge: a new origin or a gap in its sequences grows `seqs`,
  // which MemoryBytes counts (charged late, a later Forget or seal would
  // refund more than was charged and wrap the total).
  NoteOriginSeq(&t.head->seqs, origin, seq);
  unsealed_samples_ += t.head->cols.size() - head_before;
  bytes_ = bytes_ + t.head->MemoryBytes() - bytes_before;
  if (seal_at_samples_ != 0 && head_before < seal_at_samples_ &&
      t.head->cols.size() >= seal_at_samples_) {
    seal_wanted_ = true;
  }
  ++t.applies;
  if (t.latest) {
    // Same rule as reads: a later timestamp, or the same one with a
    // version at least as high (later application wins ties).
    codec::ChunkColumns& l = *t.latest;
    const codec::ChunkColumns& c = cols;
    size_t best = c.size();
    for (size_t i = 0; i < c.size(); ++i) {
      int64_t ts = best == c.size() ? l.timestamps[0] : c.timestamps[best];
      Version v = best == c.size() ? l.versions[0] : c.versions[best];
      if (c.timestamps[i] > ts || (c.timestamps[i] == ts && c.versions[i] >= v)) {
        best = i;
      }
    }
    if (best != c.size()) {
      l.Reset(l.type);
      engine::AppendSample(c, best, &l);
    }
  }
}

void Head::FilterHead(
    TagId id, HeadState& t,
    absl::FunctionRef<bool(const codec::ChunkColumns& all, codec::ChunkColumns* kept)> filter) {
  if (!t.head) return;
  codec::ChunkColumns all, kept;
  all.Reset(t.head->cols.type());
  t.head->cols.CopyAll(&all);
  if (!filter(all, &kept)) return;
  const Charge before = ChargeOf(t);
  auto head = std::make_unique<HeadBuffer>(t.head->cols.type());
  head->cols.Append(kept, 0, kept.size());
  head->seqs = t.head->seqs;
  head->started_ns = t.head->started_ns;
  t.head = kept.size() > 0 ? std::move(head) : nullptr;
  Recount(t, before);
  if (!t.head && !t.sealing) tags_in_memory_.erase(id);
}

void Head::Forget(TagId id, HeadState& t) {
  tags_in_memory_.erase(id);
  if (!t.head) return;
  const Charge before = ChargeOf(t);
  t.head.reset();
  Recount(t, before);
}

bool Head::SealDue(const HeadState& t, bool force, size_t max_samples, int64_t now,
                   int64_t max_age) const {
  if (!t.head) return false;
  size_t n = t.head->cols.size();
  return force || n >= max_samples || now - t.head->started_ns >= max_age;
}

HeadBuffer* Head::StartSeal(HeadState& t, size_t chunk_max_samples) {
  if (t.sealing || !t.head) return nullptr;
  const Charge before = ChargeOf(t);
  t.head->cols.Normalize();  // may drop duplicates
  Recount(t, before);
  t.last_head_samples =
      static_cast<uint32_t>(std::min<size_t>(t.head->cols.size(), chunk_max_samples));
  t.sealing = std::move(t.head);
  return t.sealing.get();
}

void Head::EndSeal(TagId id, HeadState& t, bool written, int64_t now) {
  const Charge before = ChargeOf(t);
  if (!written) {
    // Put the samples back in front of the head: nothing is lost, the next
    // pass retries.
    std::unique_ptr<HeadBuffer> merged = std::move(t.sealing);
    if (t.head) {
      merged->cols.Append(t.head->cols);
      for (const auto& r : t.head->seqs) {
        NoteOriginSeq(&merged->seqs, r.origin, r.min_seq);
        NoteOriginSeq(&merged->seqs, r.origin, r.max_seq);
      }
    }
    merged->started_ns = now;
    t.head = std::move(merged);
  }
  t.sealing.reset();
  Recount(t, before);
  if (!t.head) tags_in_memory_.erase(id);
}

void Head::CopyUnsealed(HeadState& t, ValueType type, int64_t start, int64_t end,
                        codec::ChunkColumns* sealing, codec::ChunkColumns* head,
                        size_t max_samples) {
  sealing->Reset(type);
  head->Reset(type);
  if (t.head) {
    const Charge before = ChargeOf(t);
    t.head->cols.Normalize();  // may drop duplicates
    Recount(t, before);
    t.head->cols.CopyRange(start, end, head, max_samples);
  }
  if (t.sealing) t.sealing->cols.CopyRange(start, end, sealing, max_samples);
}

int64_t Head::UnsealedFrom(const HeadState& t, int64_t from) const {
  if (t.head) {
    from = std::min(from, t.head->cols.MinTimestamp());
  }
  if (t.sealing) from = std::min(from, t.sealing->cols.MinTimestamp());
  return from;
}

int64_t Head::UnsealedBefore(const HeadState& t, int64_t ts) const {
  int64_t from = kMaxTimestamp;
  for (const HeadBuffer* b : {t.head.get(), t.sealing.get()}) {
    if (b == nullptr) continue;
    // The smallest timestamp is below ts when any is.
    const int64_t x = b->cols.MinTimestamp();
    if (x < ts) from = std::min(from, x);
  }
  return from;
}

void Head::CacheLatest(HeadState& t, uint32_t ticket, const codec::ChunkColumns& newest) {
  if (newest.size() == 1 && t.applies == ticket && !t.latest) {
    t.latest = std::make_unique<codec::ChunkColumns>(newest);
  }
}

void Head::LimitTrim(const HeadState& t, std::map<std::string, uint64_t>* limit) const {
  for (const HeadBuffer* buffer : {t.head.get(), t.sealing.get()}) {
    if (buffer == nullptr) continue;
    for (const OriginSeqRange& r : buffer->seqs) {
      auto it = limit->find(*r.origin);
      if (it != limit->end()) it->second = std::min(it->second, r.min_seq);
    }
  }
}

void Head::AddMemory(const HeadState& t, HeadMemory* m) const {
  for (const HeadBuffer* b : {t.head.get(), t.sealing.get()}) {
    if (b == nullptr) continue;
    m->samples += b->cols.size();
    m->bytes += b->MemoryBytes();
  }
  if (t.head || t.sealing) ++m->tags;
}

}  // namespace historian
