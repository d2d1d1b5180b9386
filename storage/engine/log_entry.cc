#include "storage/engine/log_entry.h"

#include <bit>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/engine/coding.h"

namespace historian::engine {
namespace {
constexpr uint8_t kLogEntryFormatV2 = 2;  // read only
constexpr uint8_t kLogEntryFormat = 3;
// The most a non-string sample takes in the samples form: timestamp delta
// varint, value (8 raw bytes at most), quality varint, version varint.
constexpr size_t kMaxNumericSampleBytes = 10 + 10 + 10 + 10;
constexpr uint8_t kLogEntryFormatTombstones = 4;  // format 3 + tombstones
constexpr uint8_t kLogEntryFormatEvents = 5;      // format 4 + event writes
constexpr uint8_t kFormSamples = 0;
constexpr uint8_t kFormChunk = 1;
constexpr uint64_t kFlagCatalog = 1;
constexpr uint64_t kFlagSampleVersions = 2;

// True when `c` goes into a log entry as one encoded chunk.
bool UseChunkForm(const codec::ChunkColumns& c) {
  if (c.size() < kLogChunkMinSamples || c.size() > codec::kMaxSamplesPerChunk) return false;
  for (size_t i = 1; i < c.size(); ++i) {
    if (c.timestamps[i] <= c.timestamps[i - 1]) return false;
  }
  if (c.type == ValueType::kString) {
    for (const std::string& s : c.strings) {
      if (s.size() > codec::kMaxStringBytes) return false;
    }
  }
  return true;
}

// True when every sample of a series written sample by sample (no chunk)
// carries the entry's version.
bool AllVersionsEqual(const LogEntry& entry, const std::vector<std::string>& chunks) {
  for (size_t i = 0; i < entry.series.size(); ++i) {
    if (!chunks[i].empty()) continue;  // a chunk carries its own versions
    for (Version v : entry.series[i].cols.versions) {
      if (v != entry.version) return false;
    }
  }
  return true;
}
}  // namespace

uint64_t LogEntry::NumSamples() const {
  uint64_t n = 0;
  for (const auto& s : series) n += s.cols.size();
  return n;
}

void EncodeLogEntry(const LogEntry& entry, std::string* out) {
  uint64_t flags = 0;
  if (!entry.catalog_upserts.empty() || !entry.catalog_deletes.empty()) flags |= kFlagCatalog;
  // The chunk of each series stored in chunk form (empty: sample by sample).
  std::vector<std::string> chunks(entry.series.size());
  for (size_t i = 0; i < entry.series.size(); ++i) {
    if (UseChunkForm(entry.series[i].cols) &&
        !codec::EncodeChunk(entry.series[i].cols, &chunks[i]).ok()) {
      chunks[i].clear();
    }
  }
  if (!AllVersionsEqual(entry, chunks)) flags |= kFlagSampleVersions;
  const bool events = !entry.event_writes.empty();
  const bool tombstones = events || !entry.tombstones.empty();
  out->push_back(static_cast<char>(events       ? kLogEntryFormatEvents
                                   : tombstones ? kLogEntryFormatTombstones
                                                : kLogEntryFormat));
  PutVarint64(entry.version, out);
  PutVarint64(flags, out);
  if (flags & kFlagCatalog) {
    PutVarint64(entry.catalog_upserts.size(), out);
    for (const TagInfo& info : entry.catalog_upserts) PutString(EncodeTagInfo(info), out);
    PutVarint64(entry.catalog_deletes.size(), out);
    for (const std::string& name : entry.catalog_deletes) PutString(name, out);
  }
  if (tombstones) {
    PutVarint64(entry.tombstones.size(), out);
    for (const Tombstone& t : entry.tombstones) {
      PutFixed64(t.tag, out);
      PutVarint64(t.version, out);
    }
  }
  if (events) {
    PutVarint64(entry.event_writes.size(), out);
    for (const EventWrite& e : entry.event_writes) {
      PutString(e.key, out);
      PutString(e.value, out);
    }
  }
  PutVarint64(entry.series.size(), out);
  for (size_t si = 0; si < entry.series.size(); ++si) {
    const SeriesData& s = entry.series[si];
    const codec::ChunkColumns& c = s.cols;
    PutFixed64(s.tag, out);
    out->push_back(static_cast<char>(c.type));
    if (!chunks[si].empty()) {
      out->push_back(static_cast<char>(kFormChunk));
      PutString(chunks[si], out);
      continue;
    }
    out->push_back(static_cast<char>(kFormSamples));
    PutVarint64(c.size(), out);
    int64_t prev = 0;
    if (c.type != ValueType::kString) {
      // The same bytes as the loop below, written through a pointer into
      // room made once (a push_back per byte was ~13% of a writer's CPU).
      const bool versions = (flags & kFlagSampleVersions) != 0;
      const size_t start = out->size();
      out->resize(start + c.size() * kMaxNumericSampleBytes);
      char* p = out->data() + start;
      for (size_t i = 0; i < c.size(); ++i) {
        p = EncodeVarint64(p, ZigZag(static_cast<int64_t>(static_cast<uint64_t>(c.timestamps[i]) -
                                                          static_cast<uint64_t>(prev))));
        prev = c.timestamps[i];
        if (c.type == ValueType::kDouble) {
          const uint64_t bits = std::bit_cast<uint64_t>(c.doubles[i]);
          std::memcpy(p, &bits, 8);  // PutFixed64: little-endian hosts only
          p += 8;
        } else if (c.type == ValueType::kInt64) {
          p = EncodeVarint64(p, ZigZag(c.ints[i]));
        } else if (c.type == ValueType::kBool) {
          *p++ = static_cast<char>(c.bools[i]);
        }
        p = EncodeVarint64(p, c.qualities[i]);
        if (versions) {
          p = EncodeVarint64(p, ZigZag(static_cast<int64_t>(c.versions[i] - entry.version)));
        }
      }
      out->resize(static_cast<size_t>(p - out->data()));
      continue;
    }
    for (size_t i = 0; i < c.size(); ++i) {
      // Wrapping subtraction: any int64 pair round-trips.
      PutVarint64(ZigZag(static_cast<int64_t>(static_cast<uint64_t>(c.timestamps[i]) -
                                              static_cast<uint64_t>(prev))),
                  out);
      prev = c.timestamps[i];
      switch (c.type) {
        case ValueType::kDouble:
          PutFixed64(std::bit_cast<uint64_t>(c.doubles[i]), out);
          break;
        case ValueType::kInt64:
          PutVarint64(ZigZag(c.ints[i]), out);
          break;
        case ValueType::kBool:
          out->push_back(static_cast<char>(c.bools[i]));
          break;
        case ValueType::kString:
          PutString(c.strings[i], out);
          break;
        default:
          break;
      }
      PutVarint64(c.qualities[i], out);
      if (flags & kFlagSampleVersions) {
        PutVarint64(ZigZag(static_cast<int64_t>(c.versions[i] - entry.version)), out);
      }
    }
  }
}

absl::Status DecodeLogEntry(std::string_view bytes, LogEntry* entry) {
  Reader r(bytes);
  uint8_t format = 0;
  uint64_t flags = 0, nseries = 0;
  r.GetByte(&format);
  if (format != kLogEntryFormat && format != kLogEntryFormatV2 &&
      format != kLogEntryFormatTombstones && format != kLogEntryFormatEvents) {
    return absl::DataLossError("log entry: unknown format");
  }
  r.GetVarint64(&entry->version);
  r.GetVarint64(&flags);
  entry->catalog_upserts.clear();
  entry->catalog_deletes.clear();
  entry->tombstones.clear();
  entry->event_writes.clear();
  if (flags & kFlagCatalog) {
    uint64_t n = 0;
    r.GetVarint64(&n);
    for (uint64_t i = 0; r.ok() && i < n; ++i) {
      std::string_view encoded;
      if (!r.GetString(&encoded)) break;
      absl::StatusOr<TagInfo> info = DecodeTagInfo(encoded);
      if (!info.ok()) return info.status();
      entry->catalog_upserts.push_back(std::move(*info));
    }
    r.GetVarint64(&n);
    for (uint64_t i = 0; r.ok() && i < n; ++i) {
      std::string_view name;
      if (r.GetString(&name)) entry->catalog_deletes.emplace_back(name);
    }
  }
  if (format == kLogEntryFormatTombstones || format == kLogEntryFormatEvents) {
    uint64_t n = 0;
    r.GetVarint64(&n);
    if (!r.ok() || n > bytes.size()) return absl::DataLossError("log entry: corrupt tombstones");
    for (uint64_t i = 0; r.ok() && i < n; ++i) {
      Tombstone t;
      r.GetFixed64(&t.tag);
      r.GetVarint64(&t.version);
      entry->tombstones.push_back(t);
    }
  }
  if (format == kLogEntryFormatEvents) {
    uint64_t n = 0;
    r.GetVarint64(&n);
    if (!r.ok() || n > bytes.size()) return absl::DataLossError("log entry: corrupt events");
    for (uint64_t i = 0; r.ok() && i < n; ++i) {
      std::string_view key, value;
      r.GetString(&key);
      r.GetString(&value);
      entry->event_writes.push_back({std::string(key), std::string(value)});
    }
  }
  r.GetVarint64(&nseries);
  if (!r.ok() || nseries > bytes.size()) return absl::DataLossError("log entry: corrupt header");
  entry->series.clear();
  entry->series.resize(nseries);
  for (SeriesData& s : entry->series) {
    uint8_t type = 0, form = kFormSamples;
    uint64_t n = 0;
    r.GetFixed64(&s.tag);
    r.GetByte(&type);
    if (format != kLogEntryFormatV2) r.GetByte(&form);
    if (form == kFormChunk) {
      std::string_view chunk;
      if (!r.GetString(&chunk) || type < 1 || type > 4) {
        return absl::DataLossError("log entry: corrupt series header");
      }
      absl::Status decoded = codec::DecodeChunk(chunk, &s.cols);
      if (!decoded.ok()) {
        return absl::DataLossError(
            absl::StrCat("log entry: series of tag ", s.tag, ": ", std::string(decoded.message())));
      }
      if (s.cols.type != static_cast<ValueType>(type)) {
        return absl::DataLossError("log entry: series type differs from its chunk");
      }
      continue;
    }
    if (form != kFormSamples) return absl::DataLossError("log entry: unknown series form");
    r.GetVarint64(&n);
    if (!r.ok() || type < 1 || type > 4 || n > bytes.size()) {
      return absl::DataLossError("log entry: corrupt series header");
    }
    codec::ChunkColumns& c = s.cols;
    c.Reset(static_cast<ValueType>(type));
    int64_t prev = 0;
    for (uint64_t i = 0; i < n && r.ok(); ++i) {
      uint64_t dts = 0, q = 0, bits = 0;
      r.GetVarint64(&dts);
      prev =
          static_cast<int64_t>(static_cast<uint64_t>(prev) + static_cast<uint64_t>(UnZigZag(dts)));
      c.timestamps.push_back(prev);
      switch (c.type) {
        case ValueType::kDouble:
          r.GetFixed64(&bits);
          c.doubles.push_back(std::bit_cast<double>(bits));
          break;
        case ValueType::kInt64:
          r.GetVarint64(&bits);
          c.ints.push_back(UnZigZag(bits));
          break;
        case ValueType::kBool: {
          uint8_t b = 0;
          r.GetByte(&b);
          c.bools.push_back(b);
          break;
        }
        case ValueType::kString: {
          std::string_view sv;
          r.GetString(&sv);
          c.strings.emplace_back(sv);
          break;
        }
        default:
          break;
      }
      r.GetVarint64(&q);
      c.qualities.push_back(static_cast<uint32_t>(q));
      Version v = entry->version;
      if (flags & kFlagSampleVersions) {
        uint64_t d = 0;
        r.GetVarint64(&d);
        v = entry->version + static_cast<uint64_t>(UnZigZag(d));
      }
      c.versions.push_back(v);
    }
  }
  if (!r.ok() || !r.done()) return absl::DataLossError("log entry: truncated or trailing bytes");
  return absl::OkStatus();
}

}  // namespace historian::engine
