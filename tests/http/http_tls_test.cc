// The HTTP listener of a node with TLS: HTTPS with the node's certificate
// (plain HTTP refused), and with --tls_ca client certificates required, as on
// gRPC.
#include <httplib.h>
#include <signal.h>

#include <string>

#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/security/security_util.h"
#include "tests/security/tls_node.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

class HttpTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The refused handshake closes the socket under the client's SSL_write.
    signal(SIGPIPE, SIG_IGN);
    pki_ = dir_.Sub("pki");
    ASSERT_TRUE(testing::RunShell("mkdir -p '" + pki_ + "'"));
    ASSERT_TRUE(testing::MakeCa(pki_, "ca"));
    ASSERT_TRUE(testing::MakeCert(pki_, "ca", "node"));
    ASSERT_TRUE(testing::MakeCert(pki_, "ca", "client"));
  }
  // Starts a TLS node with --http_listen; returns its HTTP port (0 on failure).
  int StartNode(testing::TlsNode* node, bool mutual) {
    grpc::SslCredentialsOptions opts;
    opts.pem_root_certs = testing::ReadTextFile(pki_ + "/ca.pem");
    if (mutual) {
      opts.pem_cert_chain = testing::ReadTextFile(pki_ + "/client.pem");
      opts.pem_private_key = testing::ReadTextFile(pki_ + "/client.key");
    }
    if (!node->Start(grpc::SslCredentials(opts))) return 0;
    return std::stoi(testing::ReadTextFile(dir_.Sub("http.port")));
  }
  std::vector<std::string> Flags(bool mutual) {
    std::vector<std::string> f = {"--tls_cert=" + pki_ + "/node.pem",
                                  "--tls_key=" + pki_ + "/node.key", "--http_listen=127.0.0.1:0",
                                  "--http_port_file=" + dir_.Sub("http.port")};
    if (mutual) f.push_back("--tls_ca=" + pki_ + "/ca.pem");
    return f;
  }
  testing::TempDir dir_;
  std::string pki_;
};

TEST_F(HttpTlsTest, ServesHttpsWithTheNodesCertificate) {
  testing::TlsNode node(dir_.Sub("node"), Flags(false));
  const int port = StartNode(&node, false);
  ASSERT_GT(port, 0);
  httplib::SSLClient https("localhost", port);
  https.set_ca_cert_path((pki_ + "/ca.pem").c_str());
  https.enable_server_certificate_verification(true);
  auto res = https.Get("/api/v1/node");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("\"site\""), std::string::npos);
  httplib::Client plain("127.0.0.1", port);
  plain.set_read_timeout(5, 0);
  auto refused = plain.Get("/api/v1/node");
  EXPECT_TRUE(!refused || refused->status != 200);
}

TEST_F(HttpTlsTest, MutualTlsRequiresAClientCertificate) {
  testing::TlsNode node(dir_.Sub("node"), Flags(true));
  const int port = StartNode(&node, true);
  ASSERT_GT(port, 0);
  httplib::SSLClient anonymous("localhost", port);
  anonymous.set_ca_cert_path((pki_ + "/ca.pem").c_str());
  anonymous.enable_server_certificate_verification(true);
  auto refused = anonymous.Get("/api/v1/node");
  EXPECT_TRUE(!refused || refused->status != 200);
  httplib::SSLClient client("localhost", port, pki_ + "/client.pem", pki_ + "/client.key");
  client.set_ca_cert_path((pki_ + "/ca.pem").c_str());
  client.enable_server_certificate_verification(true);
  auto res = client.Get("/api/v1/node");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
}

}  // namespace
}  // namespace historian
