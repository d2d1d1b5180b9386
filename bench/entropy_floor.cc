// entropy_floor: the entropy floor of the benchmark data sets (issue 16,
// goal 1), and with --codec where today's chunk codec stands against it.
//
//   entropy_floor                                  # full, short and nab
//   entropy_floor --sets=nab --codec --detail      # per-file rows
//   entropy_floor --sets=full --codec --chunk_max_samples=16384   # merged chunks
//   entropy_floor --sets=plant --tags=50 --duration=10m           # a quick look
//
// Data sets, generated exactly as historian-bench does (bench_dataset.h,
// client::PlantSimulator, seed 42, 1 Hz, from 2024-01-01):
//   full   10,000 tags x 1 h (historian-bench --preset=full)
//   short   1,000 tags x 30 min (issue 16's short-history set)
//   plant  --tags x --duration
//   nab    every *.csv under --nab_dir ("timestamp,value" rows), one tag per
//          file with its own timestamps; read in place, never copied.
//
// The floor of a set is the sum over its tags of
//   values:     n * H0 of the first differences of the tag's decimal-scaled
//               integer values r[i] = v[i] * 10^s, H0 the order-0 empirical
//               entropy (bench/entropy.h). s is the smallest scale (<= 15)
//               that makes every value an exact integer: v == (double)r /
//               10^s bit for bit with |r| < 2^53, the chunk codec's test.
//               Int64 counters take their own deltas; bools are 0/1.
//   timestamps: n * H0 of the deltas or of the delta-of-deltas, the smaller;
//               a regular clock costs 0.
// The first value and timestamp of each tag (16 bytes a tag) are not
// counted: they are per-tag constants, not per-sample information.
//
// Values that never become integers (full precision: 51.846000000000004,
// float-sum residue; NaN, infinities, -0.0). Real data is full of them: in
// the NAB series 17 of 31 files have some, up to a quarter of their values.
// Two choices were rejected: rounding at 1e-15 relative precision is lossy,
// and moving the whole tag to the IEEE bit patterns prices a few float-sum
// values as if every value were noise (decimal steps such as 0.001 are not
// exact in binary, so every delta splits into several bit-pattern deltas).
// Chosen: a lossless "decimal plus correction" model. At scale s each value
// gets r[i] (exact where it is decimal at s, else the nearest integer to
// v * 10^s, else the previous r), and a correction symbol c[i] = bits(v[i]) -
// bits(r[i] / 10^s), zero where exact; the cost is n * H0 of the deltas of r
// plus n * H0 of c. A decoder rebuilds every bit. This is how the codec
// itself treats such values (exceptions at a bit distance), so the floor
// prices the same representation, only with ideal entropy coding. For a tag
// with such values (or needing a scale above 3) the candidates are the
// decimal model at every scale its values need and the plain IEEE model
// (deltas of the bit patterns as ordered integers), and the one a coder
// would pay least for (the "coder" figure below) is taken; the floor is its
// H0. Choosing by H0 itself picks degenerate models: H0 is blind to the
// width of the numbers and saturates at log2(n) on a stream of distinct
// corrections. On NAB the chosen scale is often one digit below the data's
// (e.g. s2 with 80% corrections for 3-decimal CPU series): the last digit
// is cheaper as an order-0 correction than inside the deltas, a hint that a
// predictor other than delta pays there. Tags whose values are all exact at
// a scale <= 3 (all plant tags) use that scale only: scaling is a bijection
// on the deltas, so H0 does not depend on which exact scale.
//
// H0 of n samples is at most log2(n) bits each, so it says little for series
// whose differences are nearly all distinct (several NAB files): no decoder
// can read 30-bit deltas at 14 bits each. The "coder" column is what a static
// per-tag order-0 coder would pay (the code table included, or the symbols'
// bit widths entropy-coded and their low bits raw; bench/entropy.h): an
// achievable figure to read beside the floor. Where the two are close the
// floor is tight; where they differ the goal's ratio is to be read with care.
//
// --codec encodes each tag's samples with the chunk codec cut as the store
// cuts them (storage/store_seal.cc: a chunk ends at --chunk_max_samples
// samples or when the next sample is --chunk_max_duration or more after its
// first; the store seals at 1024 / 1 h, and the merge pass of `historian
// compact` joins neighbours up to 16,384 samples within the same 1 h), with
// all qualities Good and one write version per tag (a backfill import), or
// with --ingest_batches=N versions from N ingest batches per tag. The
// bytes of each column are measured by reading the real chunk back section
// by section with the codec's own column readers. Not counted: the chunk's
// RocksDB key and per-entry overhead, zstd at the bottommost level, rollups,
// catalog and state rows.
//
// Output: a table per set and, last, one JSON line (as historian-bench).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_dataset.h"
#include "bench/entropy.h"
#include "storage/codec/chunk_codec.h"
#include "storage/codec/coding.h"
#include "storage/codec/float_codec.h"
#include "storage/codec/int_codec.h"

