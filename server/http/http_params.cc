#include "server/http/http_params.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/time_parse.h"

namespace historian::server::http {
namespace {

const std::string* Find(const Params& params, const std::string& name) {
  auto it = params.find(name);
  return it == params.end() ? nullptr : &it->second;
}

absl::Status Bad(absl::string_view name, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(name, ": ", why));
}

template <typename Int>
absl::Status ParseInt(const Params& params, const std::string& name, Int* out) {
  const std::string* v = Find(params, name);
  if (v == nullptr) return absl::OkStatus();
  if (!absl::SimpleAtoi(*v, out)) return Bad(name, absl::StrCat("'", *v, "' is not an integer"));
  return absl::OkStatus();
}

absl::Status ParseBool(const Params& params, const std::string& name, bool* out) {
  const std::string* v = Find(params, name);
  if (v == nullptr) return absl::OkStatus();
  if (v->empty() || !absl::SimpleAtob(*v, out)) {
    return Bad(name, absl::StrCat("'", *v, "' is not true or false"));
  }
  return absl::OkStatus();
}

// `NAME` as a duration (`1h`, `500ms`) or `NAME_ns` as integer nanoseconds.
absl::Status ParseDurationParam(const Params& params, const std::string& name, int64_t* out) {
  if (const std::string* v = Find(params, name); v != nullptr) {
    absl::StatusOr<int64_t> d = client::ParseDuration(*v);
    if (!d.ok()) return Bad(name, d.status().message());
    *out = *d;
    return absl::OkStatus();
  }
  return ParseInt(params, name + "_ns", out);
}

// Tags from every `tags` parameter, each a comma-separated list.
std::vector<std::string> Tags(const Params& params) {
  std::vector<std::string> tags;
  auto [begin, end] = params.equal_range("tags");
  for (auto it = begin; it != end; ++it) {
    for (absl::string_view t : absl::StrSplit(it->second, ',', absl::SkipWhitespace())) {
      tags.emplace_back(absl::StripAsciiWhitespace(t));
    }
  }
  return tags;
}

// One bound: `name` as the CLI takes times (RFC 3339, `-1h`, `now`,
// `1700000000000ms`), or `name`_ns in nanoseconds; else unchanged.
absl::Status ParseTimeParam(const Params& params, const std::string& name, int64_t now_ns,
                            int64_t* out) {
  if (const std::string* v = Find(params, name); v != nullptr) {
    absl::StatusOr<int64_t> t = client::ParseTime(*v, now_ns);
    if (!t.ok()) return Bad(name, t.status().message());
    *out = *t;
  }
  return ParseInt(params, name + "_ns", out);
}

// [start, end), by default the hour before now.
absl::Status ParseRange(const Params& params, int64_t now_ns, int64_t* start, int64_t* end) {
  *end = now_ns;
  if (absl::Status s = ParseTimeParam(params, "end", now_ns, end); !s.ok()) return s;
  *start = *end - int64_t{3600} * 1000000000;  // the hour before the end
  return ParseTimeParam(params, "start", now_ns, start);
}

absl::StatusOr<v1::AggregateFunction> ParseFunction(absl::string_view text) {
  static const auto* const kNames = new std::map<std::string, v1::AggregateFunction>{
      {"count", v1::COUNT}, {"sum", v1::SUM},       {"min", v1::MIN},
      {"max", v1::MAX},     {"avg", v1::AVG},       {"first", v1::FIRST},
      {"last", v1::LAST},   {"stddev", v1::STDDEV}, {"twa", v1::TIME_WEIGHTED_AVG},
      {"delta", v1::DELTA}, {"rate", v1::RATE},
  };
  const std::string lower = absl::AsciiStrToLower(text);
  if (auto it = kNames->find(lower); it != kNames->end()) return it->second;
  v1::AggregateFunction f;
  if (v1::AggregateFunction_Parse(absl::AsciiStrToUpper(text), &f) &&
      f != v1::AGGREGATE_FUNCTION_UNSPECIFIED) {
    return f;
  }
  return Bad("functions", absl::StrCat("unknown function '", text,
                                       "' (count, sum, min, max, avg, first, last, stddev, "
                                       "twa, delta, rate)"));
}

}  // namespace

std::string FunctionName(v1::AggregateFunction f) {
  if (f == v1::TIME_WEIGHTED_AVG) return "twa";
  return absl::AsciiStrToLower(v1::AggregateFunction_Name(f));
}

absl::StatusOr<OutputOptions> ParseOutput(const Params& params, const std::string& accept) {
  OutputOptions out;
  if (const std::string* f = Find(params, "format"); f != nullptr) {
    if (*f == "csv") {
      out.csv = true;
    } else if (*f != "json") {
      return Bad("format", absl::StrCat("'", *f, "' is not json or csv"));
    }
  } else {
    out.csv = absl::StrContains(accept, "text/csv");
  }
  if (const std::string* t = Find(params, "time_format"); t != nullptr) {
    if (*t == "epoch_ms") {
      out.epoch_ms = true;
    } else if (*t != "iso") {
      return Bad("time_format", absl::StrCat("'", *t, "' is not iso or epoch_ms"));
    }
  }
  return out;
}

