// File: site_client.h
// SiteClient: a test's gRPC client of one real historiand (tests that run
// two sites: events_twin_test): create tags, write doubles, read a tag,
// manage rules, list and acknowledge events, node stats and Verify. Every
// call is unauthenticated (the nodes run without --token_file). Header only:
// the test links historian_proto.
//
// Thread-safety: not thread-safe; one test thread drives it.
#ifndef HISTORIAN_TESTS_TESTUTIL_SITE_CLIENT_H_
#define HISTORIAN_TESTS_TESTUTIL_SITE_CLIENT_H_

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "grpcpp/create_channel.h"
#include "historian/v1/admin.grpc.pb.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/events.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"

namespace historian::testing {

// A `high` rule named `name` on `tag`, raised above `limit`.
inline v1::Rule HighRule(const std::string& name, const std::string& tag, double limit) {
  v1::Rule r;
  r.set_name(name);
  r.set_kind(v1::RULE_KIND_HIGH);
  r.set_tag(tag);
  r.set_limit(limit);
  return r;
}

class SiteClient {
 public:
  explicit SiteClient(const std::string& address)
      : channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())) {}

  grpc::Status CreateTag(const std::string& name) {
    v1::CreateTagRequest req;
    req.mutable_tag()->set_name(name);
    req.mutable_tag()->set_value_type(v1::VALUE_TYPE_DOUBLE);
    v1::Tag resp;
    grpc::ClientContext ctx;
    return v1::Catalog::NewStub(channel_)->CreateTag(&ctx, req, &resp);
  }
  // tag -> (timestamp, value) samples, in one WriteBatch.
  grpc::Status Write(const std::map<std::string, std::vector<std::pair<int64_t, double>>>& data) {
    v1::WriteRequest req;
    for (const auto& [tag, samples] : data) {
      v1::TagSamples* s = req.add_series();
      s->set_tag(tag);
      for (auto [ts, v] : samples) {
        v1::Sample* sample = s->add_samples();
        sample->set_timestamp_ns(ts);
        sample->mutable_value()->set_double_value(v);
      }
    }
    v1::WriteAck ack;
    grpc::ClientContext ctx;
    return v1::Ingest::NewStub(channel_)->WriteBatch(&ctx, req, &ack);
  }
  // Every sample of `tag`: timestamp -> value (empty when unknown).
  std::map<int64_t, double> Read(const std::string& tag) {
    v1::ReadRequest req;
    req.add_tags(tag);
    req.set_start_ns(0);
    req.set_end_ns(int64_t{1} << 62);
    std::map<int64_t, double> out;
    grpc::ClientContext ctx;
    auto reader = v1::Query::NewStub(channel_)->Read(&ctx, req);
    v1::ReadResponse resp;
    while (reader->Read(&resp)) {
      for (const auto& s : resp.samples()) out[s.timestamp_ns()] = s.value().double_value();
    }
    reader->Finish();
    return out;
  }
  grpc::Status CreateRule(const v1::Rule& rule) {
    v1::CreateRuleRequest req;
    *req.mutable_rule() = rule;
    v1::Rule resp;
    grpc::ClientContext ctx;
    return v1::Events::NewStub(channel_)->CreateRule(&ctx, req, &resp);
  }
  std::vector<v1::Rule> Rules() {
    v1::ListRulesResponse resp;
    grpc::ClientContext ctx;
    if (!v1::Events::NewStub(channel_)->ListRules(&ctx, v1::ListRulesRequest(), &resp).ok()) {
      return {};
    }
    return {resp.rules().begin(), resp.rules().end()};
  }
  // Every event, ordered by id (comparable between sites).
  std::vector<v1::Event> Events() {
    v1::ListEventsResponse resp;
    grpc::ClientContext ctx;
    if (!v1::Events::NewStub(channel_)->ListEvents(&ctx, v1::ListEventsRequest(), &resp).ok()) {
      return {};
    }
    std::vector<v1::Event> out(resp.events().begin(), resp.events().end());
    std::sort(out.begin(), out.end(),
              [](const v1::Event& a, const v1::Event& b) { return a.id() < b.id(); });
    return out;
  }
  // The events as text, for comparing the whole history of two sites.
  std::string EventsText() {
    std::string out;
    for (const v1::Event& e : Events()) out += e.DebugString() + "--\n";
    return out;
  }
  grpc::Status Ack(const std::string& id, const std::string& comment) {
    v1::AckRequest req;
    req.set_id(id);
    req.set_comment(comment);
    v1::Event resp;
    grpc::ClientContext ctx;
    return v1::Events::NewStub(channel_)->Ack(&ctx, req, &resp);
  }
  v1::StatsResponse Stats() {
    v1::StatsResponse resp;
    grpc::ClientContext ctx;
    v1::Admin::NewStub(channel_)->Stats(&ctx, v1::StatsRequest(), &resp);
    return resp;
  }
  grpc::Status Verify(const std::string& peer, bool repair, v1::VerifyResponse* out) {
    v1::VerifyRequest req;
    req.set_peer_site(peer);
    req.set_repair(repair);
    grpc::ClientContext ctx;
    return v1::Admin::NewStub(channel_)->Verify(&ctx, req, out);
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_TESTUTIL_SITE_CLIENT_H_
