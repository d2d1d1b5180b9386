// File: csv_cmd.cc
// `historian import-csv` and `historian export-csv`: the same CSV format both
// ways (see client/csv.h), streamed so file size never matters.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "api/core/status_macros.h"
#include "client/cli/context.h"
#include "client/cli/progress.h"
#include "client/csv.h"
#include "client/sample_columns.h"
#include "client/value_text.h"

namespace historian::cli {
namespace {

namespace v1 = historian::v1;

constexpr size_t kMaxReadTags = 1000;

constexpr char kImportUsage[] =
    "Usage: historian import-csv FILE [--batch-size N]\n"
    "\n"
    "Writes the samples of a CSV file (`-`: stdin). The header is required and\n"
    "names the columns tag,time,value and optionally quality, in any order:\n"
    "  tag,time,value,quality\n"
    "  line3.oil_temp,2026-11-23T10:00:00Z,21.4,0\n"
    "  line3.state,1795428000000000000,\"running\",0\n"
    "time: RFC 3339 or integer ns. value: true/false -> bool, a number (integers\n"
    "too) -> double, otherwise (or quoted) string; converted to the tag's type\n"
    "where lossless (integer text into an int64 tag, made with create-tag --type\n"
    "int64). quality: decimal or 0x hex, empty = 0.\n"
    "Rows are sent in batches grouped by tag; every rejected row is printed to\n"
    "stderr with its line number, and the command fails if any was rejected.\n"
    "\n"
    "Flags:\n"
    "  --batch-size N   samples per write batch (default 10000)\n";

constexpr char kExportUsage[] =
    "Usage: historian export-csv TAG|GLOB [--from T] [--to T] [FILE]\n"
    "\n"
    "Writes the raw samples of the matching tags in [--from, --to) (default: the\n"
    "last hour) as CSV to FILE (default stdout), in the format import-csv reads:\n"
    "tag,time,value,quality with time as --time_format says (rfc3339 with 9\n"
    "fractional digits by default, or ns; not ms), doubles in their shortest\n"
    "exact form and strings quoted, so export then import round-trips exactly.\n"
    "Samples stream through; nothing is held in memory. --format is ignored.\n";

std::string ClientId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') std::strcpy(host, "unknown");
  // The time too: two runs can share a host and pid (pid 1 in containers, a
  // pid used again), and the node would take the second run's batches
  // for retries of the first's and drop them as duplicates.
  return absl::StrCat("import-", host, "-", getpid(), "-", absl::ToUnixNanos(absl::Now()));
}

// Accumulates rows into WriteRequests grouped by tag and sends them.
class Importer {
 public:
  Importer(CommandContext& ctx, client::OwnerRouter& client)
      : ctx_(ctx),
        client_(client),
        client_id_(ClientId()),
        progress_(Progress::ForStderr(ctx.err(), "import-csv")) {}

  void Add(client::ImportRow row) {
    auto [it, inserted] = series_index_.try_emplace(row.tag, request_.series_size());
    if (inserted) {
      request_.add_series()->set_tag(row.tag);
      lines_.emplace_back();
      last_timestamps_.push_back(0);
    }
    v1::Sample s;
    s.set_timestamp_ns(row.timestamp_ns);
    *s.mutable_value() = std::move(row.value);
    s.set_quality(row.quality);
    client::AppendSample(std::move(s), &last_timestamps_[it->second],
                         request_.mutable_series(it->second));
    lines_[it->second].push_back(row.line);
    ++pending_;
  }

  size_t pending() const { return pending_; }

  absl::Status Flush() {
    if (pending_ == 0) return absl::OkStatus();
    for (v1::TagSamples& series : *request_.mutable_series()) client::FinishSeries(&series);
    request_.set_client_id(client_id_);
    request_.set_batch_sequence(++sequence_);
    absl::StatusOr<v1::WriteAck> ack = client_.WriteBatch(request_);
    if (!ack.ok()) {
      return absl::Status(ack.status().code(),
                          absl::StrCat("batch ", sequence_, " failed after ", accepted_,
                                       " samples were accepted: ", ack.status().message()));
    }
    accepted_ += ack->accepted_count();
    progress_.Update(accepted_);
    for (const v1::RejectedSample& r : ack->rejected()) {
      int64_t line = 0;
      std::string tag;
      if (r.series_index() < lines_.size() && r.sample_index() < lines_[r.series_index()].size()) {
        line = lines_[r.series_index()][r.sample_index()];
        tag = request_.series(r.series_index()).tag();
      }
      Reject(absl::StrCat("line ", line, ": tag ", tag, ": rejected by the server: ", r.reason()));
    }
    request_.Clear();
    series_index_.clear();
    lines_.clear();
    last_timestamps_.clear();
    pending_ = 0;
    return absl::OkStatus();
  }

  void Reject(absl::string_view message) {
    ++rejected_;
    ctx_.err() << "historian: import-csv: " << message << '\n';
  }

  uint64_t accepted() const { return accepted_; }
  uint64_t rejected() const { return rejected_; }
  void FinishProgress() { progress_.Finish(); }