ABSL_FLAG(std::vector<std::string>, sets, std::vector<std::string>({"full", "short", "nab"}),
          "Data sets: full (10,000 tags x 1 h), short (1,000 tags x 30 min), nab, plant "
          "(--tags x --duration)");
ABSL_FLAG(std::string, nab_dir, "/work/shared/real_data/nab", "Directory of the NAB CSV files");
ABSL_FLAG(uint64_t, tags, 200, "--sets=plant: tags");
ABSL_FLAG(absl::Duration, duration, absl::Minutes(10), "--sets=plant: plant time");
ABSL_FLAG(double, rate, 1, "Plant sets: samples per tag per second");
ABSL_FLAG(uint64_t, seed, 42, "Plant sets: data set seed (historian-bench's default)");
ABSL_FLAG(bool, codec, false, "Also encode every tag with the chunk codec and compare");
ABSL_FLAG(uint32_t, chunk_max_samples, 1024, "--codec: most samples in a chunk");
ABSL_FLAG(absl::Duration, chunk_max_duration, absl::Hours(1),
          "--codec: a chunk's time span stays below this (0: unlimited)");
ABSL_FLAG(uint32_t, ingest_batches, 0,
          "--codec: write versions from this many ingest batches per tag (equal shares of its "
          "samples, a new HLC second each), as a store fed in batches holds them (0: one import "
          "version)");
ABSL_FLAG(bool, detail, false, "Also print one row per tag kind (plant) or file (nab)");
ABSL_FLAG(std::string, json_out, "", "Also append the JSON line to this file");

