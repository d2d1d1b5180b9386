// Head (storage/head/): applying samples to a tag's head, the newest-sample
// cache, sealing (and putting a failed seal back), unsealed-range reads,
// deletes, what the log trim must keep, memory accounting and the deadband
// filter. No Store: HeadStates of the test's own under a test mutex.
#include "storage/head/head.h"

#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "storage/engine/columns.h"

namespace historian {
namespace {

constexpr TagId kTag = 42;

codec::ChunkColumns Doubles(const std::vector<std::pair<int64_t, double>>& samples,
                            Version version = 1) {
  codec::ChunkColumns c;
  c.Reset(ValueType::kDouble);
  for (const auto& [ts, v] : samples) {
    c.timestamps.push_back(ts);
    c.doubles.push_back(v);
    c.qualities.push_back(0);
    c.versions.push_back(version);
  }
  return c;
}

class HeadTest : public ::testing::Test {
 protected:
  void Append(const codec::ChunkColumns& cols, uint64_t seq, const std::string* origin = nullptr,
              int64_t now = 1000) {
    absl::MutexLock l(&mu_);
    head_.Append(kTag, state_, ValueType::kDouble, cols, origin ? origin : &site_, seq, now);
  }
  // The unsealed samples in [start, end): sealing buffer, then head.
  std::pair<std::vector<int64_t>, std::vector<int64_t>> Unsealed(int64_t start = kMinTimestamp,
                                                                 int64_t end = kMaxTimestamp) {
    codec::ChunkColumns sealing, head;
    absl::MutexLock l(&mu_);
    head_.CopyUnsealed(state_, ValueType::kDouble, start, end, &sealing, &head);
    return {sealing.timestamps, head.timestamps};
  }
  bool InMemory() {
    absl::MutexLock l(&mu_);
    return head_.tags_in_memory().contains(kTag);
  }
  // The trim limit per origin after the tag's buffers.
  std::map<std::string, uint64_t> Limits() {
    std::map<std::string, uint64_t> limit = {{site_, 100}, {peer_, 100}};
    absl::MutexLock l(&mu_);
    head_.LimitTrim(state_, &limit);
    return limit;
  }

