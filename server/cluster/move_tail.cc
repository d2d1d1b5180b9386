#include "server/cluster/move_tail.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "server/status_util.h"
#include "storage/engine/log_entry.h"

namespace historian::cluster {

void KeepOnlyMovingShards(const Store& target, const server::ShardSet& moving,
                          engine::LogEntry* entry) {
  auto created_here = [&](TagId id) {
    return std::any_of(entry->catalog_upserts.begin(), entry->catalog_upserts.end(),
                       [&](const engine::TagInfo& info) { return info.id == id; });
  };
  std::erase_if(entry->series, [&](const engine::SeriesData& s) {
    if (created_here(s.tag)) return false;
    absl::StatusOr<std::string> name = target.TagName(s.tag);
    return name.ok() && !moving.OwnsTag(*name);
  });
}

MoveTail::MoveTail(Store* store, v1::Replication::StubInterface* stub, grpc::ClientContext* context,
                   v1::PullRequest first, std::string origin)
    : store_(store),
      stub_(stub),
      context_(context),
      first_(std::move(first)),
      origin_(std::move(origin)) {
  if (absl::StatusOr<server::ShardSet> set = server::ShardSet::FromProto(first_.filter());
      set.ok()) {
    moving_ = *std::move(set);
  }
  progress_.applied = store_->AppliedSequence(origin_);
}

MoveTail::~MoveTail() {
  if (stream_ != nullptr) {
    context_->TryCancel();
    stream_->Finish().ok();  // cancelled: its status says so
  }
}

absl::Status MoveTail::Apply(const v1::LogRecord& record) {
  engine::LogEntry entry;
  RETURN_IF_ERROR(engine::DecodeLogEntry(record.entry(), &entry));
  entry.event_writes.clear();
  if (moving_.has_value()) KeepOnlyMovingShards(*store_, *moving_, &entry);
  if (entry.series.empty() && entry.catalog_upserts.empty() && entry.catalog_deletes.empty() &&
      entry.tombstones.empty()) {
    return absl::OkStatus();  // nothing of the shard: the cursor moves after the answer
  }
  std::string bytes;
  engine::EncodeLogEntry(entry, &bytes);
  RETURN_IF_ERROR(store_->ApplyReplicated(origin_, record.sequence(), bytes).status());
  ++progress_.entries_applied;
  for (const engine::TagInfo& info : entry.catalog_upserts) tags_defined_.push_back(info.id);
  return absl::OkStatus();
}

absl::Status MoveTail::RunUntil(const std::function<bool(const Progress&)>& done) {
  if (stream_ == nullptr) {
    first_.set_from_sequence(progress_.applied + 1);
    stream_ = stub_->Pull(context_);
    if (!stream_->Write(first_)) {
      grpc::Status s = stream_->Finish();
      stream_.reset();
      return server::FromGrpcStatus(s);
    }
  }
  v1::PullResponse response;
  while (stream_->Read(&response)) {
    if (response.gap()) {
      return absl::DataLossError(absl::StrCat(
          "the source's own log starts at ", response.log_start_sequence(),
          ", past this move's cursor ", progress_.applied, " (its retention limits trimmed it)"));
    }
    for (const v1::LogRecord& record : response.records()) {
      if (record.sequence() <= progress_.applied) continue;
      if (absl::Status s = Apply(record); !s.ok()) {
        return absl::Status(s.code(),
                            absl::StrCat("source entry ", record.sequence(), ": ", s.message()));
      }
    }
    if (!response.records().empty() &&
        response.records().rbegin()->sequence() > progress_.applied) {
      // Entries cut down to nothing moved no cursor: the last one does.
      RETURN_IF_ERROR(store_->AdvanceCursor(origin_, response.records().rbegin()->sequence()));
      progress_.applied = store_->AppliedSequence(origin_);
    }
    progress_.head = response.head_sequence();
    progress_.caught_up = response.records().empty();
    if (done(progress_)) return absl::OkStatus();
  }
  grpc::Status s = stream_->Finish();
  stream_.reset();
  if (s.ok()) return absl::UnavailableError("the source ended the move's tail");
  return server::FromGrpcStatus(s);
}

}  // namespace historian::cluster
