// Unit tests of the gateway's DiskQueue: append/ack/replay, torn tails,
// sequence persistence, and the drop-oldest quota.
#include "client/disk_queue.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testutil/temp_dir.h"

namespace historian::client {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<DiskQueue> OpenQueue(const std::string& dir, uint64_t max_bytes = 1 << 20,
                                     uint64_t segment_bytes = 64 << 10) {
  DiskQueueOptions options;
  options.dir = dir;
  options.max_bytes = max_bytes;
  options.segment_bytes = segment_bytes;
  absl::StatusOr<std::unique_ptr<DiskQueue>> q = DiskQueue::Open(options);
  EXPECT_TRUE(q.ok()) << q.status();
  return q.ok() ? std::move(*q) : nullptr;
}

// Payloads of every unacked entry, in order.
std::vector<std::string> Drain(DiskQueue& q) {
  std::vector<std::string> out;
  uint64_t next = 0;
  while (true) {
    absl::StatusOr<std::optional<DiskQueueEntry>> e = q.ReadFrom(next);
    EXPECT_TRUE(e.ok()) << e.status();
    if (!e.ok() || !e->has_value()) return out;
    out.push_back((*e)->payload);
    next = (*e)->sequence + 1;
  }
}

std::vector<fs::path> Segments(const std::string& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".q") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(DiskQueueTest, AppendAckReplay) {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("q");
  {
    auto q = OpenQueue(dir);
    ASSERT_NE(q, nullptr);
    for (int i = 1; i <= 5; ++i) {
      absl::StatusOr<uint64_t> seq = q->Append(absl::StrCat("batch", i), 10, 100 * i);
      ASSERT_TRUE(seq.ok()) << seq.status();
      EXPECT_EQ(*seq, static_cast<uint64_t>(i));
    }
    ASSERT_TRUE(q->Ack(1).ok());
    ASSERT_TRUE(q->Ack(3).ok());  // out of order: the head stays at 2
    const DiskQueueStats s = q->stats();
    EXPECT_EQ(s.head_sequence, 2u);
    EXPECT_EQ(s.batches, 3u);  // 2, 4, 5 (3 is acked, above the head)
    EXPECT_EQ(q->cursor(), 500u);
  }
  auto q = OpenQueue(dir);
  ASSERT_NE(q, nullptr);
  // Replays from the durable head, in order, keeping sequences.
  EXPECT_THAT(Drain(*q), ::testing::ElementsAre("batch2", "batch3", "batch4", "batch5"));
  absl::StatusOr<std::optional<DiskQueueEntry>> e = q->ReadFrom(0);
  ASSERT_TRUE(e.ok() && e->has_value());
  EXPECT_EQ((*e)->sequence, 2u);
  EXPECT_EQ((*e)->cursor, 200u);
  EXPECT_EQ((*e)->items, 10u);
  EXPECT_EQ(q->cursor(), 500u);
  EXPECT_EQ(q->stats().next_sequence, 6u);
  for (uint64_t s = 2; s <= 5; ++s) ASSERT_TRUE(q->Ack(s).ok());
  EXPECT_EQ(q->stats().batches, 0u);
  EXPECT_TRUE(Drain(*q).empty());
  EXPECT_FALSE(q->Ack(99).ok());  // never appended
}

TEST(DiskQueueTest, SequencesKeepGrowingAfterEverythingIsAcked) {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("q");
  {
    auto q = OpenQueue(dir, 1 << 20, 4096);  // small segments: some get deleted
    for (int i = 0; i < 50; ++i) {
      absl::StatusOr<uint64_t> seq = q->Append(std::string(200, 'x'), 1, i + 1);
      ASSERT_TRUE(seq.ok());
      ASSERT_TRUE(q->Ack(*seq).ok());
    }
    EXPECT_LE(Segments(dir).size(), 1u);  // acked segments are deleted
  }
  for (const fs::path& p : Segments(dir)) fs::remove(p);  // even with no segment left
  auto q = OpenQueue(dir);
  EXPECT_EQ(q->stats().next_sequence, 51u);
  EXPECT_EQ(q->cursor(), 50u);
  EXPECT_EQ(q->cursor_sequence(), 50u);  // kept in the head
  absl::StatusOr<uint64_t> seq = q->Append("next", 1, 51);
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 51u);
  EXPECT_EQ(q->cursor_sequence(), 51u);
}

