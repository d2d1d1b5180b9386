// File: tls_options.h
// TLS settings of the client library and the channel credentials they make.
//
//   TlsOptions tls;
//   tls.ca_file = "ca.pem";                     // verify the node with this CA
//   tls.cert_file = "me.pem"; tls.key_file = "me.key";  // when the node wants mTLS
//   ASSIGN_OR_RETURN(auto creds, MakeChannelCredentials(tls));
//
// Thread-safety: plain functions over immutable inputs.
#ifndef HISTORIAN_CLIENT_TLS_OPTIONS_H_
#define HISTORIAN_CLIENT_TLS_OPTIONS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/credentials.h"

namespace historian::client {

struct TlsOptions {
  // PEM CA bundle that signed the node's certificate. With only this set the
  // channel is TLS without a client certificate. Empty with cert/key set:
  // the system roots verify the node.
  std::string ca_file;
  // PEM certificate chain and private key presented to the node (needed
  // when the node runs with --tls_ca: mutual TLS). Both or neither.
  std::string cert_file;
  std::string key_file;
  // Name expected in the node's certificate when it differs from the host
  // in the endpoint (e.g. connecting by IP). Empty: the endpoint's host.
  std::string server_name;

  bool enabled() const { return !ca_file.empty() || !cert_file.empty(); }
};

// Insecure credentials when `tls` is not enabled, TLS otherwise.
// InvalidArgument when only one of cert/key is set; NotFound for a file that
// cannot be read.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const TlsOptions& tls);

}  // namespace historian::client

#endif  // HISTORIAN_CLIENT_TLS_OPTIONS_H_