 private:
  CommandContext& ctx_;
  client::OwnerRouter& client_;
  const std::string client_id_;
  uint64_t sequence_ = 0;
  v1::WriteRequest request_;
  absl::flat_hash_map<std::string, int> series_index_;
  std::vector<std::vector<int64_t>> lines_;  // [series][sample] -> CSV line
  std::vector<int64_t> last_timestamps_;     // [series], for timestamp deltas
  size_t pending_ = 0;
  uint64_t accepted_ = 0;
  uint64_t rejected_ = 0;
  Progress progress_;
};

absl::Status RunImport(CommandContext& ctx, const ParsedArgs& args) {
  if (args.positional.size() != 1) {
    return absl::InvalidArgumentError("want exactly one FILE (see historian import-csv --help)");
  }
  size_t batch_size = 10000;
  if (auto b = args.Get("batch-size")) {
    if (!absl::SimpleAtoi(*b, &batch_size) || batch_size == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--batch-size: want a positive integer, got '", *b, "'"));
    }
  }
  const std::string& path = args.positional[0];
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file)
      return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
    in = &file;
  }
  client::ImportReader reader(in);
  RETURN_IF_ERROR(reader.ReadHeader());
  ASSIGN_OR_RETURN(client::Client * client, ctx.client());
  ASSIGN_OR_RETURN(client::OwnerRouter * router, ctx.router());
  Importer importer(ctx, *router);
  TagTypeCache types;
  client::ImportRow row;
  while (true) {
    absl::StatusOr<bool> more = reader.Next(&row);
    if (!more.ok()) {
      importer.Reject(more.status().message());
      continue;
    }
    if (!*more) break;
    ASSIGN_OR_RETURN(v1::ValueType type, types.Get(*client, row.tag));
    absl::StatusOr<v1::Value> value = client::CoerceValue(row.value, row.value_text, type);
    if (!value.ok()) {
      importer.Reject(
          absl::StrCat("line ", row.line, ": column value: ", value.status().message()));
      continue;
    }
    row.value = *std::move(value);
    types.RememberFirst(row.tag, client::TypeOf(row.value));
    importer.Add(std::move(row));
    if (importer.pending() >= batch_size) RETURN_IF_ERROR(importer.Flush());
  }
  if (file.is_open() ? file.bad() : in->bad()) {
    return absl::DataLossError(absl::StrCat("error reading ", path));
  }
  RETURN_IF_ERROR(importer.Flush());
  importer.FinishProgress();
  switch (ctx.format()) {
    case OutputFormat::kTable:
      ctx.out() << "accepted " << importer.accepted() << ", rejected " << importer.rejected()
                << '\n';
      break;
    case OutputFormat::kCsv:
      ctx.out() << "accepted,rejected\n"
                << importer.accepted() << ',' << importer.rejected() << '\n';
      break;
    case OutputFormat::kJson:
      ctx.out() << "{\"accepted\":" << importer.accepted()
                << ",\"rejected\":" << importer.rejected() << "}\n";
      break;
  }
  if (importer.rejected() > 0) {
    return absl::InvalidArgumentError(absl::StrCat(importer.rejected(),
                                                   " rows rejected (listed above), ",
                                                   importer.accepted(), " samples accepted"));
  }
  return absl::OkStatus();
}

absl::Status RunExport(CommandContext& ctx, const ParsedArgs& args) {
  if (args.positional.empty() || args.positional.size() > 2) {
    return absl::InvalidArgumentError("want TAG|GLOB [FILE] (see historian export-csv --help)");
  }
  if (ctx.time_style().format == client::TimeFormat::kMillis) {
    return absl::InvalidArgumentError(
        "--time_format ms would lose sub-millisecond times and import-csv reads integers as "
        "ns: use rfc3339 (default) or ns");
  }
  ASSIGN_OR_RETURN(int64_t from, TimeFlag(ctx, args, "from", "-1h"));
  ASSIGN_OR_RETURN(int64_t to, TimeFlag(ctx, args, "to", "now"));
  if (from >= to) return absl::InvalidArgumentError("--from must be before --to");
  ASSIGN_OR_RETURN(std::vector<std::string> tags, ResolveTags(ctx, {args.positional[0]}));
  ASSIGN_OR_RETURN(client::Client * client, ctx.client());

  std::ofstream file;
  std::ostream* out = &ctx.out();
  std::string path = "stdout";
  if (args.positional.size() == 2 && args.positional[1] != "-") {
    path = args.positional[1];
    file.open(path, std::ios::binary | std::ios::trunc);
    if (!file)
      return absl::NotFoundError(absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
    out = &file;
  }
  SampleWriter writer(out, OutputFormat::kCsv, 0, ctx.time_style());
  Progress progress = Progress::ForStderr(ctx.err(), "export-csv");
  uint64_t exported = 0;
  writer.WriteHeader();  // even when there is no sample, so the file imports cleanly
  for (size_t begin = 0; begin < tags.size(); begin += kMaxReadTags) {
    v1::ReadRequest request;
    for (size_t i = begin; i < std::min(tags.size(), begin + kMaxReadTags); ++i) {
      request.add_tags(tags[i]);
    }
    request.set_start_ns(from);
    request.set_end_ns(to);
    request.set_columns(true);
    google::protobuf::RepeatedPtrField<v1::Sample> scratch;
    RETURN_IF_ERROR(client->Read(request, [&](const v1::ReadResponse& response) {
      const auto& samples = client::ResponseSamples(response, &scratch);
      for (const v1::Sample& s : samples) writer.Write(response.tag(), s);
      exported += samples.size();
      progress.Update(exported);
      if (!*out) return absl::DataLossError(absl::StrCat("cannot write to ", path));
      return absl::OkStatus();
    }));
  }
  out->flush();
  progress.Finish();
  if (!*out) return absl::DataLossError(absl::StrCat("cannot write to ", path));
  return absl::OkStatus();
}

}  // namespace

std::vector<Command> CsvCommands() {
  return {
      {"import-csv",
       "write the samples of a CSV file",
       kImportUsage,
       {{"batch-size", true}},
       RunImport},
      {"export-csv",
       "write raw samples as CSV (the import format)",
       kExportUsage,
       {{"from", true}, {"to", true}},
       RunExport},
  };
}

}  // namespace historian::cli
