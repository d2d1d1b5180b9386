// `historian watch`: live samples of tags (Query.Subscribe). On a terminal
// a table of each tag's newest sample, redrawn in place; otherwise one line
// per sample in --format. A dropped connection is resumed with the last
// resume token, so nothing is missed or printed twice.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/core/status_macros.h"
#include "client/cli/context.h"
#include "client/sample_columns.h"

namespace historian::cli {
namespace {

namespace v1 = historian::v1;

constexpr char kWatchUsage[] =
    "Usage: historian watch GLOB|TAG... [--count N]\n"
    "\n"
    "Prints new samples of the tags as the node acknowledges them, also those\n"
    "replicated from the other site (pushed by the node: Query.Subscribe). A\n"
    "single argument with `*` or `?` is a glob, and tags created later that\n"
    "match it are included. On a terminal (table format) a table of each tag's\n"
    "newest sample, its origin site and count is redrawn in place; otherwise\n"
    "one line per sample. A dropped connection is resumed where it stopped. When\n"
    "the node had to skip samples (a slow reader, or a long disconnection) a\n"
    "line on stderr names the time range to re-read with `historian query`.\n"
    "\n"
    "  --count N   stop after N samples\n";

struct Row {
  v1::Sample sample;
  std::string origin;
  uint64_t count = 0;
};

// The in-place table: cursor home, clear, then the rows.
void Redraw(CommandContext& ctx, const std::map<std::string, Row>& rows) {
  size_t width = 3;
  for (const auto& [tag, row] : rows) width = std::max(width, tag.size());
  std::ostringstream s;
  s << "\x1b[H\x1b[J";
  s << "tag" << std::string(width - 3 + 2, ' ') << "time" << std::string(28, ' ')
    << "value            quality     origin  count\n";
  for (const auto& [tag, row] : rows) {
    std::string time = ctx.time_style().Format(row.sample.timestamp_ns());
    std::string value = FormatValue(row.sample.value(), OutputFormat::kTable);
    s << tag << std::string(width - tag.size() + 2, ' ') << time
      << std::string(time.size() < 32 ? 32 - time.size() : 1, ' ') << value
      << std::string(value.size() < 17 ? 17 - value.size() : 1, ' ') << row.sample.quality()
      << std::string(12 - std::min<size_t>(11, absl::StrCat(row.sample.quality()).size()), ' ')
      << row.origin << std::string(row.origin.size() < 8 ? 8 - row.origin.size() : 1, ' ')
      << row.count << '\n';
  }
  ctx.out() << s.str() << std::flush;
}

absl::Status RunWatch(CommandContext& ctx, const ParsedArgs& args) {
  if (args.positional.empty()) {
    return absl::InvalidArgumentError("want a GLOB or TAG... (see historian watch --help)");
  }
  uint64_t limit = 0;
  if (std::optional<std::string> c = args.Get("count")) {
    if (!absl::SimpleAtoi(*c, &limit) || limit == 0) {
      return absl::InvalidArgumentError("--count: want a positive number");
    }
  }
  v1::SubscribeRequest request;
  if (args.positional.size() == 1 && IsGlob(args.positional[0])) {
    request.set_glob(args.positional[0]);
  } else {
    for (const std::string& t : args.positional) request.add_tags(t);
  }
  ASSIGN_OR_RETURN(client::Client * client, ctx.client());
  const bool in_place = &ctx.out() == &std::cout && isatty(STDOUT_FILENO) == 1 &&
                        ctx.format() == OutputFormat::kTable;
  std::unique_ptr<SampleWriter> lines;
  std::map<std::string, Row> rows;
  uint64_t seen = 0;
  bool done = false;
  auto on_message = [&](const v1::SubscribeResponse& r) -> absl::Status {
    request.set_resume_token(r.resume_token());
    if (r.has_lagged()) {
      ctx.err() << "historian: watch: " << r.lagged().reason() << ": samples skipped; re-read "
                << ctx.time_style().Format(r.lagged().start_ns()) << " .. "
                << ctx.time_style().Format(r.lagged().end_ns())
                << " with `historian query TAG --from .. --to ..`" << std::endl;
    }
    for (const v1::SubscribedSamples& b : r.batches()) {
      google::protobuf::RepeatedPtrField<v1::Sample> unpacked;
      if (b.has_columns()) client::ColumnsToSamples(b.columns(), &unpacked);
      for (const v1::Sample& s : b.has_columns() ? unpacked : b.samples()) {
        if (in_place) {
          Row& row = rows[b.tag()];
          row.sample = s;
          row.origin = b.origin_site();
          ++row.count;
        } else {
          if (lines == nullptr) {
            lines = std::make_unique<SampleWriter>(&ctx.out(), ctx.format(), 24, ctx.time_style());
          }
          lines->Write(b.tag(), s);
        }
        if (limit != 0 && ++seen >= limit) {
          done = true;
          break;
        }
      }
      if (done) break;
    }
    if (in_place && r.batches_size() > 0) Redraw(ctx, rows);
    if (!in_place) ctx.out().flush();
    if (done) return absl::CancelledError("count reached");
    return absl::OkStatus();
  };
  while (true) {
    const std::string token_before = request.resume_token();
    absl::Status s = client->Subscribe(request, on_message);
    if (done) return absl::OkStatus();
    // Resume after a dropped connection, but only once the node answered
    // (a node that refuses or is not there is an error).
    if (s.code() != absl::StatusCode::kUnavailable || request.resume_token().empty()) return s;
    ctx.err() << "historian: watch: " << s.message() << "; resuming" << std::endl;
    if (request.resume_token() == token_before)
      std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace

std::vector<Command> WatchCommands() {
  return {{"watch",
           "print new samples of tags as they arrive",
           kWatchUsage,
           {{"count", true}},
           RunWatch}};
}

}  // namespace historian::cli
