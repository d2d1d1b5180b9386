// File: etcd_tls_test.cc
// TLS towards etcd (docs/cluster.md, "etcd client"): a real etcd with
// https client URLs and --client-cert-auth, and a test PKI made with the
// openssl CLI (tests/security/security_util.h). The etcd client with the
// right CA and client certificate does everything the cluster uses; a
// plaintext client, a client certificate of another CA and a wrong CA are
// refused with UNAVAILABLE naming the endpoint; bad TLS options and flags
// name the flag and the path; a real site cluster runs through the TLS etcd
// (registration, `historian cluster init` and `status`).
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/cluster/etcd/etcd_client.h"
#include "tests/security/security_util.h"
#include "tests/server/cluster/etcd_fixture.h"
#include "tests/testutil/cluster_fixture.h"
#include "tests/testutil/etcd_process.h"
#include "tests/testutil/node_process.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait_for.h"

namespace historian::cluster {
namespace {

using testing::EtcdProcess;
using testing::EtcdTlsFiles;

// ca signs etcd (server) and client; other-ca signs stranger.
bool MakePki(const std::string& dir) {
  return testing::MakeCa(dir, "ca") && testing::MakeCert(dir, "ca", "etcd") &&
         testing::MakeCert(dir, "ca", "client") && testing::MakeCa(dir, "other-ca") &&
         testing::MakeCert(dir, "other-ca", "stranger");
}

EtcdTlsFiles EtcdFiles(const std::string& pki) {
  return {.ca_file = pki + "/ca.pem",
          .cert_file = pki + "/etcd.pem",
          .key_file = pki + "/etcd.key",
          .client_cert_file = pki + "/client.pem",
          .client_key_file = pki + "/client.key"};
}

class EtcdTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = dir_.Sub("pki");
    std::filesystem::create_directories(pki_);
    ASSERT_TRUE(MakePki(pki_)) << "openssl failed";
    etcd_ = std::make_unique<EtcdProcess>(dir_.Sub("etcd"), EtcdFiles(pki_));
    ASSERT_TRUE(etcd_->Start()) << "etcd did not start; log: " << etcd_->log_path();
  }

  // A client of the TLS etcd; "" leaves that file out.
  std::unique_ptr<EtcdClient> Client(const std::string& ca, const std::string& cert,
                                     const std::string& key) const {
    EtcdClientOptions options;
    options.endpoints = {etcd_->endpoint()};
    options.call_timeout = absl::Seconds(2);
    options.tls_ca_file = ca;
    options.tls_cert_file = cert;
    options.tls_key_file = key;
    auto client = EtcdClient::Create(std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }
  std::unique_ptr<EtcdClient> GoodClient() const {
    return Client(pki_ + "/ca.pem", pki_ + "/client.pem", pki_ + "/client.key");
  }

  // `status` is the UNAVAILABLE of a client etcd did not serve.
  void ExpectRefused(const absl::Status& status) const {
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
    EXPECT_TRUE(absl::StrContains(status.message(), etcd_->endpoint())) << status;
  }

  testing::TempDir dir_;
  std::string pki_;
  std::unique_ptr<EtcdProcess> etcd_;
};

TEST_F(EtcdTlsTest, RightCaAndClientCertDoEverythingTheClusterUses) {
  std::unique_ptr<EtcdClient> client = GoodClient();
  ASSERT_NE(client, nullptr);

  auto put = client->Put("/tls/a", "1");
  ASSERT_TRUE(put.ok()) << put.status();
  // Watch from that write's revision: a watch from "now" is set up
  // asynchronously and could miss writes made meanwhile.
  EventLog events;
  std::unique_ptr<EtcdWatcher> watcher = client->WatchPrefix("/tls/", *put, events.Handlers());
  auto got = client->Get("/tls/a");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].value, "1");

  auto txn = client->PutIfModRevision("/tls/a", "2", got->kvs[0].mod_revision);
  ASSERT_TRUE(txn.ok()) << txn.status();
  EXPECT_TRUE(txn->committed);
  auto conflict = client->PutIfModRevision("/tls/a", "3", got->kvs[0].mod_revision);
  ASSERT_TRUE(conflict.ok()) << conflict.status();
  EXPECT_FALSE(conflict->committed);

  auto lease = client->GrantLease(1);
  ASSERT_TRUE(lease.ok()) << lease.status();
  ASSERT_TRUE(client->Put("/tls/leased", "x", lease->id).ok());
  std::unique_ptr<LeaseKeeper> keeper = client->KeepAlive(*lease, [](absl::Status) {});
  ASSERT_TRUE(testing::WaitFor([&] { return keeper->renewals() >= 2; }, absl::Seconds(20)))
      << keeper->status();
  auto ttl = client->LeaseTimeToLive(lease->id);
  ASSERT_TRUE(ttl.ok()) << ttl.status();
  EXPECT_GE(ttl->ttl_seconds, 0);
  ASSERT_TRUE(client->RevokeLease(lease->id).ok());

  // Put a, Txn a, Put leased, and the revoke's delete of leased.
  ASSERT_TRUE(testing::WaitFor([&] { return events.size() >= 4; }, absl::Seconds(10)))
      << events.size();
  EXPECT_EQ(events.events()[1].kv.value, "2");
  EXPECT_FALSE(events.failure().has_value());

  // etcdctl over TLS sees the same.
  testing::CommandResult ctl = etcd_->Ctl({"get", "/tls/a", "--print-value-only"});
  EXPECT_EQ(ctl.exit_code, 0) << ctl.err;
  EXPECT_EQ(ctl.out, "2\n");
}