namespace historian::bench {
namespace {

// The one write version of every sample of a tag: a backfill import at
// 2026-01-01, site tag 1.
constexpr Version kImportVersion = (uint64_t{1'767'225'600} << 8) | 1;

// Bytes of the chunks, by section.
struct CodecBytes {
  uint64_t chunks = 0, header = 0, timestamps = 0, values = 0, qualities = 0, versions = 0;
  uint64_t total() const { return header + timestamps + values + qualities + versions; }
  void Add(const CodecBytes& o) {
    chunks += o.chunks;
    header += o.header;
    timestamps += o.timestamps;
    values += o.values;
    qualities += o.qualities;
    versions += o.versions;
  }
};

// The floor (and codec bytes) of a group of tags.
struct Tally {
  uint64_t tags = 0, samples = 0;
  double value_bits = 0, value_coder_bits = 0, ts_bits = 0, ts_coder_bits = 0;
  uint64_t exceptions = 0;  // double values priced by a correction symbol
  uint64_t ieee_tags = 0;   // tags priced by the IEEE bit-pattern model
  int scale = 0;            // one tag: its model's decimal scale, -1 IEEE
  uint64_t irregular = 0;   // tags whose timestamps cost anything
  CodecBytes codec;
  void Add(const Tally& o) {
    if (tags == 0) scale = o.scale;
    tags += o.tags;
    samples += o.samples;
    value_bits += o.value_bits;
    value_coder_bits += o.value_coder_bits;
    ts_bits += o.ts_bits;
    ts_coder_bits += o.ts_coder_bits;
    exceptions += o.exceptions;
    ieee_tags += o.ieee_tags;
    irregular += o.irregular;
    codec.Add(o.codec);
  }
  double floor_bytes() const { return (value_bits + ts_bits) / 8; }
  double coder_bytes() const { return (value_coder_bits + ts_coder_bits) / 8; }
  double PerSample(double bytes) const {
    return samples == 0 ? 0 : bytes / static_cast<double>(samples);
  }
};

struct SetResult {
  std::string name;
  Tally total;
  std::map<std::string, Tally> groups;  // --detail
};

// Splits one encoded chunk into its sections with the codec's own readers
// (FORMAT.md). Returns false if the layout is not the one expected.
bool SplitChunk(std::string_view bytes, CodecBytes* out) {
  using codec::ByteReader;
  if (bytes.size() < 4) return false;
  ByteReader r(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size() - 4);
  const size_t body = r.remaining();
  uint8_t magic, version, type;
  uint64_t n, t0, span;
  if (!r.GetByte(&magic) || !r.GetByte(&version) || !r.GetByte(&type) || !r.GetVarint(&n) ||
      !r.GetFixed64(&t0) || !r.GetVarint(&span)) {
    return false;
  }
  size_t mark = r.remaining();
  out->header += body - mark + 4;  // with the checksum
  std::vector<uint64_t> scratch(n);
  if (n > 1) {
    uint64_t g;
    if (!r.GetVarint(&g) || !codec::ReadIntColumn(&r, n, scratch.data())) return false;
  }
  out->timestamps += mark - r.remaining();
  mark = r.remaining();
  bool ok = false;
  switch (static_cast<ValueType>(type)) {
    case ValueType::kDouble: {
      std::vector<double> d(n);
      ok = codec::ReadDoubles(&r, n, d.data());
      break;
    }
    case ValueType::kInt64:
      ok = codec::ReadIntColumn(&r, n, scratch.data());
      break;
    case ValueType::kBool: {
      std::vector<uint8_t> b(n);
      ok = codec::ReadSmallSeq<uint8_t>(&r, n, 1, b.data());
      break;
    }
    default:
      return false;  // no strings in these sets
  }
  if (!ok) return false;
  out->values += mark - r.remaining();
  mark = r.remaining();
  std::vector<uint32_t> q(n);
  if (!codec::ReadSmallSeq<uint32_t>(&r, n, UINT32_MAX, q.data())) return false;
  out->qualities += mark - r.remaining();
  out->versions += r.remaining();
  out->chunks += 1;
  return true;
}

// Cuts `all` as the store does and encodes each piece.
absl::Status EncodeAsStore(const codec::ChunkColumns& all, CodecBytes* out) {
  const uint64_t max_samples = absl::GetFlag(FLAGS_chunk_max_samples);
  const int64_t dur = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_chunk_max_duration));
  const uint64_t max_span = dur <= 0 ? UINT64_MAX : static_cast<uint64_t>(dur);
  codec::ChunkColumns piece;
  std::string bytes;
  const size_t n = all.size();
  for (size_t begin = 0; begin < n;) {
    size_t end = begin + 1;
    while (end < n && end - begin < max_samples &&
           static_cast<uint64_t>(all.timestamps[end]) -
                   static_cast<uint64_t>(all.timestamps[begin]) <
               max_span) {
      ++end;
    }
    piece.Reset(all.type);
    piece.timestamps.assign(all.timestamps.begin() + begin, all.timestamps.begin() + end);
    switch (all.type) {
      case ValueType::kDouble:
        piece.doubles.assign(all.doubles.begin() + begin, all.doubles.begin() + end);
        break;
      case ValueType::kInt64:
        piece.ints.assign(all.ints.begin() + begin, all.ints.begin() + end);
        break;
      default:
        piece.bools.assign(all.bools.begin() + begin, all.bools.begin() + end);
        break;
    }
    piece.qualities.assign(end - begin, 0);
    piece.versions.assign(end - begin, kImportVersion);
    if (const uint64_t batches = absl::GetFlag(FLAGS_ingest_batches); batches > 0) {
      // Batch k's writes carry second import + 61 k (+ a jitter of a few seconds).
      for (size_t i = begin; i < end; ++i) {
        const uint64_t k = i * batches / n;
        piece.versions[i - begin] = kImportVersion + ((61 * k + (k * 7) % 5) << 8);
      }
    }
    bytes.clear();
    if (absl::Status s = codec::EncodeChunk(piece, &bytes); !s.ok()) return s;
    if (!SplitChunk(bytes, out)) return absl::InternalError("chunk layout not as expected");
    begin = end;
  }
  return absl::OkStatus();
}

// The floor of one tag's series, and its codec bytes with --codec.
absl::StatusOr<Tally> TagTally(const codec::ChunkColumns& cols) {
  Tally t;
  const size_t n = cols.size();
  t.tags = 1;
  t.samples = n;
  if (n == 0) return t;
  EntropyCost v;
  switch (cols.type) {
    case ValueType::kDouble:
      v = DoubleValuesFloor(cols.doubles.data(), n);
      break;
    case ValueType::kInt64:
      v = IntValuesFloor(cols.ints.data(), n);
      break;
    default: {
      std::vector<int64_t> b(cols.bools.begin(), cols.bools.end());
      v = IntValuesFloor(b.data(), n);
      break;
    }
  }
  const EntropyCost ts = TimestampsFloor(cols.timestamps.data(), n);
  t.value_bits = v.bits;
  t.value_coder_bits = v.coder_bits;
  t.ts_bits = ts.bits;
  t.ts_coder_bits = ts.coder_bits;
  t.exceptions = v.exceptions;
  t.ieee_tags = v.scale < 0 ? 1 : 0;
  t.scale = v.scale;
  t.irregular = ts.bits > 0 ? 1 : 0;
  if (absl::GetFlag(FLAGS_codec)) {
    if (absl::Status s = EncodeAsStore(cols, &t.codec); !s.ok()) return s;
  }
  return t;
}

const char* KindName(client::PlantSimulator::Kind k) {
  switch (k) {
    case client::PlantSimulator::Kind::kAnalog:
      return "analog";
    case client::PlantSimulator::Kind::kSetpoint:
      return "setpoint";
    case client::PlantSimulator::Kind::kCounter:
      return "counter";
    case client::PlantSimulator::Kind::kState:
      return "state";
  }
  return "?";
}

absl::Status PlantSet(const std::string& name, size_t tags, int64_t duration_s, SetResult* out) {
  DataSetOptions opt;
  opt.tags = tags;
  opt.duration_s = duration_s;
  opt.rate_hz = absl::GetFlag(FLAGS_rate);
  opt.seed = absl::GetFlag(FLAGS_seed);
  const DataSet data(opt);
  out->name = name;
  codec::ChunkColumns cols;
  for (size_t tag = 0; tag < data.num_tags(); ++tag) {
    const auto kind = data.sim().kind(tag);
    cols.Reset(kind == client::PlantSimulator::Kind::kCounter ? ValueType::kInt64
               : kind == client::PlantSimulator::Kind::kState ? ValueType::kBool
                                                              : ValueType::kDouble);
    for (uint64_t k = 0; k < data.ticks(); ++k) {
      cols.timestamps.push_back(data.TimeAt(k));
      const historian::v1::Value v = data.sim().ValueAt(tag, k);
      switch (cols.type) {
        case ValueType::kDouble:
          cols.doubles.push_back(v.double_value());
          break;
        case ValueType::kInt64:
          cols.ints.push_back(v.int64_value());
          break;
        default:
          cols.bools.push_back(v.bool_value() ? 1 : 0);
          break;
      }
    }
    absl::StatusOr<Tally> t = TagTally(cols);
    if (!t.ok()) return t.status();
    out->total.Add(*t);
    out->groups[KindName(kind)].Add(*t);
  }
  return absl::OkStatus();
}

// One NAB file: "timestamp,value" header, then "YYYY-MM-DD HH:MM:SS,value".
// Rows are put in time order and, as the store does with writes of one
// timestamp (last writer wins), a repeated timestamp keeps its last row:
// some files repeat an hour at a daylight-saving change. *replaced counts
// the rows that lose; unreadable rows are an error.
absl::Status ReadNabFile(const std::filesystem::path& path, codec::ChunkColumns* cols,
                         uint64_t* replaced) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path.string()));
  std::vector<std::pair<int64_t, double>> rows;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    int y, mo, d, h, mi, s;
    char value[64];
    if (std::sscanf(line.c_str(), "%d-%d-%d %d:%d:%d,%63s", &y, &mo, &d, &h, &mi, &s, value) != 7) {
      return absl::InvalidArgumentError(absl::StrCat(path.string(), ": bad row '", line, "'"));
    }
    const absl::Time when =
        absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
    rows.emplace_back(absl::ToUnixNanos(when), std::strtod(value, nullptr));
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  cols->Reset(ValueType::kDouble);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i + 1 < rows.size() && rows[i + 1].first == rows[i].first) {
      ++*replaced;
      continue;
    }
    cols->timestamps.push_back(rows[i].first);
    cols->doubles.push_back(rows[i].second);
  }
  return absl::OkStatus();
}

