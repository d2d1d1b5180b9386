// TLS and mutual TLS through real historiand processes, with certificates
// made by the openssl CLI at test time: a TLS-only node refuses plaintext;
// a node with --tls_ca refuses clients without a certificate of its CA;
// two mTLS nodes replicate; the client library and the CLI connect with
// their TLS options.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "client/historian_client.h"
#include "client/tls_options.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "historian/v1/admin.grpc.pb.h"
#include "historian/v1/ingest.grpc.pb.h"
#include "historian/v1/query.grpc.pb.h"
#include "tests/security/security_util.h"
#include "tests/security/tls_node.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"

namespace historian {
namespace {

using ::testing::HasSubstr;
namespace v1 = ::historian::v1;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new testing::TempDir();
    const std::string& d = pki_->path();
    ok_ = testing::MakeCa(d, "ca") && testing::MakeCa(d, "other-ca") &&
          testing::MakeCert(d, "ca", "node-a") && testing::MakeCert(d, "ca", "node-b") &&
          testing::MakeCert(d, "ca", "analyst") && testing::MakeCert(d, "other-ca", "stranger");
  }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(ok_) << "openssl could not make the test PKI"; }

  static std::string Pki(const std::string& name) { return pki_->Sub(name); }
  static std::vector<std::string> ServerFlags(const std::string& name, bool mutual) {
    std::vector<std::string> f = {"--tls_cert=" + Pki(name + ".pem"),
                                  "--tls_key=" + Pki(name + ".key")};
    if (mutual) f.push_back("--tls_ca=" + Pki("ca.pem"));
    return f;
  }
  static client::TlsOptions ClientTls(const std::string& cert_name) {
    client::TlsOptions tls;
    tls.ca_file = Pki("ca.pem");
    tls.server_name = "localhost";
    if (!cert_name.empty()) {
      tls.cert_file = Pki(cert_name + ".pem");
      tls.key_file = Pki(cert_name + ".key");
    }
    return tls;
  }
  static std::shared_ptr<grpc::ChannelCredentials> Creds(const std::string& cert_name) {
    auto creds = client::MakeChannelCredentials(ClientTls(cert_name));
    EXPECT_TRUE(creds.ok()) << creds.status();
    return *creds;
  }
  static grpc::Status Write(const std::shared_ptr<grpc::Channel>& ch, const std::string& tag,
                            int64_t ts) {
    v1::WriteRequest req;
    auto* s = req.add_series();
    s->set_tag(tag);
    s->add_samples()->set_timestamp_ns(ts);
    s->mutable_samples(0)->mutable_value()->set_double_value(1.25);
    v1::WriteAck ack;
    return v1::Ingest::NewStub(ch)->WriteBatch(testing::Ctx("", 5).get(), req, &ack);
  }

  static testing::TempDir* pki_;
  static bool ok_;
  testing::TempDir dir_;
};
testing::TempDir* TlsTest::pki_ = nullptr;
bool TlsTest::ok_ = false;

