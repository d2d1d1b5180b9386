// historiand: one historian node. Runs with no arguments (data in ./data,
// site "local", listening on 127.0.0.1:7400); flags set the rest.
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/server_builder.h"
#include "server/admin_service.h"
#include "server/auth.h"
#include "server/cluster/cluster_admin.h"
#include "server/cluster/cluster_flags.h"
#include "server/cluster/cluster_keys.h"
#include "server/cluster/cluster_metrics.h"
#include "server/cluster/cluster_rules.h"
#include "server/cluster/cluster_service.h"
#include "server/cluster/etcd/etcd_client.h"
#include "server/cluster/fanout_subscribe.h"
#include "server/cluster/lease_fence.h"
#include "server/cluster/member_channels.h"
#include "server/cluster/member_id.h"
#include "server/cluster/member_probe.h"
#include "server/cluster/membership.h"
#include "server/cluster/placement_watcher.h"
#include "server/cluster/shard_janitor.h"
#include "server/cluster/shard_mover.h"
#include "server/events/events_service.h"
#include "server/events/outlets/event_outlets.h"
#include "server/http/http_server.h"
#include "server/logging.h"
#include "server/metrics.h"
#include "server/metrics_http.h"
#include "server/node_metrics.h"
#include "server/replication_auth.h"
#include "server/replication_service.h"
#include "server/replicator.h"
#include "server/services.h"
#include "server/subscriptions/subscription_hub.h"
#include "server/tls.h"
#include "storage/allocator_tuning.h"
#include "storage/engine/tag_info.h"
#include "storage/store.h"

ABSL_FLAG(std::string, data_dir, "./data", "Directory of the node's database");
ABSL_FLAG(std::string, listen, "127.0.0.1:7400",
          "gRPC listen address (host:port; port 0 picks one)");
ABSL_FLAG(std::string, site, "local", "This node's site id, e.g. us or mx");
ABSL_FLAG(std::string, twin_map, "",
          "PREFIX=PREFIX: the tag-name prefixes of the same asset here and at the twin site, "
          "e.g. us.=mx.; stored in the node (kept when the flag is later omitted); `none` "
          "clears it");
ABSL_FLAG(bool, implicit_tags, true, "Create a tag on its first write, typed by the first value");
ABSL_FLAG(std::string, peers, "",
          "Replication peers: site=host:port,... Each node pulls every peer's own writes; a "
          "peer site cluster may list several of its members: site=host:port|host:port");
ABSL_FLAG(std::string, peer_address_map, "",
          "Where this node reaches members of a peer site cluster whose advertised addresses "
          "do not route from here (NAT, a gateway): advertised_host:port=host:port,...");
ABSL_FLAG(absl::Duration, peer_placement_poll, absl::Seconds(2),
          "How often the peer sites' placements (Cluster.Placement) are read again");
ABSL_FLAG(
    uint64_t, log_retention_bytes, uint64_t{1} << 30,
    "Own log kept for peers at most this many bytes; past it a peer catches up by range sync");
ABSL_FLAG(absl::Duration, log_retention_age, absl::Hours(24),
          "Own log kept for peers at most this long; past it a peer catches up by range sync");
ABSL_FLAG(uint64_t, replication_max_samples_per_sec, 2000000,
          "Most peer samples applied per second (catch-up throttle); 0: no limit");
ABSL_FLAG(absl::Duration, anti_entropy_interval, absl::Minutes(10),
          "How often to compare digests with each peer and repair; 0 disables");
ABSL_FLAG(absl::Duration, peer_keepalive, absl::Seconds(10),
          "Ping a replication peer after this long without traffic; a peer silent for as long "
          "again is dropped and reconnected");
ABSL_FLAG(absl::Duration, anti_entropy_window, absl::Hours(48),
          "Time range (ending now) the periodic anti-entropy compares");
ABSL_FLAG(bool, sync_writes, true, "fsync the log before acknowledging a write");
ABSL_FLAG(uint32_t, rule_max_tags, 1000,
          "Most tags one alarm rule's glob may cover (docs/events.md)");
ABSL_FLAG(uint32_t, max_rules, 10000, "Most alarm rules a node holds (docs/events.md)");
ABSL_FLAG(std::string, port_file, "", "Write the listening port to this file once serving");
ABSL_FLAG(uint64_t, max_samples_per_batch, 100000, "Samples in one write batch");
ABSL_FLAG(uint32_t, max_tags_per_query, 1000, "Tags in one query request");
ABSL_FLAG(uint32_t, max_tags_per_latest, 10000, "Tags in one Latest request");
ABSL_FLAG(uint64_t, max_read_samples, 1000000, "Samples in one Read stream");
ABSL_FLAG(uint32_t, read_page_samples, 10000,
          "Samples per ReadResponse message (1..1000000; small values are for tests)");
ABSL_FLAG(int32_t, max_message_bytes, 64 << 20,
          "Largest gRPC message received (bytes); larger ones fail with RESOURCE_EXHAUSTED");
ABSL_FLAG(uint64_t, max_inflight_bytes, uint64_t{512} << 20,
          "Memory gRPC may hold for requests being received (its resource quota, bytes); "
          "calls past it fail with RESOURCE_EXHAUSTED; 0 = no limit");
ABSL_FLAG(uint32_t, max_glob_bytes, 1024,
          "Longest tag-name glob of ListTags and Latest (bytes); longer ones fail with "
          "INVALID_ARGUMENT");
ABSL_FLAG(absl::Duration, max_read_range, absl::ZeroDuration(),
          "Widest end-start of one raw Query.Read (INVALID_ARGUMENT above), e.g. 8784h; 0 = no "
          "limit (default: reads are already bounded by --max_read_samples and resumable)");
ABSL_FLAG(uint64_t, max_query_cells, 4000000,
          "Query cells (about 32 bytes of answer each) one Aggregate, Interpolate or Plot request "
          "may build; 0: no limit");
ABSL_FLAG(uint64_t, max_query_cells_in_flight, 16000000,
          "Query cells all running Aggregate, Interpolate and Plot calls may hold together; 0: "
          "no limit");
ABSL_FLAG(uint32_t, max_streams_per_client, 64,
          "Ingest.Write + Query.Read streams one client (token, or IP without --token_file) may "
          "hold open; 0 = no limit");
ABSL_FLAG(uint32_t, max_tag_description_bytes, 4096,
          "Longest tag description (bytes) CreateTag/UpdateTag accept (INVALID_ARGUMENT above)");
ABSL_FLAG(uint32_t, max_tag_unit_bytes, 64,
          "Longest tag unit (bytes) CreateTag/UpdateTag accept (INVALID_ARGUMENT above)");