TEST_F(EtcdTlsTest, APlaintextClientFailsUnavailableNamingTheEndpoint) {
  std::unique_ptr<EtcdClient> client = Client("", "", "");
  ASSERT_NE(client, nullptr);
  ExpectRefused(client->Get("/tls/a").status());
}

TEST_F(EtcdTlsTest, AClientCertOfAnotherCaIsRefused) {
  std::unique_ptr<EtcdClient> client =
      Client(pki_ + "/ca.pem", pki_ + "/stranger.pem", pki_ + "/stranger.key");
  ASSERT_NE(client, nullptr);
  ExpectRefused(client->Get("/tls/a").status());
  // TLS without a client certificate: etcd asks for one.
  std::unique_ptr<EtcdClient> anonymous = Client(pki_ + "/ca.pem", "", "");
  ASSERT_NE(anonymous, nullptr);
  ExpectRefused(anonymous->Get("/tls/a").status());
}

TEST_F(EtcdTlsTest, AServerCertOfAnotherCaIsRefused) {
  std::unique_ptr<EtcdClient> client =
      Client(pki_ + "/other-ca.pem", pki_ + "/client.pem", pki_ + "/client.key");
  ASSERT_NE(client, nullptr);
  ExpectRefused(client->Get("/tls/a").status());
}

TEST(EtcdTlsOptionsTest, BadTlsFilesNameTheFlagAndThePath) {
  testing::TempDir dir;
  const std::string pki = dir.Sub("pki");
  std::filesystem::create_directories(pki);
  ASSERT_TRUE(testing::MakeCa(pki, "ca") && testing::MakeCert(pki, "ca", "client"));
  struct Case {
    std::string ca, cert, key, want;
  };
  const std::vector<Case> cases = {
      {pki + "/missing.pem", "", "", "--cluster_etcd_ca: cannot read '" + pki + "/missing.pem'"},
      {pki + "/ca.pem", pki + "/gone.pem", pki + "/client.key",
       "--cluster_etcd_cert: cannot read '" + pki + "/gone.pem'"},
      {pki + "/ca.pem", pki + "/client.pem", pki + "/gone.key",
       "--cluster_etcd_key: cannot read '" + pki + "/gone.key'"},
      {pki + "/ca.pem", pki + "/client.pem", "", "--cluster_etcd_cert and --cluster_etcd_key"},
      {pki + "/ca.pem", "", pki + "/client.key", "--cluster_etcd_cert and --cluster_etcd_key"},
      {"", pki + "/client.pem", pki + "/client.key", "needs --cluster_etcd_ca"},
      {pki, "", "", "--cluster_etcd_ca: cannot read '" + pki + "'"},
      {pki + "/junk.pem", "", "", "--cluster_etcd_ca: cannot read '" + pki + "/junk.pem': not PEM"},
  };
  testing::WriteTextFile(pki + "/junk.pem", "not a certificate\n");
  for (const Case& c : cases) {
    EtcdClientOptions options;
    options.endpoints = {"127.0.0.1:2379"};
    options.tls_ca_file = c.ca;
    options.tls_cert_file = c.cert;
    options.tls_key_file = c.key;
    auto client = EtcdClient::Create(options);
    EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument) << c.want;
    EXPECT_TRUE(absl::StrContains(client.status().message(), c.want))
        << "want '" << c.want << "' in: " << client.status();
  }
}

