// historian-bench: end-to-end benchmark of historiand over gRPC on the plant
// data set (bench_dataset.h), and the data set's exporter for other systems.
//
//   historian-bench --preset=small                 # starts its own nodes
//   # a node you started:
//   historian-bench --start_node=false --endpoint=127.0.0.1:7400 --node_data_dir=./data
//   historian-bench --preset=small --emit=influx-lp --out=/tmp/lp --piece_samples=10000
//
// Measures: acked ingest samples/s over --streams concurrent Ingest.Write
// streams; bytes per sample on disk (whole data dir after SIGTERM, restart,
// Admin.Compact and a second SIGTERM); query latencies p50/p99
// (bench_queries.h); replication lag A->B under a paced load
// (bench_replication.h); the node's peak RSS (VmHWM). Prints a table and,
// last, one JSON line.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "api/core/status_macros.h"
#include "bench/bench_dataset.h"
#include "bench/bench_emit.h"
#include "bench/bench_ingest.h"
#include "bench/bench_node.h"
#include "bench/bench_queries.h"
#include "bench/bench_raw_ingest.h"
#include "bench/bench_replication.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "historian/v1/admin.grpc.pb.h"

ABSL_FLAG(std::string, preset, "",
          "small (1,000 tags x 10 min), short (1,000 tags x 30 min: issue 16's short-history "
          "set) or full (10,000 tags x 1 h); overrides --tags, --duration, --query_runs and "
          "--repl_duration");
ABSL_FLAG(uint64_t, tags, 200, "Tags in the plant");
ABSL_FLAG(double, rate, 1, "Samples per tag per second (Hz)");
ABSL_FLAG(absl::Duration, duration, absl::Minutes(10), "Plant time covered by the data set");
ABSL_FLAG(uint64_t, seed, 42, "Data set seed");
ABSL_FLAG(int64_t, start_s, 1704067200, "Unix seconds of the first sample (2024-01-01)");
ABSL_FLAG(std::string, wire, "columns",
          "Ingest wire form: columns (SampleColumns, as the client Writer sends) or samples "
          "(one Sample message each)");
ABSL_FLAG(uint64_t, block_ticks, 60, "Ticks per tag in one block (batch shape, all formats)");
ABSL_FLAG(int32_t, streams, 4, "Concurrent gateway streams (Ingest.Write)");
ABSL_FLAG(uint64_t, batch_samples, 10000, "Most samples in one WriteRequest");
ABSL_FLAG(uint64_t, max_in_flight, 16, "Unacked batches per stream");
ABSL_FLAG(bool, route_to_owners, false,
          "--ingest_client=writer: send each tag's samples straight to its site cluster owner "
          "(placement read from --endpoint)");
ABSL_FLAG(std::string, ingest_client, "encoded",
          "encoded: batches serialized before the clock starts, sent over raw Ingest.Write "
          "streams (like the other systems' file loaders); writer: client::Writer, data "
          "generated while sending (a live gateway)");
ABSL_FLAG(int32_t, query_runs, 30, "Timed runs of each query (after one warm-up)");
ABSL_FLAG(std::vector<std::string>, queries, {},
          "Only these queries (raw_1tag,avg_1tag,avg_100tags,latest_all); default all");
ABSL_FLAG(std::string, emit, "",
          "Only write the data set and exit: influx-lp, vm-jsonl or query-spec");
ABSL_FLAG(std::string, out, "-", "--emit destination (file, file prefix, or - for stdout)");
ABSL_FLAG(uint64_t, piece_samples, 0, "--emit: cut into files of about this many samples");
ABSL_FLAG(bool, start_node, true, "Start (and stop) historiand nodes; else use --endpoint");
ABSL_FLAG(std::string, historiand, "", "historiand binary (default: <build>/server/historiand)");
ABSL_FLAG(std::string, work_dir, "/tmp/historian-bench", "Data dirs of started nodes (wiped)");
ABSL_FLAG(bool, keep_data, false, "Keep --work_dir after the run");
ABSL_FLAG(std::string, endpoint, "127.0.0.1:7400", "--start_node=false: node to load");
ABSL_FLAG(bool, load, true,
          "--start_node=false: load the data set (false: the node holds it already; "
          "only queries, e.g. to profile them)");
