// dir_breakdown: where a quiet data dir's bytes go (issue 16). Opens the
// RocksDB database read-only (writes nothing: no OPTIONS file, no WAL) and
// prints, per column family, its SST files' bytes split into data blocks,
// index, filter and the rest (footer, properties, metaindex), with the raw
// key and value bytes and the entry count; then every file of the dir by
// kind (SST per CF, OPTIONS, MANIFEST, WAL, other). Single-threaded tool.
//
//   build/bench/dir_breakdown --dir=/path/to/data_dir [--samples=N]
//
// --samples adds a bytes/sample column (N = samples stored in the dir).
// The chunks CF's values are decoded and re-encoded with every version set
// to the chunk's first one, then also every quality 0: what the chunk values
// spend on versions and qualities that vary within a chunk.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/table_properties.h"
#include "storage/codec/chunk_codec.h"

ABSL_FLAG(std::string, dir, "", "RocksDB data dir (the node's --data_dir)");
ABSL_FLAG(int64_t, samples, 0, "samples stored in the dir (adds bytes/sample)");

namespace {

struct CfSums {
  uint64_t files = 0;
  uint64_t file_bytes = 0;
  uint64_t data = 0;
  uint64_t index = 0;
  uint64_t filter = 0;
  uint64_t raw_key = 0;
  uint64_t raw_value = 0;
  uint64_t entries = 0;
  uint64_t blocks = 0;
};

void Print(const char* what, uint64_t bytes, int64_t samples) {
  if (samples > 0) {
    std::printf("  %-34s %12llu  %.4f B/sample\n", what, static_cast<unsigned long long>(bytes),
                static_cast<double>(bytes) / static_cast<double>(samples));
  } else {
    std::printf("  %-34s %12llu\n", what, static_cast<unsigned long long>(bytes));
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string dir = absl::GetFlag(FLAGS_dir);
  const int64_t samples = absl::GetFlag(FLAGS_samples);
  if (dir.empty()) {
    std::fprintf(stderr, "dir_breakdown: --dir is required\n");
    return 2;
  }
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names);
  if (!s.ok()) {
    std::fprintf(stderr, "dir_breakdown: %s\n", s.ToString().c_str());
    return 1;
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const std::string& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::DBOptions dbo;
  s = rocksdb::DB::OpenForReadOnly(dbo, dir, cfs, &handles, &raw);
  if (!s.ok()) {
    std::fprintf(stderr, "dir_breakdown: open: %s\n", s.ToString().c_str());
    return 1;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  std::map<std::string, std::string> sst_cf;  // file name -> column family
  std::vector<rocksdb::LiveFileMetaData> live;
  db->GetLiveFilesMetaData(&live);
  for (const auto& f : live) {
    std::string name = f.name;
    if (!name.empty() && name[0] == '/') name = name.substr(1);
    sst_cf[name] = f.column_family_name;
  }
  std::map<std::string, CfSums> sums;
  for (size_t i = 0; i < handles.size(); ++i) {
    rocksdb::TablePropertiesCollection props;
    s = db->GetPropertiesOfAllTables(handles[i], &props);
    if (!s.ok()) continue;
    CfSums& c = sums[names[i]];
    for (const auto& [file, p] : props) {
      c.files += 1;
      c.data += p->data_size;
      c.index += p->index_size;
      c.filter += p->filter_size;
      c.raw_key += p->raw_key_size;
      c.raw_value += p->raw_value_size;
      c.entries += p->num_entries;
      c.blocks += p->num_data_blocks;
    }
  }
  for (size_t i = 0; i < handles.size(); ++i) {
    if (names[i] != "chunks") continue;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[i]));
    uint64_t chunks = 0, count = 0, bytes = 0, same_version = 0, plain = 0, bad = 0;
    uint64_t version_runs = 0;  // runs of equal versions, summed over chunks
    historian::codec::ChunkColumns cols;
    std::string out;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const rocksdb::Slice v = it->value();
      ++chunks;
      bytes += v.size();
      if (!historian::codec::DecodeChunk(std::string_view(v.data(), v.size()), &cols).ok()) {
        ++bad;
        continue;
      }
      count += cols.size();
      for (size_t j = 0; j < cols.versions.size(); ++j) {
        if (j == 0 || cols.versions[j] != cols.versions[j - 1]) ++version_runs;
      }
      for (auto& ver : cols.versions) ver = cols.versions.front();
      out.clear();
      if (!historian::codec::EncodeChunk(cols, &out).ok()) ++bad;
      same_version += out.size();
      for (auto& q : cols.qualities) q = 0;
      out.clear();
      if (!historian::codec::EncodeChunk(cols, &out).ok()) ++bad;
      plain += out.size();
    }
    std::printf("chunk values: %llu chunks, %llu samples (%.1f per chunk), %llu undecodable\n",
                static_cast<unsigned long long>(chunks), static_cast<unsigned long long>(count),
                chunks == 0 ? 0.0 : static_cast<double>(count) / static_cast<double>(chunks),
                static_cast<unsigned long long>(bad));
    std::printf(
        "  runs of equal versions per chunk: %.1f\n",
        chunks == 0 ? 0.0 : static_cast<double>(version_runs) / static_cast<double>(chunks));
    Print("value bytes", bytes, samples);
    Print("re-encoded, one version per chunk", same_version, samples);
    Print("  and every quality 0", plain, samples);
  }
  std::map<std::string, uint64_t> kinds;
  uint64_t total = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    const uint64_t size = e.file_size();
    total += size;
    std::string kind = "other: " + name;
    if (auto it = sst_cf.find(name); it != sst_cf.end()) {
      kind = "sst " + it->second;
      sums[it->second].file_bytes += size;
    } else if (name.rfind("OPTIONS-", 0) == 0) {
      kind = "OPTIONS";
    } else if (name.rfind("MANIFEST-", 0) == 0) {
      kind = "MANIFEST";
    } else if (name.size() > 4 && name.substr(name.size() - 4) == ".log") {
      kind = "WAL";
    } else if (name == "CURRENT" || name == "IDENTITY" || name == "LOCK") {
      kind = "CURRENT/IDENTITY/LOCK";
    }
    kinds[kind] += size;
  }
  std::printf("files by kind (%s)\n", dir.c_str());
  for (const auto& [k, v] : kinds) Print(k.c_str(), v, samples);
  Print("total", total, samples);
  for (const auto& [cf, c] : sums) {
    if (c.files == 0) continue;
    std::printf("cf %s: %llu files, %llu entries, %llu data blocks\n", cf.c_str(),
                static_cast<unsigned long long>(c.files),
                static_cast<unsigned long long>(c.entries),
                static_cast<unsigned long long>(c.blocks));
    Print("file bytes", c.file_bytes, samples);
    Print("data blocks", c.data, samples);
    Print("index blocks", c.index, samples);
    Print("filter blocks", c.filter, samples);
    const uint64_t blocks = c.data + c.index + c.filter;
    Print("rest (footer, properties, meta)", c.file_bytes > blocks ? c.file_bytes - blocks : 0,
          samples);
    Print("raw keys (uncompressed)", c.raw_key, samples);
    Print("raw values (uncompressed)", c.raw_value, samples);
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  return 0;
}
