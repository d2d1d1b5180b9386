// File: bench_emit.cc
#include "bench/bench_emit.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "api/core/status_macros.h"

namespace historian::bench {
namespace {

constexpr int64_t kNsPerMs = 1'000'000;

// Shortest text that parses back to the same double.
void AppendDouble(double v, std::string* out) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

void AppendValue(const historian::v1::Value& v, bool influx, std::string* out) {
  switch (v.kind_case()) {
    case historian::v1::Value::kDoubleValue:
      if (influx) out->append("value=");
      AppendDouble(v.double_value(), out);
      break;
    case historian::v1::Value::kInt64Value:
      if (influx) out->append("count=");
      absl::StrAppend(out, v.int64_value());
      if (influx) out->push_back('i');
      break;
    case historian::v1::Value::kBoolValue:
      if (influx) {
        absl::StrAppend(out, "state=", v.bool_value() ? "true" : "false");
      } else {
        out->push_back(v.bool_value() ? '1' : '0');
      }
      break;
    default:
      out->append(influx ? "value=0" : "0");
      break;
  }
}

// Buffered output to stdout, one file, or numbered pieces.
class Sink {
 public:
  Sink(std::string out, uint64_t piece_samples) : out_(std::move(out)), piece_(piece_samples) {}
  ~Sink() { (void)Close(); }

  // Called after whole lines; `samples` were just appended to buffer().
  absl::Status EndLines(uint64_t samples) {
    in_piece_ += samples;
    if (piece_ > 0 && in_piece_ >= piece_) {
      RETURN_IF_ERROR(Drain());
      RETURN_IF_ERROR(ClosePiece());
    } else if (buf_.size() > (1 << 20)) {
      RETURN_IF_ERROR(Drain());
    }
    return absl::OkStatus();
  }
  std::string* buffer() { return &buf_; }

  absl::Status Close() {
    RETURN_IF_ERROR(Drain());
    return ClosePiece();
  }

 private:
  absl::Status Drain() {
    if (buf_.empty()) return absl::OkStatus();
    if (file_ == nullptr) {
      if (out_ == "-") {
        file_ = stdout;
      } else {
        const std::string path =
            piece_ > 0 ? absl::StrFormat("%s.%06d", out_, next_piece_++) : out_;
        file_ = std::fopen(path.c_str(), "w");
        if (file_ == nullptr) return absl::UnavailableError(absl::StrCat("cannot write ", path));
      }
    }
    if (std::fwrite(buf_.data(), 1, buf_.size(), file_) != buf_.size()) {
      return absl::UnavailableError(absl::StrCat("short write to ", out_));
    }
    buf_.clear();
    return absl::OkStatus();
  }
  absl::Status ClosePiece() {
    in_piece_ = 0;
    if (file_ == nullptr) return absl::OkStatus();
    const bool ok = file_ == stdout ? std::fflush(stdout) == 0 : std::fclose(file_) == 0;
    file_ = nullptr;
    return ok ? absl::OkStatus() : absl::UnavailableError(absl::StrCat("cannot close ", out_));
  }