// The cursor comes with the sequence of the record it was stored in, also
// after a restart (the gateway pairs it with its input by that sequence).
TEST(DiskQueueTest, CursorComesWithItsRecordsSequence) {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("q");
  {
    auto q = OpenQueue(dir);
    EXPECT_EQ(q->cursor(), 0u);
    EXPECT_EQ(q->cursor_sequence(), 0u);  // none yet
    ASSERT_TRUE(q->Append("a", 1, 7).ok());
    ASSERT_TRUE(q->Append("b", 1, 9).ok());
    ASSERT_TRUE(q->Ack(1).ok());
  }
  auto q = OpenQueue(dir);
  EXPECT_EQ(q->cursor(), 9u);
  EXPECT_EQ(q->cursor_sequence(), 2u);
}

TEST(DiskQueueTest, TornTailIsDroppedAndItsSequenceReused) {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("q");
  {
    auto q = OpenQueue(dir);
    ASSERT_TRUE(q->Append("first", 1, 1).ok());
    ASSERT_TRUE(q->Append("second", 1, 2).ok());
    ASSERT_TRUE(q->Append("third", 1, 3).ok());
  }
  // A crash in the middle of the third write: cut it short.
  const std::vector<fs::path> segments = Segments(dir);
  ASSERT_EQ(segments.size(), 1u);
  fs::resize_file(segments[0], fs::file_size(segments[0]) - 3);
  {
    auto q = OpenQueue(dir);
    EXPECT_EQ(q->stats().torn_records, 1u);
    EXPECT_THAT(Drain(*q), ::testing::ElementsAre("first", "second"));
    EXPECT_EQ(q->cursor(), 2u);  // the input resumes after "second"
    absl::StatusOr<uint64_t> seq = q->Append("third again", 1, 3);
    ASSERT_TRUE(seq.ok());
    EXPECT_EQ(*seq, 3u);  // never sent before, so reusing 3 is safe
  }
  // A flipped byte in the last record is caught by its CRC.
  {
    int fd = open(segments[0].c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    const off_t size = lseek(fd, 0, SEEK_END);
    char c = 0;
    ASSERT_EQ(pread(fd, &c, 1, size - 2), 1);
    c ^= 0x55;
    ASSERT_EQ(pwrite(fd, &c, 1, size - 2), 1);
    close(fd);
  }
  auto q = OpenQueue(dir);
  EXPECT_EQ(q->stats().torn_records, 1u);
  EXPECT_THAT(Drain(*q), ::testing::ElementsAre("first", "second"));
}

TEST(DiskQueueTest, QuotaDropsOldestUnackedAndCountsThem) {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("q");
  const std::string payload(1000, 'p');
  // Quota 64 KiB -> segments of 8 KiB (7 records of ~1 KiB each).
  {
    auto q = OpenQueue(dir, 64 << 10, 1 << 20);
    for (int i = 1; i <= 200; ++i) {
      absl::StatusOr<uint64_t> seq = q->Append(absl::StrCat(i, ":", payload), 5, i);
      ASSERT_TRUE(seq.ok()) << seq.status();
      ASSERT_LE(q->stats().disk_bytes, uint64_t{64} << 10);
    }
    const DiskQueueStats s = q->stats();
    EXPECT_GT(s.dropped_batches, 0u);
    EXPECT_EQ(s.dropped_items, s.dropped_batches * 5);
    EXPECT_EQ(s.dropped_batches + s.batches, 200u);  // every batch is queued or counted
    // The newest are kept, the oldest went.
    absl::StatusOr<std::optional<DiskQueueEntry>> first = q->ReadFrom(0);
    ASSERT_TRUE(first.ok() && first->has_value());
    EXPECT_EQ((*first)->sequence, s.dropped_batches + 1);
    // Too big for the quota at all: refused, not silently dropped.
    EXPECT_EQ(q->Append(std::string(70 << 10, 'x'), 1, 201).status().code(),
              absl::StatusCode::kResourceExhausted);
  }
  // The drop counters survive a restart.
  auto q = OpenQueue(dir, 64 << 10, 1 << 20);
  EXPECT_GT(q->stats().dropped_batches, 0u);
  EXPECT_EQ(q->stats().dropped_batches + q->stats().batches, 200u);
  EXPECT_EQ(q->stats().next_sequence, 201u);
}

TEST(DiskQueueTest, SecondOpenOfTheSameDirectoryFails) {
  testing::TempDir tmp;
  auto q = OpenQueue(tmp.Sub("q"));
  ASSERT_NE(q, nullptr);
  DiskQueueOptions options;
  options.dir = tmp.Sub("q");
  // flock is per open file description: a second Open in this process conflicts too.
  EXPECT_EQ(DiskQueue::Open(options).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace historian::client
