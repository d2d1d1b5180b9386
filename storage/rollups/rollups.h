// File: rollups.h
// Rollups: per tag and hour, the aggregate of its sealed samples (rollups
// CF), which queries over long ranges read instead of the samples; stored
// as one day record per tag and UTC day (engine/rollup_day.h). Only hours
// that pay get one: an hour with fewer than `min_samples` sealed samples has
// none, and a day whose hours' rollups hold fewer than `min_day_samples`
// samples in total has no record; a query reads their raw samples instead
// (a missing hour never means "empty"; docs/query.md, "Rollups"). A day
// record, when there is one, holds every hour of its day that pays (but
// hours still dirty): a rewrite of some hours of a day without a record
// computes the day's other hours from the chunks.
//
// A change to sealed samples (a seal, a retention drop, a purge) first puts
// a dirty marker (rollup_dirty/<tag> = [min ts, max ts] in the state CF) in
// the batch that changes them, then Recompute rewrites the hours from the
// chunks (read-modify-write of their day records) and removes the marker; a
// crash in between leaves the marker for the next open (LoadDirty). One
// marker per tag: MarkDirty widens it to cover what is still dirty, and a
// rewrite removes only the hours it rewrote (a range whose rewrite failed
// stays dirty until rewritten; DirtyFrom). The per-tag in-memory bound
// (ChunkState::rollup_dirty_min) is kept by the store, under its mu.
//
// A seal usually only appends: AfterSeal then continues the tag's newest
// hour from the samples just sealed (an in-memory RollupBuilder per tag,
// the "open hour") instead of decoding the hour's chunks again; the result
// is bit for bit what Recompute writes. The open hour is only trusted while
// it is known to hold every sealed sample of its hour and nothing is sealed
// after it: it is dropped by every MarkDirty but the seal's own and by every
// Recompute, kept only for hours that pay, and checked against the day's
// record before use (or, for a day kept below min_day_samples, that it
// still has none) (docs/storage.md, "Rollups").
//
// Thread-safety: Read from any thread. Recompute, AfterSeal and
// MigrateHourRecords one at a time (a day record is read, changed and
// written back): callers hold the store's seal_mu, as for MarkDirty (the
// marker it puts covers what is still dirty). open_ (a cache, hence
// mutable) and dirty_ (the markers' ranges) are guarded by open_mu_, taken
// with no other lock held inside it.
#ifndef HISTORIAN_STORAGE_ROLLUPS_ROLLUPS_H_
#define HISTORIAN_STORAGE_ROLLUPS_ROLLUPS_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "api/core/types.h"
#include "rocksdb/write_batch.h"
#include "storage/chunks/chunk_store.h"
#include "storage/engine/rocks_db.h"
#include "storage/engine/rollup.h"
#include "storage/engine/rollup_day.h"

namespace historian {

// Which rollups are stored (Rollups' header comment). Both >= 1.
struct RollupThresholds {
  uint64_t min_samples = engine::kDefaultRollupMinSamples;
  uint64_t min_day_samples = engine::kDefaultRollupMinDaySamples;
};

class Rollups {
 public:
  // `db` and `chunks` outlive this. Hours with fewer than
  // `limits.min_samples` sealed samples get no rollup, days whose hours'
  // rollups hold fewer than `limits.min_day_samples` no record (values
  // below 1 count as 1). `fault` (tests only, may be empty) is called
  // before each Recompute and AfterSeal; a non-OK status fails it before
  // anything is written.
  Rollups(engine::RocksDb* db, const ChunkStore* chunks, RollupThresholds limits = {},
          std::function<absl::Status(TagId)> fault = nullptr)
      : db_(db),
        chunks_(chunks),
        min_samples_(std::max<uint64_t>(limits.min_samples, 1)),
        min_day_samples_(std::max<uint64_t>(limits.min_day_samples, 1)),
        fault_(std::move(fault)) {}
  Rollups(const Rollups&) = delete;
  Rollups& operator=(const Rollups&) = delete;

  // The dirty marker of `tag` for [min_ts, max_ts] into `batch`. Drops the
  // tag's open hour unless `seal` (the seal that calls AfterSeal next).
  void MarkDirty(TagId tag, int64_t min_ts, int64_t max_ts, rocksdb::WriteBatch* batch,
                 bool seal = false) const;

  // Rewrites the rollups of `tag` (of `type`; its widest chunk span
  // `max_span`) for every hour that meets [min_ts, max_ts], from sealed
  // chunks, and removes the dirty marker, in one batch. String tags have
  // none: only the marker goes.
  absl::Status Recompute(TagId tag, ValueType type, int64_t max_span, int64_t min_ts,
                         int64_t max_ts) const;

  // Before a seal's batch with `sealed` (non-empty) is written: when `tag`
  // has no open hour and no chunk holds a sample at or after the hour of
  // sealed's first sample (a tag's first seal since open), opens that hour
  // empty, so AfterSeal reads no chunk.
  void BeforeSeal(TagId tag, int64_t max_span, const codec::ChunkColumns& sealed) const;
  // What Recompute(tag, type, max_span, front, back) does after a seal wrote
  // `sealed` (its samples, strictly increasing), but from `sealed` alone
  // when they all come after the tag's open hour; then the tag's newest
  // hour becomes its open hour.
  absl::Status AfterSeal(TagId tag, ValueType type, int64_t max_span,
                         const codec::ChunkColumns& sealed) const;
  // Drops the open hour of `tag` (its sealed samples changed another way).
  void Forget(TagId tag) const;
  // The first time of `tag` whose rollups its dirty marker still covers
  // (a rewrite that failed, or one not run yet), or kMaxTimestamp: reads
  // must not trust rollups of hours from there on.
  int64_t DirtyFrom(TagId tag) const;

