#include "server/node_metrics.h"

#include <malloc.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace historian::server {
namespace {

void CollectStore(Store* store, WriteGate* gate, MetricsWriter* w) {
  StoreStats s = store->Stats();
  w->Single("historian_head_tags", "gauge", "Tags in the catalog", static_cast<double>(s.tags));
  w->Single("historian_head_samples", "gauge", "Samples in the in-memory head (not yet sealed)",
            static_cast<double>(s.head_samples));
  w->Single("historian_head_active_tags", "gauge", "Tags with unsealed samples",
            static_cast<double>(s.head_tags));
  w->Single("historian_head_bytes", "gauge", "Memory of the unsealed head buffers",
            static_cast<double>(s.head_bytes));
  w->Family("historian_memory_bytes", "gauge",
            "Memory by owner: head buffers, catalog (tag records, names, indexes), RocksDB "
            "memtables, block cache (and its pinned part), SST table readers");
  const std::pair<const char*, uint64_t> owners[] = {
      {"head", s.head_bytes},
      {"catalog", s.catalog_bytes},
      {"memtables", s.memtable_bytes},
      {"block_cache", s.block_cache_bytes},
      {"block_cache_pinned", s.block_cache_pinned_bytes},
      {"table_readers", s.table_readers_bytes},
  };
  for (const auto& [owner, bytes] : owners) {
    w->Sample("historian_memory_bytes", Label("owner", owner), static_cast<double>(bytes));
  }
  // The rest of the RSS is mostly the allocator's: blocks in use by owners
  // not counted above (gRPC, RocksDB's other state, request buffers) and
  // free blocks glibc keeps in its arenas. mallinfo2 walks every arena
  // (under each arena's lock): fine at scrape rates.
  const struct mallinfo2 mi = mallinfo2();
  w->Family("historian_malloc_bytes", "gauge",
            "glibc malloc (mallinfo2): bytes in use (in_use, with mmapped blocks), of them "
            "mmapped, and free bytes kept in its arenas (free)");
  w->Sample("historian_malloc_bytes", Label("kind", "in_use"),
            static_cast<double>(mi.uordblks + mi.hblkhd));
  w->Sample("historian_malloc_bytes", Label("kind", "mmapped"), static_cast<double>(mi.hblkhd));
  w->Sample("historian_malloc_bytes", Label("kind", "free"), static_cast<double>(mi.fordblks));
  w->Single("historian_handover_writes_held", "gauge",
            "Own writes waiting now for a shard a move is handing over to this node",
            static_cast<double>(s.writes_held));
  w->Single("historian_closed_shards", "gauge",
            "Shards closed to own writes now: handed over from or to this node by a move",
            static_cast<double>(s.closed_shards));
  w->Single("historian_handover_writes_held_total", "counter",
            "Own writes that waited for a shard a move was handing over to this node, since start",
            static_cast<double>(s.writes_held_total));
  w->Single("historian_chunks_sealed_total", "counter", "Chunks sealed since start",
            static_cast<double>(s.chunks_sealed));
  w->Single("historian_chunks_merged_total", "counter",
            "Small adjacent chunks merged into bigger ones since start",
            static_cast<double>(s.chunks_merged));
  w->Single("historian_chunks_rewritten_total", "counter",
            "Overlapping chunks rewritten (late data) since start",
            static_cast<double>(s.chunks_rewritten));
  w->Single("historian_samples_out_of_range_total", "counter",
            "Stored samples skipped since start: timestamp outside 1900..2100 (older versions)",
            static_cast<double>(s.samples_out_of_range));
  w->Single("historian_replication_undefined_tag_samples_dropped_total", "counter",
            "Samples of peers' log entries left out since start because their tag has no "
            "definition here and was never deleted here (a tag of a shard another member owns)",
            static_cast<double>(s.samples_of_undefined_tags));
  w->Single("historian_corrupt_chunks_skipped_total", "counter",
            "Chunks a maintenance pass skipped since start because they do not decode (logged)",
            static_cast<double>(s.corrupt_chunks_skipped));
  w->Single("historian_own_log_sequence", "gauge", "Newest sequence of this node's own log",
            static_cast<double>(s.own_sequence));
  w->Single("historian_own_log_bytes", "gauge", "Bytes of own log entries kept for peers",
            static_cast<double>(s.own_log_bytes));

  const std::vector<Store::ColumnFamilyStats> cfs = store->ColumnFamilyProperties();
  struct Gauge {
    const char* name;
    const char* type;
    const char* help;
    uint64_t Store::ColumnFamilyStats::*field;
  };
  static const Gauge kGauges[] = {
      {"historian_rocksdb_sst_bytes", "gauge", "SST file bytes per column family",
       &Store::ColumnFamilyStats::sst_bytes},
      {"historian_rocksdb_pending_compaction_bytes", "gauge",
       "Estimated bytes compaction still has to rewrite, per column family",
       &Store::ColumnFamilyStats::pending_compaction_bytes},
      {"historian_rocksdb_memtable_bytes", "gauge", "Memtable bytes per column family",
       &Store::ColumnFamilyStats::memtable_bytes},
      {"historian_rocksdb_table_readers_bytes", "gauge",
       "SST readers' index and filter memory per column family",
       &Store::ColumnFamilyStats::table_readers_bytes},
      {"historian_rocksdb_estimated_keys", "gauge", "Estimated keys per column family",
       &Store::ColumnFamilyStats::estimated_keys},
      {"historian_rocksdb_write_stops_total", "counter",
       "Times RocksDB stopped writes (compaction/flush behind), per column family",
       &Store::ColumnFamilyStats::write_stops},
      {"historian_rocksdb_write_slowdowns_total", "counter",
       "Times RocksDB slowed writes down, per column family",
       &Store::ColumnFamilyStats::write_slowdowns},
  };
  for (const Gauge& g : kGauges) {
    w->Family(g.name, g.type, g.help);
    for (const auto& cf : cfs)
      w->Sample(g.name, Label("cf", cf.name), static_cast<double>(cf.*g.field));
  }
  if (gate != nullptr) {
    w->Single("historian_storage_writes_accepted", "gauge",
              "1 while storage accepts writes, 0 while it refuses them (e.g. disk full)",
              gate->writes_accepted() ? 1 : 0);
    w->Single("historian_storage_write_failures_total", "counter",
              "Writes storage refused (disk full, I/O error)",
              static_cast<double>(gate->failures()));
  }
}

// "site", or "site/member" for a member of a peer site cluster.
std::string PeerLabel(const v1::PeerStatus& p) {
  return p.member_id().empty() ? p.site() : absl::StrCat(p.site(), "/", p.member_id());
}

// One gauge family with a sample per peer.
void PeerGauge(MetricsWriter* w, const std::vector<v1::PeerStatus>& peers, const char* name,
               const char* help, double (*value)(const v1::PeerStatus&)) {
  w->Family(name, "gauge", help);
  for (const auto& p : peers) w->Sample(name, Label("peer", PeerLabel(p)), value(p));
}

void CollectReplication(Replicator* replicator, const ReplicationService* replication,
                        MetricsWriter* w) {
  std::vector<v1::PeerStatus> peers = replicator->Status();
  if (replication != nullptr) {
    for (auto& p : peers) replication->FillOutbound(&p);
  }
  PeerGauge(w, peers, "historian_replication_unacked_entries",
            "Own log entries the peer has not taken yet (own sequence - its acked sequence)",
            [](const v1::PeerStatus& p) { return static_cast<double>(p.unacked_entries()); });
  PeerGauge(w, peers, "historian_replication_unacked_age_seconds",
            "Age of the oldest own log entry the peer has not taken (0: none)",
            [](const v1::PeerStatus& p) { return p.unacked_age_seconds(); });
  PeerGauge(w, peers, "historian_replication_peer_pulling",
            "1 while the peer's pull stream from this node is open",
            [](const v1::PeerStatus& p) { return p.peer_pulling() ? 1.0 : 0.0; });
  PeerGauge(
      w, peers, "historian_replication_state_since_timestamp_seconds",
      "When this node's pull stream from the peer last connected or dropped (Unix s)",
      [](const v1::PeerStatus& p) { return static_cast<double>(p.state_since_unix_ns()) / 1e9; });
  w->Family("historian_replication_lag_seconds", "gauge",
            "Age of the oldest write of the peer not applied here (0: caught up)");
  for (const auto& p : peers) {
    w->Sample("historian_replication_lag_seconds", Label("peer", PeerLabel(p)), p.lag_seconds());
  }
  w->Family("historian_replication_lag_samples", "gauge",
            "Samples of the peer not applied here, as last reported");
  for (const auto& p : peers) {
    w->Sample("historian_replication_lag_samples", Label("peer", PeerLabel(p)),
              static_cast<double>(p.lag_samples()));
  }
  w->Family("historian_replication_connected", "gauge", "1 while the pull stream is connected");
  for (const auto& p : peers) {
    w->Sample("historian_replication_connected", Label("peer", PeerLabel(p)),
              p.state() == "connected" ? 1 : 0);
  }
  w->Family("historian_replication_samples_applied_total", "counter",
            "Peer samples applied here since start");
  for (const auto& p : peers) {
    w->Sample("historian_replication_samples_applied_total", Label("peer", PeerLabel(p)),
              static_cast<double>(p.samples_applied()));
  }
}

}  // namespace

void RegisterNodeMetrics(Metrics* metrics, Store* store, Replicator* replicator, WriteGate* gate,
                         const ReplicationService* replication) {
  metrics->AddCollector([store, gate](MetricsWriter* w) { CollectStore(store, gate, w); });
  if (replicator != nullptr) {
    metrics->AddCollector([replicator, replication](MetricsWriter* w) {
      CollectReplication(replicator, replication, w);
    });
  }
}

}  // namespace historian::server
