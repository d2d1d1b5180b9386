#include "server/tls.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "grpc/grpc.h"
#include "grpc/grpc_security.h"
#include "grpc/slice.h"

namespace historian::server {
namespace {

// grpc::SecureServerCredentials (which wraps core credentials and takes a
// processor) is not installed; this is its plaintext part. ServerCredentials'
// AddPortToServer is a private virtual: overriding it is allowed.
class CoreInsecureServerCredentials final : public grpc::ServerCredentials {
 public:
  CoreInsecureServerCredentials() : creds_(grpc_insecure_server_credentials_create()) {}
  ~CoreInsecureServerCredentials() override { grpc_server_credentials_release(creds_); }

  void SetAuthMetadataProcessor(
      const std::shared_ptr<grpc::AuthMetadataProcessor>& processor) override {
    processor_ = processor;
    grpc_server_credentials_set_auth_metadata_processor(
        creds_, grpc_auth_metadata_processor{&Process, nullptr, processor_.get()});
  }

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    return grpc_server_add_http2_port(server, addr.c_str(), creds_);
  }

  // Runs the processor inline (ours never blocks) on the call's metadata.
  static void Process(void* state, grpc_auth_context*, const grpc_metadata* md, size_t num_md,
                      grpc_process_auth_metadata_done_cb cb, void* user_data) {
    auto* processor = static_cast<grpc::AuthMetadataProcessor*>(state);
    grpc::AuthMetadataProcessor::InputMetadata input;
    for (size_t i = 0; i < num_md; ++i) {
      input.emplace(
          grpc::string_ref(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(md[i].key)),
                           GRPC_SLICE_LENGTH(md[i].key)),
          grpc::string_ref(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(md[i].value)),
                           GRPC_SLICE_LENGTH(md[i].value)));
    }
    grpc::AuthMetadataProcessor::OutputMetadata consumed, response;
    grpc::Status status = processor->Process(input, nullptr, &consumed, &response);
    cb(user_data, nullptr, 0, nullptr, 0, static_cast<grpc_status_code>(status.error_code()),
       status.ok() ? nullptr : status.error_message().c_str());
  }

  grpc_server_credentials* const creds_;
  std::shared_ptr<grpc::AuthMetadataProcessor> processor_;
};

}  // namespace

std::shared_ptr<grpc::ServerCredentials> InsecureServerCredentialsWithProcessor() {
  return std::make_shared<CoreInsecureServerCredentials>();
}

absl::StatusOr<std::string> ReadPemFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("--", flag, ": cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", path, " is not PEM"));
  }
  return ss.str();
}

namespace {

absl::Status CheckCombination(const TlsFiles& files) {
  if (files.cert.empty() != files.key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  if (!files.ca.empty() && files.cert.empty()) {
    return absl::InvalidArgumentError("--tls_ca needs --tls_cert and --tls_key");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsFiles& files) {
  if (absl::Status s = CheckCombination(files); !s.ok()) return s;
  if (!files.enabled()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  absl::StatusOr<std::string> cert = ReadPemFile("tls_cert", files.cert);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPemFile("tls_key", files.key);
  if (!key.ok()) return key.status();
  pair.cert_chain = std::move(*cert);
  pair.private_key = std::move(*key);
  options.pem_key_cert_pairs.push_back(std::move(pair));
  if (!files.ca.empty()) {
    absl::StatusOr<std::string> ca = ReadPemFile("tls_ca", files.ca);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = std::move(*ca);
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  } else {
    options.client_certificate_request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  }
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakePeerCredentials(
    const TlsFiles& files) {
  if (absl::Status s = CheckCombination(files); !s.ok()) return s;
  if (!files.enabled()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  absl::StatusOr<std::string> cert = ReadPemFile("tls_cert", files.cert);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPemFile("tls_key", files.key);
  if (!key.ok()) return key.status();
  options.pem_cert_chain = std::move(*cert);
  options.pem_private_key = std::move(*key);
  if (!files.ca.empty()) {
    absl::StatusOr<std::string> ca = ReadPemFile("tls_ca", files.ca);
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = std::move(*ca);
  }
  return grpc::SslCredentials(options);
}

}  // namespace historian::server
