// Rollups: dirty markers, recompute from sealed chunks into day records,
// reads, and the migration of hour records.
#include "storage/rollups/rollups.h"

#include <algorithm>
#include <map>
#include <memory>
#include <string>

#include "api/core/status_macros.h"
#include "storage/codec/chunk_codec.h"
#include "storage/engine/key_format.h"

namespace historian {

namespace {

// A rollup key: tag, width, bucket start (engine::RollupKey).
constexpr size_t kRollupKeySize = 24;
// Day records per migration batch.
constexpr size_t kMigrateBatchDays = 1024;

using engine::HourRollup;
using engine::kRollupDay;
using engine::kRollupHour;

}  // namespace

void Rollups::MarkDirty(TagId tag, int64_t min_ts, int64_t max_ts, rocksdb::WriteBatch* batch,
                        bool seal) const {
  if (!seal) Forget(tag);
  Range marked;
  {
    absl::MutexLock l(&open_mu_);
    // One marker per tag: it covers what an earlier rewrite left dirty
    // (it failed) too. If `batch` is not written, dirty_ is merely wider.
    auto [it, fresh] = dirty_.try_emplace(tag, Range{min_ts, max_ts});
    if (!fresh) {
      it->second.min_ts = std::min(it->second.min_ts, min_ts);
      it->second.max_ts = std::max(it->second.max_ts, max_ts);
    }
    marked = it->second;
  }
  batch->Put(db_->state(), engine::RollupDirtyKey(tag),
             EncodeTimeRange(marked.min_ts, marked.max_ts));
}

std::optional<Rollups::Range> Rollups::ClearDirty(TagId tag, int64_t from, int64_t to,
                                                  rocksdb::WriteBatch* batch) const {
  std::optional<Range> left;
  {
    absl::MutexLock l(&open_mu_);
    if (auto it = dirty_.find(tag); it != dirty_.end()) left = it->second;
  }
  if (left.has_value()) {
    // Only the sample range has rollups.
    left->min_ts = std::max(left->min_ts, kMinSampleTimestamp);
    left->max_ts = std::min(left->max_ts, kMaxSampleTimestamp);
    if (left->min_ts > left->max_ts) {
      left.reset();
    } else if (from < to && left->min_ts < to && left->max_ts >= from) {
      // What stays dirty around [from, to); both sides: all of it.
      const bool before = left->min_ts < from, after = left->max_ts >= to;
      if (!before && !after) {
        left.reset();
      } else if (!after) {
        left->max_ts = from - 1;
      } else if (!before) {
        left->min_ts = to;
      }
    }
  }
  if (left.has_value()) {
    batch->Put(db_->state(), engine::RollupDirtyKey(tag),
               EncodeTimeRange(left->min_ts, left->max_ts));
  } else {
    batch->Delete(db_->state(), engine::RollupDirtyKey(tag));
  }
  return left;
}

void Rollups::Cleared(TagId tag, const std::optional<Range>& left) const {
  absl::MutexLock l(&open_mu_);
  if (left.has_value()) {
    dirty_[tag] = *left;
  } else {
    dirty_.erase(tag);
  }
}

int64_t Rollups::DirtyFrom(TagId tag) const {
  absl::MutexLock l(&open_mu_);
  auto it = dirty_.find(tag);
  return it == dirty_.end() ? kMaxTimestamp : it->second.min_ts;
}

void Rollups::Forget(TagId tag) const {
  absl::MutexLock l(&open_mu_);
  open_.erase(tag);
}

void Rollups::Keep(TagId tag, const OpenHour& open) const {
  absl::MutexLock l(&open_mu_);
  open_[tag] = open;
}

absl::Status Rollups::HoursFromChunks(TagId tag, int64_t max_span, int64_t from, int64_t to,
                                      std::vector<HourRollup>* out) const {
  if (from >= to) return absl::OkStatus();
  codec::ChunkColumns data;
  RETURN_IF_ERROR(chunks_->ReadSealed(tag, from, to, max_span, &data));
  const auto& ts = data.timestamps;
  size_t i = std::lower_bound(ts.begin(), ts.end(), from) - ts.begin();
  while (i < ts.size() && ts[i] < to) {
    const int64_t hour = engine::BucketStart(ts[i], kRollupHour);
    const size_t j = std::lower_bound(ts.begin() + i, ts.end(), hour + kRollupHour) - ts.begin();
    if (j - i >= min_samples_) {
      engine::RollupBuilder b;
      engine::AddToRollup(data, i, j, &b);
      out->emplace_back(hour, b.Finish(hour + kRollupHour));
    }
    i = j;
  }
  return absl::OkStatus();
}

absl::Status Rollups::ReplaceHours(TagId tag, int64_t max_span, int64_t from, int64_t to,
                                   const std::vector<HourRollup>& fresh, rocksdb::WriteBatch* batch,
                                   std::vector<int64_t>* recorded) const {
  const int64_t first_day = engine::BucketStart(from, kRollupDay);
  const int64_t last_day = engine::BucketStart(to - 1, kRollupDay);
  // Every day that has a record or may get one: (day, hours).
  std::map<int64_t, std::vector<HourRollup>> days;
  std::map<int64_t, bool> existed;  // true: a record that could be read
  std::string upper = engine::RollupKey(tag, kRollupDay, last_day + kRollupDay);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(ro, db_->rollups()));
  std::vector<HourRollup> hours;
  for (it->Seek(engine::RollupKey(tag, kRollupDay, first_day)); it->Valid(); it->Next()) {
    if (it->key().size() != kRollupKeySize) continue;
    const int64_t day = engine::ParseRollupKey({it->key().data(), it->key().size()}).bucket_start;
    hours.clear();
    absl::Status s =
        engine::DecodeDayRollups(day, {it->value().data(), it->value().size()}, &hours);
    std::vector<HourRollup>& kept = days[day];
    existed[day] = s.ok();
    // A record that cannot be read is rewritten: its hours outside
    // [from, to) come from the chunks, as for a day without a record.
    if (!s.ok()) continue;
    for (HourRollup& h : hours) {
      if (h.first < from || h.first >= to) kept.push_back(std::move(h));
    }
  }
  RETURN_IF_ERROR(engine::FromRocks(it->status(), "scan rollups"));
  for (int64_t day = first_day; day <= last_day; day += kRollupDay) {
    auto e = existed.find(day);
    if (e != existed.end() && e->second) continue;
    // No record (or none readable): the day was below min_day_samples, or
    // its other hours had none that pay, or were never rewritten. Its
    // hours outside [from, to) may still pay: from the chunks.
    std::vector<HourRollup>& list = days[day];
    RETURN_IF_ERROR(HoursFromChunks(tag, max_span, day, std::max(from, day), &list));
    RETURN_IF_ERROR(
        HoursFromChunks(tag, max_span, std::min(to, day + kRollupDay), day + kRollupDay, &list));
  }
  for (const HourRollup& h : fresh) days[engine::BucketStart(h.first, kRollupDay)].push_back(h);
  for (auto& [day, list] : days) {
    const std::string key = engine::RollupKey(tag, kRollupDay, day);
    uint64_t total = 0;
    for (const HourRollup& h : list) total += h.second.count;
    if (list.empty() || total < min_day_samples_) {
      if (existed.count(day) != 0) batch->Delete(db_->rollups(), key);
      continue;
    }
    std::sort(list.begin(), list.end(),
              [](const HourRollup& a, const HourRollup& b) { return a.first < b.first; });
    batch->Put(db_->rollups(), key, engine::EncodeDayRollups(day, list));
    if (recorded != nullptr) recorded->push_back(day);
  }
  return absl::OkStatus();
}