absl::StatusOr<v1::ListTagsRequest> ListTagsFromParams(const Params& params) {
  v1::ListTagsRequest r;
  if (const std::string* g = Find(params, "glob"); g != nullptr) r.set_glob(*g);
  if (const std::string* t = Find(params, "page_token"); t != nullptr) r.set_page_token(*t);
  uint32_t page_size = 0;
  if (absl::Status s = ParseInt(params, "page_size", &page_size); !s.ok()) return s;
  r.set_page_size(page_size);
  // attr=KEY=VALUE, repeated (as the CLI's --attr): every one must match.
  auto [begin, end] = params.equal_range("attr");
  for (auto it = begin; it != end; ++it) {
    const size_t eq = it->second.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Bad("attr", absl::StrCat("'", it->second, "' is not KEY=VALUE"));
    }
    (*r.mutable_attributes())[it->second.substr(0, eq)] = it->second.substr(eq + 1);
  }
  return r;
}

absl::StatusOr<v1::ReadRequest> ReadFromParams(const Params& params, int64_t now_ns) {
  v1::ReadRequest r;
  for (std::string& t : Tags(params)) r.add_tags(std::move(t));
  int64_t start = 0, end = 0;
  if (absl::Status s = ParseRange(params, now_ns, &start, &end); !s.ok()) return s;
  r.set_start_ns(start);
  r.set_end_ns(end);
  uint64_t limit = kDefaultHttpReadLimit;
  if (absl::Status s = ParseInt(params, "limit", &limit); !s.ok()) return s;
  r.set_limit(limit);
  bool bounds = false;
  if (absl::Status s = ParseBool(params, "include_bounds", &bounds); !s.ok()) return s;
  r.set_include_bounds(bounds);
  if (const std::string* t = Find(params, "continuation_token"); t != nullptr) {
    std::string raw;
    if (!absl::WebSafeBase64Unescape(*t, &raw)) {
      return Bad("continuation_token", "not a token of a previous answer (base64url)");
    }
    r.set_continuation_token(raw);
  }
  return r;
}

absl::StatusOr<v1::AggregateRequest> AggregateFromParams(const Params& params, int64_t now_ns) {
  v1::AggregateRequest r;
  for (std::string& t : Tags(params)) r.add_tags(std::move(t));
  int64_t start = 0, end = 0;
  if (absl::Status s = ParseRange(params, now_ns, &start, &end); !s.ok()) return s;
  r.set_start_ns(start);
  r.set_end_ns(end);
  int64_t step = 0, max_gap = 0;
  if (absl::Status s = ParseDurationParam(params, "step", &step); !s.ok()) return s;
  if (absl::Status s = ParseDurationParam(params, "max_gap", &max_gap); !s.ok()) return s;
  r.set_step_ns(step);
  r.set_max_gap_ns(max_gap);
  const std::string* fs = Find(params, "functions");
  for (absl::string_view f : absl::StrSplit(fs == nullptr ? "avg" : *fs, ',', absl::SkipEmpty())) {
    absl::StatusOr<v1::AggregateFunction> fn = ParseFunction(absl::StripAsciiWhitespace(f));
    if (!fn.ok()) return fn.status();
    r.add_functions(*fn);
  }
  bool good_only = false;
  if (absl::Status s = ParseBool(params, "good_only", &good_only); !s.ok()) return s;
  r.set_good_only(good_only);
  // Calendar windows by default: what a person asking for "1d" expects.
  r.set_align(v1::CALENDAR);
  if (const std::string* a = Find(params, "align"); a != nullptr) {
    if (absl::EqualsIgnoreCase(*a, "start")) {
      r.set_align(v1::START);
    } else if (!absl::EqualsIgnoreCase(*a, "calendar")) {
      return Bad("align", absl::StrCat("'", *a, "' is not calendar or start"));
    }
  }
  if (const std::string* z = Find(params, "time_zone"); z != nullptr) r.set_time_zone(*z);
  if (const std::string* u = Find(params, "step_unit"); u != nullptr) {
    v1::CalendarUnit unit;
    if (!v1::CalendarUnit_Parse(absl::AsciiStrToUpper(*u), &unit)) {
      return Bad("step_unit", absl::StrCat("'", *u, "' is not day, week or month"));
    }
    r.set_step_unit(unit);
  }
  int64_t count = 0;
  if (absl::Status s = ParseInt(params, "step_count", &count); !s.ok()) return s;
  r.set_step_count(count);
  return r;
}

absl::StatusOr<v1::PlotRequest> PlotFromParams(const Params& params, int64_t now_ns) {
  v1::PlotRequest r;
  for (std::string& t : Tags(params)) r.add_tags(std::move(t));
  int64_t start = 0, end = 0;
  if (absl::Status s = ParseRange(params, now_ns, &start, &end); !s.ok()) return s;
  r.set_start_ns(start);
  r.set_end_ns(end);
  uint32_t buckets = 1000;
  if (absl::Status s = ParseInt(params, "buckets", &buckets); !s.ok()) return s;
  r.set_buckets(buckets);
  return r;
}

absl::StatusOr<v1::LatestRequest> LatestFromParams(const Params& params) {
  v1::LatestRequest r;
  for (std::string& t : Tags(params)) r.add_tags(std::move(t));
  if (const std::string* g = Find(params, "glob"); g != nullptr) r.set_glob(*g);
  return r;
}

}  // namespace historian::server::http