  // The markers in the state CF (left by a crash), as (tag, min ts, max ts).
  struct Dirty {
    TagId tag;
    int64_t min_ts;
    int64_t max_ts;
  };
  absl::Status LoadDirty(std::vector<Dirty>* out) const;
  // The ranges the markers hold now (in memory, no read): after a seal
  // pass, those a rewrite failed to clear (Store: retried by the sealer).
  std::vector<Dirty> DirtyRanges() const;

  // The hour rollups of `tag` (width must be engine::kRollupHour) whose
  // bucket starts in [start, end), in bucket order. An hour without one may
  // still hold samples: read it raw.
  absl::Status Read(TagId tag, int64_t width, int64_t start, int64_t end,
                    std::vector<std::pair<int64_t, engine::Rollup>>* out) const;

  // Rewrites the rollups of data dirs written before day records (one key
  // per tag and hour, width kRollupHour; also drops keys of other widths,
  // which no reader uses) as day records, keeping the hours that pay; each
  // day in one batch with the deletion of its hour keys, so it can be
  // interrupted and run again. Run at open, before anything reads rollups.
  absl::Status MigrateHourRecords() const;

 private:
  // Puts into `batch` the day records of `tag` (widest chunk span
  // `max_span`) for the days meeting [from, to) (hour starts): their hours
  // outside [from, to) kept (computed from the chunks when the day has no
  // record), those inside replaced by `fresh` (increasing, all inside
  // [from, to)); a day below min_day_samples gets none. `recorded` (may be
  // null) receives the days that have a record afterwards.
  absl::Status ReplaceHours(TagId tag, int64_t max_span, int64_t from, int64_t to,
                            const std::vector<engine::HourRollup>& fresh,
                            rocksdb::WriteBatch* batch, std::vector<int64_t>* recorded) const;
  // The rollups of the hours of `tag` that pay in [from, to) (hour starts),
  // from its sealed chunks, appended to `out` in hour order.
  absl::Status HoursFromChunks(TagId tag, int64_t max_span, int64_t from, int64_t to,
                               std::vector<engine::HourRollup>* out) const;

  // The newest hour of a tag with a rollup record: every sealed sample of
  // the tag in [hour, hour + 1h) went into `builder`, and none is sealed
  // after builder.last_ts(). Or (BeforeSeal) an empty builder: no sample is
  // sealed at or after `hour`.
  struct OpenHour {
    int64_t hour = 0;
    engine::RollupBuilder builder;
    // Whether its day had a record when it was kept (false: the day was
    // below min_day_samples and must still have none).
    bool recorded = true;
    // The first time a seal may start at to continue it.
    int64_t next() const { return builder.count() == 0 ? hour : builder.last_ts() + 1; }
  };

  // Recompute without touching open_; with `last` (may stay empty), also
  // the builder of the last hour with samples in the whole hours that meet
  // [min_ts, max_ts].
  absl::Status RecomputeHours(TagId tag, ValueType type, int64_t max_span, int64_t min_ts,
                              int64_t max_ts, std::optional<OpenHour>* last) const;
  // Whether `open` agrees with the stored record of its hour.
  absl::Status MatchesRecord(TagId tag, const OpenHour& open, bool* matches) const;
  // Whether a chunk of `tag` (widest span max_span) holds a sample after ts
  // (a chunk that cannot be read counts as one).
  absl::Status SealedAfter(TagId tag, int64_t ts, int64_t max_span, bool* after) const;
  void Keep(TagId tag, const OpenHour& open) const;

  struct Range {
    int64_t min_ts;
    int64_t max_ts;
  };
  // Puts into `batch` what the tag's marker becomes once the hours
  // [from, to) are rewritten: deleted when they cover it, else what stays
  // dirty (the whole marker when [from, to) lies strictly inside it).
  // Returns that (none: deleted); Cleared records it once `batch` is
  // written.
  std::optional<Range> ClearDirty(TagId tag, int64_t from, int64_t to,
                                  rocksdb::WriteBatch* batch) const;
  void Cleared(TagId tag, const std::optional<Range>& left) const;

  engine::RocksDb* const db_;
  const ChunkStore* const chunks_;
  const uint64_t min_samples_;
  const uint64_t min_day_samples_;
  const std::function<absl::Status(TagId)> fault_;
  mutable absl::Mutex open_mu_;
  mutable absl::flat_hash_map<TagId, OpenHour> open_ ABSL_GUARDED_BY(open_mu_);
  // Per tag, the range its rollup_dirty/ marker holds (LoadDirty, MarkDirty,
  // then what a rewrite leaves of it); no entry: no marker.
  mutable absl::flat_hash_map<TagId, Range> dirty_ ABSL_GUARDED_BY(open_mu_);
};

}  // namespace historian

#endif  // HISTORIAN_STORAGE_ROLLUPS_ROLLUPS_H_
