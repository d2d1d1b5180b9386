// File: codec_bench.cc
// Chunk codec speed (samples/s) and size (bytes/sample) on the synthetic
// plant mix, per tag kind and overall, and on the NAB real series when
// present (HISTORIAN_NAB_DIR, default /work/shared/real_data/nab).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "bench/plant_data.h"
#include "benchmark/benchmark.h"
#include "storage/codec/chunk_codec.h"

namespace historian::bench {
namespace {

constexpr size_t kChunkSamples = 1024;
constexpr size_t kTags = 400;
constexpr int kChunksPerTag = 2;

struct Corpus {
  std::vector<codec::ChunkColumns> chunks;
  std::vector<std::string> encoded;
  size_t samples = 0;
  size_t bytes = 0;
};

void EncodeAll(Corpus* c) {
  for (const auto& cols : c->chunks) {
    std::string out;
    if (!codec::EncodeChunk(cols, &out).ok()) std::abort();
    c->bytes += out.size();
    c->samples += cols.size();
    c->encoded.push_back(std::move(out));
  }
}

// kind < 0: the whole mix.
Corpus MakePlantCorpus(int kind) {
  PlantGenerator gen(/*seed=*/42, kTags);
  Corpus c;
  for (size_t tag = 0; tag < gen.num_tags(); ++tag) {
    if (kind >= 0 && static_cast<int>(gen.profile(tag).kind) != kind) continue;
    for (int k = 0; k < kChunksPerTag; ++k) {
      codec::ChunkColumns cols;
      gen.Fill(tag, PlantGenerator::kDefaultStart + k * 86'400 * PlantGenerator::kSecond,
               kChunkSamples, &cols);
      c.chunks.push_back(std::move(cols));
    }
  }
  EncodeAll(&c);
  return c;
}

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// NAB CSVs ("YYYY-MM-DD HH:MM:SS,value") in chunks of kChunkSamples.
Corpus MakeNabCorpus() {
  namespace fs = std::filesystem;
  const char* env = std::getenv("HISTORIAN_NAB_DIR");
  const fs::path dir = env && *env ? env : "/work/shared/real_data/nab";
  Corpus c;
  if (!fs::is_directory(dir)) return c;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().extension() != ".csv") continue;
    std::ifstream in(e.path());
    std::string line;
    std::getline(in, line);
    codec::ChunkColumns cols;
    auto flush = [&] {
      if (cols.size() == 0) return;
      cols.qualities.assign(cols.size(), 0);
      cols.versions.resize(cols.size());
      for (size_t i = 0; i < cols.size(); ++i) {
        cols.versions[i] = (static_cast<uint64_t>(cols.timestamps[i] / 1'000'000'000 + 1) << 8) | 1;
      }
      c.chunks.push_back(cols);
      cols.Reset(ValueType::kDouble);
    };
    while (std::getline(in, line)) {
      int y, mo, d, h, mi, s;
      char value[64];
      if (std::sscanf(line.c_str(), "%d-%d-%d %d:%d:%d,%63s", &y, &mo, &d, &h, &mi, &s, value) !=
          7) {
        continue;
      }
      const int64_t t = (DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1'000'000'000;
      if (cols.size() > 0 && t <= cols.timestamps.back()) continue;
      cols.timestamps.push_back(t);
      cols.doubles.push_back(std::strtod(value, nullptr));
      if (cols.size() == kChunkSamples) flush();
    }
    flush();
  }
  EncodeAll(&c);
  return c;
}

const Corpus& GetCorpus(int which) {
  // 0..4: kinds, 5: mix, 6: NAB. Built once, on first use.
  static std::vector<std::optional<Corpus>> cache(7);
  if (!cache[which])
    cache[which] = which == 6 ? MakeNabCorpus() : MakePlantCorpus(which == 5 ? -1 : which);
  return *cache[which];
}

void SetCounters(benchmark::State& state, const Corpus& c) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * c.samples));
  state.counters["bytes_per_sample"] =
      static_cast<double>(c.bytes) / static_cast<double>(c.samples);
  state.counters["chunks"] = static_cast<double>(c.chunks.size());
}

void BM_Encode(benchmark::State& state) {
  const Corpus& c = GetCorpus(static_cast<int>(state.range(0)));
  if (c.samples == 0) {
    state.SkipWithError("no data");
    return;
  }
  std::string out;
  for (auto _ : state) {
    for (const auto& cols : c.chunks) {
      out.clear();
      if (!codec::EncodeChunk(cols, &out).ok()) std::abort();
      benchmark::DoNotOptimize(out.data());
    }
  }
  SetCounters(state, c);
}

void BM_Decode(benchmark::State& state) {
  const Corpus& c = GetCorpus(static_cast<int>(state.range(0)));
  if (c.samples == 0) {
    state.SkipWithError("no data");
    return;
  }
  codec::ChunkColumns cols;
  for (auto _ : state) {
    for (const auto& bytes : c.encoded) {
      if (!codec::DecodeChunk(bytes, &cols).ok()) std::abort();
      benchmark::DoNotOptimize(cols.timestamps.data());
    }
  }
  SetCounters(state, c);
}

void Args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"set"});
  for (int i = 0; i <= 6; ++i) b->Arg(i);
}

BENCHMARK(BM_Encode)->Apply(Args);
BENCHMARK(BM_Decode)->Apply(Args);

}  // namespace
}  // namespace historian::bench

int main(int argc, char** argv) {
  // HISTORIAN_CODEC_DUMP=FILE: write every set's encoded chunks there (each
  // a 4-byte length and the bytes) and exit, so two encoders can be checked
  // byte for byte (`cmp` of their dumps).
  if (const char* dump = std::getenv("HISTORIAN_CODEC_DUMP"); dump != nullptr && *dump != 0) {
    std::ofstream out(dump, std::ios::binary);
    for (int set = 0; set <= 6; ++set) {
      for (const std::string& bytes : historian::bench::GetCorpus(set).encoded) {
        const uint32_t len = static_cast<uint32_t>(bytes.size());
        out.write(reinterpret_cast<const char*>(&len), sizeof(len));
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      }
    }
    return out.good() ? 0 : 1;
  }
  std::printf("set: 0=analog 1=setpoint 2=counter_int 3=counter_double 4=state 5=mix 6=nab\n");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
