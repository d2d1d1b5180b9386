// File: bench_ingest.cc
#include "bench/bench_ingest.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/bench_latency.h"
#include "client/writer.h"

namespace historian::bench {
namespace {

// Counts acks of one or more writers.
struct AckCounter {
  std::atomic<uint64_t> acked{0}, rejected{0}, failed{0};
  std::mutex mu;
  absl::Status first_error;

  void OnResult(const absl::Status& status, const historian::v1::WriteAck& ack) {
    if (!status.ok()) {
      failed.fetch_add(1);
      std::lock_guard<std::mutex> l(mu);
      if (first_error.ok()) first_error = status;
      return;
    }
    acked.fetch_add(ack.accepted_count());
    rejected.fetch_add(static_cast<uint64_t>(ack.rejected_size()));
    if (ack.rejected_size() > 0) {
      std::lock_guard<std::mutex> l(mu);
      if (first_error.ok()) {
        first_error =
            absl::InternalError(absl::StrCat("sample rejected: ", ack.rejected(0).reason()));
      }
    }
  }
};

absl::StatusOr<std::unique_ptr<client::Writer>> StartWriter(const IngestOptions& options,
                                                            AckCounter* counter) {
  client::WriterOptions wo;
  wo.endpoints = {options.endpoint};
  wo.max_in_flight_batches = std::max<size_t>(1, options.max_in_flight);
  wo.batch_max_samples = std::max<size_t>(1, options.batch_samples);
  wo.ack_timeout = absl::Minutes(5);
  wo.route_to_owners = options.route_to_owners;
  wo.on_result = [counter](uint64_t, const absl::Status& status,
                           const historian::v1::WriteAck& ack) { counter->OnResult(status, ack); };
  return client::Writer::Start(std::move(wo));
}

// Tags of `stream` in groups whose block fits in batch_samples.
std::vector<std::vector<size_t>> TagGroups(const DataSet& data, int streams, int stream,
                                           size_t batch_samples) {
  const size_t per_group =
      std::max<size_t>(1, batch_samples / std::max<uint64_t>(1, data.options().block_ticks));
  std::vector<std::vector<size_t>> groups(1);
  for (size_t t = static_cast<size_t>(stream); t < data.num_tags();
       t += static_cast<size_t>(streams)) {
    if (groups.back().size() == per_group) groups.emplace_back();
    groups.back().push_back(t);
  }
  if (groups.back().empty()) groups.pop_back();
  return groups;
}

}  // namespace

absl::StatusOr<IngestResult> IngestDataSet(const DataSet& data, const IngestOptions& options) {
  const int streams = std::max(1, options.streams);
  AckCounter counter;
  std::vector<std::unique_ptr<client::Writer>> writers;
  for (int s = 0; s < streams; ++s) {
    absl::StatusOr<std::unique_ptr<client::Writer>> w = StartWriter(options, &counter);
    if (!w.ok()) return w.status();
    writers.push_back(std::move(*w));
  }
  std::atomic<uint64_t> sent{0}, batches{0};
  std::vector<absl::Status> errors(streams);
  Stopwatch clock;
  std::vector<std::thread> threads;
  for (int s = 0; s < streams; ++s) {
    threads.emplace_back([&, s] {
      const auto groups = TagGroups(data, streams, s, options.batch_samples);
      for (uint64_t b = 0; b < data.num_blocks(); ++b) {
        const auto [first, last] = data.BlockTicks(b);
        for (const std::vector<size_t>& group : groups) {
          historian::v1::WriteRequest req;
          for (size_t tag : group) {
            historian::v1::TagSamples* ts = req.add_series();
            ts->set_tag(data.tag_name(tag));
            data.AppendSamples(tag, first, last, ts);
          }
          const uint64_t n = group.size() * (last - first);
          absl::StatusOr<uint64_t> seq = writers[s]->Send(std::move(req));
          if (!seq.ok()) {
            errors[s] = seq.status();
            return;
          }
          sent.fetch_add(n);
          batches.fetch_add(1);
        }
      }
      errors[s] = writers[s]->WaitIdle(absl::Now() + absl::Hours(1));
    });
  }
  for (std::thread& t : threads) t.join();
  IngestResult r;
  r.seconds = clock.Seconds();
  for (auto& w : writers) w->Close(absl::Seconds(10));
  for (const absl::Status& e : errors) {
    if (!e.ok()) return e;
  }
  r.samples_sent = sent.load();
  r.batches = batches.load();
  r.samples_acked = counter.acked.load();
  r.samples_rejected = counter.rejected.load();
  r.batches_failed = counter.failed.load();
  if (!counter.first_error.ok()) return counter.first_error;
  return r;
}

PacedLoad::PacedLoad(const DataSet& data, IngestOptions options, double rate)
    : data_(data), options_(std::move(options)), rate_(rate) {
  thread_ = std::thread([this] { Run(); });
}

PacedLoad::~PacedLoad() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<IngestResult> PacedLoad::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (!status_.ok()) return status_;
  return result_;
}

void PacedLoad::Run() {
  AckCounter counter;
  absl::StatusOr<std::unique_ptr<client::Writer>> writer = StartWriter(options_, &counter);
  if (!writer.ok()) {
    status_ = writer.status();
    return;
  }
  // One tick of every tag per batch group, ticks continuing past the data
  // set (the simulator is defined for any tick).
  const uint64_t block = std::max<uint64_t>(1, options_.paced_block_ticks);
  const size_t per_batch = std::max<size_t>(1, options_.batch_samples / block);
  Stopwatch clock;
  uint64_t sent = 0;
  for (uint64_t tick = 0; !stop_.load(); tick += block) {
    for (size_t first = 0; first < data_.num_tags() && !stop_.load(); first += per_batch) {
      const size_t last = std::min(data_.num_tags(), first + per_batch);
      historian::v1::WriteRequest req;
      for (size_t tag = first; tag < last; ++tag) {
        historian::v1::TagSamples* ts = req.add_series();
        ts->set_tag(data_.tag_name(tag));
        data_.AppendSamples(tag, tick, tick + block, ts);
      }
      absl::StatusOr<uint64_t> seq = (*writer)->Send(std::move(req));
      if (!seq.ok()) {
        status_ = seq.status();
        return;
      }
      sent += (last - first) * block;
      result_.batches++;
      // Pace: sample n is due at n / rate seconds.
      const double due = static_cast<double>(sent) / rate_;
      const double ahead = due - clock.Seconds();
      if (ahead > 0) std::this_thread::sleep_for(std::chrono::duration<double>(ahead));
    }
  }
  status_ = (*writer)->WaitIdle(absl::Now() + absl::Minutes(5));
  result_.seconds = clock.Seconds();
  (*writer)->Close(absl::Seconds(5));
  result_.samples_sent = sent;
  result_.samples_acked = counter.acked.load();
  result_.samples_rejected = counter.rejected.load();
  result_.batches_failed = counter.failed.load();
  if (status_.ok() && !counter.first_error.ok()) status_ = counter.first_error;
}

}  // namespace historian::bench
