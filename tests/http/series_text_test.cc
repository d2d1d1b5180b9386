// SeriesText and its number/time writers against what the HTTP API wrote
// before them: nlohmann's DOM dumped, client::FormatRfc3339,
// client::FormatDouble and client::CsvEscape per field (the reference below
// is that code), byte for byte.
#include "server/http/series_text.h"

#include <bit>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "client/csv.h"
#include "client/time_parse.h"
#include "client/value_text.h"
#include "gtest/gtest.h"
#include "server/http/http_format.h"

namespace historian::server::http {
namespace {

using nlohmann::json;

// --- the rendering before SeriesText (server/http/http_format.cc) ---------
json RefTime(int64_t ns, const OutputOptions& o) {
  if (!o.epoch_ms) return client::FormatRfc3339(ns);
  return ns >= 0 ? ns / 1000000 : -((-ns + 999999) / 1000000);
}
std::string RefTimeCsv(int64_t ns, const OutputOptions& o) {
  return o.epoch_ms ? RefTime(ns, o).dump() : client::FormatRfc3339(ns);
}
json RefValue(const v1::Value& v) {
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
std::string RefValueCsv(const v1::Value& v) {
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
std::string RefRead(const std::vector<v1::ReadResponse>& pieces, const OutputOptions& o,
                    bool with_token, const std::string& token = "tok_-en") {
  if (o.csv) {
    std::string out = "tag,time,value,quality\n";
    for (const auto& p : pieces) {
      for (const v1::Sample& s : p.samples()) {
        absl::StrAppend(&out, client::CsvEscape(p.tag()), ",", RefTimeCsv(s.timestamp_ns(), o), ",",
                        RefValueCsv(s.value()), ",", s.quality(), "\n");
      }
    }
    return out;
  }
  json list = json::array();
  for (const auto& p : pieces) {
    if (p.samples_size() == 0 && !list.empty() && list.back()["tag"] == p.tag()) continue;
    if (list.empty() || list.back()["tag"] != p.tag()) {
      list.push_back(json{{"tag", p.tag()}, {"samples", json::array()}});
    }
    for (const v1::Sample& s : p.samples()) {
      list.back()["samples"].push_back(json{{"time", RefTime(s.timestamp_ns(), o)},
                                            {"value", RefValue(s.value())},
                                            {"quality", s.quality()}});
    }
  }
  json j{{"series", std::move(list)}};
  if (with_token) j["continuation_token"] = token;
  return j.dump();
}
// --------------------------------------------------------------------------

TEST(SeriesTextTest, Rfc3339AsFormatRfc3339) {
  std::mt19937_64 rng(1);
  Rfc3339Text text;
  std::vector<int64_t> cases = {0,
                                -1,
                                1,
                                999999999,
                                1000000000,
                                1500000000,
                                -1000000000,
                                int64_t{1767225600} * 1000000000,
                                INT64_MAX,
                                INT64_MIN,
                                -int64_t{9000000000} * 1000000000 + 5};
  int64_t t = int64_t{1767225600} * 1000000000;
  for (int i = 0; i < 200000; ++i) {
    switch (i % 4) {
      case 0:
        cases.push_back(static_cast<int64_t>(rng()));  // anywhere, also before 1970
        break;
      case 1:
        t += static_cast<int64_t>(rng() % 3600000000000);  // the same day, often
        cases.push_back(t);
        break;
      case 2:
        cases.push_back(t - t % 1000000000 + (rng() % 10) * 100000000);  // few digits
        break;
      default:
        cases.push_back(-static_cast<int64_t>(rng() % (int64_t{4000000000} * 1000000000)));
    }
  }
  for (int64_t ns : cases) {
    std::string out = "x";
    text.Append(ns, &out);
    ASSERT_EQ(out, "x" + client::FormatRfc3339(ns)) << ns;
    std::string ms;
    AppendEpochMs(ns, &ms);
    if (ns > INT64_MIN + 1000000) {
      ASSERT_EQ(ms, RefTime(ns, {false, true}).dump()) << ns;
    }
  }
}

TEST(SeriesTextTest, DoublesAsNlohmannAndFormatDouble) {
  std::mt19937_64 rng(2);
  std::vector<double> cases = {0.0,
                               -0.0,
                               1.0,
                               -1.0,
                               0.1,
                               1e15,
                               1e16,
                               1e17,
                               1e-4,
                               1e-5,
                               123456789012345678.0,
                               5e-324,
                               std::numeric_limits<double>::max(),
                               std::numeric_limits<double>::quiet_NaN(),
                               std::numeric_limits<double>::infinity(),
                               -std::numeric_limits<double>::infinity(),
                               51.846000000000004};
  for (int i = 0; i < 300000; ++i) {
    cases.push_back(i % 2 ? std::bit_cast<double>(rng())
                          : static_cast<double>(static_cast<int64_t>(rng() % 2000001) - 1000000) /
                                std::pow(10, rng() % 8));
  }
  for (double d : cases) {
    std::string j, c;
    AppendJsonDouble(d, &j);
    AppendCsvDouble(d, &c);
    ASSERT_EQ(j, json(d).dump()) << std::bit_cast<uint64_t>(d);
    ASSERT_EQ(c, client::FormatDouble(d)) << std::bit_cast<uint64_t>(d);
  }
}

TEST(SeriesTextTest, ReadAndPlotAnswersAsTheDomRendering) {
  std::mt19937_64 rng(3);
  for (int round = 0; round < 200; ++round) {
    std::vector<v1::ReadResponse> pieces(rng() % 6);
    const std::vector<std::string> tags = {"a", "b.c", "q\"u,ote", "ünï \\ \x01"};
    int64_t t = static_cast<int64_t>(rng() % (int64_t{1} << 62)) - (int64_t{1} << 60);
    for (auto& p : pieces) {
      p.set_tag(tags[rng() % tags.size()]);
      const int n = rng() % 4 == 0 ? 0 : static_cast<int>(rng() % 50);
      for (int i = 0; i < n; ++i) {
        v1::Sample* s = p.add_samples();
        t += static_cast<int64_t>(rng() % 100000000000);
        s->set_timestamp_ns(t);
        if (rng() % 3 == 0) s->set_quality(static_cast<uint32_t>(rng()));
        v1::Value* v = s->mutable_value();
        switch (rng() % 6) {
          case 0:
            v->set_int64_value(static_cast<int64_t>(rng()));
            break;
          case 1:
            v->set_bool_value(rng() % 2);
            break;
          case 2:
            v->set_string_value(rng() % 2 ? "run, \"fast\"" : "ü\n\t");
            break;
          case 3:
            break;  // no value
          default:
            v->set_double_value(rng() % 4 == 0 ? std::numeric_limits<double>::quiet_NaN()
                                               : std::bit_cast<double>(rng()));
        }
      }
    }
    for (OutputOptions o : {OutputOptions{false, false}, OutputOptions{false, true},
                            OutputOptions{true, false}, OutputOptions{true, true}}) {
      for (bool with_token : {true, false}) {
        SeriesText text(o, with_token);
        for (const auto& p : pieces) text.Add(p.tag(), p.samples());
        ASSERT_EQ(text.Finish("tok_-en"), RefRead(pieces, o, with_token))
            << round << " csv=" << o.csv << " ms=" << o.epoch_ms;
      }
    }
    // RenderRead: the same, the token base64url-encoded from the last piece.
    if (!pieces.empty()) pieces.back().set_continuation_token("\xb6\x8b\xde");
    EXPECT_EQ(
        RenderRead(pieces, {}).text,
        RefRead(pieces, {}, true, pieces.empty() ? "" : absl::WebSafeBase64Escape("\xb6\x8b\xde")))
        << round;
  }
}

// Read pieces in column form (what HttpApi asks the query service for) write
// the same text as the same samples one message each.
TEST(SeriesTextTest, ColumnsAsRows) {
  std::mt19937_64 rng(4);
  for (int round = 0; round < 300; ++round) {
    std::vector<v1::ReadResponse> rows(rng() % 5), cols(rows.size());
    int64_t t = static_cast<int64_t>(rng() % (int64_t{1} << 62)) - (int64_t{1} << 60);
    for (size_t p = 0; p < rows.size(); ++p) {
      const std::string tag = rng() % 2 ? "a" : "b\"";
      rows[p].set_tag(tag);
      cols[p].set_tag(tag);
      const int kind = static_cast<int>(rng() % 5), qualities = static_cast<int>(rng() % 3);
      const uint32_t q0 = rng() % 2 ? 0 : static_cast<uint32_t>(rng());
      const int n = rng() % 4 == 0 ? 0 : static_cast<int>(rng() % 40);
      v1::SampleColumns* c = cols[p].mutable_columns();
      int64_t prev = 0;
      for (int i = 0; i < n; ++i) {
        t += static_cast<int64_t>(rng() % 100000000000) - 1000;  // sometimes backwards
        v1::Sample* s = rows[p].add_samples();
        s->set_timestamp_ns(t);
        c->add_timestamp_deltas_ns(
            static_cast<int64_t>(static_cast<uint64_t>(t) - static_cast<uint64_t>(prev)));
        prev = t;
        const uint32_t q = qualities == 2 ? static_cast<uint32_t>(rng()) : qualities == 1 ? q0 : 0;
        s->set_quality(q);
        if (qualities == 2 || (qualities == 1 && i == 0 && q0 != 0)) c->add_qualities(q);
        switch (kind) {
          case 0:
            s->mutable_value()->set_double_value(std::bit_cast<double>(rng()));
            c->add_double_values(s->value().double_value());
            break;
          case 1:
            s->mutable_value()->set_int64_value(static_cast<int64_t>(rng()));
            c->add_int64_values(s->value().int64_value());
            break;
          case 2:
            s->mutable_value()->set_bool_value(rng() % 2);
            c->add_bool_values(s->value().bool_value());
            break;
          case 3:
            s->mutable_value()->set_string_value(rng() % 2 ? "x,\"y\"" : "");
            c->add_string_values(s->value().string_value());
            break;
          default:
            s->mutable_value();  // no value
        }
      }
    }
    for (OutputOptions o : {OutputOptions{false, false}, OutputOptions{false, true},
                            OutputOptions{true, false}, OutputOptions{true, true}}) {
      SeriesText by_rows(o, true), by_cols(o, true);
      for (size_t p = 0; p < rows.size(); ++p) {
        by_rows.Add(rows[p].tag(), rows[p].samples());
        by_cols.AddColumns(cols[p].tag(), cols[p].columns());
      }
      ASSERT_EQ(by_cols.Finish("t"), by_rows.Finish("t")) << round << " csv=" << o.csv;
    }
  }
}

}  // namespace
}  // namespace historian::server::http