absl::Status Rollups::Recompute(TagId tag, ValueType type, int64_t max_span, int64_t min_ts,
                                int64_t max_ts) const {
  Forget(tag);
  if (fault_) RETURN_IF_ERROR(fault_(tag));
  return RecomputeHours(tag, type, max_span, min_ts, max_ts, nullptr);
}

absl::Status Rollups::RecomputeHours(TagId tag, ValueType type, int64_t max_span, int64_t min_ts,
                                     int64_t max_ts, std::optional<OpenHour>* last) const {
  // Samples outside the accepted range (left by an older version) have no
  // rollups; their buckets would overflow the bucket arithmetic.
  min_ts = std::max(min_ts, kMinSampleTimestamp);
  max_ts = std::min(max_ts, kMaxSampleTimestamp);
  rocksdb::WriteBatch batch;
  // The hours rewritten: all of them for a string tag (it has none).
  int64_t from = kMinTimestamp, to = kMaxTimestamp;
  if (type != ValueType::kString) from = to = 0;
  if (type != ValueType::kString && min_ts <= max_ts) {
    // The whole hours that meet [min_ts, max_ts] (in the sample range: no
    // overflow).
    from = engine::BucketStart(min_ts, kRollupHour);
    to = engine::BucketStart(max_ts, kRollupHour) + kRollupHour;
    codec::ChunkColumns data;
    RETURN_IF_ERROR(chunks_->ReadSealed(tag, from, to, max_span, &data));
    std::vector<HourRollup> fresh;
    const auto& ts = data.timestamps;
    size_t i = std::lower_bound(ts.begin(), ts.end(), from) - ts.begin();
    while (i < ts.size() && ts[i] < to) {
      OpenHour h;
      h.hour = engine::BucketStart(ts[i], kRollupHour);
      const size_t j =
          std::lower_bound(ts.begin() + i, ts.end(), h.hour + kRollupHour) - ts.begin();
      engine::AddToRollup(data, i, j, &h.builder);
      if (j - i >= min_samples_) {
        fresh.emplace_back(h.hour, h.builder.Finish(h.hour + kRollupHour));
        if (last != nullptr && (j == ts.size() || ts[j] >= to)) *last = std::move(h);
      }
      i = j;
    }
    std::vector<int64_t> recorded;
    RETURN_IF_ERROR(ReplaceHours(tag, max_span, from, to, fresh, &batch, &recorded));
    if (last != nullptr && last->has_value()) {
      (*last)->recorded =
          std::find(recorded.begin(), recorded.end(),
                    engine::BucketStart((*last)->hour, kRollupDay)) != recorded.end();
    }
  }
  const std::optional<Range> left = ClearDirty(tag, from, to, &batch);
  RETURN_IF_ERROR(
      engine::FromRocks(db_->db()->Write(rocksdb::WriteOptions(), &batch), "write rollups"));
  Cleared(tag, left);
  return absl::OkStatus();
}

