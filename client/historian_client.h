// File: historian_client.h
// Client library for a historian node: the public gRPC API (Ingest, Query,
// Catalog) behind absl::Status-returning methods.
//
// Example:
//   ClientOptions options;
//   options.endpoints = {"us-node:7400", "mx-node:7400"};
//   ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Client::Connect(options));
//   ASSIGN_OR_RETURN(historian::v1::WriteAck ack, client->WriteBatch(request));
#ifndef HISTORIAN_CLIENT_HISTORIAN_CLIENT_H_
#define HISTORIAN_CLIENT_HISTORIAN_CLIENT_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/tls_options.h"
#include "historian/v1/catalog.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"

namespace historian::client {

struct ClientOptions {
  // Nodes to talk to, "host:port", in order of preference. Unary calls go to
  // the endpoint that last answered and move on to the next one when an
  // endpoint is UNAVAILABLE. Must not be empty.
  std::vector<std::string> endpoints = {"127.0.0.1:7400"};
  // Deadline of each RPC (for Read: of each stream, i.e. each continuation
  // round). Must be positive.
  absl::Duration timeout = absl::Seconds(30);
  // When set, every call carries the metadata `authorization: Bearer <token>`.
  std::string token;
  // TLS (see tls_options.h); default: plaintext channels.
  TlsOptions tls;
};

// Whether Client::Read follows continuation tokens.
enum class Continuation {
  // Keep issuing the request with the returned continuation token until the
  // server sends none: the caller sees the whole range, in pieces.
  kFollow,
  // One stream only; the last message handed to the callback carries the
  // token when the limit cut the result, and the caller decides.
  kStop,
};

// A connection to one or more historian nodes.
//
// Thread-safe: every method may be called concurrently from many threads;
// each call uses its own gRPC context over shared channels.
//
// Every method returns the server's status with its code and message
// unchanged (see status_convert.h), except that when every endpoint is
// UNAVAILABLE the message names each endpoint and its error.
class Client {
 public:
  // Creates channels to `options.endpoints`. Does not wait for a connection:
  // an unreachable node shows up as UNAVAILABLE on the first call.
  // INVALID_ARGUMENT for an empty endpoint list, an empty endpoint or a
  // non-positive timeout.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(const ClientOptions& options);

  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Ingest.WriteBatch. A retry on another endpoint (failover) is safe when
  // the request sets client_id and batch_sequence, which make it idempotent.
  absl::StatusOr<historian::v1::WriteAck> WriteBatch(const historian::v1::WriteRequest& request);

  // Query.Read: calls `on_message` for each response message, in stream
  // order. With Continuation::kFollow (the default) it re-issues the request
  // with each returned continuation token until the server sends none, so the
  // caller sees the whole range while only one message is held in memory.
  // A non-OK status from `on_message` cancels the stream and is returned.
  // Failover to the next endpoint happens only before the first message of a
  // stream has arrived.
  absl::Status Read(const historian::v1::ReadRequest& request,
                    absl::FunctionRef<absl::Status(const historian::v1::ReadResponse&)> on_message,
                    Continuation continuation = Continuation::kFollow);

  absl::StatusOr<historian::v1::LatestResponse> Latest(const historian::v1::LatestRequest& request);
  absl::StatusOr<historian::v1::AggregateResponse> Aggregate(
      const historian::v1::AggregateRequest& request);
  absl::StatusOr<historian::v1::InterpolateResponse> Interpolate(
      const historian::v1::InterpolateRequest& request);
  absl::StatusOr<historian::v1::PlotResponse> Plot(const historian::v1::PlotRequest& request);

  // Query.Subscribe on the preferred endpoint, without a deadline: calls
  // `on_message` for each response until the stream ends (its status is
  // returned) or `on_message` returns non-OK (the stream is cancelled and
  // that status returned). Resuming is the caller's: pass the last
  // response's resume_token in a new request.
  absl::Status Subscribe(
      const historian::v1::SubscribeRequest& request,
      absl::FunctionRef<absl::Status(const historian::v1::SubscribeResponse&)> on_message);

  // Catalog.
  absl::StatusOr<historian::v1::Tag> CreateTag(const historian::v1::CreateTagRequest& request);
  absl::StatusOr<historian::v1::Tag> GetTag(const historian::v1::GetTagRequest& request);
  absl::StatusOr<historian::v1::Tag> UpdateTag(const historian::v1::UpdateTagRequest& request);
  absl::Status DeleteTag(const historian::v1::DeleteTagRequest& request);
  // One page; see ListAllTags for every page.
  absl::StatusOr<historian::v1::ListTagsResponse> ListTags(
      const historian::v1::ListTagsRequest& request);
  // Pages through every tag matching `request` (its page_token is the
  // starting point, normally empty), calling `on_tag` for each. Holds one
  // page in memory. A non-OK status from `on_tag` stops and is returned.
  absl::Status ListAllTags(historian::v1::ListTagsRequest request,
                           absl::FunctionRef<absl::Status(const historian::v1::Tag&)> on_tag);

  // The endpoint calls currently go to first.
  const std::string& preferred_endpoint() const;

 private:
  struct Endpoint;
  using Call = absl::FunctionRef<grpc::Status(Endpoint&, grpc::ClientContext*)>;

  explicit Client(ClientOptions options);

  // Sets the deadline and the authorization metadata.
  void PrepareContext(grpc::ClientContext* context) const;
  // Runs `call` on the preferred endpoint, then on the next ones while the
  // answer is UNAVAILABLE. `call` must reset its response on each attempt.
  absl::Status CallWithFailover(Call call);
  // One Read stream; stores the last continuation token seen in *token.
  absl::Status ReadOnce(
      const historian::v1::ReadRequest& request,
      absl::FunctionRef<absl::Status(const historian::v1::ReadResponse&)> on_message,
      std::string* token);

  const ClientOptions options_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;  // fixed after Connect
  std::atomic<size_t> preferred_{0};                  // index into endpoints_
};

}  // namespace historian::client

#endif  // HISTORIAN_CLIENT_HISTORIAN_CLIENT_H_
