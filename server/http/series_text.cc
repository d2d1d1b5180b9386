#include "server/http/series_text.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string_view>

#include "client/csv.h"
#include "client/time_parse.h"

namespace historian::server::http {
namespace {

constexpr int64_t kNanosPerSecond = 1000000000;
constexpr int64_t kSecondsPerDay = 86400;

// Floor division (rounds toward minus infinity).
int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b < 0) --q;
  return q;
}

void AppendDigits(int64_t v, int width, char* at) {
  for (int i = width - 1; i >= 0; --i) {
    at[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

template <typename Int>
void AppendInt(Int v, std::string* out) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

// Year, month, day of a day count since 1970-01-01 (proleptic Gregorian;
// H. Hinnant's civil_from_days).
void CivilFromDays(int64_t days, int64_t* y, int* m, int* d) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const int64_t doe = days - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2 ? 1 : 0);
}

}  // namespace

void Rfc3339Text::Append(int64_t ns, std::string* out) {
  const int64_t secs = FloorDiv(ns, kNanosPerSecond);
  const int64_t frac = ns - secs * kNanosPerSecond;
  const int64_t day = FloorDiv(secs, kSecondsPerDay);
  if (day != day_) {
    int64_t y;
    int m, d;
    CivilFromDays(day, &y, &m, &d);
    // Four-digit years only; absl's own rules for the rest (never in practice).
    if (y < 1000 || y > 9999) {
      out->append(client::FormatRfc3339(ns));
      return;
    }
    AppendDigits(y, 4, prefix_);
    prefix_[4] = '-';
    AppendDigits(m, 2, prefix_ + 5);
    prefix_[7] = '-';
    AppendDigits(d, 2, prefix_ + 8);
    prefix_[10] = 'T';
    day_ = day;
  }
  const int64_t sod = secs - day * kSecondsPerDay;
  char buf[11 + 8 + 10 + 1];
  std::memcpy(buf, prefix_, 11);
  AppendDigits(sod / 3600, 2, buf + 11);
  buf[13] = ':';
  AppendDigits(sod / 60 % 60, 2, buf + 14);
  buf[16] = ':';
  AppendDigits(sod % 60, 2, buf + 17);
  size_t n = 19;
  if (frac != 0) {
    buf[n++] = '.';
    AppendDigits(frac, 9, buf + n);
    n += 9;
    while (buf[n - 1] == '0') --n;
  }
  buf[n++] = 'Z';
  out->append(buf, n);
}

void AppendEpochMs(int64_t ns, std::string* out) { AppendInt(FloorDiv(ns, 1000000), out); }

void AppendJsonDouble(double d, std::string* out) {
  if (!std::isfinite(d)) {
    out->append("null");
    return;
  }
  // nlohmann's own writer: what json::dump() prints for a double.
  char buf[64];
  char* end = nlohmann::detail::to_chars(buf, buf + sizeof(buf), d);
  out->append(buf, end);
}

void AppendCsvDouble(double d, std::string* out) {
  if (std::isnan(d)) {
    out->append("nan");
    return;
  }
  if (std::isinf(d)) {
    out->append(d > 0 ? "inf" : "-inf");
    return;
  }
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);
  out->append(buf, end);
  if (std::string_view(buf, end - buf).find_first_of(".e") == std::string_view::npos) {
    out->append(".0");
  }
}

SeriesText::SeriesText(const OutputOptions& o, bool with_token) : o_(o), with_token_(with_token) {
  out_ = o_.csv ? "tag,time,value,quality\n" : "[";
}

void SeriesText::AppendTime(int64_t ns) {
  if (o_.epoch_ms) {
    AppendEpochMs(ns, &out_);
  } else if (o_.csv) {
    time_.Append(ns, &out_);
  } else {
    out_.push_back('"');
    time_.Append(ns, &out_);
    out_.push_back('"');
  }
}

SeriesText::ValueRef SeriesText::Ref(const v1::Value& v) {
  ValueRef r;
  switch (v.kind_case()) {
    case v1::Value::kDoubleValue:
      r.kind = ValueRef::kDouble;
      r.d = v.double_value();
      break;
    case v1::Value::kInt64Value:
      r.kind = ValueRef::kInt64;
      r.i = v.int64_value();
      break;
    case v1::Value::kBoolValue:
      r.kind = ValueRef::kBool;
      r.b = v.bool_value();
      break;
    case v1::Value::kStringValue:
      r.kind = ValueRef::kString;
      r.s = &v.string_value();
      break;
    default:
      break;
  }
  return r;
}