absl::Status NabSet(SetResult* out, uint64_t* replaced) {
  namespace fs = std::filesystem;
  const fs::path dir = absl::GetFlag(FLAGS_nab_dir);
  if (!fs::is_directory(dir))
    return absl::NotFoundError(absl::StrCat("no directory ", dir.string()));
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".csv") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  out->name = "nab";
  codec::ChunkColumns cols;
  for (const fs::path& f : files) {
    if (absl::Status s = ReadNabFile(f, &cols, replaced); !s.ok()) return s;
    absl::StatusOr<Tally> t = TagTally(cols);
    if (!t.ok()) return t.status();
    out->total.Add(*t);
    out->groups[f.stem().string()].Add(*t);
  }
  return absl::OkStatus();
}

// The value model: for one tag its scale ("ieee": the bit-pattern model)
// and the share of values priced by a correction; else how many tags took
// the IEEE model.
std::string ModelName(const Tally& t) {
  if (t.tags != 1) return absl::StrCat("ieee=", t.ieee_tags);
  if (t.scale < 0) return "ieee";
  return absl::StrFormat("s%d/%.0f%%", t.scale,
                         100.0 * t.exceptions / std::max<uint64_t>(1, t.samples));
}

void PrintRow(const std::string& name, const Tally& t, bool codec) {
  const double s = static_cast<double>(std::max<uint64_t>(1, t.samples));
  std::printf("%-40s %6llu %10llu %12.0f %8.4f %8.4f %8.4f %8.4f %-8s", name.c_str(),
              static_cast<unsigned long long>(t.tags), static_cast<unsigned long long>(t.samples),
              t.floor_bytes(), t.floor_bytes() / s, t.value_bits / 8 / s, t.ts_bits / 8 / s,
              t.coder_bytes() / s, ModelName(t).c_str());
  if (codec) {
    const CodecBytes& c = t.codec;
    std::printf(" %8.4f %7.4f %7.4f %7.4f %7.4f %7.4f %7.1f %6.2fx", c.total() / s,
                c.timestamps / s, c.values / s, c.header / s, c.qualities / s, c.versions / s,
                c.chunks == 0 ? 0.0 : s / static_cast<double>(c.chunks),
                t.floor_bytes() > 0 ? c.total() / t.floor_bytes() : 0.0);
  }
  std::printf("\n");
}