absl::Status Rollups::AfterSeal(TagId tag, ValueType type, int64_t max_span,
                                const codec::ChunkColumns& sealed) const {
  std::optional<OpenHour> open;
  {
    absl::MutexLock l(&open_mu_);
    if (auto it = open_.find(tag); it != open_.end()) {
      open = std::move(it->second);
      open_.erase(it);  // a failure below leaves none
    }
  }
  if (fault_) RETURN_IF_ERROR(fault_(tag));
  const auto& ts = sealed.timestamps;
  if (ts.empty()) return Recompute(tag, type, max_span, kMaxTimestamp, kMinTimestamp);
  const int64_t min_ts = ts.front(), max_ts = ts.back();
  bool append = open.has_value() && type != ValueType::kString && min_ts >= open->next() &&
                max_ts <= kMaxSampleTimestamp;
  if (append) RETURN_IF_ERROR(MatchesRecord(tag, *open, &append));
  std::optional<OpenHour> last;
  if (!append) {
    // Late data, a first seal, or an open hour not to be trusted: from the
    // chunks, as Recompute.
    RETURN_IF_ERROR(RecomputeHours(tag, type, max_span, min_ts, max_ts, &last));
    if (!last.has_value()) return absl::OkStatus();
    bool after = true;
    RETURN_IF_ERROR(SealedAfter(tag, last->builder.last_ts(), max_span, &after));
    if (!after) Keep(tag, *last);
    return absl::OkStatus();
  }
  // Every sealed sample of the open hour is in open->builder and none
  // comes after it: the hours from the open one on hold what it holds plus
  // `sealed`.
  std::vector<HourRollup> fresh;
  size_t i = 0;
  while (i < ts.size()) {
    OpenHour h;
    h.hour = engine::BucketStart(ts[i], kRollupHour);
    if (h.hour == open->hour) h.builder = open->builder;
    const size_t j = std::lower_bound(ts.begin() + i, ts.end(), h.hour + kRollupHour) - ts.begin();
    engine::AddToRollup(sealed, i, j, &h.builder);
    if (h.builder.count() >= min_samples_) {
      fresh.emplace_back(h.hour, h.builder.Finish(h.hour + kRollupHour));
      if (j == ts.size()) last = std::move(h);
    }
    i = j;
  }
  rocksdb::WriteBatch batch;
  const int64_t from = engine::BucketStart(min_ts, kRollupHour);
  const int64_t to = engine::BucketStart(max_ts, kRollupHour) + kRollupHour;
  std::vector<int64_t> recorded;
  RETURN_IF_ERROR(ReplaceHours(tag, max_span, from, to, fresh, &batch, &recorded));
  if (last.has_value()) {
    last->recorded = std::find(recorded.begin(), recorded.end(),
                               engine::BucketStart(last->hour, kRollupDay)) != recorded.end();
  }
  const std::optional<Range> left = ClearDirty(tag, from, to, &batch);
  RETURN_IF_ERROR(
      engine::FromRocks(db_->db()->Write(rocksdb::WriteOptions(), &batch), "write rollups"));
  Cleared(tag, left);
  if (last.has_value()) Keep(tag, *last);
  return absl::OkStatus();
}

