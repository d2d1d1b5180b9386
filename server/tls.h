// File: tls.h
// TLS for the node (flags --tls_cert, --tls_key, --tls_ca).
//
// - No flags: plaintext (the demo and tests on 127.0.0.1).
// - --tls_cert and --tls_key: the gRPC port serves TLS with that certificate
//   chain and key (PEM files).
// - plus --tls_ca: the server also requests and verifies a client
//   certificate signed by that CA on every connection
//   (GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY): mutual TLS
//   for everyone, replication peers included. The replicator presents the
//   node's own --tls_cert/--tls_key to its peers and verifies their
//   certificates against --tls_ca (system roots when --tls_ca is empty).
//
// Thread-safety: plain functions over immutable inputs.
#ifndef HISTORIAN_SERVER_TLS_H_
#define HISTORIAN_SERVER_TLS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace historian::server {

struct TlsFiles {
  std::string cert;  // PEM certificate chain of this node
  std::string key;   // PEM private key of this node
  std::string ca;    // PEM CA bundle that signs client (and peer) certificates
  bool enabled() const { return !cert.empty(); }
};

// Reads a whole file; NotFound naming the flag and path.
absl::StatusOr<std::string> ReadPemFile(const std::string& flag, const std::string& path);

// Insecure credentials without TLS flags; InvalidArgument when only one of
// cert/key is set or --tls_ca is set without them; NotFound for a missing
// file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files);

// Plaintext credentials that, unlike grpc::InsecureServerCredentials() (it
// asserts), take an AuthMetadataProcessor: the core's insecure credentials
// under a thin C++ wrapper. For checking tokens before a message is read.
std::shared_ptr<grpc::ServerCredentials> InsecureServerCredentialsWithProcessor();

// Credentials the replicator uses towards its peers: insecure without TLS,
// otherwise TLS presenting this node's certificate.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakePeerCredentials(
    const TlsFiles& files);

}  // namespace historian::server

#endif  // HISTORIAN_SERVER_TLS_H_