  const std::string site_ = "east";
  const std::string peer_ = "west";
  absl::Mutex mu_;
  Head head_{mu_};
  HeadState state_;
};

TEST_F(HeadTest, AppendsInAnyOrderAndReadsSorted) {
  EXPECT_FALSE(InMemory());
  Append(Doubles({{30, 3}, {10, 1}}), 5);
  Append(Doubles({{20, 2}}), 7, &peer_);
  EXPECT_TRUE(InMemory());
  EXPECT_EQ(Unsealed().second, (std::vector<int64_t>{10, 20, 30}));
  EXPECT_EQ(Unsealed(15, 30).second, (std::vector<int64_t>{20}));
  EXPECT_TRUE(Unsealed().first.empty());
  EXPECT_EQ(Limits(), (std::map<std::string, uint64_t>{{"east", 5}, {"west", 7}}));
  absl::MutexLock l(&mu_);
  EXPECT_EQ(head_.UnsealedFrom(state_, kMaxTimestamp), 10);
  EXPECT_EQ(head_.UnsealedFrom(state_, 5), 5);
  EXPECT_EQ(head_.UnsealedBefore(state_, 25), 10);
  EXPECT_EQ(head_.UnsealedBefore(state_, 10), kMaxTimestamp);
  HeadMemory m;
  head_.AddMemory(state_, &m);
  EXPECT_EQ(m.samples, 3u);
  EXPECT_EQ(m.tags, 1u);
  EXPECT_GE(m.bytes, sizeof(HeadBuffer));
}

TEST_F(HeadTest, SealTakesTheHeadAndEndsOrPutsItBack) {
  Append(Doubles({{20, 2}, {10, 1}, {30, 3}}), 1);
  {
    absl::MutexLock l(&mu_);
    const HeadBuffer* sealing = head_.StartSeal(state_, /*chunk_max_samples=*/2);
    ASSERT_NE(sealing, nullptr);
    codec::ChunkColumns got;
    got.Reset(ValueType::kDouble);
    sealing->cols.CopyAll(&got);
    EXPECT_EQ(got.timestamps, (std::vector<int64_t>{10, 20, 30}));  // sorted
    EXPECT_EQ(state_.last_head_samples, 2u);
    EXPECT_TRUE(head_.SealUnderWay(state_));
    EXPECT_EQ(head_.StartSeal(state_, 2), nullptr);  // one seal at a time
  }
  // Samples applied meanwhile go to a new head; reads see both.
  Append(Doubles({{40, 4}}), 2);
  EXPECT_EQ(Unsealed().first, (std::vector<int64_t>{10, 20, 30}));
  EXPECT_EQ(Unsealed().second, (std::vector<int64_t>{40}));
  {
    // A failed write: the sealed samples go back in front of the head.
    absl::MutexLock l(&mu_);
    head_.EndSeal(kTag, state_, /*written=*/false, /*now=*/5000);
    EXPECT_FALSE(head_.SealUnderWay(state_));
    EXPECT_EQ(state_.head->started_ns, 5000);
  }
  EXPECT_EQ(Unsealed().second, (std::vector<int64_t>{10, 20, 30, 40}));
  EXPECT_EQ(Limits().at("east"), 1u);
  {
    absl::MutexLock l(&mu_);
    ASSERT_NE(head_.StartSeal(state_, 1024), nullptr);
    head_.EndSeal(kTag, state_, /*written=*/true, 6000);
    EXPECT_EQ(state_.head, nullptr);
    EXPECT_EQ(state_.last_head_samples, 4u);
  }
  EXPECT_FALSE(InMemory());
  EXPECT_EQ(Limits().at("east"), 100u);
}

TEST_F(HeadTest, SealDueBySizeAgeOrForce) {
  absl::MutexLock l(&mu_);
  EXPECT_FALSE(head_.SealDue(state_, /*force=*/true, 10, 0, 100));  // no head
  head_.Append(kTag, state_, ValueType::kDouble, Doubles({{1, 1}, {2, 2}}), &site_, 1, 1000);
  EXPECT_FALSE(head_.SealDue(state_, false, 10, 1050, 100));
  EXPECT_TRUE(head_.SealDue(state_, true, 10, 1050, 100));
  EXPECT_TRUE(head_.SealDue(state_, false, 2, 1050, 100));
  EXPECT_TRUE(head_.SealDue(state_, false, 10, 1100, 100));
}

TEST_F(HeadTest, LatestIsCachedAndKeptCurrent) {
  absl::MutexLock l(&mu_);
  EXPECT_EQ(head_.CachedLatest(state_), nullptr);
  uint64_t ticket = head_.LatestTicket(state_);
  head_.Append(kTag, state_, ValueType::kDouble, Doubles({{10, 1}}), &site_, 1, 0);
  head_.CacheLatest(state_, ticket, Doubles({{5, 0}}));  // an apply came between
  EXPECT_EQ(head_.CachedLatest(state_), nullptr);
  head_.CacheLatest(state_, head_.LatestTicket(state_), Doubles({{10, 1}}));
  ASSERT_NE(head_.CachedLatest(state_), nullptr);
  // Later timestamps win, and the same one at a version as high.
  head_.Append(kTag, state_, ValueType::kDouble, Doubles({{20, 2}, {15, 9}}), &site_, 2, 0);
  EXPECT_EQ(head_.CachedLatest(state_)->doubles, std::vector<double>{2});
  head_.Append(kTag, state_, ValueType::kDouble, Doubles({{20, 3}}, /*version=*/1), &site_, 3, 0);
  EXPECT_EQ(head_.CachedLatest(state_)->doubles, std::vector<double>{3});
  head_.Append(kTag, state_, ValueType::kDouble, Doubles({{20, 4}}, /*version=*/0), &site_, 4, 0);
  EXPECT_EQ(head_.CachedLatest(state_)->doubles, std::vector<double>{3});
  head_.InvalidateLatest(state_);
  EXPECT_EQ(head_.CachedLatest(state_), nullptr);
}

TEST_F(HeadTest, FilterHeadKeepsASubsetOrDropsTheHead) {
  Append(Doubles({{10, 1}, {20, 2}, {30, 3}}), 1);
  auto keep_from = [](int64_t from) {
    return [from](const codec::ChunkColumns& all, codec::ChunkColumns* kept) {
      kept->Reset(all.type);
      for (size_t i = 0; i < all.size(); ++i) {
        if (all.timestamps[i] >= from) {
          kept->timestamps.push_back(all.timestamps[i]);
          kept->doubles.push_back(all.doubles[i]);
          kept->qualities.push_back(all.qualities[i]);
          kept->versions.push_back(all.versions[i]);
        }
      }
      return kept->size() != all.size();
    };
  };
  {
    absl::MutexLock l(&mu_);
    head_.FilterHead(kTag, state_, keep_from(20));
  }
  EXPECT_EQ(Unsealed().second, (std::vector<int64_t>{20, 30}));
  EXPECT_EQ(Limits().at("east"), 1u);  // the sequence ranges stay
  {
    absl::MutexLock l(&mu_);
    head_.FilterHead(kTag, state_, keep_from(100));
    EXPECT_EQ(state_.head, nullptr);
  }
  EXPECT_FALSE(InMemory());
}

// A deleted tag's head goes with it: no pass walks it any more, so kept it
// would hold its memory, and the head bound, for good.
TEST_F(HeadTest, ForgetDropsTheHeadAndItsBytes) {
  Append(Doubles({{10, 1}, {20, 2}}), 1);
  absl::MutexLock l(&mu_);
  EXPECT_GT(head_.bytes(), 0u);
  head_.Forget(kTag, state_);
  EXPECT_FALSE(head_.tags_in_memory().contains(kTag));
  EXPECT_EQ(state_.head, nullptr);
  EXPECT_EQ(head_.bytes(), 0u);
  EXPECT_EQ(head_.unsealed_samples(), 0u);
}

// The running byte and sample counts (what --max_head_bytes is checked
// against) against a walk of every buffer, after each of random appends
// (in order, late, duplicates, every value type), seals that succeed or
// fail (samples put back), writes during a seal, deletes of samples
// (FilterHead), reads that normalise, and whole-tag deletes (Forget). A
// change that forgot to charge or refund its buffers fails here.
TEST(HeadAccountingTest, RunningBytesMatchAWalkOfEveryBuffer) {
  std::mt19937_64 rng(17);
  const std::string site = "east";
  absl::Mutex mu;
  Head head(mu);
  constexpr int kTags = 6;
  std::vector<HeadState> states(kTags);
  const ValueType types[kTags] = {ValueType::kDouble, ValueType::kDouble, ValueType::kInt64,
                                  ValueType::kBool,   ValueType::kString, ValueType::kDouble};
  std::vector<int64_t> next_ts(kTags, 1000);
  absl::MutexLock l(&mu);
  head.SetLimits(/*max_bytes=*/64 << 10, /*seal_at=*/1024);
  auto check = [&](int step) {
    HeadMemory walked;
    for (const HeadState& t : states) head.AddMemory(t, &walked);
    ASSERT_EQ(head.bytes(), walked.bytes) << "step " << step;
    ASSERT_EQ(head.unsealed_samples(), walked.samples) << "step " << step;
    ASSERT_EQ(head.OverBudget(), walked.bytes >= (64u << 10)) << "step " << step;
  };
  const std::string other_site = "west";
  uint64_t seq = 1;
  for (int step = 0; step < 4000; ++step) {
    const int k = static_cast<int>(rng() % kTags);
    HeadState& t = states[k];
    const ValueType type = types[k];
    const int op = static_cast<int>(rng() % 100);
    if (op < 55) {
      codec::ChunkColumns c;
      c.Reset(type);
      const size_t n = 1 + rng() % (rng() % 4 == 0 ? 200 : 8);
      for (size_t i = 0; i < n; ++i) {
        int64_t ts = next_ts[k]++;
        if (rng() % 8 == 0) ts -= static_cast<int64_t>(rng() % 500);  // late, or a duplicate
        c.timestamps.push_back(ts);
        c.qualities.push_back(rng() % 10 == 0 ? 192 : 0);
        c.versions.push_back(seq);
        switch (type) {
          case ValueType::kDouble:
            c.doubles.push_back(static_cast<double>(rng() % 1000) / 10);
            break;
          case ValueType::kInt64:
            c.ints.push_back(static_cast<int64_t>(rng()));
            break;
          case ValueType::kBool:
            c.bools.push_back(rng() % 2);
            break;
          default:
            c.strings.push_back(std::string(rng() % 40, 'a'));
            break;
        }
      }
      // Two origins and gaps in the sequences: the head's sequence ranges
      // grow too, and they are part of its bytes.
      head.Append(static_cast<TagId>(k), t, type, c, rng() % 2 == 0 ? &site : &other_site, seq,
                  1000);
      seq += 1 + rng() % 3;
    } else if (op < 70) {
      if (!head.SealUnderWay(t)) {
        head.StartSeal(t, 1024);
      } else {
        head.EndSeal(static_cast<TagId>(k), t, /*written=*/rng() % 3 != 0, 2000);
      }
    } else if (op < 80) {
      codec::ChunkColumns sealing, unsealed;
      head.CopyUnsealed(t, type, kMinTimestamp, kMaxTimestamp, &sealing, &unsealed);
    } else if (op < 90) {
      if (!head.SealUnderWay(t)) {  // deletes run with no seal under way
        head.FilterHead(static_cast<TagId>(k), t,
                        [&](const codec::ChunkColumns& all, codec::ChunkColumns* kept) {
                          kept->Reset(all.type);
                          for (size_t i = 0; i < all.size(); ++i) {
                            if (i % 3 != 0) engine::AppendSample(all, i, kept);
                          }
                          return true;
                        });
      }
    } else if (op < 93) {
      if (!head.SealUnderWay(t)) head.Forget(static_cast<TagId>(k), t);
    }
    check(step);
    if (HasFatalFailure()) return;
  }
  for (int k = 0; k < kTags; ++k) {  // every seal ends, then every head is sealed
    if (head.SealUnderWay(states[k])) head.EndSeal(static_cast<TagId>(k), states[k], true, 3000);
    if (head.StartSeal(states[k], 1024) != nullptr) {
      head.EndSeal(static_cast<TagId>(k), states[k], true, 3000);
    }
  }
  check(-1);
  EXPECT_EQ(head.bytes(), 0u);
  EXPECT_FALSE(head.OverBudget());
}

// A writer waiting for room (AwaitRoom) is woken by the seal that brings
// the heads back within the bound, with no timeout: were it not signalled,
// this test would hang (ctest's TIMEOUT fails it).
TEST(HeadAccountingTest, TheSealThatFreesRoomWakesTheWaiters) {
  const std::string site = "east";
  absl::Mutex mu;
  Head head(mu);
  HeadState t;
  codec::ChunkColumns c;
  c.Reset(ValueType::kDouble);
  for (int i = 0; i < 20000; ++i) {
    c.timestamps.push_back(i);
    c.doubles.push_back(static_cast<double>(i % 977) * 1.37);
    c.qualities.push_back(0);
    c.versions.push_back(1);
  }
  {
    absl::MutexLock l(&mu);
    head.SetLimits(/*max_bytes=*/16 << 10, 1024);
    head.Append(kTag, t, ValueType::kDouble, c, &site, 1, 0);
    ASSERT_TRUE(head.OverBudget());
    ASSERT_NE(head.StartSeal(t, 1024), nullptr);  // still charged while sealing
    ASSERT_TRUE(head.OverBudget());
  }
  bool waiting = false, woken = false;
  std::thread writer([&] {
    absl::MutexLock l(&mu);
    waiting = true;
    while (head.OverBudget()) head.AwaitRoom();
    woken = true;
  });
  {
    absl::MutexLock l(&mu);
    mu.Await(absl::Condition(&waiting));
    // The writer is in AwaitRoom (it released mu there, or is about to
    // check OverBudget again under it).
    head.EndSeal(kTag, t, /*written=*/true, 0);
    EXPECT_FALSE(head.OverBudget());
  }
  writer.join();
  EXPECT_TRUE(woken);
}

TEST_F(HeadTest, DeadbandHoldsBackSmallChangesAndKeepsTheTrendShape) {
  absl::MutexLock l(&mu_);
  codec::ChunkColumns cols = Doubles({{1, 10.0}, {2, 10.4}, {3, 10.3}, {4, 12.0}, {5, 12.1}}, 7);
  head_.ApplyDeadband(state_, /*deadband=*/1.0, &cols);
  // 10.4 and 10.3 are within 1.0 of 10.0: held back; 10.3 (the last held)
  // goes in before 12.0. 12.1 is held.
  EXPECT_EQ(cols.timestamps, (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(cols.versions, (std::vector<Version>{0, 0, 0}));
  // The state carries over to the next write: 12.1 is stored before 14.
  codec::ChunkColumns next = Doubles({{6, 14.0}});
  head_.ApplyDeadband(state_, 1.0, &next);
  EXPECT_EQ(next.timestamps, (std::vector<int64_t>{5, 6}));
  // A quality change is always stored.
  codec::ChunkColumns bad = Doubles({{7, 14.0}});
  bad.qualities[0] = 1;
  head_.ApplyDeadband(state_, 1.0, &bad);
  EXPECT_EQ(bad.timestamps, (std::vector<int64_t>{7}));
}

}  // namespace
}  // namespace historian
