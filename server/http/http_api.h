// File: http_api.h
// HttpApi: the handlers of GET /api/v1/{tags,read,aggregate,plot,latest,node}
// (docs/http.md). Each checks the bearer token against the role table with
// the gRPC method's name, builds that method's request proto from the query
// parameters and calls the gRPC service in process (QueryService,
// CatalogService, AdminService), so both APIs answer with the same
// semantics, limits and errors; then writes the response as JSON or CSV.
// On a cluster node the services fan out as for a gRPC caller, forwarding
// the request's bearer token to the owners (docs/cluster.md, "Queries").
//
// Thread-safety: immutable after construction; handlers run concurrently on
// the HTTP server's threads (the services are thread-safe).
#ifndef HISTORIAN_SERVER_HTTP_HTTP_API_H_
#define HISTORIAN_SERVER_HTTP_HTTP_API_H_

#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "server/admin_service.h"
#include "server/http/http_format.h"
#include "server/http/http_params.h"
#include "server/rpc_env.h"
#include "server/services.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace historian::server::http {

class HttpApi {
 public:
  // What `env` points to must outlive the API.
  explicit HttpApi(const ServiceEnv& env);
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // Routes GET /api/v1/... of `server` to this API.
  void Register(httplib::Server* server);

 private:
  // `ctx`: the in-process call's context; in a cluster, parts forwarded for
  // it carry the HTTP request's Authorization (cluster::InProcessCaller).
  using Handler = absl::StatusOr<Body> (HttpApi::*)(grpc::ServerContext* ctx, const Params&,
                                                    const OutputOptions&);
  // Authorises `method`, runs `handler` and writes its answer or error.
  void Serve(const httplib::Request& req, httplib::Response& res, const char* method,
             Handler handler);

  absl::StatusOr<Body> Tags(grpc::ServerContext* ctx, const Params& params, const OutputOptions& o);
  absl::StatusOr<Body> Read(grpc::ServerContext* ctx, const Params& params, const OutputOptions& o);
  absl::StatusOr<Body> Aggregate(grpc::ServerContext* ctx, const Params& params,
                                 const OutputOptions& o);
  absl::StatusOr<Body> Plot(grpc::ServerContext* ctx, const Params& params, const OutputOptions& o);
  absl::StatusOr<Body> Latest(grpc::ServerContext* ctx, const Params& params,
                              const OutputOptions& o);
  absl::StatusOr<Body> Node(grpc::ServerContext* ctx, const Params& params, const OutputOptions& o);

  const Authorizer* const auth_;  // null: authorisation off
  // Called in process after Serve authorised the call (their env has no
  // Authorizer: a ServerContext made here carries no metadata).
  QueryService query_;
  CatalogService catalog_;
  AdminService admin_;
};

}  // namespace historian::server::http

#endif  // HISTORIAN_SERVER_HTTP_HTTP_API_H_