void PrintTable(const std::vector<SetResult>& sets, bool codec, bool detail) {
  std::printf("%-40s %6s %10s %12s %8s %8s %8s %8s %-8s", "set", "tags", "samples", "floor_B",
              "B/samp", "values", "times", "coder", "model");
  if (codec) {
    std::printf(" %8s %7s %7s %7s %7s %7s %7s %7s", "codec", "c.times", "c.vals", "c.hdr", "c.qual",
                "c.vers", "samp/ch", "c/floor");
  }
  std::printf("\n");
  for (const SetResult& r : sets) {
    PrintRow(r.name, r.total, codec);
    if (!detail) continue;
    for (const auto& [group, t] : r.groups) PrintRow(absl::StrCat("  ", group), t, codec);
  }
  std::printf(
      "(B/samp, values, times, coder and c.* in bytes/sample; values + times = B/samp, the "
      "floor; coder: a static order-0 coder with its table; model: decimal scale / share of "
      "values with a correction, or ieee; c.hdr: chunk header + checksum)\n");
}

std::string Json(const std::vector<SetResult>& sets, bool codec, uint64_t nab_replaced) {
  std::string j =
      absl::StrFormat("{\"tool\":\"entropy_floor\",\"time\":\"%s\",\"seed\":%d,\"rate_hz\":%g",
                      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone()),
                      absl::GetFlag(FLAGS_seed), absl::GetFlag(FLAGS_rate));
  if (codec) {
    absl::StrAppendFormat(&j, ",\"chunk_max_samples\":%d,\"chunk_max_duration_s\":%d",
                          absl::GetFlag(FLAGS_chunk_max_samples),
                          absl::ToInt64Seconds(absl::GetFlag(FLAGS_chunk_max_duration)));
  }
  absl::StrAppendFormat(&j, ",\"nab_rows_replaced\":%d,\"sets\":[", nab_replaced);
  for (size_t i = 0; i < sets.size(); ++i) {
    const Tally& t = sets[i].total;
    const double s = static_cast<double>(std::max<uint64_t>(1, t.samples));
    absl::StrAppendFormat(
        &j,
        "%s{\"set\":\"%s\",\"tags\":%d,\"samples\":%d,\"floor_bytes\":%.0f,"
        "\"floor_bytes_per_sample\":%.5f,\"floor_value_bytes_per_sample\":%.5f,"
        "\"floor_timestamp_bytes_per_sample\":%.5f,\"coder_bytes_per_sample\":%.5f,"
        "\"value_exceptions\":%d,\"ieee_tags\":%d,\"irregular_clock_tags\":%d",
        i ? "," : "", sets[i].name, t.tags, t.samples, t.floor_bytes(), t.floor_bytes() / s,
        t.value_bits / 8 / s, t.ts_bits / 8 / s, t.coder_bytes() / s, t.exceptions, t.ieee_tags,
        t.irregular);
    if (codec) {
      const CodecBytes& c = t.codec;
      absl::StrAppendFormat(
          &j,
          ",\"codec_bytes\":%d,\"codec_bytes_per_sample\":%.5f,\"codec_chunks\":%d,"
          "\"codec_timestamp_bytes_per_sample\":%.5f,\"codec_value_bytes_per_sample\":%.5f,"
          "\"codec_header_bytes_per_sample\":%.5f,\"codec_quality_bytes_per_sample\":%.5f,"
          "\"codec_version_bytes_per_sample\":%.5f,\"codec_over_floor\":%.3f",
          c.total(), c.total() / s, c.chunks, c.timestamps / s, c.values / s, c.header / s,
          c.qualities / s, c.versions / s, t.floor_bytes() > 0 ? c.total() / t.floor_bytes() : 0.0);
    }
    j += "}";
  }
  j += "]}";
  return j;
}