ABSL_FLAG(uint32_t, max_tag_attributes_bytes, 16384,
          "Most bytes of a tag's attributes (keys + values) CreateTag/UpdateTag accept "
          "(INVALID_ARGUMENT above)");
ABSL_FLAG(uint32_t, max_list_tags_response_bytes, 2 << 20,
          "A ListTags page ends early (with a next_page_token) once its tags pass this many "
          "bytes");
ABSL_FLAG(uint32_t, max_replication_streams_per_peer, 8,
          "Replication Pull + Fetch streams one peer (token, or IP without --token_file) may hold "
          "open; 0 = no limit");
ABSL_FLAG(uint32_t, max_subscriptions, 1000,
          "Query.Subscribe streams this node holds open at once (1..100000)");
ABSL_FLAG(uint32_t, max_subscriptions_per_client, 100,
          "Query.Subscribe streams one client (token, or IP without --token_file) may hold open "
          "(1..--max_subscriptions)");
ABSL_FLAG(uint64_t, subscription_buffer_bytes, 4 << 20,
          "Samples buffered per subscription for a slow reader (64 KiB..1 GiB); past it the "
          "subscriber gets `lagged` and writers never wait");
ABSL_FLAG(uint64_t, subscription_catch_up_step_bytes, 8 << 20,
          "Log bytes a resumed subscription reads per step while catching up (1..1 GiB): "
          "one whose tags are rare in a long log does not hold up the others");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain of this node: serve TLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA: require and verify client certificates (mTLS) on every connection, and "
          "verify peers' certificates");
ABSL_FLAG(std::string, token_file, "",
          "Bearer tokens and roles, lines `<token> <role>[,<role>]`; empty: no authorisation");
ABSL_FLAG(std::string, cluster_move_test_pause, "",
          "Tests only: stop every shard move this node takes part in at the first step it reaches "
          "at or after this one (start, wipe, copy, tail, flip, fence, tail_to_fence, finish) "
          "until the node stops; start: the mover does nothing");
ABSL_FLAG(std::string, peer_token, "",
          "Bearer token (role replicator) sent to peers; prefer --peer_token_file");
ABSL_FLAG(std::string, peer_token_file, "", "File holding the token sent to peers");
// How long Cluster.FenceWithoutSource waits for a move's source to answer
// before taking it for gone (a live node answers in milliseconds).
constexpr absl::Duration kMemberProbeTimeout = absl::Seconds(2);
constexpr char kDefaultMetricsListen[] = "127.0.0.1:7401";
ABSL_FLAG(std::string, metrics_listen, kDefaultMetricsListen,
          "HTTP address of GET /metrics (Prometheus); port 0 picks one; empty disables. A busy "
          "default port only logs an error; a busy port given explicitly stops the node");
ABSL_FLAG(uint32_t, metrics_max_connections, 64,
          "HTTP connections /metrics serves at once (a thread each, started as needed); more "
          "wait");
ABSL_FLAG(absl::Duration, metrics_io_timeout, absl::Seconds(2),
          "A /metrics connection idle this long mid-request (or between keep-alive requests) is "
          "closed");
ABSL_FLAG(std::string, http_listen, "",
          "HTTP address of the JSON/CSV API (/api/v1/...) and the trend page (/), e.g. "
          "127.0.0.1:7402; HTTPS with --tls_cert; same tokens and roles as gRPC; port 0 picks "
          "one; empty (default) disables");
ABSL_FLAG(std::string, http_port_file, "", "Write the --http_listen port to this file");
ABSL_FLAG(std::string, metrics_port_file, "", "Write the metrics HTTP port to this file");
ABSL_FLAG(uint64_t, min_free_disk_bytes, uint64_t{256} << 20,
          "Refuse writes (UNAVAILABLE) while the data dir's filesystem has less free space; "
          "0 disables");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error");
ABSL_FLAG(uint32_t, chunk_max_samples, 1024,
          "Samples per sealed chunk; a tag with more samples an hour is fast and its merged "
          "chunks span under an hour");
ABSL_FLAG(uint32_t, chunk_slow_max_samples, 4096,
          "Samples per merged chunk of a slow tag (at most --chunk_max_samples an hour), "
          "however long they span up to --chunk_max_duration; 1..16384");
ABSL_FLAG(absl::Duration, chunk_max_duration, absl::Hours(24 * 30),
          "No chunk spans this much time or more. Seals cut chunks at an hour (or at this, when "
          "shorter); the background merge and `historian compact` join a slow tag's small "
          "chunks into chunks of up to --chunk_slow_max_samples samples, however long they span "
          "up to this (and a quarter of the tag's retention)");
ABSL_FLAG(uint64_t, rollup_min_day_samples, historian::engine::kDefaultRollupMinDaySamples,
          "A UTC day of a tag whose hour rollups hold fewer samples than this in total gets no "
          "day record: queries read its hours raw (smaller data dir, slower long aggregates of "
          "slow tags; docs/storage.md, \"Only days that pay\"). 1 = every day with a rollup. A "
          "change applies to the days rewritten from then on; answers are the same either way");
ABSL_FLAG(absl::Duration, head_max_age, absl::Minutes(10),
          "A head (open chunk) older than this is sealed even when not full");
ABSL_FLAG(uint64_t, max_head_bytes, uint64_t{1} << 30,
          "Memory bound of the unsealed samples (heads), at 20 bytes a sample: past it the "
          "sealer seals the largest heads early and writes wait; 0 = no bound, else 1 MiB..1 TiB");
ABSL_FLAG(uint64_t, memtable_budget_bytes, uint64_t{128} << 20,
          "RocksDB memtables of every column family together (flushed past it); 0 = RocksDB's "
          "per-column-family limits, else 1 MiB..1 TiB");
ABSL_FLAG(uint64_t, block_cache_bytes, uint64_t{32} << 20,
          "One RocksDB block cache shared by every column family; 0 = RocksDB's default, else "
          "1 MiB..1 TiB");
ABSL_FLAG(std::string, event_webhook, "",
          "POST every event change (raised, cleared, acked; own and replicated) as JSON to this "
          "http:// or https:// URL, at least once, from a disk queue (docs/events_outlets.md)");
ABSL_FLAG(uint64_t, event_webhook_max_queue_bytes, uint64_t{256} << 20,
          "Unsent webhook events kept on disk (1 MiB..1 TiB); past it new changes wait in the "
          "event feed");
ABSL_FLAG(absl::Duration, event_webhook_max_backoff, absl::Seconds(30),
          "Longest wait between two tries of a webhook POST that failed (200ms..1h)");
