// File: ops_util.h
// Helpers of the operations tests: scraping /metrics, finding a sample in
// Prometheus text, writing and reading samples over gRPC.
#ifndef HISTORIAN_TESTS_OPS_OPS_UTIL_H_
#define HISTORIAN_TESTS_OPS_OPS_UTIL_H_

#include <httplib.h>

#include <map>
#include <optional>
#include <sstream>
#include <string>

#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "tests/security/security_util.h"
#include "tests/testutil/metrics_text.h"

namespace historian::testing {

inline v1::WriteRequest DoubleSamples(const std::string& tag, int64_t first_ts, int n,
                                      double base = 0) {
  v1::WriteRequest req;
  auto* s = req.add_series();
  s->set_tag(tag);
  for (int i = 0; i < n; ++i) {
    auto* sample = s->add_samples();
    sample->set_timestamp_ns(first_ts + i);
    sample->mutable_value()->set_double_value(base + i * 0.5);
  }
  return req;
}

// Every sample of `tag` (all time) as timestamp -> value; nullopt on error.
inline std::optional<std::map<int64_t, double>> ReadAll(v1::Query::Stub* query,
                                                        const std::string& tag) {
  v1::ReadRequest req;
  req.add_tags(tag);
  req.set_start_ns(0);
  req.set_end_ns(int64_t{300} * 24 * 3600 * 1000000000);
  std::map<int64_t, double> out;
  while (true) {
    auto ctx = Ctx("", 30);
    auto reader = query->Read(ctx.get(), req);
    v1::ReadResponse resp;
    std::string token;
    while (reader->Read(&resp)) {
      for (const auto& s : resp.samples()) out[s.timestamp_ns()] = s.value().double_value();
      if (!resp.continuation_token().empty()) token = resp.continuation_token();
    }
    if (!reader->Finish().ok()) return std::nullopt;
    if (token.empty()) return out;
    req.set_continuation_token(token);
  }
}

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_OPS_OPS_UTIL_H_
