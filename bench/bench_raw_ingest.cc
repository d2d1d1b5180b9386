// File: bench_raw_ingest.cc
#include "bench/bench_raw_ingest.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench/bench_latency.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "grpcpp/support/sync_stream.h"
#include "historian/v1/ingest.grpc.pb.h"  // protobuf SerializationTraits

namespace historian::bench {
namespace {

constexpr char kWriteMethod[] = "/historian.v1.Ingest/Write";

// One stream's counters and its in-flight window.
struct StreamState {
  std::mutex mu;
  std::condition_variable cv;
  size_t in_flight = 0;
  bool reader_done = false;
  uint64_t acked = 0, rejected = 0, acks = 0;
  std::string first_reject;
};

absl::Status RunStream(const std::vector<EncodedBatch>& batches, const IngestOptions& options,
                       int stream, IngestResult* result) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(256 << 20);
  args.SetMaxReceiveMessageSize(256 << 20);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection per stream
  args.SetInt("historian.bench.stream", stream);
  auto channel =
      grpc::CreateCustomChannel(options.endpoint, grpc::InsecureChannelCredentials(), args);
  grpc::internal::RpcMethod method(kWriteMethod, grpc::internal::RpcMethod::BIDI_STREAMING,
                                   channel);
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, historian::v1::WriteAck>> rw(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, historian::v1::WriteAck>::Create(
          channel.get(), method, &ctx));
  StreamState st;
  std::thread reader([&] {
    historian::v1::WriteAck ack;
    while (rw->Read(&ack)) {
      std::lock_guard<std::mutex> l(st.mu);
      st.acked += ack.accepted_count();
      st.rejected += static_cast<uint64_t>(ack.rejected_size());
      if (ack.rejected_size() > 0 && st.first_reject.empty()) {
        st.first_reject = ack.rejected(0).reason();
      }
      st.acks++;
      st.in_flight--;
      st.cv.notify_all();
    }
    std::lock_guard<std::mutex> l(st.mu);
    st.reader_done = true;
    st.cv.notify_all();
  });
  const size_t window = std::max<size_t>(1, options.max_in_flight);
  uint64_t sent = 0;
  for (const EncodedBatch& b : batches) {
    {
      std::unique_lock<std::mutex> l(st.mu);
      st.cv.wait(l, [&] { return st.in_flight < window || st.reader_done; });
      if (st.reader_done) break;
      st.in_flight++;
    }
    if (!rw->Write(b.bytes)) break;
    sent += b.samples;
  }
  rw->WritesDone();
  reader.join();
  const grpc::Status status = rw->Finish();
  result->samples_sent += sent;
  result->samples_acked += st.acked;
  result->samples_rejected += st.rejected;
  result->batches += st.acks;
  if (!status.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        absl::StrCat("Ingest.Write stream ", stream, ": ", status.error_message()));
  }
  if (!st.first_reject.empty()) {
    return absl::InternalError(absl::StrCat("sample rejected: ", st.first_reject));
  }
  if (st.acks != batches.size()) {
    return absl::InternalError(
        absl::StrCat("stream ", stream, ": ", st.acks, " acks for ", batches.size(), " batches"));
  }
  return absl::OkStatus();
}

}  // namespace

EncodedDataSet EncodeDataSet(const DataSet& data, const IngestOptions& options) {
  const int streams = std::max(1, options.streams);
  const size_t per_group = std::max<size_t>(
      1, options.batch_samples / std::max<uint64_t>(1, data.options().block_ticks));
  EncodedDataSet out;
  out.streams.resize(static_cast<size_t>(streams));
  const std::string client_prefix = absl::StrCat("historian-bench-", getpid(), "-");
  for (int s = 0; s < streams; ++s) {
    std::vector<size_t> tags;
    for (size_t t = static_cast<size_t>(s); t < data.num_tags();
         t += static_cast<size_t>(streams)) {
      tags.push_back(t);
    }
    uint64_t seq = 0;
    for (uint64_t b = 0; b < data.num_blocks(); ++b) {
      const auto [first, last] = data.BlockTicks(b);
      for (size_t g = 0; g < tags.size(); g += per_group) {
        historian::v1::WriteRequest req;
        req.set_client_id(absl::StrCat(client_prefix, s));
        req.set_batch_sequence(++seq);
        const size_t end = std::min(tags.size(), g + per_group);
        for (size_t i = g; i < end; ++i) {
          historian::v1::TagSamples* ts = req.add_series();
          ts->set_tag(data.tag_name(tags[i]));
          data.AppendSamples(tags[i], first, last, ts);
        }
        std::string bytes = req.SerializeAsString();
        out.bytes += bytes.size();
        grpc::Slice slice(std::move(bytes));
        EncodedBatch batch;
        batch.bytes = grpc::ByteBuffer(&slice, 1);
        batch.samples = (end - g) * (last - first);
        out.streams[static_cast<size_t>(s)].push_back(std::move(batch));
      }
    }
  }
  return out;
}

absl::StatusOr<IngestResult> IngestEncoded(const EncodedDataSet& encoded,
                                           const IngestOptions& options) {
  const size_t n = encoded.streams.size();
  std::vector<IngestResult> results(n);
  std::vector<absl::Status> errors(n);
  Stopwatch clock;
  std::vector<std::thread> threads;
  for (size_t s = 0; s < n; ++s) {
    threads.emplace_back([&, s] {
      errors[s] = RunStream(encoded.streams[s], options, static_cast<int>(s), &results[s]);
    });
  }
  for (std::thread& t : threads) t.join();
  IngestResult total;
  total.seconds = clock.Seconds();
  for (size_t s = 0; s < n; ++s) {
    if (!errors[s].ok()) return errors[s];
    total.samples_sent += results[s].samples_sent;
    total.samples_acked += results[s].samples_acked;
    total.samples_rejected += results[s].samples_rejected;
    total.batches += results[s].batches;
  }
  return total;
}

}  // namespace historian::bench