ABSL_FLAG(bool, compact, true,
          "--start_node=false: Admin.Compact after the ingest (false: e.g. to profile the "
          "ingest alone)");
ABSL_FLAG(std::string, node_data_dir, "", "--start_node=false: its data dir, for bytes/sample");
ABSL_FLAG(int64_t, node_pid, 0, "--start_node=false: its pid, for peak RSS");
ABSL_FLAG(std::string, peer_endpoint, "",
          "--start_node=false: a peer of --endpoint; measure replication lag to it");
ABSL_FLAG(bool, replication, true, "Measure replication lag with two nodes");
ABSL_FLAG(double, repl_rate, 100000, "Samples/s written to node A while measuring lag");
ABSL_FLAG(absl::Duration, repl_duration, absl::Seconds(20), "Length of the lag measurement");
ABSL_FLAG(std::string, json_out, "", "Also append the JSON line to this file");

namespace historian::bench {
namespace {

struct Report {
  uint64_t tags = 0, samples = 0;
  int streams = 0;
  IngestResult ingest;
  uint64_t disk_bytes_after_stop = 0, disk_bytes = 0;
  double stop_seconds = 0;  // SIGTERM to exit after the load (seal, trim, reclaim)
  double compact_seconds = 0;
  std::vector<std::pair<std::string, uint64_t>> cf_sst_bytes;  // after compaction
  std::vector<QueryResult> queries;
  bool has_replication = false;
  ReplicationResult replication;
  double repl_rate = 0;
  int64_t peak_rss_kb = 0;
  // CPU used during the ingest phase by this client (data generation,
  // protobuf encoding, gRPC) and by the node; -1 when unknown.
  double ingest_client_cpu_s = -1, ingest_node_cpu_s = -1;
  pid_t node_pid = 0;          // of the node being loaded, when known
  uint64_t encoded_bytes = 0;  // serialized WriteRequests (--ingest_client=encoded)
  std::string ingest_client;
};

absl::Status Compact(const std::string& endpoint, double* seconds) {
  auto stub = historian::v1::Admin::NewStub(
      grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::hours(1));
  historian::v1::CompactResponse resp;
  grpc::Status s = stub->Compact(&ctx, historian::v1::CompactRequest(), &resp);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                        absl::StrCat("Admin.Compact: ", s.error_message()));
  }
  *seconds = resp.seconds();
  return absl::OkStatus();
}

// SST bytes per column family (Admin.Stats), to show where the bytes go.
absl::Status ColumnFamilyBytes(const std::string& endpoint,
                               std::vector<std::pair<std::string, uint64_t>>* out) {
  auto stub = historian::v1::Admin::NewStub(
      grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(1));
  historian::v1::StatsResponse resp;
  grpc::Status s = stub->Stats(&ctx, historian::v1::StatsRequest(), &resp);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                        absl::StrCat("Admin.Stats: ", s.error_message()));
  }
  out->clear();
  for (const auto& cf : resp.column_families()) out->emplace_back(cf.name(), cf.sst_bytes());
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<client::Client>> Connect(const std::string& endpoint) {
  client::ClientOptions o;
  o.endpoints = {endpoint};
  o.timeout = absl::Minutes(10);
  return client::Client::Connect(o);
}

IngestOptions MakeIngestOptions(const std::string& endpoint) {
  IngestOptions o;
  o.endpoint = endpoint;
  o.streams = absl::GetFlag(FLAGS_streams);
  o.batch_samples = absl::GetFlag(FLAGS_batch_samples);
  o.max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
  o.route_to_owners = absl::GetFlag(FLAGS_route_to_owners);
  return o;
}