TEST(EtcdTlsFlagsTest, HistoriandRefusesBadTlsFlagsNamingThem) {
  testing::TempDir dir;
  struct Case {
    std::vector<std::string> flags;
    std::string want;
  };
  const std::vector<Case> cases = {
      {{"--cluster_etcd=127.0.0.1:2379", "--cluster_etcd_ca=" + dir.Sub("none.pem")},
       "--cluster_etcd_ca: cannot read '" + dir.Sub("none.pem") + "'"},
      {{"--cluster_etcd=127.0.0.1:2379", "--cluster_etcd_ca=/etc/hostname",
        "--cluster_etcd_cert=/etc/hostname"},
       "--cluster_etcd_cert and --cluster_etcd_key"},
      {{"--cluster_etcd_ca=/etc/hostname"},
       "--cluster_etcd_ca is given but --cluster_etcd is empty"},
      {{"--cluster_etcd=https://127.0.0.1:2379"}, "--cluster_etcd: 'https://127.0.0.1:2379'"},
  };
  int n = 0;
  for (const Case& c : cases) {
    std::vector<std::string> argv = {"historiand", "--data_dir=" + dir.Sub(absl::StrCat("d", n++)),
                                     "--listen=127.0.0.1:0", "--metrics_listen="};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    testing::CommandResult r = testing::RunCommand(argv);
    EXPECT_EQ(r.exit_code, 2) << c.want << "\n" << r.err;
    EXPECT_TRUE(absl::StrContains(r.err, c.want)) << "want '" << c.want << "' in:\n" << r.err;
  }
}

// End to end: historiand with --cluster_etcd=<TLS etcd> and the three flags
// registers, `historian cluster init` (in Start) and `status` work.
TEST(EtcdTlsClusterTest, NodesRegisterAndInitAndStatusWorkThroughTlsEtcd) {
  testing::TempDir dir;
  const std::string pki = dir.Sub("pki");
  std::filesystem::create_directories(pki);
  ASSERT_TRUE(MakePki(pki));
  testing::ClusterFixtureOptions options;
  options.nodes = 2;
  options.num_shards = 16;
  options.etcd_tls = EtcdFiles(pki);
  testing::ClusterFixture cluster(dir.Sub("cluster"), options);
  ASSERT_TRUE(cluster.Start());

  testing::CommandResult status = cluster.Cli(1, {"cluster", "status"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_TRUE(absl::StrContains(status.out, "shards:             16")) << status.out;
  for (int i = 0; i < cluster.size(); ++i) {
    EXPECT_TRUE(absl::StrContains(status.out, cluster.member_id(i))) << status.out;
  }
  EXPECT_FALSE(absl::StrContains(status.out, " NO ")) << status.out;
  // The etcd really is TLS-only: a plaintext etcdctl gets nothing.
  testing::CommandResult plain = testing::RunCommand(
      {"/usr/bin/etcdctl", "--endpoints=" + cluster.etcd().endpoint(), "--dial-timeout=2s",
       "--command-timeout=2s", "get", "--prefix", "/historian/"});
  EXPECT_NE(plain.exit_code, 0) << plain.out;
}

}  // namespace
}  // namespace historian::cluster
