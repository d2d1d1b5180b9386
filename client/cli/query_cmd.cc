// File: query_cmd.cc
// `historian query` (raw, --agg, --interpolate, --plot) and `historian latest`.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/core/status_macros.h"
#include "client/aggregate_windows.h"
#include "client/cli/context.h"
#include "client/sample_columns.h"
#include "client/time_parse.h"

namespace historian::cli {
namespace {

namespace v1 = historian::v1;

constexpr size_t kMaxReadTags = 1000;     // ReadRequest.tags limit
constexpr size_t kMaxLatestTags = 10000;  // LatestRequest.tags limit
constexpr int64_t kNanosPerDay = int64_t{86400} * 1000000000;

constexpr char kQueryUsage[] =
    "Usage: historian query TAG|GLOB... [--from T] [--to T] [--limit N] [--bounds]\n"
    "       historian query TAG|GLOB... --agg FN[,FN...] --step D [--align calendar|start]\n"
    "                       [--good-only] [--max-gap D]\n"
    "       historian query TAG|GLOB... --interpolate prev|linear --step D [--max-gap D]\n"
    "       historian query TAG|GLOB... --plot N\n"
    "\n"
    "Reads samples in [--from, --to) (default: the last hour). Raw samples are\n"
    "streamed to stdout as they arrive, following continuation tokens to the end;\n"
    "--limit N stops after N samples and says so on stderr. Globs (`*`, `?`) are\n"
    "expanded through the catalog.\n"
    "\n"
    "Flags:\n"
    "  --from T, --to T     RFC 3339 (2026-11-23T10:00:00Z), epoch with a unit\n"
    "                       (1700000000s, ...ms, ...ns), now, or relative: -1h,\n"
    "                       -30m, -7d, -1h30m, -1.5h, now-15s\n"
    "  --limit N            at most N raw samples in all\n"
    "  --bounds             also the last sample before --from and the first at or\n"
    "                       after --to\n"
    "  --agg FN,...         aggregates per --step window: count sum min max avg first\n"
    "                       last stddev twa (time-weighted avg) delta rate; every\n"
    "                       row has the count column, whether count is asked or not\n"
    "  --good-only          aggregates count only Good-quality samples\n"
    "  --interpolate M      values every --step: prev (step) or linear\n"
    "  --max-gap D          a sample holds for at most D (twa, interpolation)\n"
    "  --step D             window / interpolation step: 500ms, 1m, 1h, 1d; for\n"
    "                       --agg also 1w (ISO weeks, from Monday) and 1mo (months)\n"
    "  --align A            --agg windows: calendar (default) at multiples of the\n"
    "                       step since the epoch, days/weeks/months at midnights of\n"
    "                       --tz (default UTC), the first and last clipped to\n"
    "                       [--from, --to); start: at --from + k * step\n"
    "  --plot N             first/last/min/max per bucket, N buckets\n";

constexpr char kLatestUsage[] =
    "Usage: historian latest TAG...|GLOB\n"
    "\n"
    "Prints the newest sample of each tag (`-` when a tag has none). A single\n"
    "argument with `*` or `?` is sent as a glob. A tag that does not exist is\n"
    "reported on stderr and the others still print; the command then fails.\n";

size_t MaxWidth(const std::vector<std::string>& names) {
  size_t w = 0;
  for (const std::string& n : names) w = std::max(w, n.size());
  return w;
}

absl::StatusOr<v1::AggregateFunction> ParseAggregate(absl::string_view name) {
  const std::string n = absl::AsciiStrToLower(name);
  if (n == "count") return v1::COUNT;
  if (n == "sum") return v1::SUM;
  if (n == "min") return v1::MIN;
  if (n == "max") return v1::MAX;
  if (n == "avg" || n == "mean") return v1::AVG;
  if (n == "first") return v1::FIRST;
  if (n == "last") return v1::LAST;
  if (n == "stddev") return v1::STDDEV;
  if (n == "twa" || n == "time_weighted_avg") return v1::TIME_WEIGHTED_AVG;
  if (n == "delta") return v1::DELTA;
  if (n == "rate") return v1::RATE;
  return absl::InvalidArgumentError(
      absl::StrCat("--agg: unknown function '", name,
                   "' (want count, sum, min, max, avg, first, last, stddev, twa, delta, rate)"));
}

absl::StatusOr<int64_t> DurationFlag(const ParsedArgs& args, absl::string_view name) {
  const std::optional<std::string> text = args.Get(name);
  if (!text.has_value())
    return absl::InvalidArgumentError(absl::StrCat("--", name, " is required"));
  absl::StatusOr<int64_t> ns = client::ParseDuration(*text);
  if (!ns.ok())
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", ns.status().message()));
  return ns;
}

absl::Status ReadRaw(CommandContext& ctx, client::Client& client,
                     const std::vector<std::string>& tags, int64_t from, int64_t to,
                     const ParsedArgs& args) {
  uint64_t limit = 0;  // 0: no limit
  if (auto text = args.Get("limit")) {
    if (!absl::SimpleAtoi(*text, &limit) || limit == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--limit: want a positive integer, got '", *text, "'"));
    }
  }
  // With --limit, continuation tokens are still followed (the node may cap a
  // stream below the limit); the read is cancelled once `limit` samples are out.
  const absl::Status kLimitReached = absl::CancelledError("limit reached");
  uint64_t remaining = limit;
  bool more_exist = false;
  SampleWriter writer(&ctx.out(), ctx.format(), MaxWidth(tags), ctx.time_style());
  for (size_t begin = 0; begin < tags.size() && !more_exist; begin += kMaxReadTags) {
    if (limit > 0 && remaining == 0) {
      more_exist = true;  // tags left unread
      break;
    }
    v1::ReadRequest request;
    for (size_t i = begin; i < std::min(tags.size(), begin + kMaxReadTags); ++i) {
      request.add_tags(tags[i]);
    }
    request.set_start_ns(from);
    request.set_end_ns(to);
    request.set_include_bounds(args.Has("bounds"));
    request.set_limit(remaining);
    request.set_columns(true);
    google::protobuf::RepeatedPtrField<v1::Sample> scratch;
    absl::Status status = client.Read(request, [&](const v1::ReadResponse& response) {
      const auto& samples = client::ResponseSamples(response, &scratch);
      for (int i = 0; i < samples.size(); ++i) {
        if (limit > 0 && remaining == 0) {
          more_exist = true;
          return kLimitReached;
        }
        writer.Write(response.tag(), samples[i]);
        if (limit > 0) --remaining;
      }
      if (limit > 0 && remaining == 0 && !response.continuation_token().empty()) {
        more_exist = true;
        return kLimitReached;
      }
      return absl::OkStatus();
    });
    if (!status.ok() && status != kLimitReached) return status;
  }
  if (more_exist) {
    ctx.err() << "historian: query: stopped at --limit " << limit << "; more samples may exist\n";
  }
  return absl::OkStatus();
}

// --step, --align and --tz into the request: calendar windows unless
// `--align start`; `--step Nw` is N ISO weeks, `Nmo` N months (calendar
// only), other steps a duration (whole days fall on local midnights of --tz).
absl::Status SetAggregateWindows(const ParsedArgs& args, v1::AggregateRequest* request) {
  const std::string align = absl::AsciiStrToLower(args.Get("align").value_or("calendar"));
  if (align != "calendar" && align != "start") {
    return absl::InvalidArgumentError(
        absl::StrCat("--align: want calendar or start, got '", align, "'"));
  }
  const bool calendar = align == "calendar";
  request->set_align(calendar ? v1::CALENDAR : v1::START);
  if (calendar) request->set_time_zone(args.Get("tz").value_or(""));
  const std::string step = args.Get("step").value_or("");
  int64_t count = 0;
  for (auto [suffix, unit] : {std::pair{"mo", v1::MONTH}, std::pair{"w", v1::WEEK}}) {
    if (absl::EndsWith(step, suffix) &&
        absl::SimpleAtoi(absl::string_view(step).substr(0, step.size() - strlen(suffix)), &count)) {
      if (count <= 0) return absl::InvalidArgumentError("--step: want a positive count");
      if (calendar) {
        request->set_step_unit(unit);
        request->set_step_count(count);
        return absl::OkStatus();
      }
      if (unit == v1::MONTH) {
        return absl::InvalidArgumentError("--step: months need --align calendar");
      }
      if (count > INT64_MAX / (7 * kNanosPerDay)) {
        return absl::InvalidArgumentError("--step: too many weeks");
      }
      request->set_step_ns(count * 7 * kNanosPerDay);
      return absl::OkStatus();
    }
  }
  ASSIGN_OR_RETURN(int64_t ns, DurationFlag(args, "step"));
  request->set_step_ns(ns);
  return absl::OkStatus();
}

absl::Status RunAggregate(CommandContext& ctx, client::Client& client,
                          const std::vector<std::string>& tags, int64_t from, int64_t to,
                          const ParsedArgs& args) {
  v1::AggregateRequest request;
  for (const std::string& t : tags) request.add_tags(t);
  request.set_start_ns(from);
  request.set_end_ns(to);
  RETURN_IF_ERROR(SetAggregateWindows(args, &request));
  request.set_good_only(args.Has("good-only"));
  if (args.Has("max-gap")) {
    ASSIGN_OR_RETURN(int64_t gap, DurationFlag(args, "max-gap"));
    request.set_max_gap_ns(gap);
  }
  std::vector<std::string> names;
  for (absl::string_view fn : absl::StrSplit(*args.Get("agg"), ',', absl::SkipWhitespace())) {
    ASSIGN_OR_RETURN(v1::AggregateFunction f, ParseAggregate(fn));
    request.add_functions(f);
    names.push_back(absl::AsciiStrToLower(fn));
  }
  if (names.empty()) return absl::InvalidArgumentError("--agg: no function given");
  request.set_columns(true);  // the compact form; unpacked below
  ASSIGN_OR_RETURN(v1::AggregateResponse response, client.Aggregate(request));
  AggregateWriter writer(&ctx.out(), ctx.format(), std::move(names), MaxWidth(tags),
                         ctx.time_style());
  google::protobuf::RepeatedPtrField<v1::AggregateWindow> scratch;
  for (const v1::AggregateSeries& series : response.series()) {
    ASSIGN_OR_RETURN(const auto* windows, client::SeriesWindows(request, series, &scratch));
    for (const v1::AggregateWindow& w : *windows) writer.Write(series.tag(), w);
  }
  return absl::OkStatus();
}

absl::Status RunInterpolate(CommandContext& ctx, client::Client& client,
                            const std::vector<std::string>& tags, int64_t from, int64_t to,
                            const ParsedArgs& args) {
  v1::InterpolateRequest request;
  for (const std::string& t : tags) request.add_tags(t);
  request.set_start_ns(from);
  request.set_end_ns(to);
  ASSIGN_OR_RETURN(int64_t step, DurationFlag(args, "step"));
  request.set_step_ns(step);
  if (args.Has("max-gap")) {
    ASSIGN_OR_RETURN(int64_t gap, DurationFlag(args, "max-gap"));
    request.set_max_gap_ns(gap);
  }
  const std::string method = absl::AsciiStrToLower(*args.Get("interpolate"));
  if (method == "prev" || method == "previous") {
    request.set_method(v1::PREVIOUS);
  } else if (method == "linear") {
    request.set_method(v1::LINEAR);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--interpolate: want prev or linear, got '", method, "'"));
  }
  ASSIGN_OR_RETURN(v1::InterpolateResponse response, client.Interpolate(request));
  SampleWriter writer(&ctx.out(), ctx.format(), MaxWidth(tags), ctx.time_style());
  for (const v1::InterpolatedSeries& series : response.series()) {
    for (const v1::Sample& s : series.samples()) writer.Write(series.tag(), s);
  }
  return absl::OkStatus();
}

absl::Status RunPlot(CommandContext& ctx, client::Client& client,
                     const std::vector<std::string>& tags, int64_t from, int64_t to,
                     const ParsedArgs& args) {
  uint32_t buckets;
  if (!absl::SimpleAtoi(*args.Get("plot"), &buckets) || buckets == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--plot: want a positive number of buckets, got '", *args.Get("plot"), "'"));
  }
  v1::PlotRequest request;
  for (const std::string& t : tags) request.add_tags(t);
  request.set_start_ns(from);
  request.set_end_ns(to);
  request.set_buckets(buckets);
  ASSIGN_OR_RETURN(v1::PlotResponse response, client.Plot(request));
  SampleWriter writer(&ctx.out(), ctx.format(), MaxWidth(tags), ctx.time_style());
  for (const v1::PlotSeries& series : response.series()) {
    for (const v1::Sample& s : series.samples()) writer.Write(series.tag(), s);
  }
  return absl::OkStatus();
}

absl::Status RunQuery(CommandContext& ctx, const ParsedArgs& args) {
  if (args.positional.empty()) {
    return absl::InvalidArgumentError("want at least one TAG (see historian query --help)");
  }
  const int modes = args.Has("agg") + args.Has("interpolate") + args.Has("plot");
  if (modes > 1)
    return absl::InvalidArgumentError("--agg, --interpolate and --plot exclude each other");
  if (modes == 1 && (args.Has("limit") || args.Has("bounds"))) {
    return absl::InvalidArgumentError("--limit and --bounds apply to raw queries only");
  }
  ASSIGN_OR_RETURN(int64_t from, TimeFlag(ctx, args, "from", "-1h"));
  ASSIGN_OR_RETURN(int64_t to, TimeFlag(ctx, args, "to", "now"));
  if (from >= to) return absl::InvalidArgumentError("--from must be before --to");
  ASSIGN_OR_RETURN(std::vector<std::string> tags, ResolveTags(ctx, args.positional));
  ASSIGN_OR_RETURN(client::Client * client, ctx.client());
  if (args.Has("agg")) return RunAggregate(ctx, *client, tags, from, to, args);
  if (args.Has("interpolate")) return RunInterpolate(ctx, *client, tags, from, to, args);
  if (args.Has("plot")) return RunPlot(ctx, *client, tags, from, to, args);
  return ReadRaw(ctx, *client, tags, from, to, args);
}

absl::Status RunLatest(CommandContext& ctx, const ParsedArgs& args) {
  if (args.positional.empty()) {
    return absl::InvalidArgumentError("want TAG... or a GLOB (see historian latest --help)");
  }
  ASSIGN_OR_RETURN(client::Client * client, ctx.client());
  std::vector<v1::LatestRequest> requests;
  if (args.positional.size() == 1 && IsGlob(args.positional[0])) {
    requests.emplace_back().set_glob(args.positional[0]);
  } else {
    for (size_t i = 0; i < args.positional.size(); ++i) {
      if (IsGlob(args.positional[i])) {
        return absl::InvalidArgumentError("give either tag names or one glob");
      }
      if (i % kMaxLatestTags == 0) requests.emplace_back();
      requests.back().add_tags(args.positional[i]);
    }
  }
  std::unique_ptr<SampleWriter> writer;
  auto print = [&](const v1::LatestResponse& response) {
    if (writer == nullptr) {
      size_t width = 0;
      for (const v1::LatestValue& v : response.values()) width = std::max(width, v.tag().size());
      writer = std::make_unique<SampleWriter>(&ctx.out(), ctx.format(), width, ctx.time_style());
    }
    for (const v1::LatestValue& v : response.values()) {
      if (v.has_sample()) {
        writer->Write(v.tag(), v.sample());
      } else {
        writer->WriteMissing(v.tag());
      }
    }
  };
  size_t not_found = 0;
  for (const v1::LatestRequest& request : requests) {
    absl::StatusOr<v1::LatestResponse> response = client->Latest(request);
    if (response.ok()) {
      print(*response);
      continue;
    }
    // The node refuses the whole request for one unknown tag: ask tag by tag
    // so the others still print.
    if (!absl::IsNotFound(response.status()) || request.tags_size() == 0) return response.status();
    for (const std::string& tag : request.tags()) {
      v1::LatestRequest one;
      one.add_tags(tag);
      absl::StatusOr<v1::LatestResponse> single = client->Latest(one);
      if (absl::IsNotFound(single.status())) {
        ++not_found;
        ctx.err() << "historian: latest: tag " << tag
                  << ": NOT_FOUND: " << single.status().message() << '\n';
        continue;
      }
      if (!single.ok()) return single.status();
      print(*single);
    }
  }
  if (not_found > 0) {
    return absl::NotFoundError(
        absl::StrCat(not_found, " of ", args.positional.size(), " tags not found (listed above)"));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<Command> QueryCommands() {
  return {
      {"query",
       "read raw samples, aggregates, interpolated values or plot data",
       kQueryUsage,
       {{"from", true},
        {"to", true},
        {"limit", true},
        {"bounds", false},
        {"agg", true},
        {"good-only", false},
        {"interpolate", true},
        {"max-gap", true},
        {"step", true},
        {"align", true},
        {"plot", true}},
       RunQuery},
      {"latest", "print the newest sample of tags", kLatestUsage, {}, RunLatest},
  };
}

}  // namespace historian::cli
