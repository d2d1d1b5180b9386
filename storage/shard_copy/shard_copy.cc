#include "storage/shard_copy/shard_copy.h"

#include "absl/strings/str_cat.h"
#include "storage/engine/coding.h"
#include "storage/engine/key_format.h"

namespace historian::shard_copy {
namespace {

using engine::PutFixed64;
using engine::PutString;
using engine::PutVarint64;
using engine::ZigZag;

constexpr uint8_t kMarkerFormat = 1;

absl::Status Malformed(size_t index, std::string_view what) {
  return absl::DataLossError(
      absl::StrCat("shard copy piece: record ", index, ": ", std::string(what)));
}

bool GetZigZag(engine::Reader* r, int64_t* v) {
  uint64_t u;
  if (!r->GetVarint64(&u)) return false;
  *v = engine::UnZigZag(u);
  return true;
}

}  // namespace

void PieceWriter::Clear() {
  out_.clear();
  out_.push_back(static_cast<char>(kPieceFormat));
  records_ = 0;
}

std::string PieceWriter::Take() {
  std::string piece = std::move(out_);
  Clear();
  return piece;
}

void PieceWriter::Add(RecordType type, const std::string& payload) {
  out_.push_back(static_cast<char>(type));
  PutString(payload, &out_);
  ++records_;
}

void PieceWriter::AddHeader(const Header& h) {
  scratch_.clear();
  PutString(h.source_site, &scratch_);
  PutVarint64(h.position, &scratch_);
  PutVarint64(h.num_shards, &scratch_);
  PutVarint64(h.shard, &scratch_);
  PutVarint64(h.version_bound, &scratch_);  // last: an older reader stops before it
  Add(RecordType::kHeader, scratch_);
}

void PieceWriter::AddTombstone(TagId tag, Version version) {
  scratch_.clear();
  PutFixed64(tag, &scratch_);
  PutVarint64(version, &scratch_);
  Add(RecordType::kTombstone, scratch_);
}

void PieceWriter::AddTag(std::string_view encoded_tag_info) {
  scratch_.assign(encoded_tag_info);
  Add(RecordType::kTag, scratch_);
}

void PieceWriter::AddChunk(std::string_view key, std::string_view value) {
  scratch_.clear();
  PutString(key, &scratch_);
  PutString(value, &scratch_);
  Add(RecordType::kChunk, scratch_);
}

void PieceWriter::AddRollup(std::string_view key, std::string_view value) {
  scratch_.clear();
  PutString(key, &scratch_);
  PutString(value, &scratch_);
  Add(RecordType::kRollup, scratch_);
}

void PieceWriter::AddTagState(const TagStateRecord& s) {
  scratch_.clear();
  PutFixed64(s.tag, &scratch_);
  for (int64_t v : {s.max_span, s.overlap_min, s.overlap_max, s.dirty_min, s.dirty_max}) {
    PutVarint64(ZigZag(v), &scratch_);
  }
  Add(RecordType::kTagState, scratch_);
}

void PieceWriter::AddSamples(TagId tag, std::string_view encoded_chunk) {
  scratch_.clear();
  PutFixed64(tag, &scratch_);
  scratch_.append(encoded_chunk);
  Add(RecordType::kSamples, scratch_);
}

void PieceWriter::AddEnd(uint64_t total_records) {
  scratch_.clear();
  PutVarint64(total_records, &scratch_);
  Add(RecordType::kEnd, scratch_);
}

absl::Status ParsePiece(std::string_view piece, std::vector<Record>* out) {
  out->clear();
  if (piece.empty() || static_cast<uint8_t>(piece[0]) != kPieceFormat) {
    return absl::DataLossError(
        absl::StrCat("shard copy piece: format byte is not ", static_cast<int>(kPieceFormat)));
  }
  engine::Reader r(piece.substr(1));
  while (!r.done()) {
    const size_t index = out->size();
    uint8_t type;
    std::string_view payload;
    if (!r.GetByte(&type) || !r.GetString(&payload)) return Malformed(index, "truncated");
    Record rec;
    rec.type = static_cast<RecordType>(type);
    engine::Reader p(payload);
    uint64_t u = 0;
    switch (rec.type) {
      case RecordType::kHeader: {
        std::string_view site;
        uint64_t n = 0, s = 0;
        if (!p.GetString(&site) || !p.GetVarint64(&rec.header.position) || !p.GetVarint64(&n) ||
            !p.GetVarint64(&s) || n > UINT32_MAX || s > UINT32_MAX ||
            (!p.done() && !p.GetVarint64(&rec.header.version_bound))) {
          return Malformed(index, "bad header");
        }
        rec.header.source_site = std::string(site);
        rec.header.num_shards = static_cast<uint32_t>(n);
        rec.header.shard = static_cast<uint32_t>(s);
        break;
      }
      case RecordType::kTombstone:
        if (!p.GetFixed64(&rec.tag) || !p.GetVarint64(&rec.version)) {
          return Malformed(index, "bad tombstone");
        }
        break;
      case RecordType::kTag:
        rec.value = payload;
        break;
      case RecordType::kChunk:
      case RecordType::kRollup:
        if (!p.GetString(&rec.key) || !p.GetString(&rec.value) || rec.key.size() != 24) {
          return Malformed(index, "bad chunk or rollup key/value");
        }
        break;
      case RecordType::kTagState: {
        TagStateRecord& s = rec.state;
        if (!p.GetFixed64(&s.tag) || !GetZigZag(&p, &s.max_span) ||
            !GetZigZag(&p, &s.overlap_min) || !GetZigZag(&p, &s.overlap_max) ||
            !GetZigZag(&p, &s.dirty_min) || !GetZigZag(&p, &s.dirty_max)) {
          return Malformed(index, "bad tag state");
        }
        break;
      }
      case RecordType::kSamples:
        if (!p.GetFixed64(&rec.tag)) return Malformed(index, "bad samples");
        rec.value = payload.substr(8);
        break;
      case RecordType::kEnd:
        if (!p.GetVarint64(&u)) return Malformed(index, "bad end");
        rec.total_records = u;
        break;
      default:
        return Malformed(index, absl::StrCat("unknown type ", type));
    }
    out->push_back(std::move(rec));
  }
  if (!r.ok()) return Malformed(out->size(), "truncated");
  return absl::OkStatus();
}

// The one key format of the marker: Store::DropShard deletes it by this key.
std::string MoveMarkerKey(uint32_t shard) { return engine::MoveMarkerKey(shard); }

std::string EncodeMoveMarker(const MoveMarker& m) {
  std::string out(1, static_cast<char>(kMarkerFormat));
  PutString(m.source, &out);
  PutVarint64(m.position, &out);
  PutVarint64(m.num_shards, &out);
  PutVarint64(m.pieces, &out);
  PutVarint64(m.records, &out);
  PutVarint64(m.bytes, &out);
  out.push_back(m.complete ? 1 : 0);
  return out;
}

absl::StatusOr<MoveMarker> DecodeMoveMarker(std::string_view bytes) {
  MoveMarker m;
  engine::Reader r(bytes);
  uint8_t format = 0, complete = 0;
  std::string_view source;
  uint64_t n = 0;
  if (!r.GetByte(&format) || format != kMarkerFormat || !r.GetString(&source) ||
      !r.GetVarint64(&m.position) || !r.GetVarint64(&n) || !r.GetVarint64(&m.pieces) ||
      !r.GetVarint64(&m.records) || !r.GetVarint64(&m.bytes) || !r.GetByte(&complete) ||
      !r.done() || n > UINT32_MAX || complete > 1) {
    return absl::DataLossError("move marker: not a format-1 marker");
  }
  m.source = std::string(source);
  m.num_shards = static_cast<uint32_t>(n);
  m.complete = complete == 1;
  return m;
}

}  // namespace historian::shard_copy