ReplicationOptions MakeReplicationOptions(const std::string& a, const std::string& b) {
  ReplicationOptions o;
  o.endpoint_a = a;
  o.endpoint_b = b;
  o.load_rate = absl::GetFlag(FLAGS_repl_rate);
  o.duration = absl::GetFlag(FLAGS_repl_duration);
  return o;
}

void Log(const std::string& what) { std::fprintf(stderr, "[historian-bench] %s\n", what.c_str()); }

// Loads the whole data set into the node at `endpoint`.
absl::Status LoadDataSet(const DataSet& data, const std::string& endpoint, Report* report) {
  Log(absl::StrCat("ingesting ", data.samples(), " samples over ", report->streams, " streams"));
  const IngestOptions options = MakeIngestOptions(endpoint);
  report->ingest_client = absl::GetFlag(FLAGS_ingest_client);
  if (report->ingest_client == "writer") {
    const double client_cpu0 = CpuSeconds(0);
    const double node_cpu0 = report->node_pid > 0 ? CpuSeconds(report->node_pid) : 0;
    ASSIGN_OR_RETURN(report->ingest, IngestDataSet(data, options));
    report->ingest_client_cpu_s = CpuSeconds(0) - client_cpu0;
    if (report->node_pid > 0) report->ingest_node_cpu_s = CpuSeconds(report->node_pid) - node_cpu0;
  } else {
    Log("encoding the data set");
    const EncodedDataSet encoded = EncodeDataSet(data, options);
    report->encoded_bytes = encoded.bytes;
    const double client_cpu0 = CpuSeconds(0);
    const double node_cpu0 = report->node_pid > 0 ? CpuSeconds(report->node_pid) : 0;
    ASSIGN_OR_RETURN(report->ingest, IngestEncoded(encoded, options));
    report->ingest_client_cpu_s = CpuSeconds(0) - client_cpu0;
    if (report->node_pid > 0) report->ingest_node_cpu_s = CpuSeconds(report->node_pid) - node_cpu0;
    return absl::OkStatus();
  }
  Log(absl::StrFormat("acked %d samples in %.2f s", report->ingest.samples_acked,
                      report->ingest.seconds));
  return absl::OkStatus();
}

absl::Status RunQueriesOn(const DataSet& data, const std::string& endpoint, Report* report) {
  Log("querying");
  ASSIGN_OR_RETURN(std::unique_ptr<client::Client> c, Connect(endpoint));
  ASSIGN_OR_RETURN(report->queries, RunQueries(data, *c, absl::GetFlag(FLAGS_query_runs),
                                               absl::GetFlag(FLAGS_queries)));
  return absl::OkStatus();
}

