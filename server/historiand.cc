// historiand: one historian node. Runs with no arguments (data in ./data,
// site "local", listening on 127.0.0.1:7400); flags set the rest.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server_builder.h"
#include "server/admin_service.h"
#include "server/replication_service.h"
#include "server/replicator.h"
#include "server/services.h"
#include "storage/store.h"

ABSL_FLAG(std::string, data_dir, "./data", "Directory of the node's database");
ABSL_FLAG(std::string, listen, "127.0.0.1:7400", "gRPC listen address (host:port; port 0 picks one)");
ABSL_FLAG(std::string, site, "local", "This node's site id, e.g. us or mx");
ABSL_FLAG(bool, implicit_tags, true, "Create a tag on its first write, typed by the first value");
ABSL_FLAG(std::string, peers, "",
          "Replication peers: site=host:port,... Each node pulls every peer's own writes");
ABSL_FLAG(uint64_t, log_retention_bytes, uint64_t{1} << 30,
          "Own log kept for peers at most this many bytes; past it a peer catches up by range sync");
ABSL_FLAG(absl::Duration, log_retention_age, absl::Hours(24),
          "Own log kept for peers at most this long; past it a peer catches up by range sync");
ABSL_FLAG(uint64_t, replication_max_samples_per_sec, 2000000,
          "Most peer samples applied per second (catch-up throttle); 0: no limit");
ABSL_FLAG(absl::Duration, anti_entropy_interval, absl::Minutes(10),
          "How often to compare digests with each peer and repair; 0 disables");
ABSL_FLAG(absl::Duration, anti_entropy_window, absl::Hours(48),
          "Time range (ending now) the periodic anti-entropy compares");
ABSL_FLAG(bool, sync_writes, true, "fsync the log before acknowledging a write");
ABSL_FLAG(std::string, port_file, "", "Write the listening port to this file once serving");
ABSL_FLAG(uint64_t, max_samples_per_batch, 100000, "Samples in one write batch");
ABSL_FLAG(uint32_t, max_tags_per_query, 1000, "Tags in one query request");
ABSL_FLAG(uint32_t, max_tags_per_latest, 10000, "Tags in one Latest request");
ABSL_FLAG(uint64_t, max_read_samples, 1000000, "Samples in one Read stream");
ABSL_FLAG(int32_t, max_message_bytes, 64 << 20, "Largest gRPC message received");
ABSL_FLAG(uint32_t, chunk_max_samples, 1024, "Samples per sealed chunk");
ABSL_FLAG(absl::Duration, head_max_age, absl::Minutes(10),
          "A head (open chunk) older than this is sealed even when not full");
ABSL_FLAG(int32_t, shutdown_grace_ms, 2000,
          "On SIGTERM/SIGINT, how long RPCs in flight may finish before they are cancelled");

namespace historian {
namespace {

int Run() {
  // Block the stop signals in every thread; main waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  absl::StatusOr<std::vector<server::Peer>> peers = server::ParsePeers(absl::GetFlag(FLAGS_peers));
  if (!peers.ok()) {
    std::fprintf(stderr, "historiand: %s\n", peers.status().ToString().c_str());
    return 2;
  }
  StoreOptions options;
  for (const auto& p : *peers) options.peers.push_back(p.site);
  options.log_retention_bytes = absl::GetFlag(FLAGS_log_retention_bytes);
  options.log_retention_age = absl::GetFlag(FLAGS_log_retention_age);
  options.path = absl::GetFlag(FLAGS_data_dir);
  options.site = absl::GetFlag(FLAGS_site);
  options.implicit_tags = absl::GetFlag(FLAGS_implicit_tags);
  options.sync_writes = absl::GetFlag(FLAGS_sync_writes);
  options.chunk_max_samples = absl::GetFlag(FLAGS_chunk_max_samples);
  options.head_max_age = absl::GetFlag(FLAGS_head_max_age);
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  if (!store.ok()) {
    std::fprintf(stderr, "historiand: cannot open store: %s\n", store.status().ToString().c_str());
    return 1;
  }
  server::Limits limits;
  limits.max_samples_per_batch = absl::GetFlag(FLAGS_max_samples_per_batch);
  limits.max_tags_per_query = absl::GetFlag(FLAGS_max_tags_per_query);
  limits.max_tags_per_latest = absl::GetFlag(FLAGS_max_tags_per_latest);
  limits.max_read_samples = absl::GetFlag(FLAGS_max_read_samples);

  server::IngestService ingest(store->get(), limits);
  server::QueryService query(store->get(), limits);
  server::CatalogService catalog(store->get());
  server::ReplicationService replication(store->get());
  std::unique_ptr<server::Replicator> replicator;
  if (!peers->empty()) {
    server::ReplicatorOptions ropts;
    ropts.max_samples_per_second = absl::GetFlag(FLAGS_replication_max_samples_per_sec);
    ropts.anti_entropy_interval = absl::GetFlag(FLAGS_anti_entropy_interval);
    ropts.anti_entropy_window = absl::GetFlag(FLAGS_anti_entropy_window);
    replicator = std::make_unique<server::Replicator>(store->get(), *peers, ropts);
  }
  server::AdminService admin(store->get(), replicator.get());
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(absl::GetFlag(FLAGS_max_message_bytes));
  builder.RegisterService(&ingest);
  builder.RegisterService(&query);
  builder.RegisterService(&catalog);
  builder.RegisterService(&replication);
  builder.RegisterService(&admin);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "historiand: cannot listen on %s\n",
                 absl::GetFlag(FLAGS_listen).c_str());
    return 1;
  }
  std::string listen = absl::GetFlag(FLAGS_listen);
  std::string host = listen.substr(0, listen.rfind(':'));
  std::printf("historiand: site %s, data %s, listening on %s:%d, peers: %s\n",
              options.site.c_str(), options.path.c_str(), host.c_str(), port,
              absl::GetFlag(FLAGS_peers).empty() ? "none" : absl::GetFlag(FLAGS_peers).c_str());
  std::fflush(stdout);
  if (std::string port_file = absl::GetFlag(FLAGS_port_file); !port_file.empty()) {
    std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << port << "\n";
    std::rename(tmp.c_str(), port_file.c_str());  // readers never see half a file
  }

  if (replicator) replicator->Start();

  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::printf("historiand: signal %d, shutting down\n", sig);
  std::fflush(stdout);
  if (replicator) replicator->Stop();
  replication.Stop();
  server->Shutdown(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)));
  absl::Status closed = (*store)->Close();
  if (!closed.ok()) {
    std::fprintf(stderr, "historiand: close: %s\n", closed.ToString().c_str());
    return 1;
  }
  std::printf("historiand: stopped cleanly\n");
  return 0;
}

}  // namespace
}  // namespace historian

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("historian node: historiand [--flagfile=F] [--flag=value ...]");
  absl::ParseCommandLine(argc, argv);
  return historian::Run();
}