void Rollups::BeforeSeal(TagId tag, int64_t max_span, const codec::ChunkColumns& sealed) const {
  if (sealed.type == ValueType::kString || sealed.size() == 0) return;
  {
    absl::MutexLock l(&open_mu_);
    if (open_.contains(tag)) return;
  }
  const int64_t min_ts = sealed.timestamps.front();
  if (min_ts < kMinSampleTimestamp || min_ts > kMaxSampleTimestamp) return;
  OpenHour open;
  open.hour = engine::BucketStart(min_ts, kRollupHour);
  bool after = true;
  // A read error opens nothing: AfterSeal then reads the chunks.
  if (SealedAfter(tag, open.hour - 1, max_span, &after).ok() && !after) Keep(tag, open);
}

absl::Status Rollups::MatchesRecord(TagId tag, const OpenHour& open, bool* matches) const {
  *matches = false;
  const int64_t day = engine::BucketStart(open.hour, kRollupDay);
  std::string bytes;
  rocksdb::Status s = db_->db()->Get(rocksdb::ReadOptions(), db_->rollups(),
                                     engine::RollupKey(tag, kRollupDay, day), &bytes);
  // An empty open hour must have no record, nor one of a day kept below
  // min_day_samples (its day must still have none).
  const bool empty = open.builder.count() == 0;
  if (s.IsNotFound()) {
    *matches = empty || !open.recorded;
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(engine::FromRocks(s, "read rollups"));
  if (!empty && !open.recorded) return absl::OkStatus();
  std::vector<HourRollup> hours;
  if (!engine::DecodeDayRollups(day, bytes, &hours).ok()) return absl::OkStatus();
  *matches = empty;
  for (const HourRollup& h : hours) {
    if (h.first == open.hour) {
      *matches =
          !empty && engine::SameRollup(h.second, open.builder.Finish(open.hour + kRollupHour));
    }
  }
  return absl::OkStatus();
}

absl::Status Rollups::SealedAfter(TagId tag, int64_t ts, int64_t max_span, bool* after) const {
  *after = false;
  // A chunk that starts up to max_span before ts may reach past it.
  // (ts is in the sample range: ts - kMinSampleTimestamp cannot overflow.)
  const int64_t from = max_span > ts - kMinSampleTimestamp ? kMinTimestamp : ts - max_span;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db()->NewIterator(rocksdb::ReadOptions(), db_->chunks()));
  for (it->Seek(engine::ChunkSeekKey(tag, from)); it->Valid(); it->Next()) {
    if (it->key().size() != engine::kChunkKeySize) continue;
    const engine::ChunkKeyParts key = engine::ParseChunkKey({it->key().data(), it->key().size()});
    if (key.tag != tag) break;
    absl::StatusOr<codec::ChunkSummary> summary =
        codec::SummarizeChunk({it->value().data(), it->value().size()});
    if (key.min_ts > ts || !summary.ok() || summary->max_timestamp > ts) {
      *after = true;
      return absl::OkStatus();
    }
  }
  return engine::FromRocks(it->status(), "scan chunks");
}

std::vector<Rollups::Dirty> Rollups::DirtyRanges() const {
  std::vector<Dirty> out;
  absl::MutexLock l(&open_mu_);
  out.reserve(dirty_.size());
  for (const auto& [tag, range] : dirty_) out.push_back({tag, range.min_ts, range.max_ts});
  return out;
}

absl::Status Rollups::LoadDirty(std::vector<Dirty>* out) const {
  return ForEachTimeRange(*db_, "rollup_dirty/", [&](TagId tag, int64_t min_ts, int64_t max_ts) {
    out->push_back({tag, min_ts, max_ts});
    absl::MutexLock l(&open_mu_);
    dirty_[tag] = Range{min_ts, max_ts};
  });
}