absl::Status RunWithOwnNodes(const DataSet& data, Report* report) {
  std::string binary = absl::GetFlag(FLAGS_historiand);
  if (binary.empty()) binary = DefaultHistoriandPath();
  const std::string work = absl::GetFlag(FLAGS_work_dir);
  std::filesystem::remove_all(work);
  std::filesystem::create_directories(work);

  NodeOptions a;
  a.binary = binary;
  a.data_dir = work + "/a";
  {
    ASSIGN_OR_RETURN(std::unique_ptr<NodeProcess> node, NodeProcess::Start(a));
    report->node_pid = node->pid();
    RETURN_IF_ERROR(LoadDataSet(data, node->address(), report));
    report->peak_rss_kb = std::max(report->peak_rss_kb, PeakRssKb(node->pid()));
    Log("stopping the node (SIGTERM seals every head)");
    const absl::Time stop_start = absl::Now();
    RETURN_IF_ERROR(node->Stop());
    report->stop_seconds = absl::ToDoubleSeconds(absl::Now() - stop_start);
  }
  report->disk_bytes_after_stop = DirBytes(a.data_dir);
  {
    ASSIGN_OR_RETURN(std::unique_ptr<NodeProcess> node, NodeProcess::Start(a));
    Log("Admin.Compact");
    RETURN_IF_ERROR(Compact(node->address(), &report->compact_seconds));
    RETURN_IF_ERROR(ColumnFamilyBytes(node->address(), &report->cf_sst_bytes));
    RETURN_IF_ERROR(RunQueriesOn(data, node->address(), report));
    report->peak_rss_kb = std::max(report->peak_rss_kb, PeakRssKb(node->pid()));
    RETURN_IF_ERROR(node->Stop());
  }
  report->disk_bytes = DirBytes(a.data_dir);

  if (absl::GetFlag(FLAGS_replication)) {
    Log("replication: two nodes peering both ways");
    ASSIGN_OR_RETURN(int port_a, PickFreePort());
    ASSIGN_OR_RETURN(int port_b, PickFreePort());
    NodeOptions ra = a, rb = a;
    ra.data_dir = work + "/repl_us";
    ra.port = port_a;
    ra.extra_flags = {absl::StrCat("--peers=mx=127.0.0.1:", port_b)};
    rb.data_dir = work + "/repl_mx";
    rb.site = "mx";
    rb.port = port_b;
    rb.extra_flags = {absl::StrCat("--peers=us=127.0.0.1:", port_a)};
    ASSIGN_OR_RETURN(std::unique_ptr<NodeProcess> na, NodeProcess::Start(ra));
    ASSIGN_OR_RETURN(std::unique_ptr<NodeProcess> nb, NodeProcess::Start(rb));
    ASSIGN_OR_RETURN(report->replication,
                     MeasureReplicationLag(data, MakeIngestOptions(na->address()),
                                           MakeReplicationOptions(na->address(), nb->address())));
    report->has_replication = true;
    RETURN_IF_ERROR(na->Stop());
    RETURN_IF_ERROR(nb->Stop());
  }
  if (!absl::GetFlag(FLAGS_keep_data)) std::filesystem::remove_all(work);
  return absl::OkStatus();
}

absl::Status RunWithGivenNode(const DataSet& data, Report* report) {
  const std::string endpoint = absl::GetFlag(FLAGS_endpoint);
  report->node_pid = static_cast<pid_t>(absl::GetFlag(FLAGS_node_pid));
  if (absl::GetFlag(FLAGS_load)) {
    RETURN_IF_ERROR(LoadDataSet(data, endpoint, report));
    if (absl::GetFlag(FLAGS_compact)) RETURN_IF_ERROR(Compact(endpoint, &report->compact_seconds));
  }
  RETURN_IF_ERROR(ColumnFamilyBytes(endpoint, &report->cf_sst_bytes));
  RETURN_IF_ERROR(RunQueriesOn(data, endpoint, report));
  if (const std::string dir = absl::GetFlag(FLAGS_node_data_dir); !dir.empty()) {
    report->disk_bytes = DirBytes(dir);  // a live node: memtables and WAL included
  }
  if (const int64_t pid = absl::GetFlag(FLAGS_node_pid); pid > 0) {
    report->peak_rss_kb = PeakRssKb(static_cast<pid_t>(pid));
  }
  if (const std::string peer = absl::GetFlag(FLAGS_peer_endpoint); !peer.empty()) {
    ASSIGN_OR_RETURN(report->replication,
                     MeasureReplicationLag(data, MakeIngestOptions(endpoint),
                                           MakeReplicationOptions(endpoint, peer)));
    report->has_replication = true;
  }
  return absl::OkStatus();
}

