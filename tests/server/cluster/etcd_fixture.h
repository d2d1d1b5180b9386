// File: etcd_fixture.h
// EtcdTest: a gtest fixture with a real etcd (EtcdProcess) in a temp dir and
// an EtcdClient on it, plus EventLog, a thread-safe collector of what a
// watcher delivers. Shared by the etcd client tests.
#ifndef HISTORIAN_TESTS_SERVER_CLUSTER_ETCD_FIXTURE_H_
#define HISTORIAN_TESTS_SERVER_CLUSTER_ETCD_FIXTURE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "server/cluster/etcd/etcd_client.h"
#include "tests/testutil/etcd_process.h"
#include "tests/testutil/temp_dir.h"

namespace historian::cluster {

class EtcdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    etcd_ = std::make_unique<testing::EtcdProcess>(dir_.Sub("etcd"));
    ASSERT_TRUE(etcd_->Start()) << "etcd did not start; log: " << etcd_->log_path();
    client_ = NewClient({etcd_->endpoint()});
  }

  static std::unique_ptr<EtcdClient> NewClient(std::vector<std::string> endpoints) {
    EtcdClientOptions options;
    options.endpoints = std::move(endpoints);
    auto client = EtcdClient::Create(std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  // Puts and returns the write's revision (fails the test on an error).
  int64_t MustPut(const std::string& key, const std::string& value) {
    auto revision = client_->Put(key, value);
    EXPECT_TRUE(revision.ok()) << revision.status();
    return revision.ok() ? *revision : -1;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::EtcdProcess> etcd_;
  std::unique_ptr<EtcdClient> client_;
};

// What a watcher delivered, in order.
class EventLog {
 public:
  EtcdWatchHandlers Handlers() {
    EtcdWatchHandlers h;
    h.on_events = [this](const std::vector<EtcdEvent>& events) {
      absl::MutexLock l(&mu_);
      ++calls_;
      events_.insert(events_.end(), events.begin(), events.end());
    };
    h.on_failed = [this](absl::Status status) {
      absl::MutexLock l(&mu_);
      ++failures_;
      failure_ = std::move(status);
    };
    return h;
  }
  std::vector<EtcdEvent> events() const {
    absl::MutexLock l(&mu_);
    return events_;
  }
  size_t size() const {
    absl::MutexLock l(&mu_);
    return events_.size();
  }
  std::optional<absl::Status> failure() const {
    absl::MutexLock l(&mu_);
    return failure_;
  }
  int failures() const {
    absl::MutexLock l(&mu_);
    return failures_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<EtcdEvent> events_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> failure_ ABSL_GUARDED_BY(mu_);
  int failures_ ABSL_GUARDED_BY(mu_) = 0;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace historian::cluster

#endif  // HISTORIAN_TESTS_SERVER_CLUSTER_ETCD_FIXTURE_H_
