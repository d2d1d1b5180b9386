#include "server/http/http_api.h"

#include <httplib.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/cluster/member_channels.h"
#include "server/http/series_text.h"
#include "server/logging.h"
#include "server/status_util.h"

namespace historian::server::http {
namespace {

// The services' env without the Authorizer (HttpApi checks the token) and
// without stream limits (the HTTP server's thread pool bounds its calls).
ServiceEnv InProcessEnv(ServiceEnv env) {
  env.auth = nullptr;
  env.streams = nullptr;
  env.replication_streams = nullptr;
  return env;
}

// Writes the messages of a Read stream in column form (ReadRequest.columns)
// into the answer's text as they come: no message per sample, no copy of the
// pages. Used by the one thread serving the call.
class RenderingWriter final : public grpc::ServerWriterInterface<v1::ReadResponse> {
 public:
  explicit RenderingWriter(const OutputOptions& o) : o_(o), text_(o, /*with_token=*/true) {}
  void SendInitialMetadata() override {}
  bool Write(const v1::ReadResponse& msg, grpc::WriteOptions) override {
    if (!msg.continuation_token().empty()) {
      token_ = absl::WebSafeBase64Escape(msg.continuation_token());
    }
    text_.AddColumns(msg.tag(), msg.columns());
    return true;
  }
  Body Finish() {
    return {text_.Finish(token_), o_.csv ? "text/csv; charset=utf-8" : "application/json"};
  }

