// File: etcd_client.cc
#include "server/cluster/etcd/etcd_client.h"

#include <chrono>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/cluster/etcd/etcd_convert.h"

namespace historian::cluster {

using Retry = EtcdEndpoints::Retry;
using Endpoint = EtcdEndpoints::Endpoint;

absl::StatusOr<std::unique_ptr<EtcdClient>> EtcdClient::Create(EtcdClientOptions options) {
  auto endpoints = EtcdEndpoints::Create(std::move(options));
  if (!endpoints.ok()) return endpoints.status();
  return std::unique_ptr<EtcdClient>(new EtcdClient(*std::move(endpoints)));
}

absl::StatusOr<EtcdRange> EtcdClient::Range(const std::string& key,
                                            const std::string& range_end) const {
  etcdserverpb::RangeRequest request;
  request.set_key(key);
  request.set_range_end(range_end);
  etcdserverpb::RangeResponse response;
  absl::Status status = endpoints_->Call(absl::StrCat("Range '", key, "'"), Retry::kIdempotent,
                                         [&](const Endpoint& e, grpc::ClientContext* c) {
                                           return e.kv->Range(c, request, &response);
                                         });
  if (!status.ok()) return status;
  if (response.more()) {
    // We never set a limit, so etcd returned everything; keep the check so
    // a silent truncation cannot slip in later.
    return absl::InternalError(absl::StrCat("etcd: Range '", key, "' returned a partial answer"));
  }
  EtcdRange range;
  range.revision = response.header().revision();
  range.kvs.reserve(response.kvs_size());
  for (const mvccpb::KeyValue& kv : response.kvs()) range.kvs.push_back(FromProto(kv));
  return range;
}

absl::StatusOr<EtcdRange> EtcdClient::Get(const std::string& key) const { return Range(key, ""); }

absl::StatusOr<EtcdRange> EtcdClient::GetPrefix(const std::string& prefix) const {
  return Range(prefix, EtcdPrefixEnd(prefix));
}

absl::StatusOr<int64_t> EtcdClient::Put(const std::string& key, const std::string& value,
                                        int64_t lease) const {
  etcdserverpb::PutRequest request;
  request.set_key(key);
  request.set_value(value);
  request.set_lease(lease);
  etcdserverpb::PutResponse response;
  absl::Status status = endpoints_->Call(
      absl::StrCat("Put '", key, "'"), Retry::kWrite,
      [&](const Endpoint& e, grpc::ClientContext* c) { return e.kv->Put(c, request, &response); });
  if (!status.ok()) return status;
  return response.header().revision();
}

absl::StatusOr<int64_t> EtcdClient::Delete(const std::string& key) const {
  etcdserverpb::DeleteRangeRequest request;
  request.set_key(key);
  etcdserverpb::DeleteRangeResponse response;
  absl::Status status = endpoints_->Call(absl::StrCat("DeleteRange '", key, "'"), Retry::kWrite,
                                         [&](const Endpoint& e, grpc::ClientContext* c) {
                                           return e.kv->DeleteRange(c, request, &response);
                                         });
  if (!status.ok()) return status;
  return response.header().revision();
}

absl::StatusOr<EtcdTxnOutcome> EtcdClient::Txn(const std::vector<EtcdCompare>& guard,
                                               const std::vector<EtcdWrite>& writes) const {
  etcdserverpb::TxnRequest request;
  std::set<std::string> guarded;
  for (const EtcdCompare& c : guard) {
    ToProto(c, request.add_compare());
    guarded.insert(c.key);
  }
  for (const EtcdWrite& w : writes) ToProto(w, request.add_success());
  // On a conflict, read the guarded keys in the same transaction so the
  // caller sees the state that made it fail.
  for (const std::string& key : guarded) {
    request.add_failure()->mutable_request_range()->set_key(key);
  }
  etcdserverpb::TxnResponse response;
  const std::string what =
      guard.empty() ? std::string("Txn") : absl::StrCat("Txn on '", guard.front().key, "'");
  absl::Status status = endpoints_->Call(
      what, Retry::kWrite,
      [&](const Endpoint& e, grpc::ClientContext* c) { return e.kv->Txn(c, request, &response); });
  if (!status.ok()) return status;
  EtcdTxnOutcome outcome;
  outcome.committed = response.succeeded();
  outcome.revision = response.header().revision();
  if (!outcome.committed) {
    for (const etcdserverpb::ResponseOp& op : response.responses()) {
      for (const mvccpb::KeyValue& kv : op.response_range().kvs()) {
        outcome.current.push_back(FromProto(kv));
      }
    }
  }
  return outcome;
}

absl::StatusOr<EtcdTxnOutcome> EtcdClient::PutIfModRevision(const std::string& key,
                                                            const std::string& value,
                                                            int64_t mod_revision,
                                                            int64_t lease) const {
  return Txn({EtcdCompare::ModRevisionIs(key, mod_revision)}, {EtcdWrite::Put(key, value, lease)});
}

absl::StatusOr<EtcdTxnOutcome> EtcdClient::CreateIfAbsent(const std::string& key,
                                                          const std::string& value,
                                                          int64_t lease) const {
  return Txn({EtcdCompare::Absent(key)}, {EtcdWrite::Put(key, value, lease)});
}

absl::StatusOr<EtcdLease> EtcdClient::GrantLease(int64_t ttl_seconds) const {
  if (ttl_seconds <= 0) return absl::InvalidArgumentError("etcd: lease TTL must be positive");
  etcdserverpb::LeaseGrantRequest request;
  request.set_ttl(ttl_seconds);
  etcdserverpb::LeaseGrantResponse response;
  const auto asked_at = std::chrono::steady_clock::now();
  // A grant retried after a lost answer leaves an unused lease behind, which
  // expires after its TTL: harmless.
  absl::Status status = endpoints_->Call("LeaseGrant", Retry::kIdempotent,
                                         [&](const Endpoint& e, grpc::ClientContext* c) {
                                           return e.lease->LeaseGrant(c, request, &response);
                                         });
  if (!status.ok()) return status;
  if (!response.error().empty()) {
    return absl::UnavailableError(absl::StrCat("etcd: LeaseGrant: ", response.error()));
  }
  return EtcdLease{response.id(), response.ttl(), asked_at};
}

absl::Status EtcdClient::RevokeLease(int64_t lease_id) const {
  etcdserverpb::LeaseRevokeRequest request;
  request.set_id(lease_id);
  etcdserverpb::LeaseRevokeResponse response;
  return endpoints_->Call(absl::StrCat("LeaseRevoke ", lease_id), Retry::kWrite,
                          [&](const Endpoint& e, grpc::ClientContext* c) {
                            return e.lease->LeaseRevoke(c, request, &response);
                          });
}

absl::StatusOr<EtcdLeaseInfo> EtcdClient::LeaseTimeToLive(int64_t lease_id) const {
  etcdserverpb::LeaseTimeToLiveRequest request;
  request.set_id(lease_id);
  etcdserverpb::LeaseTimeToLiveResponse response;
  absl::Status s = endpoints_->Call(absl::StrCat("LeaseTimeToLive ", lease_id), Retry::kIdempotent,
                                    [&](const Endpoint& e, grpc::ClientContext* c) {
                                      return e.lease->LeaseTimeToLive(c, request, &response);
                                    });
  if (!s.ok()) return s;
  EtcdLeaseInfo info;
  info.id = lease_id;
  info.ttl_seconds = response.ttl() < 0 ? -1 : response.ttl();
  info.granted_ttl_seconds = response.grantedttl();
  return info;
}

std::unique_ptr<LeaseKeeper> EtcdClient::KeepAlive(
    EtcdLease lease, std::function<void(absl::Status)> on_lost,
    std::function<void(std::chrono::steady_clock::time_point)> on_renewed) const {
  return std::make_unique<LeaseKeeper>(endpoints_, lease, std::move(on_lost),
                                       std::move(on_renewed));
}

std::unique_ptr<EtcdWatcher> EtcdClient::WatchPrefix(const std::string& prefix,
                                                     int64_t start_revision,
                                                     EtcdWatchHandlers handlers) const {
  return std::make_unique<EtcdWatcher>(endpoints_, prefix, start_revision, std::move(handlers));
}

}  // namespace historian::cluster