absl::Status Rollups::Read(TagId tag, int64_t width, int64_t start, int64_t end,
                           std::vector<std::pair<int64_t, engine::Rollup>>* out) const {
  out->clear();
  if (width != kRollupHour) {
    return absl::InvalidArgumentError("rollups: only hour buckets are stored");
  }
  // Every bucket starts in the sample range (and the day arithmetic stays
  // inside int64 there).
  start = std::max(start, kMinSampleTimestamp);
  end = std::min(end, kMaxSampleTimestamp);
  if (start >= end) return absl::OkStatus();
  std::string lower = engine::RollupKey(tag, kRollupDay, engine::BucketStart(start, kRollupDay));
  std::string upper = engine::RollupKey(tag, kRollupDay, end);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->db()->NewIterator(ro, db_->rollups()));
  for (it->Seek(lower); it->Valid(); it->Next()) {
    if (it->key().size() != kRollupKeySize) continue;
    const int64_t day = engine::ParseRollupKey({it->key().data(), it->key().size()}).bucket_start;
    const size_t before = out->size();
    RETURN_IF_ERROR(engine::DecodeDayRollups(day, {it->value().data(), it->value().size()}, out));
    // Only the first and the last day may hold hours outside [start, end).
    auto keep_end = std::remove_if(out->begin() + before, out->end(), [&](const HourRollup& h) {
      return h.first < start || h.first >= end;
    });
    out->erase(keep_end, out->end());
  }
  return engine::FromRocks(it->status(), "scan rollups");
}

absl::Status Rollups::MigrateHourRecords() const {
  rocksdb::WriteBatch batch;
  size_t batched = 0;
  auto flush = [&]() -> absl::Status {
    if (batch.Count() == 0) return absl::OkStatus();
    RETURN_IF_ERROR(
        engine::FromRocks(db_->db()->Write(rocksdb::WriteOptions(), &batch), "migrate rollups"));
    batch.Clear();
    batched = 0;
    return absl::OkStatus();
  };
  // The hour records of one (tag, day), collected until the key moves on.
  TagId tag = 0;
  int64_t day = 0;
  std::vector<HourRollup> hours;
  bool open = false;
  auto finish_day = [&]() -> absl::Status {
    if (!open) return absl::OkStatus();
    open = false;
    // A day record may exist already (a run interrupted after its batch
    // cannot leave hour keys of that day, but a newer build may have
    // written the day since): hours of the day record win.
    std::string existing;
    rocksdb::Status s = db_->db()->Get(rocksdb::ReadOptions(), db_->rollups(),
                                       engine::RollupKey(tag, kRollupDay, day), &existing);
    std::map<int64_t, engine::Rollup> merged;
    for (const HourRollup& h : hours) {
      if (h.second.count >= min_samples_) merged[h.first] = h.second;
    }
    uint64_t total = 0;
    if (s.ok()) {
      std::vector<HourRollup> current;
      if (engine::DecodeDayRollups(day, existing, &current).ok()) {
        for (const HourRollup& h : current) merged[h.first] = h.second;
      }
    } else if (!s.IsNotFound()) {
      return engine::FromRocks(s, "read rollups");
    }
    for (const auto& [hour, r] : merged) total += r.count;
    if (!merged.empty() && total >= min_day_samples_) {
      batch.Put(db_->rollups(), engine::RollupKey(tag, kRollupDay, day),
                engine::EncodeDayRollups(day, {merged.begin(), merged.end()}));
    } else if (s.ok()) {
      // Below min_day_samples: the day is read raw.
      batch.Delete(db_->rollups(), engine::RollupKey(tag, kRollupDay, day));
    }
    hours.clear();
    if (++batched >= kMigrateBatchDays) return flush();
    return absl::OkStatus();
  };
  std::unique_ptr<rocksdb::Iterator> it(
      db_->db()->NewIterator(rocksdb::ReadOptions(), db_->rollups()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    if (k.size() != kRollupKeySize) continue;
    const engine::RollupKeyParts key = engine::ParseRollupKey({k.data(), k.size()});
    if (key.width == kRollupDay) continue;
    if (key.width != kRollupHour || key.bucket_start < kMinSampleTimestamp ||
        key.bucket_start > kMaxSampleTimestamp ||
        key.bucket_start != engine::BucketStart(key.bucket_start, kRollupHour)) {
      batch.Delete(db_->rollups(), k);  // a width no reader uses
      continue;
    }
    const int64_t d = engine::BucketStart(key.bucket_start, kRollupDay);
    if (!open || key.tag != tag || d != day) {
      RETURN_IF_ERROR(finish_day());
      tag = key.tag;
      day = d;
      open = true;
    }
    // In the batch that writes its day record.
    batch.Delete(db_->rollups(), k);
    // A record that cannot be read is dropped: its hour is read raw.
    absl::StatusOr<engine::Rollup> r =
        engine::DecodeRollup({it->value().data(), it->value().size()});
    if (r.ok()) hours.emplace_back(key.bucket_start, *r);
  }
  RETURN_IF_ERROR(engine::FromRocks(it->status(), "scan rollups"));
  RETURN_IF_ERROR(finish_day());
  return flush();
}

}  // namespace historian
