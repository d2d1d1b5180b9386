// File: series_text.h
// The samples of Read and Plot answers written straight into the answer's
// text, JSON or CSV, without building a JSON document or a string per field:
// a raw read of 22,683 samples spent ~80% of its time in nlohmann's DOM
// (allocation per sample and field) and absl::FormatTime (bench/README.md,
// "HTTP raw read (issue 16 follow-up)"). The text is byte for byte what the
// nlohmann rendering wrote: JSON keys in nlohmann's (sorted) order, doubles in
// nlohmann's shortest round-trip form, RFC 3339 times as
// client::FormatRfc3339, CSV as the `historian import-csv` format.
//
// Not thread-safe: one SeriesText per answer, used by one thread.
#ifndef HISTORIAN_SERVER_HTTP_SERIES_TEXT_H_
#define HISTORIAN_SERVER_HTTP_SERIES_TEXT_H_

#include <cstdint>
#include <string>

#include "google/protobuf/repeated_ptr_field.h"
#include "historian/v1/query.pb.h"
#include "server/http/http_params.h"

namespace historian::server::http {

// RFC 3339 UTC times as client::FormatRfc3339 writes them (fractional
// seconds only when not zero, trailing zeros dropped), remembering the last
// date so consecutive samples of one day reuse its "YYYY-MM-DDT" prefix.
class Rfc3339Text {
 public:
  void Append(int64_t ns, std::string* out);

 private:
  int64_t day_ = INT64_MIN;  // the day `prefix_` holds (days since 1970-01-01)
  char prefix_[11] = {};     // "YYYY-MM-DDT"
};

// Integer milliseconds since the epoch, rounded down (also before 1970).
void AppendEpochMs(int64_t ns, std::string* out);
// A double as nlohmann::json::dump() writes it: null when not finite.
void AppendJsonDouble(double d, std::string* out);
// A double as client::FormatDouble writes it (nan, inf, -inf; ".0" added to
// integral values).
void AppendCsvDouble(double d, std::string* out);

// The answer of Read (`with_token`) or Plot built piece by piece:
//   JSON {"continuation_token":"...","series":[{"samples":[{"quality":0,
//        "time":"...","value":1.5},...],"tag":"a"},...]}  (Plot: no token)
//   CSV  tag,time,value,quality rows after a header.
// Consecutive pieces of one tag make one JSON series; an empty piece of the
// current tag adds nothing, one of a new tag an empty series.
class SeriesText {
 public:
  SeriesText(const OutputOptions& o, bool with_token);
  void Add(const std::string& tag, const google::protobuf::RepeatedPtrField<v1::Sample>& samples);
  // The same for a piece in column form (ReadRequest.columns: no message per
  // sample on the way here).
  void AddColumns(const std::string& tag, const v1::SampleColumns& columns);
  // The whole text; `token` (JSON only) is the continuation token as sent.
  std::string Finish(const std::string& token);

 private:
  // One sample's value, whichever form it came in.
  struct ValueRef {
    enum Kind { kNone, kDouble, kInt64, kBool, kString } kind = kNone;
    double d = 0;
    int64_t i = 0;
    bool b = false;
    const std::string* s = nullptr;
  };
  static ValueRef Ref(const v1::Value& v);
  // Opens the piece: JSON the series (or keeps the open one), CSV the
  // escaped tag. False: nothing to write.
  bool Begin(const std::string& tag, int samples);
  void AppendTime(int64_t ns);
  void AppendSample(int64_t ns, uint32_t quality, const ValueRef& v);

  const OutputOptions o_;
  const bool with_token_;
  std::string out_;          // CSV: the answer; JSON: the series list so far
  bool open_ = false;        // JSON: a series is open (its tag in `tag_`)
  bool any_sample_ = false;  // JSON: the open series has a sample
  std::string tag_;          // JSON: the open series' tag; CSV: the piece's, escaped
  Rfc3339Text time_;
};

}  // namespace historian::server::http

#endif  // HISTORIAN_SERVER_HTTP_SERIES_TEXT_H_
