// File: storage/head/head.h
// Head: the unsealed samples of every tag in memory. Per tag a head buffer
// (open, takes applied samples in any order), a sealing buffer (taken from
// the head while the sealer writes it as chunks), the cached newest sample
// and the deadband filter state; across tags, which tags hold buffers.
#ifndef HISTORIAN_STORAGE_HEAD_HEAD_H_
#define HISTORIAN_STORAGE_HEAD_HEAD_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "api/core/types.h"
#include "storage/codec/chunk_codec.h"
#include "storage/head/head_buffer.h"

namespace historian {

// The head's fields of a tag's record (the store's TagState derives from
// it, so the one lookup of a tag finds them). The buffers exist only while
// they hold samples, so an idle tag costs a few words. Guarded by the lock
// of the Head that owns the tag.
struct HeadState {
  std::unique_ptr<HeadBuffer> head;
  // Taken from head and being written as chunks; reads include it.
  std::unique_ptr<HeadBuffer> sealing;
  // The newest sample (1 sample) once a Latest call has looked it up; kept
  // current by every apply, so Latest of many tags is a memory copy.
  std::unique_ptr<codec::ChunkColumns> latest;
  // Samples of the last head sealed: the next head reserves as much.
  uint32_t last_head_samples = 0;
  // Bumped by every apply, to detect a racing lookup. 32 bits (next to
  // last_head_samples: one word per tag): a lookup would have to race 2^32
  // applies of its tag to be fooled.
  uint32_t applies = 0;
  // Deadband filter state (tags with a deadband): the last stored sample and
  // the last one held back. Rebuilt empty after a restart (the first sample
  // is then stored).
  struct DeadbandState {
    bool has_last = false;
    int64_t last_ts = 0;
    double last_value = 0;
    uint32_t last_quality = 0;
    bool has_held = false;
    codec::ChunkColumns held;  // 1 sample
  };
  std::unique_ptr<DeadbandState> deadband;
};

// Head memory, summed over tags (Store::Stats).
struct HeadMemory {
  uint64_t samples = 0;
  uint64_t bytes = 0;
  uint64_t tags = 0;  // tags with a head or sealing buffer
};

// The heads of one store. Each method works on the HeadState of one tag,
// which the caller found (one lookup per tag), and keeps the set of tags
// holding buffers in step.
//
// Thread-safety: every HeadState, the set and the sample and byte counts
// are guarded by the store-wide `mu`, given to the constructor (the lock
// can later be striped by tag); AwaitRoom waits on a CondVar with mu.
// One exception: the sealer reads a sealing buffer's samples without mu
// between StartSeal and EndSeal, as nothing else changes it meanwhile.
class Head {
 public:
  explicit Head(absl::Mutex& mu) : mu_(mu) {}
  Head(const Head&) = delete;
  Head& operator=(const Head&) = delete;

  absl::Mutex& mu() const ABSL_LOCK_RETURNED(mu_) { return mu_; }

  // --- Apply ---

  // Filters `cols` (samples of a tag with deadband `deadband` > 0, double
  // or int64) in place: a sample within the deadband of the last stored one
  // (same quality, later time) is held back; a held-back sample is stored
  // before the next one kept, so the trend keeps its shape. Sets every
  // version to 0 (the caller stamps them after).
  void ApplyDeadband(HeadState& t, double deadband, codec::ChunkColumns* cols)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends `cols` (at least one sample, of the tag's `type`) of log entry
  // `seq` of `origin` to the head of tag `id`, creating it (started at
  // `now`) when there is none, and keeps the cached newest sample current.
  void Append(TagId id, HeadState& t, ValueType type, const codec::ChunkColumns& cols,
              const std::string* origin, uint64_t seq, int64_t now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Calls filter(all, &kept) with the head's samples of tag `id` (sorted
  // or not); when it returns true, the head keeps only `kept` (a subset),
  // with its sequence ranges and start time, and goes when `kept` is empty.
  // Nothing when the tag has no head. (After a delete.)
  void FilterHead(
      TagId id, HeadState& t,
      absl::FunctionRef<bool(const codec::ChunkColumns& all, codec::ChunkColumns* kept)> filter)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- Sealing ---

  // True when the tag's head is due for a seal: `force` and a head, or a
  // head of at least `max_samples` samples or started at or before
  // `now - max_age`.
  bool SealDue(const HeadState& t, bool force, size_t max_samples, int64_t now,
               int64_t max_age) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes the tag's head (sorted) into its sealing buffer and returns that;
  // nullptr when there is no head or a seal of the tag is under way. The
  // tag's next head reserves as many samples, up to `chunk_max_samples`.
  HeadBuffer* StartSeal(HeadState& t, size_t chunk_max_samples) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True between StartSeal and EndSeal.
  bool SealUnderWay(const HeadState& t) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return t.sealing != nullptr;
  }
  // Ends the seal of tag `id`: drops the sealing buffer, or, when the seal
  // failed (`written` false), puts its samples back in front of the head
  // (restarted at `now`), so nothing is lost and the next pass retries.
  void EndSeal(TagId id, HeadState& t, bool written, int64_t now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- Reads ---

  // Copies the samples of the sealing buffer and of the head (sorted first)
  // in [start, end) into *sealing and *head, both reset to `type`: the first
  // max_samples of each (0: all), which hold the first max_samples of their
  // merge, as each is strictly increasing.
  void CopyUnsealed(HeadState& t, ValueType type, int64_t start, int64_t end,
                    codec::ChunkColumns* sealing, codec::ChunkColumns* head, size_t max_samples = 0)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The smallest of `from` and the tag's unsealed timestamps.
  int64_t UnsealedFrom(const HeadState& t, int64_t from) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The smallest unsealed timestamp before `ts`; kMaxTimestamp when none.
  int64_t UnsealedBefore(const HeadState& t, int64_t ts) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- The newest sample (Latest) ---

  // The cached newest sample; nullptr when not looked up yet.
  const codec::ChunkColumns* CachedLatest(const HeadState& t) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return t.latest.get();
  }
  // Taken before a lookup of the newest sample without mu; CacheLatest
  // keeps the result only if no apply came in between.
  uint32_t LatestTicket(const HeadState& t) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return t.applies;
  }
  // Caches `newest` (1 sample) unless an apply or invalidation came after
  // `ticket` or it is cached already.
  void CacheLatest(HeadState& t, uint32_t ticket, const codec::ChunkColumns& newest)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets the cached newest sample (samples were removed) and fails
  // lookups under way.
  void InvalidateLatest(HeadState& t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    t.latest.reset();
    ++t.applies;
  }