  const std::string out_;
  const uint64_t piece_;
  std::string buf_;
  std::FILE* file_ = nullptr;
  int next_piece_ = 0;
  uint64_t in_piece_ = 0;
};

absl::Status EmitQuerySpec(const DataSet& data, Sink* sink) {
  const QuerySpec spec = MakeQuerySpec(data);
  std::string* b = sink->buffer();
  absl::StrAppend(b, "{\"start_ns\":", spec.start_ns, ",\"end_ns\":", spec.end_ns,
                  ",\"start_ms\":", spec.start_ns / kNsPerMs,
                  ",\"end_ms\":", spec.end_ns / kNsPerMs,
                  ",\"latest_ms\":", (data.end_ns() - 1) / kNsPerMs, ",\"one_tag\":\"",
                  data.tag_name(spec.one_tag), "\",\"many_tags\":[");
  for (size_t i = 0; i < spec.many_tags.size(); ++i) {
    absl::StrAppend(b, i ? "," : "", "\"", data.tag_name(spec.many_tags[i]), "\"");
  }
  absl::StrAppend(b, "],\"tags\":", data.num_tags(), ",\"samples\":", data.samples(), "}\n");
  return sink->EndLines(0);
}

}  // namespace

absl::StatusOr<EmitFormat> ParseEmitFormat(const std::string& name) {
  if (name == "influx-lp") return EmitFormat::kInfluxLp;
  if (name == "vm-jsonl") return EmitFormat::kVmJsonl;
  if (name == "query-spec") return EmitFormat::kQuerySpec;
  return absl::InvalidArgumentError(
      absl::StrCat("--emit: unknown format '", name, "' (influx-lp, vm-jsonl, query-spec)"));
}

QuerySpec MakeQuerySpec(const DataSet& data) {
  QuerySpec spec;
  std::vector<size_t> doubles = data.DoubleTags();
  if (!doubles.empty()) spec.one_tag = doubles.front();
  for (size_t t : doubles) {  // prefer a noisy sensor to a flat setpoint
    if (data.sim().kind(t) == client::PlantSimulator::Kind::kAnalog) {
      spec.one_tag = t;
      break;
    }
  }
  doubles.resize(std::min<size_t>(doubles.size(), 100));
  spec.many_tags = std::move(doubles);
  spec.start_ns = data.start_ns();
  spec.end_ns = data.start_ns() + 3600LL * 1'000'000'000LL;
  return spec;
}

absl::Status Emit(const DataSet& data, EmitFormat format, const std::string& out,
                  uint64_t piece_samples) {
  if (piece_samples > 0 && out == "-") {
    return absl::InvalidArgumentError("--piece_samples needs --out=<file prefix>, not stdout");
  }
  if (data.period_ns() % kNsPerMs != 0 || data.start_ns() % kNsPerMs != 0) {
    return absl::InvalidArgumentError("emitted timestamps are in ms: --rate must divide 1000");
  }
  Sink sink(out, format == EmitFormat::kQuerySpec ? 0 : piece_samples);
  if (format == EmitFormat::kQuerySpec) {
    absl::Status s = EmitQuerySpec(data, &sink);
    if (!s.ok()) return s;
    return sink.Close();
  }
  const client::PlantSimulator& sim = data.sim();
  for (uint64_t b = 0; b < data.num_blocks(); ++b) {
    const auto [first, last] = data.BlockTicks(b);
    for (size_t tag = 0; tag < data.num_tags(); ++tag) {
      std::string* buf = sink.buffer();
      const std::string& name = data.tag_name(tag);
      if (format == EmitFormat::kInfluxLp) {
        for (uint64_t k = first; k < last; ++k) {
          absl::StrAppend(buf, "plant,tag=", name, " ");
          AppendValue(sim.ValueAt(tag, k), /*influx=*/true, buf);
          absl::StrAppend(buf, " ", data.TimeAt(k) / kNsPerMs, "\n");
        }
      } else {
        absl::StrAppend(buf, "{\"metric\":{\"__name__\":\"plant\",\"tag\":\"", name,
                        "\"},\"values\":[");
        for (uint64_t k = first; k < last; ++k) {
          if (k != first) buf->push_back(',');
          AppendValue(sim.ValueAt(tag, k), /*influx=*/false, buf);
        }
        buf->append("],\"timestamps\":[");
        for (uint64_t k = first; k < last; ++k) {
          absl::StrAppend(buf, k != first ? "," : "", data.TimeAt(k) / kNsPerMs);
        }
        buf->append("]}\n");
      }
      absl::Status s = sink.EndLines(last - first);
      if (!s.ok()) return s;
    }
  }
  return sink.Close();
}

}  // namespace historian::bench
