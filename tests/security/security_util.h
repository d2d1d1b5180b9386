// File: security_util.h
// Helpers of the security tests: files, free ports (tests/testutil/free_port.h), bearer-token
// metadata, polling with a deadline, and a test PKI made with the openssl CLI at test time (a CA,
// and certificates for 127.0.0.1/localhost signed by it).
#ifndef HISTORIAN_TESTS_SECURITY_SECURITY_UTIL_H_
#define HISTORIAN_TESTS_SECURITY_SECURITY_UTIL_H_

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include "api/core/bearer_token.h"
#include "grpcpp/client_context.h"
#include "tests/testutil/free_port.h"

namespace historian::testing {

inline void WriteTextFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

inline std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A client context with a deadline and, when `token` is not empty, the
// bearer token.
inline std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token, int seconds = 10) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  if (!token.empty()) ctx->AddMetadata(kAuthorizationMetadataKey, BearerValue(token));
  return ctx;
}

// Polls `done` every 20 ms until it returns true or `seconds` pass.
inline bool PollUntil(const std::function<bool()>& done, int seconds = 30) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

// Files of a test PKI in `dir`: ca.pem/ca.key, and for each name given to
// MakeTestPki `<name>.pem` + `<name>.key` (subjectAltName 127.0.0.1 and
// localhost, signed by the CA). `other-ca.pem` signs `stranger`.
// Returns false (printing the command) when openssl fails.
inline bool RunShell(const std::string& cmd) {
  int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
  if (rc != 0) std::fprintf(stderr, "command failed (%d): %s\n", rc, cmd.c_str());
  return rc == 0;
}

inline bool MakeCa(const std::string& dir, const std::string& name) {
  return RunShell("cd '" + dir + "' && openssl req -x509 -newkey rsa:2048 -nodes -days 2 " +
                  "-subj '/CN=" + name + "' -keyout " + name + ".key -out " + name + ".pem");
}

// `san`: the certificate's subjectAltName.
inline bool MakeCert(const std::string& dir, const std::string& ca, const std::string& name,
                     const std::string& san = "IP:127.0.0.1,DNS:localhost") {
  std::string ext = dir + "/" + name + ".ext";
  WriteTextFile(ext, "subjectAltName=" + san +
                         "\n"
                         "extendedKeyUsage=serverAuth,clientAuth\n");
  return RunShell("cd '" + dir + "' && openssl req -newkey rsa:2048 -nodes -subj '/CN=" + name +
                  "' -keyout " + name + ".key -out " + name + ".csr") &&
         RunShell("cd '" + dir + "' && openssl x509 -req -in " + name + ".csr -CA " + ca +
                  ".pem -CAkey " + ca + ".key -CAcreateserial -days 2 -extfile " + name +
                  ".ext -out " + name + ".pem");
}

}  // namespace historian::testing

#endif  // HISTORIAN_TESTS_SECURITY_SECURITY_UTIL_H_