void SeriesText::AppendSample(int64_t ns, uint32_t quality, const ValueRef& v) {
  if (o_.csv) {
    out_.append(tag_);
    out_.push_back(',');
    AppendTime(ns);
    out_.push_back(',');
    switch (v.kind) {
      case ValueRef::kDouble:
        AppendCsvDouble(v.d, &out_);
        break;
      case ValueRef::kInt64:
        AppendInt(v.i, &out_);
        break;
      case ValueRef::kBool:
        out_.append(v.b ? "true" : "false");
        break;
      case ValueRef::kString:
        out_.append(client::CsvEscape(*v.s, /*force_quote=*/true));
        break;
      case ValueRef::kNone:
        break;
    }
    out_.push_back(',');
    AppendInt(quality, &out_);
    out_.push_back('\n');
    return;
  }
  if (any_sample_) out_.push_back(',');
  any_sample_ = true;
  out_.append("{\"quality\":");
  AppendInt(quality, &out_);
  out_.append(",\"time\":");
  AppendTime(ns);
  out_.append(",\"value\":");
  switch (v.kind) {
    case ValueRef::kDouble:
      AppendJsonDouble(v.d, &out_);
      break;
    case ValueRef::kInt64:
      AppendInt(v.i, &out_);
      break;
    case ValueRef::kBool:
      out_.append(v.b ? "true" : "false");
      break;
    case ValueRef::kString:
      out_.append(
          nlohmann::json(*v.s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      break;
    case ValueRef::kNone:
      out_.append("null");
  }
  out_.push_back('}');
}

bool SeriesText::Begin(const std::string& tag, int samples) {
  if (o_.csv) {
    if (samples == 0) return false;
    tag_ = client::CsvEscape(tag);
    return true;
  }
  if (samples == 0 && open_ && tag_ == tag) return false;
  if (!open_ || tag_ != tag) {
    if (open_) {
      out_.append("],\"tag\":");
      out_.append(
          nlohmann::json(tag_).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      out_.append("},");
    }
    out_.append("{\"samples\":[");
    open_ = true;
    any_sample_ = false;
    tag_ = tag;
  }
  return samples > 0;
}

void SeriesText::Add(const std::string& tag,
                     const google::protobuf::RepeatedPtrField<v1::Sample>& samples) {
  if (!Begin(tag, samples.size())) return;
  for (const v1::Sample& s : samples) AppendSample(s.timestamp_ns(), s.quality(), Ref(s.value()));
}

void SeriesText::AddColumns(const std::string& tag, const v1::SampleColumns& c) {
  const int n = c.timestamp_deltas_ns_size();
  if (!Begin(tag, n)) return;
  ValueRef v;
  if (c.double_values_size() == n) {
    v.kind = ValueRef::kDouble;
  } else if (c.int64_values_size() == n) {
    v.kind = ValueRef::kInt64;
  } else if (c.bool_values_size() == n) {
    v.kind = ValueRef::kBool;
  } else if (c.string_values_size() == n) {
    v.kind = ValueRef::kString;
  }
  const bool one_quality = c.qualities_size() <= 1;
  const uint32_t quality = c.qualities_size() == 1 ? c.qualities(0) : 0;
  uint64_t ts = 0;  // unsigned: the deltas wrap (server/proto_convert.cc)
  for (int k = 0; k < n; ++k) {
    ts += static_cast<uint64_t>(c.timestamp_deltas_ns(k));
    switch (v.kind) {
      case ValueRef::kDouble:
        v.d = c.double_values(k);
        break;
      case ValueRef::kInt64:
        v.i = c.int64_values(k);
        break;
      case ValueRef::kBool:
        v.b = c.bool_values(k);
        break;
      case ValueRef::kString:
        v.s = &c.string_values(k);
        break;
      case ValueRef::kNone:
        break;
    }
    AppendSample(static_cast<int64_t>(ts), one_quality ? quality : c.qualities(k), v);
  }
}

std::string SeriesText::Finish(const std::string& token) {
  if (o_.csv) return std::move(out_);
  if (open_) {
    out_.append("],\"tag\":");
    out_.append(
        nlohmann::json(tag_).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    out_.push_back('}');
  }
  out_.append("]}");
  std::string head = with_token_
                         ? "{\"continuation_token\":" +
                               nlohmann::json(token).dump(
                                   -1, ' ', false, nlohmann::json::error_handler_t::replace) +
                               ",\"series\":"
                         : "{\"series\":";
  head.reserve(head.size() + out_.size());
  head.append(out_);
  return head;
}

}  // namespace historian::server::http