ABSL_FLAG(absl::Duration, event_webhook_timeout, absl::Seconds(10),
          "Connect and answer timeout of one webhook POST (100ms..10m)");
ABSL_FLAG(std::string, event_mqtt_broker, "",
          "Publish every event change as JSON to this MQTT broker (tcp://HOST:PORT, or "
          "ssl://HOST:PORT for TLS), QoS 1, topic <--event_mqtt_topic_prefix>/<rule> "
          "(docs/events_outlets.md)");
ABSL_FLAG(std::string, event_mqtt_username, "", "User name of --event_mqtt_broker's login");
ABSL_FLAG(std::string, event_mqtt_password_file, "",
          "File whose first line is the password of --event_mqtt_username");
ABSL_FLAG(std::string, event_mqtt_tls_ca, "",
          "ssl:// --event_mqtt_broker: PEM file of the CA the broker's certificate must chain to "
          "(host name checked); empty: the system's CAs");
ABSL_FLAG(std::string, event_mqtt_tls_cert, "",
          "ssl:// --event_mqtt_broker: this node's client certificate (PEM), with "
          "--event_mqtt_tls_key, for a broker that requires one");
ABSL_FLAG(std::string, event_mqtt_tls_key, "", "The private key (PEM) of --event_mqtt_tls_cert");
ABSL_FLAG(std::string, event_mqtt_topic_prefix, "",
          "Topic prefix of --event_mqtt_broker (default historian/<site>/events)");
ABSL_FLAG(std::string, cluster_etcd, "",
          "Site cluster (docs/cluster.md): the site's etcd, host:port,... This node registers as "
          "a member under /historian/<site>/ and serves the placement it watches there. Empty "
          "(default): a single node, no etcd");
ABSL_FLAG(std::string, cluster_etcd_ca, "",
          "TLS towards --cluster_etcd: PEM file of the CA(s) that sign etcd's server "
          "certificates (etcd's --trusted-ca-file side). Empty (default): plaintext");
ABSL_FLAG(std::string, cluster_etcd_cert, "",
          "PEM client certificate this node shows etcd (etcd --client-cert-auth); needs "
          "--cluster_etcd_key and --cluster_etcd_ca");
ABSL_FLAG(std::string, cluster_etcd_key, "", "PEM private key of --cluster_etcd_cert");
ABSL_FLAG(std::string, cluster_member_id, "",
          "This node's id in its site cluster, [A-Za-z0-9._-]{1,64}; default: derived from the "
          "host and data dir on the first start, then kept in <data_dir>/cluster/member_id");
ABSL_FLAG(std::string, cluster_advertise, "",
          "host:port the other members and clients reach this node's gRPC server at; default: "
          "--listen's host with the bound port");
ABSL_FLAG(absl::Duration, cluster_lease_ttl, absl::Seconds(10),
          "TTL of this member's etcd lease (1s..1h); a node silent this long shows dead");
ABSL_FLAG(
    absl::Duration, cluster_isolation_write_fence, absl::Seconds(60),
    "How long a member cut off from etcd keeps taking writes of the shards it owns "
    "(1s..24h); after that it refuses them (gateways keep them) until it holds a lease "
    "again. `remove-node --lost` waits the widest fence any member registered with (plus 2 s) "
    "after the lost member's key is gone. Use the same value on every member");
ABSL_FLAG(absl::Duration, cluster_forward_timeout, absl::Seconds(30),
          "Longest a call forwarded to another member may take (1s..1h): write parts and query "
          "parts (Read runs too) get the caller's deadline, at most this; Query.Subscribe streams "
          "have none (keepalive ends them when a member goes silent)");
ABSL_FLAG(int32_t, shutdown_grace_ms, 2000,
          "On SIGTERM/SIGINT, how long RPCs in flight may finish before they are cancelled");

namespace historian {
namespace {

// --twin_map: "" (not given), `none` (clear: ""), or LOCAL=TWIN, two
// different non-empty prefixes of tag-name characters. Returns what to store.
absl::StatusOr<std::string> ParseTwinMap(const std::string& flag) {
  if (flag.empty() || flag == "none") return std::string();
  const size_t eq = flag.find('=');
  const std::string local = flag.substr(0, eq);
  const std::string twin = eq == std::string::npos ? "" : flag.substr(eq + 1);
  if (local.empty() || twin.empty() || local == twin ||
      !engine::ValidateTagName(local, "--twin_map").ok() ||
      !engine::ValidateTagName(twin, "--twin_map").ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--twin_map: want LOCAL=TWIN, two different tag-name prefixes of [A-Za-z0-9_.:/-] "
        "(e.g. us.=mx.) or none, got '",
        flag, "'"));
  }
  return flag;
}

int Fatal(std::string_view what, const absl::Status& status, int exit_code) {
  server::LogError("historiand", what, {{"error", status.ToString()}});
  return exit_code;
}

// OK, or the error naming the flag and its bounds, e.g. "--cluster_lease_ttl:
// 0s is outside 1s..1h".
absl::Status CheckDurationFlag(const char* flag, absl::Duration value, absl::Duration min,
                               absl::Duration max) {
  if (value >= min && value <= max) return absl::OkStatus();
  const std::string bounds =
      absl::StrCat(absl::FormatDuration(min), "..", absl::FormatDuration(max));
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, ": ", absl::FormatDuration(value), " is outside ", bounds));
}

void WritePortFile(const std::string& path, int port) {
  if (path.empty()) return;
  std::string tmp = path + ".tmp";
  std::ofstream(tmp) << port << "\n";
  std::rename(tmp.c_str(), path.c_str());  // readers never see half a file
}