  // --- Across tags ---

  // Tags with a head or a sealing buffer: the sealer's passes walk these
  // instead of every tag, so an idle catalog costs them nothing.
  const absl::flat_hash_set<TagId>& tags_in_memory() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return tags_in_memory_;
  }
  // Tag `id` left the store (its state is kept but no longer walked): its
  // head goes (the tag's samples are deleted, and a head no pass walks
  // would hold its memory, and the bound, for good). Deletes are applied
  // holding seal_mu, so no seal of the tag is under way.
  void Forget(TagId id, HeadState& t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Lowers each origin's entry of *limit (log entries below it may be
  // trimmed) to the lowest sequence the tag's buffers hold samples of.
  // Origins not in *limit are left out.
  void LimitTrim(const HeadState& t, std::map<std::string, uint64_t>* limit) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds the tag's buffers to *m.
  void AddMemory(const HeadState& t, HeadMemory* m) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- Memory budget (--max_head_bytes) ---

  // The heads' bytes are what their buffers hold on the heap
  // (HeadBuffer::MemoryBytes: the struct, the closed encoded blocks, the
  // raw tail's columns, the sequence ranges), summed as they change: every
  // change of a head or sealing buffer is charged here, so the sum is exact
  // at any moment and costs no walk.
  //
  // Heads should hold at most `max_bytes` (0: no bound): writers wait while
  // they hold more (Store::AwaitHeadRoom, AwaitRoom) and the sealer seals
  // the largest heads early (ExcessBytes). With a bound, a head reaching
  // `seal_at` samples asks for a seal pass now (TakeSealWanted) instead of
  // at the next tick; without one, sealing keeps to the ticks.
  void SetLimits(uint64_t max_bytes, size_t seal_at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    max_bytes_ = max_bytes;
    seal_at_samples_ = max_bytes == 0 ? 0 : seal_at;
  }
  uint64_t max_bytes() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return max_bytes_; }
  // Samples in every head and sealing buffer.
  uint64_t unsealed_samples() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return unsealed_samples_; }
  // Heap bytes of every head and sealing buffer (the sum AddMemory walks).
  uint64_t bytes() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return bytes_; }
  // True when the heads hold the budget or more: new writes wait.
  bool OverBudget() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return max_bytes_ != 0 && bytes_ >= max_bytes_;
  }
  // Over the budget: how many bytes a seal pass should take out of the
  // heads (down to 3/4 of the budget, so writers do not wake and wait on
  // every seal). 0 while within it.
  uint64_t ExcessBytes() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Samples in the tag's open head (not its sealing buffer).
  size_t HeadSamples(const HeadState& t) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return t.head ? t.head->cols.size() : 0;
  }
  // Bytes of the tag's open head (not its sealing buffer).
  size_t HeadBytes(const HeadState& t) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return t.head ? t.head->MemoryBytes() : 0;
  }
  // True once since a head reached seal_at samples or the heads went over
  // the budget; the caller wakes the sealer.
  bool TakeSealWanted() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const bool wanted = seal_wanted_ || OverBudget();
    seal_wanted_ = false;
    return wanted;
  }
  // Waits (releasing mu) until the heads go from over the budget to within
  // it (a seal, a delete), or WakeWaiters; may return early. No timeout:
  // the change that frees the memory signals it.
  void AwaitRoom() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { room_.Wait(&mu_); }
  // Wakes every AwaitRoom (the store closes, a seal pass failed).
  void WakeWaiters() { room_.SignalAll(); }

 private:
  // The tag's buffered samples and bytes, before a change.
  struct Charge {
    size_t samples;
    size_t bytes;
  };
  static Charge ChargeOf(const HeadState& t);
  // Adds the change of the tag's buffers since `before` to the totals, and
  // wakes the waiters when the heads went back within the budget.
  void Recount(const HeadState& t, Charge before) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex& mu_;
  absl::flat_hash_set<TagId> tags_in_memory_ ABSL_GUARDED_BY(mu_);
  uint64_t unsealed_samples_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t max_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  size_t seal_at_samples_ ABSL_GUARDED_BY(mu_) = 0;
  bool seal_wanted_ ABSL_GUARDED_BY(mu_) = false;
  // Signalled when bytes_ drops from at or over max_bytes_ to below it.
  absl::CondVar room_;
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_HEAD_HEAD_H_