void Print(const Report& r) {
  const double bps = r.samples ? static_cast<double>(r.disk_bytes) / r.samples : 0;
  std::printf("historian-bench: %llu tags, %llu samples, %d streams, %s client\n",
              static_cast<unsigned long long>(r.tags), static_cast<unsigned long long>(r.samples),
              r.streams, r.ingest_client.c_str());
  std::printf("  %-34s %14s\n", "metric", "value");
  std::printf("  %-34s %14.0f\n", "ingest acked samples/s", r.ingest.acked_per_second());
  std::printf("  %-34s %14.2f\n", "ingest seconds", r.ingest.seconds);
  if (r.ingest_node_cpu_s >= 0) {
    std::printf("  %-34s %8.2f / %.2f\n", "ingest CPU s client / node", r.ingest_client_cpu_s,
                r.ingest_node_cpu_s);
  }
  std::printf("  %-34s %14llu\n", "disk bytes after stop",
              static_cast<unsigned long long>(r.disk_bytes_after_stop));
  std::printf("  %-34s %14.2f\n", "stop seconds (after the load)", r.stop_seconds);
  std::printf("  %-34s %14llu\n", "disk bytes after compaction",
              static_cast<unsigned long long>(r.disk_bytes));
  std::printf("  %-34s %14.3f\n", "bytes/sample", bps);
  for (const auto& [name, bytes] : r.cf_sst_bytes) {
    std::printf("  %-34s %14llu  (%.3f bytes/sample)\n",
                absl::StrCat("  SST bytes of CF ", name).c_str(),
                static_cast<unsigned long long>(bytes),
                r.samples ? static_cast<double>(bytes) / r.samples : 0);
  }
  for (const QueryResult& q : r.queries) {
    std::printf("  %-34s %8.2f / %.2f  (%llu items)\n",
                absl::StrCat("query ", q.name, " p50/p99 ms").c_str(), q.latency.p50_ms,
                q.latency.p99_ms, static_cast<unsigned long long>(q.items));
  }
  if (r.has_replication) {
    std::printf("  %-34s %8.2f / %.2f  (%zu probes, %d timeouts, load %.0f samples/s)\n",
                "replication lag p50/p99 ms", r.replication.lag.p50_ms, r.replication.lag.p99_ms,
                r.replication.lag.runs, r.replication.timeouts, r.replication.load_acked_per_s);
  }
  std::printf("  %-34s %14lld\n", "peak RSS KiB", static_cast<long long>(r.peak_rss_kb));
}

std::string Json(const Report& r) {
  const double bps = r.samples ? static_cast<double>(r.disk_bytes) / r.samples : 0;
  std::string j = absl::StrFormat(
      "{\"system\":\"historian\",\"tags\":%d,\"samples\":%d,\"streams\":%d,"
      "\"ingest_client\":\"%s\",\"encoded_bytes\":%d,"
      "\"ingest_samples_per_s\":%.1f,\"ingest_seconds\":%.3f,\"samples_acked\":%d,"
      "\"disk_bytes_after_stop\":%d,\"disk_bytes\":%d,\"bytes_per_sample\":%.4f,"
      "\"stop_seconds\":%.3f,\"compact_seconds\":%.3f,\"peak_rss_kb\":%d,\"ingest_client_cpu_s\":%."
      "2f,"
      "\"ingest_node_cpu_s\":%.2f",
      r.tags, r.samples, r.streams, r.ingest_client, r.encoded_bytes, r.ingest.acked_per_second(),
      r.ingest.seconds, r.ingest.samples_acked, r.disk_bytes_after_stop, r.disk_bytes, bps,
      r.stop_seconds, r.compact_seconds, r.peak_rss_kb, r.ingest_client_cpu_s, r.ingest_node_cpu_s);
  for (const auto& [name, bytes] : r.cf_sst_bytes) {
    absl::StrAppendFormat(&j, ",\"sst_bytes_%s\":%d", name, bytes);
  }
  for (const QueryResult& q : r.queries) {
    absl::StrAppendFormat(&j, ",\"q_%s_p50_ms\":%.3f,\"q_%s_p99_ms\":%.3f,\"q_%s_items\":%d",
                          q.name, q.latency.p50_ms, q.name, q.latency.p99_ms, q.name, q.items);
  }
  if (r.has_replication) {
    absl::StrAppendFormat(&j,
                          ",\"repl_lag_p50_ms\":%.3f,\"repl_lag_p99_ms\":%.3f,\"repl_probes\":%d,"
                          "\"repl_timeouts\":%d,\"repl_load_samples_per_s\":%.1f",
                          r.replication.lag.p50_ms, r.replication.lag.p99_ms,
                          r.replication.lag.runs, r.replication.timeouts,
                          r.replication.load_acked_per_s);
  }
  j += "}";
  return j;
}

