// File: historian_client.cc
#include "client/historian_client.h"

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/core/bearer_token.h"
#include "api/core/status_macros.h"
#include "client/status_convert.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace historian::client {

namespace v1 = historian::v1;

struct Client::Endpoint {
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Ingest::Stub> ingest;
  std::unique_ptr<v1::Query::Stub> query;
  std::unique_ptr<v1::Catalog::Stub> catalog;
};

Client::Client(ClientOptions options) : options_(std::move(options)) {}
Client::~Client() = default;

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  if (options.endpoints.empty()) return absl::InvalidArgumentError("no server endpoints given");
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timeout must be positive");
  }
  std::unique_ptr<Client> client(new Client(options));
  grpc::ChannelArguments args;
  // Aggregate and plot answers can be large; the server bounds them.
  args.SetMaxReceiveMessageSize(256 << 20);
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                   MakeChannelCredentials(options.tls));
  if (!options.tls.server_name.empty()) args.SetSslTargetNameOverride(options.tls.server_name);
  for (const std::string& address : options.endpoints) {
    if (address.empty()) return absl::InvalidArgumentError("empty server endpoint");
    auto ep = std::make_unique<Endpoint>();
    ep->address = address;
    ep->channel = grpc::CreateCustomChannel(address, credentials, args);
    ep->ingest = v1::Ingest::NewStub(ep->channel);
    ep->query = v1::Query::NewStub(ep->channel);
    ep->catalog = v1::Catalog::NewStub(ep->channel);
    client->endpoints_.push_back(std::move(ep));
  }
  return client;
}

const std::string& Client::preferred_endpoint() const {
  return endpoints_[preferred_.load(std::memory_order_relaxed)]->address;
}

void Client::PrepareContext(grpc::ClientContext* context) const {
  context->set_deadline(std::chrono::system_clock::now() +
                        absl::ToChronoNanoseconds(options_.timeout));
  if (!options_.token.empty()) {
    context->AddMetadata(kAuthorizationMetadataKey, BearerValue(options_.token));
  }
}

absl::Status Client::CallWithFailover(Call call) {
  const size_t n = endpoints_.size();
  const size_t start = preferred_.load(std::memory_order_relaxed);
  std::string errors;
  for (size_t i = 0; i < n; ++i) {
    const size_t index = (start + i) % n;
    Endpoint& ep = *endpoints_[index];
    grpc::ClientContext context;
    PrepareContext(&context);
    absl::Status status = FromGrpcStatus(call(ep, &context));
    if (status.code() != absl::StatusCode::kUnavailable) {
      if (index != start) preferred_.store(index, std::memory_order_relaxed);
      return status;
    }
    if (n == 1) return status;
    absl::StrAppend(&errors, errors.empty() ? "" : "; ", ep.address, ": ", status.message());
  }
  return absl::UnavailableError(absl::StrCat("no server reachable (", errors, ")"));
}

absl::StatusOr<v1::WriteAck> Client::WriteBatch(const v1::WriteRequest& request) {
  v1::WriteAck ack;
  RETURN_IF_ERROR(CallWithFailover([&](Endpoint& ep, grpc::ClientContext* context) {
    ack.Clear();
    return ep.ingest->WriteBatch(context, request, &ack);
  }));
  return ack;
}

absl::Status Client::ReadOnce(const v1::ReadRequest& request,
                              absl::FunctionRef<absl::Status(const v1::ReadResponse&)> on_message,
                              std::string* token) {
  absl::Status callback_status;
  // A stream that broke after delivering messages is not retried elsewhere:
  // the caller has already seen part of it.
  grpc::Status broken_stream;
  absl::Status status = CallWithFailover([&](Endpoint& ep, grpc::ClientContext* context) {
    std::unique_ptr<grpc::ClientReader<v1::ReadResponse>> reader = ep.query->Read(context, request);
    v1::ReadResponse response;
    bool got_message = false;
    while (reader->Read(&response)) {
      got_message = true;
      if (!response.continuation_token().empty()) *token = response.continuation_token();
      callback_status = on_message(response);
      if (!callback_status.ok()) {
        context->TryCancel();
        while (reader->Read(&response)) {
        }
        reader->Finish();
        return grpc::Status::OK;
      }
    }
    grpc::Status finish = reader->Finish();
    if (got_message && finish.error_code() == grpc::StatusCode::UNAVAILABLE) {
      broken_stream = finish;
      return grpc::Status(grpc::StatusCode::ABORTED, "");  // stops the failover
    }
    return finish;
  });
  if (!callback_status.ok()) return callback_status;
  if (!broken_stream.ok()) return FromGrpcStatus(broken_stream);
  return status;
}

