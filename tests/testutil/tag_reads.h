// File: tag_reads.h
// ReadTagSamples: every (timestamp, value) of one double tag that
// Query.Read answers through one node, in the order read (rows and
// columns alike), with the call's status. A timestamp read twice shows as
// two entries. Header only: the test links historian_proto.
#ifndef HISTORIAN_TESTS_TESTUTIL_TAG_READS_H_
#define HISTORIAN_TESTS_TESTUTIL_TAG_READS_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "historian/v1/query.grpc.pb.h"

namespace historian::testing {

inline grpc::Status ReadTagSamples(const std::string& address, const std::string& tag,
                                   int64_t start_ns, int64_t end_ns,
                                   std::vector<std::pair<int64_t, double>>* out) {
  v1::ReadRequest request;
  request.add_tags(tag);
  request.set_start_ns(start_ns);
  request.set_end_ns(end_ns);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto reader = v1::Query::NewStub(channel)->Read(&ctx, request);
  v1::ReadResponse r;
  while (reader->Read(&r)) {
    for (const v1::Sample& s : r.samples()) {
      out->emplace_back(s.timestamp_ns(), s.value().double_value());
    }
    int64_t ts = 0;
    for (int i = 0; i < r.columns().timestamp_deltas_ns_size(); ++i) {
      ts += r.columns().timestamp_deltas_ns(i);
      out->emplace_back(ts, r.columns().double_values(i));
    }
  }
  return reader->Finish();
}

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_TAG_READS_H_