int Run() {
  // Block the stop signals in every thread; main waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  absl::StatusOr<server::LogLevel> level = server::ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  if (!level.ok()) return Fatal("bad flag", level.status(), 2);
  server::SetLogLevel(*level);
  absl::StatusOr<std::vector<server::Peer>> peers = server::ParsePeers(absl::GetFlag(FLAGS_peers));
  if (!peers.ok()) return Fatal("bad flag", peers.status(), 2);
  server::TlsFiles tls{absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
                       absl::GetFlag(FLAGS_tls_ca)};
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server_creds =
      server::MakeServerCredentials(tls);
  if (!server_creds.ok()) return Fatal("bad TLS flags", server_creds.status(), 2);
  std::unique_ptr<server::Authorizer> auth;
  if (std::string path = absl::GetFlag(FLAGS_token_file); !path.empty()) {
    absl::StatusOr<std::vector<server::TokenEntry>> tokens = server::LoadTokenFile(path);
    if (!tokens.ok()) return Fatal("bad --token_file", tokens.status(), 2);
    auth = std::make_unique<server::Authorizer>(std::move(*tokens));
  }
  std::string peer_token = absl::GetFlag(FLAGS_peer_token);
  if (std::string path = absl::GetFlag(FLAGS_peer_token_file); !path.empty()) {
    std::ifstream in(path);
    if (!in || !std::getline(in, peer_token) || peer_token.empty()) {
      return Fatal("bad flag",
                   absl::InvalidArgumentError(
                       absl::StrCat("--peer_token_file: cannot read a token from ", path)),
                   2);
    }
  }
  if (uint32_t page = absl::GetFlag(FLAGS_read_page_samples); page == 0 || page > 1000000) {
    return Fatal("bad flag",
                 absl::InvalidArgumentError(
                     absl::StrCat("--read_page_samples: ", page, " is outside 1..1000000")),
                 2);
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
  options.chunk_slow_max_samples = absl::GetFlag(FLAGS_chunk_slow_max_samples);
  options.rollup_min_day_samples = absl::GetFlag(FLAGS_rollup_min_day_samples);
  options.head_max_age = absl::GetFlag(FLAGS_head_max_age);
  options.chunk_max_duration = absl::GetFlag(FLAGS_chunk_max_duration);
  options.max_head_bytes = absl::GetFlag(FLAGS_max_head_bytes);
  options.memtable_budget_bytes = absl::GetFlag(FLAGS_memtable_budget_bytes);
  options.block_cache_bytes = absl::GetFlag(FLAGS_block_cache_bytes);
  options.rule_max_tags = absl::GetFlag(FLAGS_rule_max_tags);
  options.max_rules = absl::GetFlag(FLAGS_max_rules);
  options.logger = [](LogSeverity severity, std::string_view message) {
    const server::LogLevel level = severity == LogSeverity::kError     ? server::LogLevel::kError
                                   : severity == LogSeverity::kWarning ? server::LogLevel::kWarning
                                                                       : server::LogLevel::kInfo;
    server::Log(level, "storage", message);
  };
  if (options.chunk_max_duration <= absl::ZeroDuration()) {
    return Fatal("bad flag",
                 absl::InvalidArgumentError(absl::StrCat(
                     "--chunk_max_duration: ", absl::FormatDuration(options.chunk_max_duration),
                     " must be positive")),
                 2);
  }
  if (options.rollup_min_day_samples == 0) {
    return Fatal("bad flag",
                 absl::InvalidArgumentError(
                     "--rollup_min_day_samples: 0 is below 1 (1: every day with a rollup)"),
                 2);
  }
  if (absl::Status s = ValidateMemoryOptions(options); !s.ok()) {
    return Fatal("bad flag", absl::InvalidArgumentError(absl::StrCat("--", s.message())), 2);
  }
  absl::StatusOr<std::string> twin_map = ParseTwinMap(absl::GetFlag(FLAGS_twin_map));
  if (!twin_map.ok()) return Fatal("bad flag", twin_map.status(), 2);
  server::SubscriptionHubOptions sub_options;
  sub_options.max_subscriptions = absl::GetFlag(FLAGS_max_subscriptions);
  sub_options.max_subscriptions_per_client = absl::GetFlag(FLAGS_max_subscriptions_per_client);
  sub_options.buffer_bytes = absl::GetFlag(FLAGS_subscription_buffer_bytes);
  sub_options.catch_up_step_bytes = absl::GetFlag(FLAGS_subscription_catch_up_step_bytes);
  if (absl::Status s = server::ValidateSubscriptionHubOptions(sub_options); !s.ok()) {
    return Fatal("bad flag", s, 2);
  }
  outlets::EventOutletsConfig outlets_config;
  outlets_config.data_dir = options.path;
  outlets_config.site = options.site;
  outlets_config.webhook_url = absl::GetFlag(FLAGS_event_webhook);
  outlets_config.webhook_max_queue_bytes = absl::GetFlag(FLAGS_event_webhook_max_queue_bytes);
  outlets_config.webhook_max_backoff = absl::GetFlag(FLAGS_event_webhook_max_backoff);
  outlets_config.webhook_timeout = absl::GetFlag(FLAGS_event_webhook_timeout);
  outlets_config.mqtt.uri = absl::GetFlag(FLAGS_event_mqtt_broker);
  outlets_config.mqtt.username = absl::GetFlag(FLAGS_event_mqtt_username);
  if (std::string path = absl::GetFlag(FLAGS_event_mqtt_password_file); !path.empty()) {
    std::ifstream in(path);
    if (in) std::getline(in, outlets_config.mqtt.password);
    absl::StripTrailingAsciiWhitespace(&outlets_config.mqtt.password);  // as the gateway's
    if (outlets_config.mqtt.password.empty()) {
      return Fatal("bad flag",
                   absl::InvalidArgumentError(absl::StrCat(
                       "--event_mqtt_password_file: cannot read a password from ", path)),
                   2);
    }
  }
  outlets_config.mqtt.tls_ca = absl::GetFlag(FLAGS_event_mqtt_tls_ca);
  outlets_config.mqtt.tls_cert = absl::GetFlag(FLAGS_event_mqtt_tls_cert);
  outlets_config.mqtt.tls_key = absl::GetFlag(FLAGS_event_mqtt_tls_key);
  outlets_config.mqtt_topic_prefix = absl::GetFlag(FLAGS_event_mqtt_topic_prefix);
  if (absl::Status s = outlets::ValidateEventOutletsConfig(outlets_config); !s.ok()) {
    return Fatal("bad flag", s, 2);
  }
  absl::StatusOr<std::vector<std::string>> etcd_endpoints =
      cluster::ParseEtcdEndpointsFlag(absl::GetFlag(FLAGS_cluster_etcd));
  if (!etcd_endpoints.ok()) return Fatal("bad flag", etcd_endpoints.status(), 2);
  const bool in_cluster = !etcd_endpoints->empty();
  if (!in_cluster) {
    const std::pair<const char*, std::string> cluster_only[] = {
        {"cluster_member_id", absl::GetFlag(FLAGS_cluster_member_id)},
        {"cluster_advertise", absl::GetFlag(FLAGS_cluster_advertise)},
        {"cluster_etcd_ca", absl::GetFlag(FLAGS_cluster_etcd_ca)},
        {"cluster_etcd_cert", absl::GetFlag(FLAGS_cluster_etcd_cert)},
        {"cluster_etcd_key", absl::GetFlag(FLAGS_cluster_etcd_key)}};
    for (const auto& [f, value] : cluster_only) {
      if (!value.empty()) {
        return Fatal("bad flag",
                     absl::InvalidArgumentError(
                         absl::StrCat("--", f,
                                      " is given but --cluster_etcd is empty: a node joins a site "
                                      "cluster only with --cluster_etcd")),
                     2);
      }
    }
  }
  const absl::Duration lease_ttl = absl::GetFlag(FLAGS_cluster_lease_ttl);
  const absl::Duration isolation_fence = absl::GetFlag(FLAGS_cluster_isolation_write_fence);
  const absl::Duration forward_timeout = absl::GetFlag(FLAGS_cluster_forward_timeout);
  for (const absl::Status& bad :
       {CheckDurationFlag("cluster_lease_ttl", lease_ttl, absl::Seconds(1), absl::Hours(1)),
        CheckDurationFlag("cluster_isolation_write_fence", isolation_fence, absl::Seconds(1),
                          absl::Hours(24)),
        CheckDurationFlag("cluster_forward_timeout", forward_timeout, absl::Seconds(1),
                          absl::Hours(1))}) {
    if (!bad.ok()) return Fatal("bad flag", bad, 2);
  }
  // Known before bind unless --listen says port 0.
  absl::StatusOr<std::string> advertise_early = std::string();
  if (in_cluster) {
    advertise_early = cluster::ResolveAdvertiseAddress(absl::GetFlag(FLAGS_cluster_advertise),
                                                       absl::GetFlag(FLAGS_listen), 0);
    if (!advertise_early.ok()) return Fatal("bad flag", advertise_early.status(), 2);
  }
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  if (!store.ok()) return Fatal("cannot open store", store.status(), 1);
  // Site cluster: member id (kept in the data dir), the etcd client and the
  // placement watcher (the node's ClusterView). Membership registers after
  // the server is bound (the advertised port may only be known then).
  std::string member_id;
  std::unique_ptr<cluster::EtcdClient> etcd;
  // Declared before the watcher, whose listener wakes it: the watcher (and
  // its thread) goes first.
  // Keeps the janitor's drops and the starts of moves to this node apart.
  cluster::ShardDropGate shard_drop_gate;
  std::unique_ptr<cluster::ShardJanitor> janitor;
  std::unique_ptr<cluster::ShardMover> mover;
  std::unique_ptr<cluster::PlacementWatcher> placement_watcher;
  // Told by the membership (declared later, so gone first); asked by the
  // write path.
  std::unique_ptr<cluster::LeaseFence> lease_fence;
  std::unique_ptr<cluster::MemberChannels> member_channels;
  std::unique_ptr<cluster::EtcdClusterAdmin> cluster_admin;  // probes through member_channels
  std::unique_ptr<cluster::ClusterRules> cluster_rules;
  if (in_cluster) {
    absl::StatusOr<std::string> id =
        cluster::LoadOrCreateMemberId(options.path, absl::GetFlag(FLAGS_cluster_member_id));
    if (!id.ok()) {
      return Fatal(id.status().code() == absl::StatusCode::kInvalidArgument
                       ? "bad flag"
                       : "cannot load member id",
                   id.status(), id.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1);
    }
    member_id = *id;
    cluster::EtcdClientOptions etcd_options;
    etcd_options.endpoints = *etcd_endpoints;
    etcd_options.tls_ca_file = absl::GetFlag(FLAGS_cluster_etcd_ca);
    etcd_options.tls_cert_file = absl::GetFlag(FLAGS_cluster_etcd_cert);
    etcd_options.tls_key_file = absl::GetFlag(FLAGS_cluster_etcd_key);
    absl::StatusOr<std::unique_ptr<cluster::EtcdClient>> client =
        cluster::EtcdClient::Create(std::move(etcd_options));
    if (!client.ok()) return Fatal("bad flag", client.status(), 2);
    etcd = std::move(*client);
    cluster::PlacementWatcherOptions watch_options;
    watch_options.site = options.site;
    watch_options.self_id = member_id;
    watch_options.self_address = *advertise_early;
    watch_options.cache_path = cluster::ClusterStateDir(options.path) + "/placement.cache";
    placement_watcher = std::make_unique<cluster::PlacementWatcher>(etcd.get(), watch_options);
    lease_fence = std::make_unique<cluster::LeaseFence>(
        [w = placement_watcher.get()] { return w->SeenThroughRevision(); },
        absl::ToChronoMilliseconds(isolation_fence), cluster::LeaseFence::Clock::now(),
        cluster::ClusterStateDir(options.path) + "/lease_alive_until");
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> member_creds =
        server::MakePeerCredentials(tls);
    if (!member_creds.ok()) return Fatal("bad TLS flags", member_creds.status(), 2);
    member_channels = std::make_unique<cluster::MemberChannels>(*member_creds, forward_timeout);
    cluster_admin = std::make_unique<cluster::EtcdClusterAdmin>(
        etcd.get(), options.site, member_id,
        [channels = member_channels.get()](const std::string& address) {
          return cluster::ProbeMember(*channels, address, kMemberProbeTimeout);
        },
        [w = placement_watcher.get()](const std::string& id, int64_t revision) {
          return w->AbsenceOf(id, revision, absl::Seconds(5));
        },
        isolation_fence);
    // A node started normally serves the current placement from its first
    // request; with etcd down it goes on with the cached one (or none).
    if (!placement_watcher->WaitForSync(absl::Seconds(5))) {
      server::LogError(
          "historiand",
          "etcd did not answer within 5 s; serving with the cached placement (if "
          "any) and retrying",
          {{"etcd", absl::GetFlag(FLAGS_cluster_etcd)},
           {"placement_revision", absl::StrCat(placement_watcher->stats().placement_revision)}});
    }
    // The site's alarm rules (docs/cluster.md, "Alarm rules and events"):
    // read before serving and before the mover tails, so this member
    // evaluates every rule from its first write; rules it kept from before
    // it joined go to etcd.
    cluster_rules = std::make_unique<cluster::ClusterRules>(store->get(), etcd.get(), options.site);
    if (absl::Status s = cluster_rules->Start(); !s.ok()) {
      server::LogError("historiand",
                       "cluster rules: etcd not read; serving with the rules held "
                       "here and retrying",
                       {{"error", s.ToString()}});
    }
    // The janitor (docs/cluster.md): before serving, this node drops the
    // data of shards it neither owns nor moves, then does so on every
    // placement. A failed pass is logged and retried; the node serves.
    // (Listening first: a placement applied during the first pass is seen.)
    janitor = std::make_unique<cluster::ShardJanitor>(store->get(), placement_watcher.get(),
                                                      &shard_drop_gate);
    // The mover (docs/cluster.md, "The mover") advances the moves this
    // node is the target or the source of, on its own threads.
    cluster::ShardMoverOptions move_options;
    move_options.site = options.site;
    move_options.token = peer_token;
    move_options.drop_gate = &shard_drop_gate;
    if (std::string step = absl::GetFlag(FLAGS_cluster_move_test_pause); !step.empty()) {
      move_options.pause_before = cluster::ParseMoveStep(step);
      if (!move_options.pause_before.has_value()) {
        return Fatal(
            "bad flag",
            absl::InvalidArgumentError(absl::StrCat(
                "--cluster_move_test_pause: '", step,
                "' is no step (start, wipe, copy, tail, flip, fence, tail_to_fence, finish)")),
            2);
      }
    }
    mover = std::make_unique<cluster::ShardMover>(store->get(), placement_watcher.get(), etcd.get(),
                                                  member_channels.get(), std::move(move_options));
    // The rules watch the tags of the shards this member owns (or hands
    // over) and holds open (docs/cluster.md, "Alarm rules and events").
    (*store)->SetRuleScope(
        [w = placement_watcher.get(), st = store->get(), self = member_id](std::string_view tag) {
          const std::shared_ptr<const cluster::Placement> p = w->placement();
          if (p == nullptr) return true;
          const uint32_t shard = p->ShardOfTag(tag);
          const cluster::ShardMove* move = p->MoveOfShard(shard);
          const bool here = p->OwnerOfShard(shard).id == self ||
                            (move != nullptr && p->members()[move->from].id == self);
          return here && st->CheckShardOpen(tag).ok();
        });
    placement_watcher->SetPlacementListener(
        [j = janitor.get(), m = mover.get(), st = store->get()] {
          j->OnPlacement();
          m->OnPlacement();
          st->RescopeRules();
        });
    if (absl::Status s = janitor->Start(); !s.ok()) {
      server::LogError("historiand", "janitor: the first pass failed; retrying",
                       {{"error", s.ToString()}});
    }
    mover->Start();
  }
  // Given: stored (and `none` removes it); omitted: the stored one stays.
  if (!absl::GetFlag(FLAGS_twin_map).empty()) {
    if (absl::Status s = (*store)->SetTwinMap(*twin_map); !s.ok()) {
      return Fatal("cannot store --twin_map", s, 1);
    }
  }
  // Stopped before the store closes (below); events applied after that
  // wait in the durable event feed for the next start.
  absl::StatusOr<std::unique_ptr<outlets::EventOutlets>> event_outlets =
      outlets::EventOutlets::Start(store->get(), outlets_config);
  if (!event_outlets.ok()) return Fatal("cannot start event outlets", event_outlets.status(), 1);
  server::Limits limits;
  limits.max_samples_per_batch = absl::GetFlag(FLAGS_max_samples_per_batch);
  limits.max_tags_per_query = absl::GetFlag(FLAGS_max_tags_per_query);
  limits.max_tags_per_latest = absl::GetFlag(FLAGS_max_tags_per_latest);
  limits.max_read_samples = absl::GetFlag(FLAGS_max_read_samples);
  limits.read_page_samples = absl::GetFlag(FLAGS_read_page_samples);
  limits.max_read_range_ns = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_max_read_range));
  limits.max_streams_per_client = absl::GetFlag(FLAGS_max_streams_per_client);
  limits.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  limits.max_query_cells = absl::GetFlag(FLAGS_max_query_cells);
  limits.max_query_cells_in_flight = absl::GetFlag(FLAGS_max_query_cells_in_flight);
  limits.max_glob_bytes = absl::GetFlag(FLAGS_max_glob_bytes);
  limits.max_tag_description_bytes = absl::GetFlag(FLAGS_max_tag_description_bytes);
  limits.max_tag_unit_bytes = absl::GetFlag(FLAGS_max_tag_unit_bytes);
  limits.max_tag_attributes_bytes = absl::GetFlag(FLAGS_max_tag_attributes_bytes);
  limits.max_list_tags_response_bytes = absl::GetFlag(FLAGS_max_list_tags_response_bytes);
  limits.max_replication_streams_per_peer = absl::GetFlag(FLAGS_max_replication_streams_per_peer);

  server::Metrics metrics;
  server::DescribeRpcMetrics(&metrics);
  server::StreamLimiter streams(limits.max_streams_per_client);
  server::StreamLimiter replication_streams(limits.max_replication_streams_per_peer,
                                            "Replication.Pull/Replication.Fetch",
                                            "max_replication_streams_per_peer");
  server::QueryBudget query_budget(limits.max_query_cells_in_flight);
  server::WriteGate write_gate(store->get(), options.path,
                               absl::GetFlag(FLAGS_min_free_disk_bytes));
  server::ServiceEnv env;
  env.store = store->get();
  env.limits = limits;
  env.auth = auth.get();
  env.metrics = &metrics;
  env.streams = &streams;
  env.replication_streams = &replication_streams;
  env.write_gate = &write_gate;
  env.query_budget = &query_budget;
  env.cluster = placement_watcher.get();
  env.member_channels = member_channels.get();
  env.lease_fence = lease_fence.get();
  env.site_rules = cluster_rules.get();
  // Destroyed after the server (its streams end first), before the store.
  server::SubscriptionHub subscriptions(store->get(), sub_options);
  env.subscriptions = &subscriptions;
  // A placement change that gives this member other shards ends the parts
  // of fanned-out subscriptions it serves (docs/cluster.md, "Subscribe").
  uint64_t parts_listener = 0;
  if (placement_watcher != nullptr) {
    parts_listener = cluster::EndPartsWhenOwnershipChanges(*placement_watcher, &subscriptions);
  }
  absl::Cleanup remove_parts_listener = [&] {
    if (placement_watcher != nullptr) placement_watcher->RemovePlacementListener(parts_listener);
  };
  // The metrics server (declared below) stops before the hub goes.
  metrics.AddCollector([&subscriptions](server::MetricsWriter* w) {
    w->Single("historian_subscriptions", "gauge", "Open Query.Subscribe streams",
              static_cast<double>(subscriptions.size()));
    w->Single("historian_subscription_lagged_total", "counter",
              "Times a subscription's buffer overflowed (it was sent `lagged`)",
              static_cast<double>(subscriptions.overflows()));
  });

  metrics.AddCollector(
      [o = event_outlets->get()](server::MetricsWriter* w) { o->CollectMetrics(w); });

  // Tokens are checked on a call's metadata, before its message is read.
  if (auth != nullptr) {
    if (!tls.enabled()) *server_creds = server::InsecureServerCredentialsWithProcessor();
    (*server_creds)->SetAuthMetadataProcessor(std::make_shared<server::EarlyTokenCheck>(env));
  }
  server::IngestService ingest(env);
  server::QueryService query(env);
  server::CatalogService catalog(env);
  server::EventsService events_service(env);
  // The metrics server (declared below) stops before the service goes.
  metrics.AddCollector([&events_service](server::MetricsWriter* w) {
    w->Single("historian_event_subscriptions", "gauge", "Open Events.Subscribe streams",
              static_cast<double>(events_service.open_streams()));
  });
  server::ClusterService cluster_service(env, cluster_admin.get());
  server::ReplicationService replication(store->get(), limits, env.cluster);
  server::AuthorizedReplicationService replication_api(env, &replication);
  std::unique_ptr<server::Replicator> replicator;
  if (!peers->empty()) {
    server::ReplicatorOptions ropts;
    ropts.max_samples_per_second = absl::GetFlag(FLAGS_replication_max_samples_per_sec);
    ropts.anti_entropy_interval = absl::GetFlag(FLAGS_anti_entropy_interval);
    ropts.anti_entropy_window = absl::GetFlag(FLAGS_anti_entropy_window);
    ropts.keepalive = absl::GetFlag(FLAGS_peer_keepalive);
    ropts.token = peer_token;
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> peer_creds =
        server::MakePeerCredentials(tls);
    if (!peer_creds.ok()) return Fatal("bad TLS flags", peer_creds.status(), 2);
    ropts.credentials = *peer_creds;
    // Between site clusters (docs/cluster.md): pull this node's shards only.
    ropts.cluster = env.cluster;
    absl::StatusOr<std::map<std::string, std::string>> address_map =
        server::ParseAddressMap(absl::GetFlag(FLAGS_peer_address_map));
    if (!address_map.ok()) return Fatal("bad flag", address_map.status(), 2);
    ropts.address_map = std::move(*address_map);
    ropts.placement_poll = absl::GetFlag(FLAGS_peer_placement_poll);
    ropts.ownership_file = (std::filesystem::path(options.path) / "XSITE_OWNERSHIP").string();
    ropts.departures_file =
        (std::filesystem::path(options.path) / "XSITE_PEER_DEPARTURES").string();
    ropts.replay_fences_file = (std::filesystem::path(options.path) / "REPLAY_FENCES").string();
    replicator = std::make_unique<server::Replicator>(store->get(), *peers, ropts);
  }
  server::AdminService admin(env, replicator.get(), &replication);
  server::RegisterNodeMetrics(&metrics, store->get(), replicator.get(), &write_gate, &replication);
  // Set once the server is bound, before the metrics server starts; it
  // stops before the membership goes.
  std::unique_ptr<cluster::Membership> membership;
  if (placement_watcher != nullptr) {
    metrics.AddCollector([w = placement_watcher.get(), &membership](server::MetricsWriter* out) {
      cluster::CollectClusterMetrics(*w, membership.get(), out);
    });
  }
  if (janitor != nullptr) {
    metrics.AddCollector([j = janitor.get()](server::MetricsWriter* out) {
      const cluster::ShardJanitor::Stats st = j->stats();
      out->Single("historian_cluster_janitor_shards_dropped_total", "counter",
                  "Shards the janitor dropped (neither owned nor moving here) since start",
                  static_cast<double>(st.shards_dropped));
      out->Single("historian_cluster_janitor_tags_dropped_total", "counter",
                  "Tags of those shards dropped since start", static_cast<double>(st.tags_dropped));
      out->Single("historian_cluster_janitor_move_acks_cleared_total", "counter",
                  "Move acks cleared because their move left the placement, since start",
                  static_cast<double>(st.acks_cleared));
      out->Single("historian_cluster_janitor_owned_shards_reopened_total", "counter",
                  "Closed shards this node owns opened with no move of them holding them (a move "
                  "rolled back, or settled by remove-node --lost), since start",
                  static_cast<double>(st.owned_shards_reopened));
      out->Single("historian_cluster_janitor_done_revision", "gauge",
                  "Placement revision of the janitor's last complete pass (0: none)",
                  static_cast<double>(st.done_revision));
    });
  }
  if (cluster_rules != nullptr) {
    metrics.AddCollector([r = cluster_rules.get()](server::MetricsWriter* out) {
      const cluster::ClusterRules::Stats st = r->stats();
      const std::pair<const char*, uint64_t> counters[] = {
          {"historian_cluster_rules_taken_total", st.taken},
          {"historian_cluster_rules_published_total", st.published},
          {"historian_cluster_rules_errors_total", st.errors},
      };
      for (const auto& [name, value] : counters) {
        out->Family(name, "counter",
                    "Site-wide alarm rules in etcd (docs/cluster.md, \"Alarm rules and events\"): "
                    "records taken from etcd, written to it, failures; since start");
        out->Sample(name, "", static_cast<double>(value));
      }
    });
  }
  if (mover != nullptr) {
    metrics.AddCollector([m = mover.get()](server::MetricsWriter* out) {
      const cluster::ShardMover::Stats st = m->stats();
      const std::pair<const char*, uint64_t> counters[] = {
          {"historian_cluster_moves_finished_total", st.moves_finished},
          {"historian_cluster_move_copies_total", st.copies},
          {"historian_cluster_move_bytes_copied_total", st.bytes_copied},
          {"historian_cluster_move_entries_tailed_total", st.entries_tailed},
          {"historian_cluster_move_fences_published_total", st.fences_published},
          {"historian_cluster_moves_rolled_back_total", st.moves_rolled_back},
          {"historian_cluster_move_errors_total", st.errors},
      };
      for (const auto& [name, value] : counters) {
        out->Family(name, "counter", "Shard mover (docs/cluster.md, \"The mover\"), since start");
        out->Sample(name, "", static_cast<double>(value));
      }
      out->Single("historian_cluster_move_shard", "gauge",
                  "The shard this node is moving in as the target now (-1: none)",
                  static_cast<double>(st.moving_shard));
      out->Single("historian_cluster_move_paused_step", "gauge",
                  "Tests: the step --cluster_move_test_pause holds a move at (-1: none)",
                  static_cast<double>(st.paused_step));
    });
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), *server_creds, &port);
  builder.SetMaxReceiveMessageSize(absl::GetFlag(FLAGS_max_message_bytes));
  // gRPC sets SO_REUSEPORT by default: a second node on a busy port would
  // then "serve" too and clients would alternate between two databases.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Each call may carry --max_message_bytes; the quota bounds what all calls
  // being received hold together (gRPC refuses streams past it).
  grpc::ResourceQuota quota("historiand");
  if (uint64_t bytes = absl::GetFlag(FLAGS_max_inflight_bytes); bytes != 0) {
    builder.SetResourceQuota(quota.Resize(bytes));
  }
  // gRPC 1.51 inflates a compressed message in full before the size limit
  // applies (a 64 KB gzip body becomes 64 MiB): accept identity only. Our
  // clients never compress; others get UNIMPLEMENTED.
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_DEFLATE, false);
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_GZIP, false);
  // Peers ping idle replication streams (--peer_keepalive) to notice a link
  // that went silent (a black-holed route) instead of waiting forever.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 500);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.RegisterService(&ingest);
  builder.RegisterService(&query);
  builder.RegisterService(&catalog);
  builder.RegisterService(&replication_api);
  builder.RegisterService(&admin);
  builder.RegisterService(&events_service);
  builder.RegisterService(&cluster_service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return Fatal("cannot listen",
                 absl::UnavailableError(absl::StrCat(
                     "--listen=", absl::GetFlag(FLAGS_listen),
                     ": cannot bind (port in use by another process, or not a local address)")),
                 1);
  }
  // Registered once bound (the advertised port may only be known now), before
  // the metrics server starts reading it.
  if (in_cluster) {
    absl::StatusOr<std::string> advertise = cluster::ResolveAdvertiseAddress(
        absl::GetFlag(FLAGS_cluster_advertise), absl::GetFlag(FLAGS_listen), port);
    if (!advertise.ok()) return Fatal("bad flag", advertise.status(), 2);
    cluster::MembershipOptions m;
    m.site = options.site;
    m.member_id = member_id;
    m.record.address = *advertise;
    m.record.start_unix_ns = absl::GetCurrentTimeNanos();
    m.record.version = cluster::kClusterFormatVersion;
    m.record.isolation_fence_ms = absl::ToInt64Milliseconds(isolation_fence);
    m.record.write_slices = true;
    m.lease_ttl_seconds = absl::ToInt64Seconds(lease_ttl);
    m.fence = lease_fence.get();
    membership = std::make_unique<cluster::Membership>(etcd.get(), std::move(m));
    server::LogInfo("historiand", "site cluster member",
                    {{"member", member_id},
                     {"advertise", *advertise},
                     {"etcd", absl::GetFlag(FLAGS_cluster_etcd)}});
  }
  std::unique_ptr<server::MetricsHttpServer> metrics_http;
  if (std::string addr = absl::GetFlag(FLAGS_metrics_listen); !addr.empty()) {
    absl::StatusOr<std::unique_ptr<server::MetricsHttpServer>> m = server::MetricsHttpServer::Start(
        addr, &metrics,
        {absl::GetFlag(FLAGS_metrics_max_connections), absl::GetFlag(FLAGS_metrics_io_timeout)});
    if (m.ok()) {
      metrics_http = std::move(*m);
    } else if (addr == kDefaultMetricsListen) {
      // E.g. a second node on one machine: run on, visibly without metrics.
      server::LogError("historiand", "no /metrics: default port busy; set --metrics_listen",
                       {{"error", m.status().ToString()}});
    } else {
      return Fatal("cannot serve metrics", m.status(), 1);
    }
  }
  std::unique_ptr<server::http::HttpServer> http;
  if (std::string addr = absl::GetFlag(FLAGS_http_listen); !addr.empty()) {
    absl::StatusOr<std::unique_ptr<server::http::HttpServer>> h =
        server::http::HttpServer::Start(addr, tls, env);
    if (!h.ok()) return Fatal("cannot serve HTTP", h.status(), 1);
    http = std::move(*h);
  }
  std::string listen = absl::GetFlag(FLAGS_listen);
  std::string host = listen.substr(0, listen.rfind(':'));
  auto addr_host = [](const std::string& a) { return a.substr(0, a.rfind(':')); };
  std::string metrics_addr = "off";
  if (metrics_http != nullptr) {
    std::string m = absl::GetFlag(FLAGS_metrics_listen);
    metrics_addr = absl::StrCat(m.substr(0, m.rfind(':')), ":", metrics_http->port(), "/metrics");
  }
  server::LogInfo(
      "historiand", "serving",
      {{"site", options.site},
       {"data", options.path},
       {"address", absl::StrCat(host, ":", port)},
       {"tls", !tls.enabled()   ? "off"
               : tls.ca.empty() ? "server"
                                : "mutual"},
       {"auth", auth ? "tokens" : "off"},
       {"metrics", metrics_addr},
       {"http", http == nullptr ? "off"
                                : absl::StrCat(tls.enabled() ? "https://" : "http://",
                                               addr_host(absl::GetFlag(FLAGS_http_listen)), ":",
                                               http->port(), "/")},
       {"peers", absl::GetFlag(FLAGS_peers).empty() ? "none" : absl::GetFlag(FLAGS_peers)}});
  if (metrics_http != nullptr)
    WritePortFile(absl::GetFlag(FLAGS_metrics_port_file), metrics_http->port());
  if (http != nullptr) WritePortFile(absl::GetFlag(FLAGS_http_port_file), http->port());
  WritePortFile(absl::GetFlag(FLAGS_port_file), port);

  if (replicator) replicator->Start();

  int sig = 0;
  sigwait(&stop_signals, &sig);
  server::LogInfo("historiand", "shutting down", {{"signal", absl::StrCat(sig)}});
  if (metrics_http) metrics_http->Stop();
  if (http) http->Stop();
  if (replicator) replicator->Stop();
  if (placement_watcher != nullptr) placement_watcher->SetPlacementListener(nullptr);
  mover.reset();       // a copy or tail under way is cancelled; it resumes at the next start
  membership.reset();  // revokes the lease: the others see this member go at once
  replication.Stop();
  subscriptions.CloseAll();   // open Subscribe streams end (UNAVAILABLE) instead of holding on
  events_service.Shutdown();  // and so do Events.Subscribe streams
  server->Shutdown(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)));
  (*event_outlets)->Stop();  // cursors written; the store's feed keeps the rest
  if (cluster_rules != nullptr) cluster_rules->Stop();  // before the store closes
  if (placement_watcher != nullptr) placement_watcher->SetPlacementListener(nullptr);
  janitor.reset();      // before the store closes
  lease_fence.reset();  // it reads the watcher; no RPC asks it any more
  if (placement_watcher != nullptr) (*store)->SetRuleScope(nullptr);  // it reads the watcher
  placement_watcher.reset();  // no RPC uses the view any more
  absl::Status closed = (*store)->Close();
  if (!closed.ok()) return Fatal("close", closed, 1);
  server::LogInfo("historiand", "stopped cleanly");
  return 0;
}

}  // namespace
}  // namespace historian

int main(int argc, char** argv) {
  historian::TuneAllocatorForStore();
  absl::SetProgramUsageMessage("historian node: historiand [--flagfile=F] [--flag=value ...]");
  absl::ParseCommandLine(argc, argv);
  return historian::Run();
}
