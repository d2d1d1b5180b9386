#include "server/tls.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "grpc/grpc.h"
#include "grpc/grpc_security.h"
#include "grpc/slice.h"
#include "openssl/err.h"
#include "openssl/pem.h"
#include "openssl/x509.h"

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

// The reason OpenSSL gave last (cleared), or `fallback`.
std::string OpenSslError(const char* fallback) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return fallback;
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

// gRPC parses the PEM files only when the port is bound, and then fails
// with its own message; check them here so a bad file is a flag error.
absl::Status CheckKeyPair(const TlsFiles& files, const std::string& cert_pem,
                          const std::string& key_pem) {
  BIO* cert_bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  BIO_free(cert_bio);
  if (cert == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("--tls_cert: ", files.cert,
                                                   " holds no readable PEM certificate (",
                                                   OpenSslError("parse error"), ")"));
  }
  BIO* key_bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  absl::Status status;
  if (key == nullptr) {
    status = absl::InvalidArgumentError(absl::StrCat("--tls_key: ", files.key,
                                                     " holds no readable PEM private key (",
                                                     OpenSslError("parse error"), ")"));
  } else if (X509_check_private_key(cert, key) != 1) {
    ERR_clear_error();
    status = absl::InvalidArgumentError(absl::StrCat(
        "--tls_key: ", files.key, " is not the key of the certificate in --tls_cert ", files.cert));
  }
  EVP_PKEY_free(key);
  X509_free(cert);
  return status;
}

// InvalidArgument naming --tls_ca when `pem` holds no certificate.
absl::Status CheckCaPem(const TlsFiles& files, const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (cert != nullptr) {
    X509_free(cert);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("--tls_ca: ", files.ca,
                                                 " holds no readable PEM certificate (",
                                                 OpenSslError("parse error"), ")"));
}

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
  if (absl::Status s = CheckKeyPair(files, *cert, *key); !s.ok()) return s;
  pair.cert_chain = std::move(*cert);
  pair.private_key = std::move(*key);
  options.pem_key_cert_pairs.push_back(std::move(pair));
  if (!files.ca.empty()) {
    absl::StatusOr<std::string> ca = ReadPemFile("tls_ca", files.ca);
    if (!ca.ok()) return ca.status();
    if (absl::Status s = CheckCaPem(files, *ca); !s.ok()) return s;
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