absl::Status Client::Subscribe(
    const v1::SubscribeRequest& request,
    absl::FunctionRef<absl::Status(const v1::SubscribeResponse&)> on_message) {
  Endpoint& ep = *endpoints_[preferred_.load(std::memory_order_relaxed)];
  grpc::ClientContext context;
  if (!options_.token.empty()) {
    context.AddMetadata(kAuthorizationMetadataKey, BearerValue(options_.token));
  }
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader =
      ep.query->Subscribe(&context, request);
  v1::SubscribeResponse response;
  while (reader->Read(&response)) {
    absl::Status s = on_message(response);
    if (!s.ok()) {
      context.TryCancel();
      while (reader->Read(&response)) {
      }
      reader->Finish();
      return s;
    }
  }
  return FromGrpcStatus(reader->Finish());
}

absl::Status Client::Read(const v1::ReadRequest& request,
                          absl::FunctionRef<absl::Status(const v1::ReadResponse&)> on_message,
                          Continuation continuation) {
  v1::ReadRequest next = request;
  while (true) {
    std::string token;
    RETURN_IF_ERROR(ReadOnce(next, on_message, &token));
    if (continuation == Continuation::kStop || token.empty()) return absl::OkStatus();
    if (token == next.continuation_token()) {
      return absl::InternalError("server returned the same continuation token twice");
    }
    next.set_continuation_token(std::move(token));
  }
}

// Defines a unary method Service.Method returning StatusOr<Response>.
#define HISTORIAN_CLIENT_UNARY(Method, stub, Request, Response)                    \
  absl::StatusOr<v1::Response> Client::Method(const v1::Request& request) {        \
    v1::Response response;                                                         \
    RETURN_IF_ERROR(CallWithFailover([&](Endpoint& ep, grpc::ClientContext* ctx) { \
      response.Clear();                                                            \
      return ep.stub->Method(ctx, request, &response);                             \
    }));                                                                           \
    return response;                                                               \
  }

HISTORIAN_CLIENT_UNARY(Latest, query, LatestRequest, LatestResponse)
HISTORIAN_CLIENT_UNARY(Aggregate, query, AggregateRequest, AggregateResponse)
HISTORIAN_CLIENT_UNARY(Interpolate, query, InterpolateRequest, InterpolateResponse)
HISTORIAN_CLIENT_UNARY(Plot, query, PlotRequest, PlotResponse)
HISTORIAN_CLIENT_UNARY(CreateTag, catalog, CreateTagRequest, Tag)
HISTORIAN_CLIENT_UNARY(GetTag, catalog, GetTagRequest, Tag)
HISTORIAN_CLIENT_UNARY(UpdateTag, catalog, UpdateTagRequest, Tag)
HISTORIAN_CLIENT_UNARY(ListTags, catalog, ListTagsRequest, ListTagsResponse)

#undef HISTORIAN_CLIENT_UNARY

absl::Status Client::DeleteTag(const v1::DeleteTagRequest& request) {
  v1::DeleteTagResponse response;
  return CallWithFailover([&](Endpoint& ep, grpc::ClientContext* context) {
    response.Clear();
    return ep.catalog->DeleteTag(context, request, &response);
  });
}

absl::Status Client::ListAllTags(v1::ListTagsRequest request,
                                 absl::FunctionRef<absl::Status(const v1::Tag&)> on_tag) {
  while (true) {
    ASSIGN_OR_RETURN(v1::ListTagsResponse page, ListTags(request));
    for (const v1::Tag& tag : page.tags()) RETURN_IF_ERROR(on_tag(tag));
    if (page.next_page_token().empty()) return absl::OkStatus();
    if (page.next_page_token() == request.page_token()) {
      return absl::InternalError("server returned the same page token twice");
    }
    request.set_page_token(page.next_page_token());
  }
}

}  // namespace historian::client