// A preset fills in the flags left at their defaults; a flag given on the
// command line with another value wins (e.g. --preset=full --query_runs=300).
template <typename T>
void PresetDefault(absl::Flag<T>* flag, const T& flag_default, const T& preset_value) {
  if (absl::GetFlag(*flag) == flag_default) absl::SetFlag(flag, preset_value);
}

void ApplyPreset() {
  const std::string preset = absl::GetFlag(FLAGS_preset);
  if (preset != "small" && preset != "short" && preset != "full") return;
  const bool full = preset == "full";
  PresetDefault<uint64_t>(&FLAGS_tags, 200, full ? 10000 : 1000);
  PresetDefault(&FLAGS_duration, absl::Minutes(10),
                full                ? absl::Hours(1)
                : preset == "short" ? absl::Minutes(30)
                                    : absl::Minutes(10));
  PresetDefault(&FLAGS_query_runs, 30, full ? 20 : 30);
  PresetDefault(&FLAGS_repl_duration, absl::Seconds(20),
                full ? absl::Seconds(30) : absl::Seconds(15));
}

int Main() {
  const std::string preset = absl::GetFlag(FLAGS_preset);
  if (!preset.empty() && preset != "small" && preset != "short" && preset != "full") {
    std::fprintf(stderr, "--preset must be small, short or full\n");
    return 2;
  }
  if (const std::string c = absl::GetFlag(FLAGS_ingest_client); c != "encoded" && c != "writer") {
    std::fprintf(stderr, "--ingest_client must be encoded or writer\n");
    return 2;
  }
  ApplyPreset();
  DataSetOptions dopt;
  dopt.tags = absl::GetFlag(FLAGS_tags);
  dopt.rate_hz = absl::GetFlag(FLAGS_rate);
  dopt.duration_s = absl::ToInt64Seconds(absl::GetFlag(FLAGS_duration));
  dopt.seed = absl::GetFlag(FLAGS_seed);
  dopt.start_ns = absl::GetFlag(FLAGS_start_s) * 1'000'000'000LL;
  dopt.block_ticks = absl::GetFlag(FLAGS_block_ticks);
  dopt.columns = absl::GetFlag(FLAGS_wire) != "samples";
  if (dopt.tags == 0 || dopt.rate_hz <= 0 || dopt.duration_s <= 0) {
    std::fprintf(stderr, "--tags, --rate and --duration must be positive\n");
    return 2;
  }
  const DataSet data(dopt);

  if (const std::string emit = absl::GetFlag(FLAGS_emit); !emit.empty()) {
    absl::StatusOr<EmitFormat> format = ParseEmitFormat(emit);
    absl::Status s = format.ok() ? Emit(data, *format, absl::GetFlag(FLAGS_out),
                                        absl::GetFlag(FLAGS_piece_samples))
                                 : format.status();
    if (!s.ok()) {
      std::fprintf(stderr, "historian-bench: %s\n", s.ToString().c_str());
      return 1;
    }
    return 0;
  }

  Report report;
  report.tags = data.num_tags();
  report.samples = data.samples();
  report.streams = absl::GetFlag(FLAGS_streams);
  absl::Status s = absl::GetFlag(FLAGS_start_node) ? RunWithOwnNodes(data, &report)
                                                   : RunWithGivenNode(data, &report);
  if (!s.ok()) {
    std::fprintf(stderr, "historian-bench: %s\n", s.ToString().c_str());
    return 1;
  }
  Print(report);
  const std::string json = Json(report);
  std::printf("%s\n", json.c_str());
  if (const std::string path = absl::GetFlag(FLAGS_json_out); !path.empty()) {
    std::ofstream(path, std::ios::app) << json << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace historian::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "historian-bench: end-to-end benchmark of historiand (ingest, disk, queries, "
      "replication lag, RSS), and the data set exporter (--emit) for other systems");
  absl::ParseCommandLine(argc, argv);
  return historian::bench::Main();
}
