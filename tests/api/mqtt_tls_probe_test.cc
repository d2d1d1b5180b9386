// TlsHandshakeError against a real mosquitto with TLS, and against peers
// that are not TLS brokers: the reason a handshake fails in OpenSSL's words,
// and "" whenever the failure is not about TLS.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "api/mqtt/tls_probe.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/security/security_util.h"
#include "tests/testutil/free_port.h"
#include "tests/testutil/mosquitto_process.h"
#include "tests/testutil/temp_dir.h"

namespace historian::mqtt_connection {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(10);

class TlsProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = dir_.Sub("pki");
    std::filesystem::create_directories(pki_);
    ASSERT_TRUE(historian::testing::MakeCa(pki_, "ca") &&
                historian::testing::MakeCa(pki_, "other-ca") &&
                historian::testing::MakeCert(pki_, "ca", "broker") &&
                historian::testing::MakeCert(pki_, "ca", "client") &&
                historian::testing::MakeCert(pki_, "ca", "elsewhere", "DNS:elsewhere.example"))
        << "openssl could not make the test PKI";
  }

  // A TLS mosquitto serving `cert` (of the CA "ca"), client certificates
  // required when `require_client_cert`.
  std::string TlsConfig(const std::string& cert, bool require_client_cert) const {
    return "allow_anonymous true\ncafile " + pki_ + "/ca.pem\ncertfile " + pki_ + "/" + cert +
           ".pem\nkeyfile " + pki_ + "/" + cert + ".key\n" +
           (require_client_cert ? "require_certificate true\n" : "");
  }

  MqttConnection Tls(int port, const std::string& ca) const {
    MqttConnection c;
    c.uri = "ssl://127.0.0.1:" + std::to_string(port);
    c.tls_ca = pki_ + "/" + ca + ".pem";
    return c;
  }

  historian::testing::TempDir dir_;
  std::string pki_;
};

TEST_F(TlsProbeTest, SaysWhyTheBrokersCertificateIsNotTrusted) {
  historian::testing::MosquittoProcess broker(dir_.Sub("m"), TlsConfig("broker", false));
  ASSERT_TRUE(broker.Start());
  EXPECT_EQ(TlsHandshakeError(Tls(broker.port(), "ca"), kTimeout), "");

  const std::string untrusted = TlsHandshakeError(Tls(broker.port(), "other-ca"), kTimeout);
  EXPECT_THAT(untrusted, HasSubstr("certificate verify failed (")) << untrusted;

  // The name is checked as Paho checks it: by the URI's host.
  MqttConnection by_name = Tls(broker.port(), "ca");
  by_name.uri = "ssl://localhost:" + std::to_string(broker.port());
  EXPECT_EQ(TlsHandshakeError(by_name, kTimeout), "");
}

TEST_F(TlsProbeTest, SaysWhenTheBrokersNameDoesNotMatchTheUri) {
  historian::testing::MosquittoProcess broker(dir_.Sub("m"), TlsConfig("elsewhere", false));
  ASSERT_TRUE(broker.Start());
  const std::string mismatch = TlsHandshakeError(Tls(broker.port(), "ca"), kTimeout);
  EXPECT_THAT(mismatch, HasSubstr("certificate verify failed (IP address mismatch)")) << mismatch;
  MqttConnection by_name = Tls(broker.port(), "ca");
  by_name.uri = "ssl://localhost:" + std::to_string(broker.port());
  EXPECT_THAT(TlsHandshakeError(by_name, kTimeout),
              HasSubstr("certificate verify failed (hostname mismatch)"));
}

TEST_F(TlsProbeTest, SaysWhichClientFileCannotBeUsed) {
  historian::testing::MosquittoProcess broker(dir_.Sub("m"), TlsConfig("broker", true));
  ASSERT_TRUE(broker.Start());
  MqttConnection c = Tls(broker.port(), "ca");
  c.tls_cert = pki_ + "/client.pem";
  c.tls_key = pki_ + "/client.key";
  EXPECT_EQ(TlsHandshakeError(c, kTimeout), "");

  c.tls_key = pki_ + "/broker.key";  // not the certificate's key
  EXPECT_THAT(TlsHandshakeError(c, kTimeout),
              HasSubstr("cannot use the client key " + pki_ + "/broker.key"));
  c.tls_cert = pki_ + "/ca.key";  // not a certificate
  EXPECT_THAT(TlsHandshakeError(c, kTimeout),
              HasSubstr("cannot load the client certificate " + pki_ + "/ca.key"));
  c = Tls(broker.port(), "ca");
  c.tls_ca = pki_ + "/ca.key";  // not a CA certificate
  EXPECT_THAT(TlsHandshakeError(c, kTimeout), HasSubstr("cannot load the CA " + pki_ + "/ca.key"));
}

TEST_F(TlsProbeTest, IsEmptyWhenTheFailureIsNotAboutTls) {
  // Nothing listens.
  EXPECT_EQ(TlsHandshakeError(Tls(historian::testing::FreePort(), "ca"), kTimeout), "");
  // A plain URI.
  MqttConnection plain = Tls(1883, "ca");
  plain.uri = "tcp://127.0.0.1:1883";
  EXPECT_EQ(TlsHandshakeError(plain, kTimeout), "");

  // A peer that takes the connection and never answers: bounded by the
  // timeout, and not blamed on TLS.
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  EXPECT_EQ(TlsHandshakeError(Tls(ntohs(addr.sin_port), "ca"), absl::Milliseconds(300)), "");
  close(listener);
}

TEST_F(TlsProbeTest, SaysWhenAPlainBrokerAnswersAnSslUri) {
  historian::testing::MosquittoProcess broker(dir_.Sub("m"));
  ASSERT_TRUE(broker.Start());
  const std::string plain = TlsHandshakeError(Tls(broker.port(), "ca"), kTimeout);
  EXPECT_EQ(plain, "the broker closed the connection during the TLS handshake");
}

}  // namespace
}  // namespace historian::mqtt_connection