int Main() {
  const bool codec = absl::GetFlag(FLAGS_codec);
  std::vector<SetResult> results;
  uint64_t nab_replaced = 0;
  for (const std::string& set : absl::GetFlag(FLAGS_sets)) {
    SetResult r;
    absl::Status s;
    if (set == "full") {
      s = PlantSet("full (10000 tags x 1h)", 10000, 3600, &r);
    } else if (set == "short") {
      s = PlantSet("short (1000 tags x 30min)", 1000, 1800, &r);
    } else if (set == "plant") {
      const int64_t d = absl::ToInt64Seconds(absl::GetFlag(FLAGS_duration));
      s = PlantSet(absl::StrCat("plant (", absl::GetFlag(FLAGS_tags), " tags x ", d, "s)"),
                   absl::GetFlag(FLAGS_tags), d, &r);
    } else if (set == "nab") {
      s = NabSet(&r, &nab_replaced);
    } else {
      std::fprintf(stderr, "unknown set '%s' (full, short, plant, nab)\n", set.c_str());
      return 2;
    }
    if (!s.ok()) {
      std::fprintf(stderr, "entropy_floor: %s: %s\n", set.c_str(), s.ToString().c_str());
      return 1;
    }
    results.push_back(std::move(r));
  }
  PrintTable(results, codec, absl::GetFlag(FLAGS_detail));
  const std::string json = Json(results, codec, nab_replaced);
  std::printf("%s\n", json.c_str());
  if (const std::string path = absl::GetFlag(FLAGS_json_out); !path.empty()) {
    std::ofstream(path, std::ios::app) << json << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace historian::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "entropy_floor: the entropy floor of the benchmark data sets (full, short, nab) and, with "
      "--codec, the chunk codec's bytes against it");
  absl::ParseCommandLine(argc, argv);
  return historian::bench::Main();
}