 private:
  const OutputOptions o_;
  SeriesText text_;
  std::string token_;  // the last one sent (base64url)
};

// Hands the text to httplib without copying it (set_content copies; a raw
// read's answer is megabytes).
void SetBody(Body body, httplib::Response* res) {
  auto text = std::make_shared<std::string>(std::move(body.text));
  const size_t size = text->size();
  res->set_content_provider(
      size, body.content_type, [text](size_t offset, size_t length, httplib::DataSink& sink) {
        return sink.write(text->data() + offset, std::min(length, text->size() - offset));
      });
}

}  // namespace

HttpApi::HttpApi(const ServiceEnv& env)
    : auth_(env.auth),
      query_(InProcessEnv(env)),
      catalog_(InProcessEnv(env)),
      admin_(InProcessEnv(env), nullptr, nullptr) {}

void HttpApi::Register(httplib::Server* server) {
  struct Route {
    const char* path;
    const char* method;
    Handler handler;
  };
  for (const Route& r : {Route{"/api/v1/tags", "Catalog.ListTags", &HttpApi::Tags},
                         Route{"/api/v1/read", "Query.Read", &HttpApi::Read},
                         Route{"/api/v1/aggregate", "Query.Aggregate", &HttpApi::Aggregate},
                         Route{"/api/v1/plot", "Query.Plot", &HttpApi::Plot},
                         Route{"/api/v1/latest", "Query.Latest", &HttpApi::Latest},
                         Route{"/api/v1/node", "Admin.Stats", &HttpApi::Node}}) {
    server->Get(r.path, [this, r](const httplib::Request& req, httplib::Response& res) {
      Serve(req, res, r.method, r.handler);
    });
  }
}

void HttpApi::Serve(const httplib::Request& req, httplib::Response& res, const char* method,
                    Handler handler) {
  const absl::Time start = absl::Now();
  absl::StatusOr<Body> body = [&]() -> absl::StatusOr<Body> {
    if (auth_ != nullptr) {
      const bool present = req.has_header("Authorization");
      absl::StatusOr<Principal> p =
          auth_->AuthorizeHeader(req.get_header_value("Authorization"), present, method);
      if (!p.ok()) {
        LogInfo("auth", "HTTP call refused",
                {{"method", method}, {"peer", req.remote_addr}, {"path", req.path}});
        return p.status();
      }
    }
    Params params(req.params.begin(), req.params.end());
    absl::StatusOr<OutputOptions> o = ParseOutput(params, req.get_header_value("Accept"));
    if (!o.ok()) return o.status();
    // The in-process call's context; its forwarded parts carry the token.
    grpc::ServerContext ctx;
    cluster::InProcessCaller caller(&ctx, req.get_header_value("Authorization"));
    return (this->*handler)(&ctx, params, *o);
  }();
  // The node's time for the call (authorisation, query, rendering), for
  // browsers' devtools and the benchmark.
  res.set_header("Server-Timing",
                 absl::StrCat("app;dur=", absl::ToDoubleMilliseconds(absl::Now() - start)));
  if (!body.ok()) {
    Body error = RenderError(body.status());
    res.status = HttpStatusFor(body.status().code());
    if (body.status().code() == absl::StatusCode::kUnauthenticated) {
      res.set_header("WWW-Authenticate", "Bearer");
    }
    res.set_content(error.text, error.content_type);
    return;
  }
  res.set_header("Cache-Control", "no-store");
  SetBody(std::move(*body), &res);
}

absl::StatusOr<Body> HttpApi::Tags(grpc::ServerContext* ctx, const Params& params,
                                   const OutputOptions& o) {
  absl::StatusOr<v1::ListTagsRequest> req = ListTagsFromParams(params);
  if (!req.ok()) return req.status();
  v1::ListTagsResponse resp;
  if (grpc::Status s = catalog_.ListTags(ctx, &*req, &resp); !s.ok()) return FromGrpcStatus(s);
  return RenderTags(resp, o);
}

absl::StatusOr<Body> HttpApi::Read(grpc::ServerContext* ctx, const Params& params,
                                   const OutputOptions& o) {
  absl::StatusOr<v1::ReadRequest> req = ReadFromParams(params, absl::GetCurrentTimeNanos());
  if (!req.ok()) return req.status();
  req->set_columns(true);  // the same samples, ~2 allocations a page instead of 2 a sample
  RenderingWriter writer(o);
  if (grpc::Status s = query_.ReadTo(ctx, &*req, &writer); !s.ok()) return FromGrpcStatus(s);
  return writer.Finish();
}

absl::StatusOr<Body> HttpApi::Aggregate(grpc::ServerContext* ctx, const Params& params,
                                        const OutputOptions& o) {
  absl::StatusOr<v1::AggregateRequest> req =
      AggregateFromParams(params, absl::GetCurrentTimeNanos());
  if (!req.ok()) return req.status();
  v1::AggregateResponse resp;
  if (grpc::Status s = query_.Aggregate(ctx, &*req, &resp); !s.ok()) return FromGrpcStatus(s);
  return RenderAggregate(*req, resp, o);
}

absl::StatusOr<Body> HttpApi::Plot(grpc::ServerContext* ctx, const Params& params,
                                   const OutputOptions& o) {
  absl::StatusOr<v1::PlotRequest> req = PlotFromParams(params, absl::GetCurrentTimeNanos());
  if (!req.ok()) return req.status();
  v1::PlotResponse resp;
  if (grpc::Status s = query_.Plot(ctx, &*req, &resp); !s.ok()) return FromGrpcStatus(s);
  return RenderPlot(resp, o);
}

absl::StatusOr<Body> HttpApi::Latest(grpc::ServerContext* ctx, const Params& params,
                                     const OutputOptions& o) {
  absl::StatusOr<v1::LatestRequest> req = LatestFromParams(params);
  if (!req.ok()) return req.status();
  v1::LatestResponse resp;
  if (grpc::Status s = query_.Latest(ctx, &*req, &resp); !s.ok()) return FromGrpcStatus(s);
  return RenderLatest(resp, o);
}

absl::StatusOr<Body> HttpApi::Node(grpc::ServerContext* ctx, const Params&, const OutputOptions&) {
  v1::StatsRequest req;
  v1::StatsResponse resp;
  if (grpc::Status s = admin_.Stats(ctx, &req, &resp); !s.ok()) return FromGrpcStatus(s);
  return RenderNode(resp, auth_ != nullptr && auth_->enabled());
}

}  // namespace historian::server::http