TEST_F(TlsTest, ServerTlsRefusesPlaintextAndServesTls) {
  testing::TlsNode node(dir_.Sub("n"), ServerFlags("node-a", /*mutual=*/false));
  ASSERT_TRUE(node.Start(Creds("")));
  EXPECT_TRUE(Write(node.Channel(Creds("")), "tls.a", 1).ok());
  grpc::Status plain =
      Write(grpc::CreateChannel(node.address(), grpc::InsecureChannelCredentials()), "tls.a", 2);
  EXPECT_EQ(plain.error_code(), grpc::StatusCode::UNAVAILABLE);
  // The client library with its TLS options.
  client::ClientOptions options;
  options.endpoints = {node.address()};
  options.tls = ClientTls("");
  auto c = client::Client::Connect(options);
  ASSERT_TRUE(c.ok()) << c.status();
  v1::WriteRequest req;
  req.add_series()->set_tag("tls.lib");
  req.mutable_series(0)->add_samples()->set_timestamp_ns(7);
  req.mutable_series(0)->mutable_samples(0)->mutable_value()->set_int64_value(7);
  auto ack = (*c)->WriteBatch(req);
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(ack->accepted_count(), 1u);
  EXPECT_EQ(node.Stop(), 0);
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificateOfTheCa) {
  testing::TlsNode node(dir_.Sub("n"), ServerFlags("node-a", /*mutual=*/true));
  ASSERT_TRUE(node.Start(Creds("analyst")));
  EXPECT_TRUE(Write(node.Channel(Creds("analyst")), "mtls.a", 1).ok());
  // No client certificate: the handshake fails.
  EXPECT_EQ(Write(node.Channel(Creds("")), "mtls.a", 2).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  // A certificate of another CA: refused too.
  client::TlsOptions stranger = ClientTls("");
  stranger.cert_file = Pki("stranger.pem");
  stranger.key_file = Pki("stranger.key");
  auto creds = client::MakeChannelCredentials(stranger);
  ASSERT_TRUE(creds.ok());
  EXPECT_EQ(Write(node.Channel(*creds), "mtls.a", 3).error_code(), grpc::StatusCode::UNAVAILABLE);
  // The CLI with --tls_ca/--tls_cert/--tls_key (connecting as localhost,
  // the name in the node's certificate).
  std::string server = "localhost:" + node.address().substr(node.address().rfind(':') + 1);
  testing::CommandResult r =
      testing::RunCommand({"historian", "--server", server, "--tls_ca", Pki("ca.pem"), "--tls_cert",
                           Pki("analyst.pem"), "--tls_key", Pki("analyst.key"), "stats"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("tags:"));
  r = testing::RunCommand({"historian", "--server", server, "--tls_ca", Pki("ca.pem"), "stats"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(node.Stop(), 0);
}

TEST_F(TlsTest, MutualTlsPeersReplicate) {
  int pa = testing::FreePort(), pb = testing::FreePort();
  auto flags = [&](const std::string& site, const std::string& cert, int port, int peer_port,
                   const std::string& peer) {
    std::vector<std::string> f = ServerFlags(cert, /*mutual=*/true);
    f.push_back("--site=" + site);
    f.push_back("--listen=127.0.0.1:" + std::to_string(port));
    // Peers by name: the certificates are for localhost/127.0.0.1.
    f.push_back("--peers=" + peer + "=localhost:" + std::to_string(peer_port));
    f.push_back("--anti_entropy_interval=0s");
    return f;
  };
  testing::TlsNode a(dir_.Sub("a"), flags("a", "node-a", pa, pb, "b"));
  testing::TlsNode b(dir_.Sub("b"), flags("b", "node-b", pb, pa, "a"));
  ASSERT_TRUE(a.Start(Creds("analyst")));
  ASSERT_TRUE(b.Start(Creds("analyst")));
  ASSERT_TRUE(Write(a.Channel(Creds("analyst")), "mtls.repl", 42).ok());
  auto query = v1::Query::NewStub(b.Channel(Creds("analyst")));
  EXPECT_TRUE(testing::PollUntil([&] {
    v1::LatestRequest req;
    req.add_tags("mtls.repl");
    v1::LatestResponse resp;
    return query->Latest(testing::Ctx("", 5).get(), req, &resp).ok() && resp.values_size() == 1 &&
           resp.values(0).sample().timestamp_ns() == 42;
  })) << testing::ReadTextFile(b.log_path());
}

TEST_F(TlsTest, GatewayStreamsOverMutualTls) {
  testing::TlsNode node(dir_.Sub("n"), ServerFlags("node-a", /*mutual=*/true));
  ASSERT_TRUE(node.Start(Creds("analyst")));
  std::string csv = dir_.Sub("in.csv");
  {
    std::ofstream out(csv);
    out << "tag,time,value\n";
    for (int i = 0; i < 500; ++i) out << "gw.tls," << 1000 + i << "," << i * 0.5 + 0.25 << "\n";
  }
  std::string server = "localhost:" + node.address().substr(node.address().rfind(':') + 1);
  testing::CommandResult r = testing::RunCommand(
      {"historian-gateway", "--server", server, "--queue_dir", dir_.Sub("q"), "--csv", csv,
       "--tls_ca", Pki("ca.pem"), "--tls_cert", Pki("analyst.pem"), "--tls_key", Pki("analyst.key"),
       "--batch_max_delay", "10ms"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  v1::ReadRequest read;
  read.add_tags("gw.tls");
  read.set_start_ns(0);
  read.set_end_ns(1 << 20);
  auto stub = v1::Query::NewStub(node.Channel(Creds("analyst")));
  auto ctx = testing::Ctx("", 5);
  auto reader = stub->Read(ctx.get(), read);
  v1::ReadResponse resp;
  size_t n = 0;
  while (reader->Read(&resp)) n += resp.samples_size();
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(n, 500u);
  EXPECT_EQ(node.Stop(), 0);
}

TEST(TlsFlagsTest, BadCombinationsStopTheNode) {
  testing::TempDir dir;
  testing::CommandResult r =
      testing::RunCommand({"historiand", "--data_dir=" + dir.Sub("d"), "--listen=127.0.0.1:0",
                           "--metrics_listen=", "--tls_cert=" + dir.Sub("missing.pem")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--tls_cert and --tls_key go together"));
}

}  // namespace
}  // namespace historian
