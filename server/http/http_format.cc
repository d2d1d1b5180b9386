#include "server/http/http_format.h"

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "client/csv.h"
#include "client/time_parse.h"
#include "client/value_text.h"
#include "server/http/series_text.h"

namespace historian::server::http {
namespace {

using nlohmann::json;

constexpr char kJson[] = "application/json";
constexpr char kCsv[] = "text/csv; charset=utf-8";

json TimeJson(int64_t ns, const OutputOptions& o) {
  if (!o.epoch_ms) return client::FormatRfc3339(ns);
  // Rounded down, as the CLI's `ms` format.
  return ns >= 0 ? ns / 1000000 : -((-ns + 999999) / 1000000);
}

std::string TimeCsv(int64_t ns, const OutputOptions& o) {
  return o.epoch_ms ? TimeJson(ns, o).dump() : client::FormatRfc3339(ns);
}

// Non-finite doubles become null (JSON has no NaN).
json ValueJson(const v1::Value& v) {
  switch (v.kind_case()) {
    case v1::Value::kDoubleValue:
      return v.double_value();
    case v1::Value::kInt64Value:
      return v.int64_value();
    case v1::Value::kBoolValue:
      return v.bool_value();
    case v1::Value::kStringValue:
      return v.string_value();
    default:
      return nullptr;
  }
}

std::string ValueCsv(const v1::Value& v) {
  switch (v.kind_case()) {
    case v1::Value::kDoubleValue:
      return client::FormatDouble(v.double_value());
    case v1::Value::kInt64Value:
      return absl::StrCat(v.int64_value());
    case v1::Value::kBoolValue:
      return v.bool_value() ? "true" : "false";
    case v1::Value::kStringValue:
      return client::CsvEscape(v.string_value(), /*force_quote=*/true);
    default:
      return "";
  }
}

json SampleJson(const v1::Sample& s, const OutputOptions& o) {
  return json{{"time", TimeJson(s.timestamp_ns(), o)},
              {"value", ValueJson(s.value())},
              {"quality", s.quality()}};
}

void SampleCsv(const std::string& tag, const v1::Sample& s, const OutputOptions& o,
               std::string* out) {
  absl::StrAppend(out, client::CsvEscape(tag), ",", TimeCsv(s.timestamp_ns(), o), ",",
                  ValueCsv(s.value()), ",", s.quality(), "\n");
}

constexpr char kSampleHeader[] = "tag,time,value,quality\n";

// Bytes that are no UTF-8 (a request parameter percent-decoded to 0xFF,
// quoted in an error) become U+FFFD instead of throwing: the answer is
// always the JSON it says it is.
Body JsonBody(const json& j) {
  return {j.dump(-1, ' ', false, json::error_handler_t::replace), kJson};
}

}  // namespace

Body RenderTags(const v1::ListTagsResponse& r, const OutputOptions& o) {
  if (o.csv) {
    std::string out = "name,value_type,unit,description,eng_low,eng_high,origin_site\n";
    for (const v1::Tag& t : r.tags()) {
      absl::StrAppend(&out, client::CsvEscape(t.name()), ",", client::ValueTypeName(t.value_type()),
                      ",", client::CsvEscape(t.unit()), ",", client::CsvEscape(t.description()),
                      ",", t.has_eng_low() ? client::FormatDouble(t.eng_low()) : "", ",",
                      t.has_eng_high() ? client::FormatDouble(t.eng_high()) : "", ",",
                      client::CsvEscape(t.origin_site()), "\n");
    }
    return {std::move(out), kCsv};
  }
  json tags = json::array();
  for (const v1::Tag& t : r.tags()) {
    json j{{"name", t.name()},
           {"value_type", std::string(client::ValueTypeName(t.value_type()))},
           {"unit", t.unit()},
           {"description", t.description()},
           {"origin_site", t.origin_site()},
           {"attributes", json::object()},
           {"retention_ns", t.retention_ns()},
           {"deadband", t.deadband()},
           {"stale_after_ns", t.stale_after_ns()},
           {"created", TimeJson(t.created_ns(), o)}};
    j["eng_low"] = t.has_eng_low() ? json(t.eng_low()) : json(nullptr);
    j["eng_high"] = t.has_eng_high() ? json(t.eng_high()) : json(nullptr);
    for (const auto& [k, v] : t.attributes()) j["attributes"][k] = v;
    tags.push_back(std::move(j));
  }
  return JsonBody(json{{"tags", std::move(tags)}, {"next_page_token", r.next_page_token()}});
}

Body RenderRead(const std::vector<v1::ReadResponse>& pieces, const OutputOptions& o) {
  // CSV has no place for a token: page with JSON.
  SeriesText text(o, /*with_token=*/true);
  std::string token;
  for (const v1::ReadResponse& p : pieces) {
    if (!p.continuation_token().empty()) token = absl::WebSafeBase64Escape(p.continuation_token());
    text.Add(p.tag(), p.samples());
  }
  return {text.Finish(token), o.csv ? kCsv : kJson};
}

Body RenderAggregate(const v1::AggregateRequest& req, const v1::AggregateResponse& r,
                     const OutputOptions& o) {
  std::vector<std::string> names;
  for (int f : req.functions())
    names.push_back(FunctionName(static_cast<v1::AggregateFunction>(f)));
  if (o.csv) {
    std::string out = "tag,start,count";
    for (const std::string& n : names) absl::StrAppend(&out, ",", n);
    out += "\n";
    for (const v1::AggregateSeries& s : r.series()) {
      for (const v1::AggregateWindow& w : s.windows()) {
        absl::StrAppend(&out, client::CsvEscape(s.tag()), ",", TimeCsv(w.start_ns(), o), ",",
                        w.count());
        for (double v : w.values()) absl::StrAppend(&out, ",", client::FormatDouble(v));
        out += "\n";
      }
    }
    return {std::move(out), kCsv};
  }
  json series = json::array();
  for (const v1::AggregateSeries& s : r.series()) {
    json windows = json::array();
    for (const v1::AggregateWindow& w : s.windows()) {
      json j{{"start", TimeJson(w.start_ns(), o)}, {"count", w.count()}};
      for (int i = 0; i < w.values_size() && i < static_cast<int>(names.size()); ++i) {
        j[names[i]] = w.values(i);
      }
      windows.push_back(std::move(j));
    }
    series.push_back(json{{"tag", s.tag()}, {"windows", std::move(windows)}});
  }
  return JsonBody(json{{"functions", names}, {"series", std::move(series)}});
}

Body RenderPlot(const v1::PlotResponse& r, const OutputOptions& o) {
  SeriesText text(o, /*with_token=*/false);
  for (const v1::PlotSeries& s : r.series()) text.Add(s.tag(), s.samples());
  return {text.Finish(""), o.csv ? kCsv : kJson};
}

Body RenderLatest(const v1::LatestResponse& r, const OutputOptions& o) {
  if (o.csv) {
    std::string out = kSampleHeader;
    for (const v1::LatestValue& v : r.values()) {
      if (v.has_sample()) {
        SampleCsv(v.tag(), v.sample(), o, &out);
      } else {
        absl::StrAppend(&out, client::CsvEscape(v.tag()), ",,,\n");
      }
    }
    return {std::move(out), kCsv};
  }
  json values = json::array();
  for (const v1::LatestValue& v : r.values()) {
    json j = v.has_sample() ? SampleJson(v.sample(), o)
                            : json{{"time", nullptr}, {"value", nullptr}, {"quality", nullptr}};
    j["tag"] = v.tag();
    values.push_back(std::move(j));
  }
  return JsonBody(json{{"values", std::move(values)}});
}

Body RenderNode(const v1::StatsResponse& r, bool auth_enabled) {
  json twin = nullptr;
  if (size_t eq = r.twin_map().find('='); eq != std::string::npos) {
    twin = json{{"local", r.twin_map().substr(0, eq)}, {"twin", r.twin_map().substr(eq + 1)}};
  }
  return JsonBody(json{{"site", r.site()}, {"twin_map", twin}, {"auth", auth_enabled}});
}

Body RenderError(const absl::Status& status) {
  return JsonBody(json{{"code", absl::StatusCodeToString(status.code())},
                       {"message", std::string(status.message())}});
}

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

}  // namespace historian::server::http
